"""The band-energy stand-in for running a classifier: a segment's audio in, detections out.

The platform runs uploaded classifiers on its own infrastructure and writes detections.
The emulator cannot run a model, so a job scores audio with a band-energy detector
instead: for each output class with a known frequency band, every one-second window whose
in-band energy stands out from the segment's quiet windows becomes a detection, with a
confidence that grows with that contrast. A call synthesised (or recorded) inside a
class's band is therefore detected, and silence is not: enough for a field workflow to
"upload a classifier, see new detections".

Jobs run on ingested audio only (segments with ``synth = 0``): the synthetic world's
recordings already carry the detections of its own classifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import audio as synth
from .store import Store

WINDOW_S = 1.0
#: Share of the quietest windows taken as the noise floor of a segment.
FLOOR_QUANTILE = 0.2


@dataclass(frozen=True)
class Output:
    """One class a classifier emits, with the band its detector listens to."""

    classification_id: int
    frequency_min: int
    frequency_max: int
    threshold: float


def confidence(contrast_db: np.ndarray) -> np.ndarray:
    """Confidence in [0, 1) from in-band contrast: 0 dB -> 0, 20 dB -> 0.9, 40 dB -> 0.99.

    Examples
    --------
    >>> confidence(np.array([0.0, 20.0])).round(2).tolist()
    [0.0, 0.9]
    """
    return np.asarray(1.0 - 10.0 ** (-np.clip(contrast_db, 0.0, None) / 20.0))


def score_segment(samples: np.ndarray, rate: int, outputs: list[Output]
                  ) -> list[tuple[int, int, int, float]]:
    """Detections in one segment: ``(classification_id, start_ms, end_ms, confidence)``.

    Offsets are from the segment start. Each window is compared with the quietest windows
    of the same segment in the same band.

    Examples
    --------
    >>> rate = 8000
    >>> t = np.arange(rate * 6) / rate
    >>> x = 0.001 * np.random.default_rng(0).standard_normal(t.size)
    >>> x[2 * rate:3 * rate] += 0.3 * np.sin(2 * np.pi * 1500 * t[2 * rate:3 * rate])
    >>> [d[:3] for d in score_segment(x.astype(np.float32), rate, [Output(7, 1000, 2000, 0.5)])]
    [(7, 2000, 3000)]
    """
    hop = int(rate * WINDOW_S)
    n = samples.size // hop
    if n < 2:
        return []
    frames = samples[: n * hop].astype(np.float64).reshape(n, hop)
    power = np.abs(np.fft.rfft(frames * np.hanning(hop), axis=1)) ** 2
    freqs = np.fft.rfftfreq(hop, 1.0 / rate)
    found = []
    for out in outputs:
        band = (freqs >= out.frequency_min) & (freqs <= out.frequency_max)
        if not band.any():
            continue
        energy = power[:, band].sum(axis=1)
        floor = np.quantile(energy, FLOOR_QUANTILE) + 1e-20
        conf = confidence(10.0 * np.log10(energy / floor + 1e-20))
        for i in np.flatnonzero(conf >= out.threshold):
            found.append((out.classification_id, int(i * WINDOW_S * 1000),
                          int((i + 1) * WINDOW_S * 1000), float(conf[i])))
    return found


def job_outputs(store: Store, classifier_id: int) -> list[Output]:
    """The outputs of a classifier that have a frequency band to listen to."""
    rows = store.query(
        "SELECT o.classification_id, c.frequency_min, c.frequency_max, o.ignore_threshold "
        "FROM classifier_outputs o JOIN classifications c ON c.id = o.classification_id "
        "WHERE o.classifier_id = ? AND c.frequency_min IS NOT NULL "
        "AND c.frequency_max IS NOT NULL", (classifier_id,))
    return [Output(int(r[0]), int(r[1]), int(r[2]), float(r[3])) for r in rows]


def score_into(store: Store, segment: Mapping[str, Any], outputs: list[Output],
               classifier_id: int, job_id: int) -> int:
    """Score one segment and write its detections with ``job_id``; return how many."""
    if not outputs:
        return 0
    samples, rate = synth.decode(synth.ensure_blob(store, str(segment["id"])))
    found = score_segment(samples, rate, outputs)
    start = int(segment["start"])
    with store.connect() as conn:
        conn.executemany(
            'INSERT INTO detections (stream_id, classifier_id, classification_id, '
            'classifier_job_id, start, "end", confidence) VALUES (?, ?, ?, ?, ?, ?, ?)',
            [(segment["stream_id"], classifier_id, cls, job_id, start + a, start + b,
              round(conf, 4)) for cls, a, b, conf in found])
    return len(found)


def run_job(store: Store, classifier_id: int, job_id: int, stream_ids: list[str]) -> int:
    """Score every ingested segment of ``stream_ids``; return the detections written."""
    outputs = job_outputs(store, classifier_id)
    marks = ",".join("?" * len(stream_ids))
    segments = store.query(f"SELECT id, stream_id, start FROM segments WHERE synth = 0 AND "
                           f"stream_id IN ({marks}) ORDER BY stream_id, start", stream_ids)
    written = sum(score_into(store, dict(seg), outputs, classifier_id, job_id) for seg in segments)
    with store.connect() as conn:
        conn.execute("UPDATE classifiers SET last_executed_at = strftime('%s','now') * 1000 "
                     "WHERE id = ?", (classifier_id,))
    return written
