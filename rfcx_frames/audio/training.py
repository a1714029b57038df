"""Training sets from annotations: multi-hot clip tables, writing/reading, Kaggle export.

:func:`training_set` builds a *clip table*: one row per fixed-length window with
``stream_id``, ``start``, ``end`` (``datetime64[ns, UTC]``), ``kind``, one ``label_<class>``
column (``uint8``, 0/1) per class and one ``reviewed_<class>`` column (``bool``) per class.
``reviewed_<class>`` is True only where someone looked for that class: unlabelled is not
negative.

Rules (times in integer nanoseconds):

* Windows lie on a grid of ``step`` seconds from the Unix epoch, so windows from
  neighbouring events coincide. Every window within ``clip_duration`` of an event is a
  candidate; windows whose middle has no recording are dropped.
* A window is *positive* for class ``c`` when it covers at least ``min_overlap`` of an
  event of ``c`` (of the event, or of the window when the event is longer than the window).
  It is *ambiguous* for ``c`` when it touches such an event less than that: label 0 and
  not reviewed.
* The *review region* of class ``c`` in a stream is the union of the recordings (segments)
  holding an annotation of ``c``: annotators label whole recordings. A window whose middle
  lies in it is reviewed for ``c`` (label 0 unless positive).
* Confirmed detections are positives (reviewed over their own span); rejected detections
  make validated negatives for their class (label 0, reviewed) where a window covers
  ``min_overlap`` of them.
* Background windows (``kind="background"``) are drawn at random (``seed``) on the same
  grid from recordings holding annotations, at least ``min_distance`` seconds from every
  event of any class. ``negatives`` is their count (int) or a ratio of the positive
  windows (float); fewer are returned when fewer exist.

``kind`` is ``"positive"`` (some label), ``"validated"`` (a rejected detection, no label),
``"context"`` (near an event, no label) or ``"background"``.

Examples
--------
>>> class_columns(["frog", "bird"])
(['label_frog', 'label_bird'], ['reviewed_frog', 'reviewed_bird'])
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import soundfile as sf
from tqdm.auto import tqdm

from rfcx_frames.audio.clips import iter_clips
from rfcx_frames.audio.source import (
    NS_PER_S,
    SegmentSource,
    from_ns,
    ns_to_series,
    seconds_to_ns,
    series_ns,
)
from rfcx_frames.audio.store import check_id, compact_time
from rfcx_frames.audio.windows import GapMode, WindowRequest, load_windows

AudioFormat = Literal["npz", "flac"]

#: Events of one stream further apart than this are looked up in separate segment queries.
_QUERY_SPAN_NS = 6 * 3600 * NS_PER_S
_CONFIRMED = {"confirmed", "1", "1.0"}
_REJECTED = {"rejected", "-1", "-1.0"}


def class_columns(classes: Sequence[str]) -> tuple[list[str], list[str]]:
    """The ``label_<c>`` and ``reviewed_<c>`` column names for a list of classes.

    Examples
    --------
    >>> class_columns(["a"])
    (['label_a'], ['reviewed_a'])
    """
    return [f"label_{c}" for c in classes], [f"reviewed_{c}" for c in classes]


def _values(frame: pd.DataFrame) -> pd.Series:
    for column in ("classification_value", "classification.value", "label", "class"):
        if column in frame.columns:
            return frame[column].astype(str)
    raise ValueError("frame needs a classification_value (or classification.value) column")


def _events(frame: pd.DataFrame | None, kind: str) -> pd.DataFrame:
    """Normalised events: stream_id, start_ns, end_ns, value, kind."""
    columns = ["stream_id", "start_ns", "end_ns", "value", "kind"]
    if frame is None or len(frame) == 0:
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns}).astype(
            {"start_ns": "int64", "end_ns": "int64"}
        )
    for column in ("stream_id", "start", "end"):
        if column not in frame.columns:
            raise ValueError(f"{kind} frame needs a {column!r} column")
    out = pd.DataFrame(
        {
            "stream_id": frame["stream_id"].astype(str).to_numpy(dtype=object),
            "start_ns": series_ns(frame["start"]),
            "end_ns": series_ns(frame["end"]),
            "value": _values(frame).to_numpy(dtype=object),
            "kind": kind,
        }
    )
    if (out["end_ns"] < out["start_ns"]).any():
        raise ValueError(f"some {kind} rows end before they start")
    return out


def _detection_events(detections: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if detections is None or len(detections) == 0:
        return _events(None, "confirmed"), _events(None, "rejected")
    if "review_status" not in detections.columns:
        raise ValueError("detections need a review_status column (confirmed / rejected)")
    status = detections["review_status"].astype(str).str.lower()
    confirmed = _events(detections[status.isin(_CONFIRMED).to_numpy()], "confirmed")
    rejected = _events(detections[status.isin(_REJECTED).to_numpy()], "rejected")
    return confirmed, rejected


def _recordings(
    source: SegmentSource, stream_id: str, events: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Start/end (ns) of the stream's segments around the events, sorted by start."""
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    order = np.sort(events["start_ns"].to_numpy())
    stops = np.sort(events["end_ns"].to_numpy())
    lo = 0
    while lo < len(order):
        hi = lo
        while hi + 1 < len(order) and order[hi + 1] - order[lo] <= _QUERY_SPAN_NS:
            hi += 1
        table = source.segments(
            stream_id, from_ns(int(order[lo])), from_ns(int(max(stops[: hi + 1].max(),
                                                                 order[hi] + 1)))
        )
        if len(table):
            starts.append(series_ns(table["start"]))
            ends.append(series_ns(table["end"]))
        lo = hi + 1
    if not starts:
        return np.zeros(0, dtype="int64"), np.zeros(0, dtype="int64")
    s = np.concatenate(starts)
    e = np.concatenate(ends)
    s, idx = np.unique(s, return_index=True)
    return s, e[idx]


def _inside(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each point lies in one of the intervals ``[starts, ends)``."""
    if len(starts) == 0:
        return np.zeros(len(points), dtype=bool)
    i = np.searchsorted(starts, points, side="right") - 1
    ok = i >= 0
    result = np.zeros(len(points), dtype=bool)
    result[ok] = points[ok] < ends[i[ok]]
    return result


def _grid_near(events: pd.DataFrame, clip_ns: int, step_ns: int) -> np.ndarray:
    """Grid starts of every window overlapping an event or within a clip of it."""
    starts: list[np.ndarray] = []
    for s, e in zip(events["start_ns"].to_numpy(), events["end_ns"].to_numpy(), strict=True):
        first = -(-(int(s) - 2 * clip_ns) // step_ns)
        last = (int(e) + clip_ns) // step_ns
        starts.append(np.arange(first, last + 1, dtype="int64") * step_ns)
    if not starts:
        return np.zeros(0, dtype="int64")
    return np.unique(np.concatenate(starts))


def _overlap_fraction(
    w_start: np.ndarray, clip_ns: int, e_start: int, e_end: int
) -> np.ndarray:
    inter = np.minimum(w_start + clip_ns, e_end) - np.maximum(w_start, e_start)
    denominator = max(1, min(e_end - e_start, clip_ns))
    if e_end == e_start:  # an instant: inside the window or not
        return ((w_start <= e_start) & (e_start < w_start + clip_ns)).astype(float)
    return np.clip(inter, 0, None) / denominator


def training_set(
    source: SegmentSource,
    annotations: pd.DataFrame,
    clip_duration: float,
    step: float | None = None,
    min_overlap: float = 0.5,
    negatives: int | float = 1.0,
    classes: Sequence[str] | None = None,
    detections: pd.DataFrame | None = None,
    seed: int = 0,
    min_distance: float = 5.0,
) -> pd.DataFrame:
    """A multi-hot clip table from annotations (see the module docstring for the rules).

    Parameters
    ----------
    source
        Where recordings are listed (only segment times are read, no audio).
    annotations
        ``stream_id``, ``start``, ``end``, ``classification_value``.
    clip_duration
        Window length in seconds.
    step
        Grid step in seconds (default ``clip_duration / 2``).
    min_overlap
        Fraction of an event a window must cover to be positive for it.
    negatives
        Background windows: a count (int) or a ratio of positive windows (float).
    classes
        Class values, in column order (default: sorted values found). Events of other
        classes are ignored, except that background keeps away from them.
    detections
        Optional detections with ``review_status`` (``"confirmed"``/``"rejected"`` or
        1/-1): confirmed ones are positives, rejected ones validated negatives.
    seed
        Seed of the background draw.
    min_distance
        Seconds between a background window and any event.

    Returns
    -------
    pandas.DataFrame
        The clip table, sorted by stream and start; ``attrs["classes"]`` lists the classes.

    Examples
    --------
    >>> from rfcx_frames.audio.source import TableSource
    >>> ann = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:01Z"],
    ...                     "end": ["2020-01-01T00:00:02Z"], "classification_value": ["frog"]})
    >>> training_set(TableSource(pd.DataFrame()), ann, 2.0).empty  # no recordings: no windows
    True
    """
    if clip_duration <= 0:
        raise ValueError("clip_duration must be > 0")
    if not 0 < min_overlap <= 1:
        raise ValueError("min_overlap must be in (0, 1]")
    clip_ns = seconds_to_ns(clip_duration)
    step_ns = seconds_to_ns(step) if step is not None else clip_ns // 2
    if step_ns <= 0:
        raise ValueError("step must be > 0")
    distance_ns = seconds_to_ns(min_distance)
    annotated = _events(annotations, "annotation")
    confirmed, rejected = _detection_events(detections)
    every = pd.concat([annotated, confirmed, rejected], ignore_index=True)
    if classes is None:
        classes = sorted(set(annotated["value"]) | set(confirmed["value"]) | set(rejected["value"]))
    classes = [str(c) for c in classes]
    labels, reviewed = class_columns(classes)
    wanted = every[every["value"].isin(classes)]

    tables: list[pd.DataFrame] = []
    backgrounds: list[pd.DataFrame] = []
    for stream_id, stream_events in wanted.groupby("stream_id", sort=True):
        stream_all = every[every["stream_id"] == stream_id]
        rec_start, rec_end = _recordings(source, str(stream_id), stream_all)
        ann = stream_events[stream_events["kind"] == "annotation"]
        # Recordings holding an annotation of each class (the review regions).
        regions: dict[str, np.ndarray] = {}
        for value, group in ann.groupby("value"):
            regions[str(value)] = _inside_any(rec_start, rec_end, group)
        starts = _grid_near(stream_events, clip_ns, step_ns)
        starts = starts[_inside(starts + clip_ns // 2, rec_start, rec_end)]
        tables.append(
            _label_windows(
                str(stream_id), starts, clip_ns, stream_events, classes, regions,
                rec_start, rec_end, min_overlap, kind=None,
            )
        )
        annotated_recordings = np.zeros(len(rec_start), dtype=bool)
        for hit in regions.values():
            annotated_recordings |= hit
        candidates = _background_candidates(
            rec_start[annotated_recordings], rec_end[annotated_recordings], clip_ns, step_ns,
            stream_all, distance_ns, set(starts.tolist()),
        )
        backgrounds.append(pd.DataFrame({"stream_id": str(stream_id), "start_ns": candidates}))

    table = pd.concat(tables, ignore_index=True) if tables else _empty_table(classes)
    table = table[table["kind"].notna()] if len(table) else table
    n_positive = int((table["kind"] == "positive").sum()) if len(table) else 0
    count = int(negatives) if isinstance(negatives, (int, np.integer)) else round(
        float(negatives) * n_positive
    )
    pool = pd.concat(backgrounds, ignore_index=True) if backgrounds else pd.DataFrame()
    if count > 0 and len(pool):
        rng = np.random.default_rng(seed)
        chosen = pool.iloc[np.sort(rng.choice(len(pool), size=min(count, len(pool)),
                                              replace=False))]
        drawn = []
        for stream_id, group in chosen.groupby("stream_id", sort=True):
            stream_events = wanted[wanted["stream_id"] == stream_id]
            stream_all = every[every["stream_id"] == stream_id]
            rec_start, rec_end = _recordings(source, str(stream_id), stream_all)
            regions = {
                str(v): _inside_any(rec_start, rec_end, g)
                for v, g in stream_events[stream_events["kind"] == "annotation"].groupby("value")
            }
            drawn.append(
                _label_windows(
                    str(stream_id), group["start_ns"].to_numpy(), clip_ns, stream_events,
                    classes, regions, rec_start, rec_end, min_overlap, kind="background",
                )
            )
        table = pd.concat([table, *drawn], ignore_index=True)
    table = table.sort_values(["stream_id", "start"], kind="stable").reset_index(drop=True)
    for column in labels:
        table[column] = table[column].astype("uint8")
    for column in reviewed:
        table[column] = table[column].astype(bool)
    table.attrs["classes"] = list(classes)
    table.attrs["clip_duration"] = float(clip_duration)
    return table


def _inside_any(rec_start: np.ndarray, rec_end: np.ndarray, events: pd.DataFrame) -> np.ndarray:
    """Which recordings overlap at least one of the events."""
    hit = np.zeros(len(rec_start), dtype=bool)
    for s, e in zip(events["start_ns"].to_numpy(), events["end_ns"].to_numpy(), strict=True):
        hit |= (rec_start <= e) & (rec_end > s)
    return hit


def _empty_table(classes: Sequence[str]) -> pd.DataFrame:
    labels, reviewed = class_columns(classes)
    data: dict[str, Any] = {
        "stream_id": pd.Series([], dtype="object"),
        "start": pd.Series([], dtype="datetime64[ns, UTC]"),
        "end": pd.Series([], dtype="datetime64[ns, UTC]"),
        "kind": pd.Series([], dtype="object"),
    }
    data.update({c: pd.Series([], dtype="uint8") for c in labels})
    data.update({c: pd.Series([], dtype=bool) for c in reviewed})
    return pd.DataFrame(data)


def _label_windows(
    stream_id: str,
    starts: np.ndarray,
    clip_ns: int,
    events: pd.DataFrame,
    classes: Sequence[str],
    regions: dict[str, np.ndarray],
    rec_start: np.ndarray,
    rec_end: np.ndarray,
    min_overlap: float,
    kind: str | None,
) -> pd.DataFrame:
    n = len(starts)
    labels, reviewed = class_columns(classes)
    middle = starts + clip_ns // 2
    out: dict[str, Any] = {
        "stream_id": np.full(n, stream_id, dtype=object),
        "start": ns_to_series(starts).to_numpy(),
        "end": ns_to_series(starts + clip_ns).to_numpy(),
    }
    any_label = np.zeros(n, dtype=bool)
    any_validated = np.zeros(n, dtype=bool)
    for c, label_col, reviewed_col in zip(classes, labels, reviewed, strict=True):
        label = np.zeros(n, dtype=bool)
        ambiguous = np.zeros(n, dtype=bool)
        validated = np.zeros(n, dtype=bool)
        for ev in events[events["value"] == c].itertuples():
            frac = _overlap_fraction(starts, clip_ns, int(ev.start_ns), int(ev.end_ns))
            if ev.kind == "rejected":
                validated |= frac >= min_overlap
            else:
                label |= frac >= min_overlap
                ambiguous |= (frac > 0) & (frac < min_overlap)
        region = regions.get(c)
        in_region = (
            _inside(middle, rec_start[region], rec_end[region])
            if region is not None and region.any()
            else np.zeros(n, dtype=bool)
        )
        ambiguous &= ~label
        out[label_col] = label.astype("uint8")
        out[reviewed_col] = label | ((in_region | validated) & ~ambiguous)
        any_label |= label
        any_validated |= validated & ~label
    if kind is None:
        kinds = np.where(any_label, "positive", np.where(any_validated, "validated", "context"))
    else:
        kinds = np.full(n, kind)
    out["kind"] = kinds.astype(object)
    frame = pd.DataFrame(out)
    return frame[["stream_id", "start", "end", "kind", *labels, *reviewed]]


def _background_candidates(
    rec_start: np.ndarray,
    rec_end: np.ndarray,
    clip_ns: int,
    step_ns: int,
    events: pd.DataFrame,
    distance_ns: int,
    taken: set[int],
) -> np.ndarray:
    found: list[np.ndarray] = []
    ev_start = events["start_ns"].to_numpy()
    ev_end = events["end_ns"].to_numpy()
    for s, e in zip(rec_start, rec_end, strict=True):
        first = -(-int(s) // step_ns)
        last = (int(e) - clip_ns) // step_ns
        if last < first:
            continue
        w = np.arange(first, last + 1, dtype="int64") * step_ns
        far = np.ones(len(w), dtype=bool)
        for a, b in zip(ev_start, ev_end, strict=True):
            far &= (w + clip_ns <= a - distance_ns) | (w >= b + distance_ns)
        found.append(w[far])
    if not found:
        return np.zeros(0, dtype="int64")
    all_w = np.unique(np.concatenate(found))
    return all_w[~np.isin(all_w, np.fromiter(taken, dtype="int64", count=len(taken)))]


# --------------------------------------------------------------------------- writing


def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then move the result to ``path``; no partial file on error."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_training_set(
    table: pd.DataFrame,
    source: SegmentSource,
    out_dir: str | os.PathLike[str],
    format: AudioFormat = "npz",
    sample_rate: int | None = None,
    gap: GapMode = "zero",
    batch_size: int = 256,
    progress: bool = True,
) -> Path:
    """Write a clip table's audio and labels: ``labels.parquet`` + ``audio/<row>.<format>``.

    ``labels.parquet`` holds the table plus ``file`` (path relative to ``out_dir``),
    ``sample_rate`` and ``n_samples``; ``dataset.json`` holds the classes, clip duration,
    rate and format. Each file is written atomically and the labels last, so a complete
    ``labels.parquet`` means complete audio. FLAC is 24-bit PCM (values clipped to
    [-1, 1]); ``.npz`` keeps float32 exactly.

    Examples
    --------
    >>> from rfcx_frames.audio.source import TableSource
    >>> import tempfile
    >>> t = pd.DataFrame({"stream_id": ["s"], "start": pd.to_datetime(["2020-01-01"], utc=True),
    ...                   "end": pd.to_datetime(["2020-01-01 00:00:01"], utc=True)})
    >>> out = write_training_set(t, TableSource(pd.DataFrame()), tempfile.mkdtemp(),
    ...                          sample_rate=100, progress=False)
    >>> sorted(p.name for p in out.iterdir())
    ['audio', 'dataset.json', 'labels.parquet']
    """
    if format not in ("npz", "flac"):
        raise ValueError(f"format must be 'npz' or 'flac', not {format!r}")
    if format == "flac" and gap == "nan":
        raise ValueError("FLAC cannot hold NaN; use gap='zero' or format='npz'")
    out = Path(out_dir)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    n_samples: list[int] = []
    rate = 0
    frame = table[["stream_id", "start", "end"]]
    for audio, meta in iter_clips(
        source, frame, sample_rate=sample_rate, gap=gap, batch_size=batch_size,
        progress=progress,
    ):
        rate = int(meta["sample_rate"].iloc[0])
        for row, clip, n in zip(meta.index, audio, meta["n_samples"], strict=True):
            name = f"audio/{row:06d}.{format}"
            data = clip[: int(n)]
            if format == "npz":
                _atomic_write(out / name, lambda p, d=data: _save_npz(p, d))
            else:
                _atomic_write(
                    out / name,
                    lambda p, d=data, r=rate: sf.write(
                        p, np.clip(d, -1.0, 1.0), r, format="FLAC", subtype="PCM_24"
                    ),
                )
            files.append(name)
            n_samples.append(int(n))
    labels = table.reset_index(drop=True).copy()
    labels["file"] = pd.Series(files, dtype="object")
    labels["sample_rate"] = np.full(len(labels), rate, dtype="int64")
    labels["n_samples"] = np.asarray(n_samples, dtype="int64")
    info = {
        "classes": list(table.attrs.get("classes", _classes_from_columns(table))),
        "clip_duration": table.attrs.get("clip_duration"),
        "sample_rate": rate,
        "format": format,
        "rows": len(labels),
    }
    _atomic_write(out / "dataset.json", lambda p: p.write_text(json.dumps(info, indent=2)))
    labels.attrs = {}
    _atomic_write(out / "labels.parquet", lambda p: labels.to_parquet(p, index=False))
    return out


def _save_npz(path: Path, data: np.ndarray) -> None:
    with path.open("wb") as fh:
        np.savez(fh, audio=data)


def _classes_from_columns(table: pd.DataFrame) -> list[str]:
    return [c[len("label_") :] for c in table.columns if str(c).startswith("label_")]


def read_training_set(out_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Read back what :func:`write_training_set` wrote: ``(labels, audio[N, samples])``.

    Clips shorter than the longest are right-padded with zeros (``labels.n_samples``).

    Examples
    --------
    >>> from rfcx_frames.audio.source import TableSource
    >>> import tempfile
    >>> t = pd.DataFrame({"stream_id": ["s"], "start": pd.to_datetime(["2020-01-01"], utc=True),
    ...                   "end": pd.to_datetime(["2020-01-01 00:00:01"], utc=True)})
    >>> out = write_training_set(t, TableSource(pd.DataFrame()), tempfile.mkdtemp(),
    ...                          sample_rate=100, progress=False)
    >>> labels, audio = read_training_set(out)
    >>> audio.shape
    (1, 100)
    """
    out = Path(out_dir)
    labels = pd.read_parquet(out / "labels.parquet")
    info = json.loads((out / "dataset.json").read_text())
    labels.attrs["classes"] = info["classes"]
    labels.attrs["clip_duration"] = info["clip_duration"]
    width = int(labels["n_samples"].max()) if len(labels) else 0
    audio = np.zeros((len(labels), width), dtype=np.float32)
    for i, name in enumerate(labels["file"]):
        path = out / str(name)
        if path.suffix == ".npz":
            with np.load(path) as npz:
                data = npz["audio"]
        else:
            data, _ = sf.read(path, dtype="float32")
        audio[i, : len(data)] = data
    return labels, audio


# --------------------------------------------------------------------------- Kaggle export


def _recording_start(
    source: SegmentSource, stream_id: str, start_ns: int, duration_ns: int
) -> int:
    """Start of the segment holding ``start_ns``, or the recording grid's start."""
    table = source.segments(stream_id, from_ns(start_ns), from_ns(start_ns + 1))
    if len(table):
        starts = series_ns(table["start"])
        before = starts[starts <= start_ns]
        if len(before):
            return int(before.max())
    return (start_ns // duration_ns) * duration_ns


def _iso(ns: int) -> str:
    ts = from_ns(ns)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def to_kaggle_rfcx(
    annotations: pd.DataFrame,
    source: SegmentSource,
    out_dir: str | os.PathLike[str],
    detections: pd.DataFrame | None = None,
    recording_duration: float = 60.0,
    sample_rate: int | None = 48_000,
    songtype_id: int = 1,
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    """Export like the Rainforest Connection species audio detection data set.

    Writes ``train_tp.csv`` (annotations and confirmed detections), ``train_fp.csv``
    (rejected detections), ``species.csv`` (``species_id, classification_value``: species
    ids are the sorted classification values numbered from 0) and ``train/<recording_id>.flac``
    (16-bit FLAC, ``recording_duration`` seconds from the start of the segment holding the
    event). CSV columns: ``recording_id, species_id, songtype_id, t_min, f_min, t_max,
    f_max`` (seconds within the recording; Hz) plus ``stream_id`` and ``start_utc`` (the
    recording's start). ``recording_id`` is ``<stream_id>_<YYYYMMDDTHHMMSSmmmZ>``. Missing
    frequencies become 0 and the Nyquist frequency; ``t_max`` is clipped to the recording.

    Returns
    -------
    dict
        ``{"train_tp": ..., "train_fp": ..., "species": ...}`` as written.

    Examples
    --------
    >>> from rfcx_frames.audio.source import TableSource
    >>> import tempfile
    >>> ann = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:01Z"],
    ...     "end": ["2020-01-01T00:00:02Z"], "classification_value": ["frog"],
    ...     "frequency_min": [100], "frequency_max": [900]})
    >>> out = to_kaggle_rfcx(ann, TableSource(pd.DataFrame()), tempfile.mkdtemp(),
    ...                      sample_rate=8000, progress=False)
    >>> out["train_tp"][["recording_id", "species_id", "t_min", "t_max"]].values.tolist()
    [['s_20200101T000000000Z', 0, 1.0, 2.0]]
    """
    out = Path(out_dir)
    (out / "train").mkdir(parents=True, exist_ok=True)
    duration_ns = seconds_to_ns(recording_duration)
    confirmed, rejected = _detection_events(detections)
    positives = pd.concat(
        [_with_freq(annotations, _events(annotations, "annotation")),
         _with_freq(detections, confirmed, status="confirmed")],
        ignore_index=True,
    )
    negatives = _with_freq(detections, rejected, status="rejected")
    species = sorted(set(positives["value"]) | set(negatives["value"]))
    species_ids = {v: i for i, v in enumerate(species)}

    recordings: dict[str, tuple[str, int]] = {}

    def rows(events: pd.DataFrame) -> pd.DataFrame:
        records = []
        for ev in events.itertuples():
            stream_id = check_id(ev.stream_id, "stream_id")
            ev_start, ev_end = int(ev.start_ns), int(ev.end_ns)  # type: ignore[arg-type]
            rec_start = _recording_start(source, stream_id, ev_start, duration_ns)
            rec_id = f"{stream_id}_{compact_time(from_ns(rec_start))}"
            recordings[rec_id] = (stream_id, rec_start)
            records.append(
                {
                    "recording_id": rec_id,
                    "species_id": species_ids[ev.value],
                    "songtype_id": songtype_id,
                    "t_min": (ev_start - rec_start) / NS_PER_S,
                    "f_min": ev.f_min,
                    "t_max": min(ev_end - rec_start, duration_ns) / NS_PER_S,
                    "f_max": ev.f_max,
                    "stream_id": stream_id,
                    "start_utc": _iso(rec_start),
                }
            )
        columns = ["recording_id", "species_id", "songtype_id", "t_min", "f_min", "t_max",
                   "f_max", "stream_id", "start_utc"]
        return pd.DataFrame(records, columns=columns).astype(
            {"species_id": "int64", "songtype_id": "int64", "t_min": "float64",
             "t_max": "float64", "f_min": "float64", "f_max": "float64"}
        )

    tp, fp = rows(positives), rows(negatives)
    ids = sorted(recordings)
    requests = [
        WindowRequest(recordings[r][0], recordings[r][1], recordings[r][1] + duration_ns)
        for r in ids
    ]
    rate = sample_rate
    bar = tqdm(total=len(requests), disable=not progress, unit="recording", desc="kaggle")
    for lo in range(0, len(requests), 64):
        audio, covs = load_windows(source, requests[lo : lo + 64], sample_rate)
        for rec_id, clip, cov in zip(ids[lo : lo + 64], audio, covs, strict=True):
            rate = cov.sample_rate
            _atomic_write(
                out / "train" / f"{rec_id}.flac",
                lambda p, d=clip, r=cov.sample_rate: sf.write(
                    p, np.clip(d, -1.0, 1.0), r, format="FLAC", subtype="PCM_16"
                ),
            )
        bar.update(len(audio))
    bar.close()
    nyquist = float(rate) / 2 if rate else np.nan
    for frame in (tp, fp):
        frame["f_min"] = frame["f_min"].fillna(0.0)
        frame["f_max"] = frame["f_max"].fillna(nyquist)
    species_frame = pd.DataFrame(
        {"species_id": np.arange(len(species), dtype="int64"),
         "classification_value": pd.Series(species, dtype="object")}
    )
    _atomic_write(out / "train_tp.csv", lambda p: tp.to_csv(p, index=False))
    _atomic_write(out / "train_fp.csv", lambda p: fp.to_csv(p, index=False))
    _atomic_write(out / "species.csv", lambda p: species_frame.to_csv(p, index=False))
    return {"train_tp": tp, "train_fp": fp, "species": species_frame}


def _with_freq(
    frame: pd.DataFrame | None, events: pd.DataFrame, status: str | None = None
) -> pd.DataFrame:
    """Attach f_min/f_max (float, NaN if unknown) from the source frame to its events."""
    events = events.copy()
    if frame is None or len(events) == 0:
        events["f_min"] = pd.Series(np.nan, index=events.index, dtype="float64")
        events["f_max"] = pd.Series(np.nan, index=events.index, dtype="float64")
        return events
    if status is not None:
        mask = frame["review_status"].astype(str).str.lower().isin(
            _CONFIRMED if status == "confirmed" else _REJECTED
        )
        frame = frame[mask.to_numpy()]
    for column, target in (("frequency_min", "f_min"), ("frequency_max", "f_max")):
        if column in frame.columns:
            values = pd.to_numeric(frame[column]).astype("Float64").to_numpy(
                np.float64, na_value=np.nan
            )
        else:
            values = np.full(len(events), np.nan)
        events[target] = values
    return events
