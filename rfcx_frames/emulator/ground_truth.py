"""What is audible in the world (calls) and what the classifiers said about it (detections).

Calls are placed inside recorded audio only: within one segment or across the boundary of
two contiguous segments, never in a gap, and at least :data:`MIN_CALL_GAP_MS` apart on a
stream. Detections are classifier windows on a grid that starts at each run of contiguous
audio: windows overlapping a call are true positives (``call_id`` set), windows elsewhere
are false positives. Columns are numpy arrays (``dict[str, np.ndarray]``) so millions of
rows are generated without Python loops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .audio import NOISE_STD
from .taxonomy import CLASS_IDS, CLASSIFIER_OF, CLASSIFIERS, Taxon

Columns = dict[str, np.ndarray]

MIN_CALL_GAP_MS = 5_500
"""End of one call to start of the next on the same stream, at least."""

KIND_DURATION_MS = {"sweep": (300, 1500), "trill": (800, 3000), "pulses": (1000, 4000),
                    "noise": (500, 4000)}
SNR_DB = (24.0, 38.0)
MAX_AMPLITUDE = 0.45
NYQUIST_FRACTION = 0.45  # calls stay below 0.45 * sample rate (room for the codec's roll-off)
MIN_OVERLAP = 0.2  # a window must cover this fraction of the call (or of itself) to fire

_N_CLASSES = len(CLASS_IDS) + 1
_CLASSIFIER_OF_CLASS = np.zeros(_N_CLASSES, dtype=np.int64)
for _value, _cid in CLASSIFIER_OF.items():
    _CLASSIFIER_OF_CLASS[CLASS_IDS[_value]] = _cid
_WINDOW = np.zeros(len(CLASSIFIERS) + 1, dtype=np.int64)
_STEP = np.zeros(len(CLASSIFIERS) + 1, dtype=np.int64)
for _c in CLASSIFIERS:
    _WINDOW[_c.id], _STEP[_c.id] = _c.window_ms, _c.step_ms


def concat(parts: Sequence[Columns], like: Columns | None = None) -> Columns:
    """Concatenate column dicts with the same keys (``like`` gives the keys if empty).

    Examples
    --------
    >>> concat([{"a": np.array([1])}, {"a": np.array([2, 3])}])["a"].tolist()
    [1, 2, 3]
    """
    if not parts:
        return {k: v[:0] for k, v in (like or {}).items()}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _locate(position: np.ndarray, run_start: np.ndarray,
            run_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map positions on the recorded timeline (gaps removed) to run index and epoch ms."""
    lengths = run_end - run_start
    offset = np.cumsum(lengths) - lengths
    run = np.searchsorted(offset, position, side="right") - 1
    return run, run_start[run] + (position - offset[run])


def place_calls(rng: np.random.Generator, *, taxa: Sequence[Taxon], weights: np.ndarray,
                run_start: np.ndarray, run_end: np.ndarray, sample_rate: int,
                calls_per_hour: float) -> Columns:
    """Ground-truth calls of one stream: interval, class, band, amplitude and run index.

    Examples
    --------
    >>> from rfcx_frames.emulator.taxonomy import local_taxa
    >>> taxa = local_taxa("neotropic", 5400)
    >>> calls = place_calls(np.random.default_rng(0), taxa=taxa, weights=np.ones(len(taxa)),
    ...                     run_start=np.array([0]), run_end=np.array([3_600_000]),
    ...                     sample_rate=12000, calls_per_hour=60)
    >>> bool(np.all(calls["start"][1:] - calls["end"][:-1] >= MIN_CALL_GAP_MS))
    True
    """
    total = int((run_end - run_start).sum())
    kinds = [t.kind for t in taxa]
    lo_dur = np.array([KIND_DURATION_MS[k][0] for k in kinds], dtype=np.int64)
    hi_dur = np.array([KIND_DURATION_MS[k][1] for k in kinds], dtype=np.int64)
    p = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    mean_dur = float(np.dot(p, (lo_dur + hi_dur) / 2))
    extra = max(3_600_000 / calls_per_hour - MIN_CALL_GAP_MS - mean_dur, 200.0)
    n = int(total / (MIN_CALL_GAP_MS + extra + mean_dur) * 1.3) + 16
    while True:
        choice = rng.choice(len(taxa), size=n, p=p)
        duration = rng.integers(lo_dur[choice], hi_dur[choice] + 1)
        gap = MIN_CALL_GAP_MS + rng.exponential(extra, n).astype(np.int64)
        start = np.cumsum(gap) + np.cumsum(duration) - duration
        if total == 0 or start[-1] + duration[-1] > total:
            break
        n *= 2  # rare: the estimate fell short; redraw with more calls
    end = start + duration
    keep = end <= total
    run, real_start = _locate(start[keep], run_start, run_end)
    run_of_end, _ = _locate(end[keep] - 1, run_start, run_end)
    same_run = run == run_of_end  # a call never straddles a gap
    choice, duration = choice[keep][same_run], duration[keep][same_run]
    real_start, run = real_start[same_run], run[same_run]

    f_lo = np.array([t.frequency_min for t in taxa], dtype=np.float64)[choice]
    f_hi = np.minimum(np.array([t.frequency_max for t in taxa], dtype=np.float64)[choice],
                      NYQUIST_FRACTION * sample_rate)
    width = f_hi - f_lo
    band_lo = np.round(f_lo + rng.uniform(0, 0.25, len(choice)) * width).astype(np.int64)
    band_hi = np.round(f_hi - rng.uniform(0, 0.25, len(choice)) * width).astype(np.int64)
    snr = rng.uniform(*SNR_DB, len(choice))
    noise_power = NOISE_STD**2 * (band_hi - band_lo) / (sample_rate / 2)
    amplitude = np.minimum(np.sqrt(2 * noise_power * 10 ** (snr / 10)), MAX_AMPLITUDE)
    class_ids = np.array([CLASS_IDS[t.value] for t in taxa], dtype=np.int64)
    return {"classification_id": class_ids[choice], "start": real_start,
            "end": real_start + duration, "frequency_min": band_lo, "frequency_max": band_hi,
            "amplitude": np.round(amplitude, 6), "run": run.astype(np.int64)}


def _review(rng: np.random.Generator, n: int, confirmed: float, uncertain: float,
            rejected: float) -> np.ndarray:
    """Review statuses; 2 stands for NULL (unreviewed) until written to the database."""
    u = rng.random(n)
    out = np.full(n, 2, dtype=np.int64)
    out[u < confirmed + uncertain + rejected] = -1
    out[u < confirmed + uncertain] = 0
    out[u < confirmed] = 1
    return out


def true_positives(rng: np.random.Generator, calls: Columns, call_ids: np.ndarray,
                   run_start: np.ndarray, run_end: np.ndarray) -> Columns:
    """Classifier windows that overlap a call, with confidences and review statuses.

    Examples
    --------
    >>> calls = {"classification_id": np.array([55]), "start": np.array([10_000]),
    ...          "end": np.array([11_000]), "run": np.array([0])}
    >>> tp = true_positives(np.random.default_rng(0), calls, np.array([1]),
    ...                     np.array([0]), np.array([60_000]))
    >>> bool(np.all((tp["start"] < 11_000) & (tp["end"] > 10_000)))
    True
    """
    classifier = _CLASSIFIER_OF_CLASS[calls["classification_id"]]
    win, step = _WINDOW[classifier], _STEP[classifier]
    rs, re = run_start[calls["run"]], run_end[calls["run"]]
    cs, ce = calls["start"], calls["end"]
    k_min = np.maximum(0, (cs - rs - win) // step + 1)
    k_max = np.minimum((ce - rs - 1) // step, (re - rs - win) // step)
    count = np.clip(k_max - k_min + 1, 0, None)
    owner = np.repeat(np.arange(len(cs)), count)
    k = k_min[owner] + np.arange(len(owner)) - (np.cumsum(count) - count)[owner]
    w_start = rs[owner] + k * step[owner]
    w_end = w_start + win[owner]
    overlap = np.minimum(ce[owner], w_end) - np.maximum(cs[owner], w_start)
    frac = overlap / np.minimum(win[owner], ce[owner] - cs[owner])
    fires = frac >= MIN_OVERLAP
    owner, w_start, w_end, frac = owner[fires], w_start[fires], w_end[fires], frac[fires]

    n_calls, n = len(cs), len(owner)
    faint = rng.random(n_calls) < 0.15
    quality = np.where(faint, rng.uniform(0.15, 0.7, n_calls),
                       1.0 - 0.1 * rng.beta(1.0, 3.0, n_calls))
    confidence = quality[owner] * (0.88 + 0.12 * frac) * (1 - np.abs(rng.normal(0, 0.015, n)))
    label = calls["classification_id"][owner]
    review = _review(rng, n, 0.18, 0.04, 0.01)
    # a few windows get another output of the same classifier: wrong label, never confirmed
    wrong = rng.random(n) < 0.04
    outputs = {c.id: np.array([CLASS_IDS[v] for v in c.outputs]) for c in CLASSIFIERS}
    for cid, values in outputs.items():
        sel = np.flatnonzero(wrong & (classifier[owner] == cid))
        if len(values) < 2 or len(sel) == 0:
            continue
        other = values[rng.integers(0, len(values), len(sel))]
        other = np.where(other == label[sel], values[(np.searchsorted(values, label[sel]) + 1)
                                                     % len(values)], other)
        label[sel] = other
        confidence[sel] *= rng.uniform(0.4, 0.9, len(sel))
        review[sel] = _review(rng, len(sel), 0.0, 0.03, 0.12)
    return {"classifier_id": classifier[owner], "classification_id": label, "start": w_start,
            "end": w_end, "confidence": np.round(np.clip(confidence, 0.05, 0.9999), 4),
            "review_status": review, "call_id": call_ids[owner]}


def false_positives(rng: np.random.Generator, *, taxa: Sequence[Taxon], calls: Columns,
                    run_start: np.ndarray, run_end: np.ndarray,
                    per_hour: float) -> Columns:
    """Classifier windows away from every call (no ``call_id``), mostly low confidence.

    Examples
    --------
    >>> from rfcx_frames.emulator.taxonomy import local_taxa
    >>> none = {"start": np.zeros(0, np.int64), "end": np.zeros(0, np.int64)}
    >>> fp = false_positives(np.random.default_rng(0), taxa=local_taxa("neotropic", 5400),
    ...                      calls=none, run_start=np.array([0]),
    ...                      run_end=np.array([3_600_000]), per_hour=50)
    >>> 20 < len(fp["start"]) < 80
    True
    """
    total = int((run_end - run_start).sum())
    n = int(rng.poisson(per_hour * total / 3_600_000)) if total else 0
    label = np.array([CLASS_IDS[t.value] for t in taxa], dtype=np.int64)[
        rng.integers(0, len(taxa), n)]
    classifier = _CLASSIFIER_OF_CLASS[label]
    win, step = _WINDOW[classifier], _STEP[classifier]
    run, moment = _locate(rng.integers(0, max(total, 1), n), run_start, run_end)
    w_start = run_start[run] + (moment - run_start[run]) // step * step
    w_end = w_start + win
    ok = w_end <= run_end[run]
    # calls are sorted and disjoint: only the last call starting before w_end can overlap
    last = np.searchsorted(calls["start"], w_end, side="left") - 1
    if len(calls["start"]):
        ok &= ~((last >= 0) & (calls["end"][np.maximum(last, 0)] > w_start))
    key = np.stack([classifier, label, w_start])[:, ok]
    _, first = np.unique(key, axis=1, return_index=True)
    first = np.flatnonzero(ok)[np.sort(first)]
    m = len(first)
    u = rng.random(m)
    confidence = np.where(u < 0.05, rng.uniform(0.95, 0.999, m),
                          np.where(u < 0.2, rng.uniform(0.6, 0.95, m),
                                   0.05 + 0.6 * rng.beta(1.2, 3.0, m)))
    return {"classifier_id": classifier[first], "classification_id": label[first],
            "start": w_start[first], "end": w_end[first],
            "confidence": np.round(confidence, 4),
            "review_status": _review(rng, m, 0.0, 0.04, 0.12),
            "call_id": np.zeros(m, dtype=np.int64)}
