"""Labels of fixed-length windows: multi-hot, review masks, overlaps, status and recording.

Pure functions over integer-nanosecond times; :mod:`rfcx_frames.audio.training` decides
which windows to label, this module labels them (see its docstring for the rules).

Examples
--------
>>> class_columns(["frog", "bird"])
(['label_frog', 'label_bird'], ['reviewed_frog', 'reviewed_bird'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rfcx_frames.audio.sample_time import ns_to_series

#: The kinds of source rows a window's ``review_status`` names, in the order it lists them.
SOURCE_STATUSES = ("annotation", "confirmed", "rejected", "unreviewed")


def overlap_columns(classes: Sequence[str]) -> list[str]:
    """The ``overlap_<c>`` column names: seconds of each window the class's events cover.

    Examples
    --------
    >>> overlap_columns(["a"])
    ['overlap_a']
    """
    return [f"overlap_{c}" for c in classes]


def class_columns(classes: Sequence[str]) -> tuple[list[str], list[str]]:
    """The ``label_<c>`` and ``reviewed_<c>`` column names for a list of classes.

    Examples
    --------
    >>> class_columns(["a"])
    (['label_a'], ['reviewed_a'])
    """
    return [f"label_{c}" for c in classes], [f"reviewed_{c}" for c in classes]


@dataclass
class StreamEvents:
    """One stream's events and recordings, as the labelling rules need them."""

    stream_id: str
    events: pd.DataFrame  # events of the wanted classes
    all_events: pd.DataFrame  # events of every class (background keeps away from them)
    rec_start: np.ndarray
    rec_end: np.ndarray
    regions: dict[str, np.ndarray]  # per class: which recordings hold an annotation of it


def inside(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each point lies in one of the sorted intervals ``[starts, ends)``.

    Examples
    --------
    >>> inside(np.array([1, 5]), np.array([0]), np.array([2])).tolist()
    [True, False]
    """
    if len(starts) == 0:
        return np.zeros(len(points), dtype=bool)
    i = np.searchsorted(starts, points, side="right") - 1
    ok = i >= 0
    result = np.zeros(len(points), dtype=bool)
    result[ok] = points[ok] < ends[i[ok]]
    return result


def _overlap_fraction(
    w_start: np.ndarray, clip_ns: int, e_start: int, e_end: int
) -> np.ndarray:
    inter = np.minimum(w_start + clip_ns, e_end) - np.maximum(w_start, e_start)
    denominator = max(1, min(e_end - e_start, clip_ns))
    if e_end == e_start:  # an instant: inside the window or not
        return ((w_start <= e_start) & (e_start < w_start + clip_ns)).astype(float)
    return np.clip(inter, 0, None) / denominator


def covered_seconds(w_start: np.ndarray, clip_ns: int, e_start: np.ndarray,
                    e_end: np.ndarray) -> np.ndarray:
    """Seconds of each window ``[w, w + clip_ns)`` inside the union of the events.

    Overlapping events count once, so two annotations of one call never add up to more
    than the window.

    Examples
    --------
    >>> covered_seconds(np.array([0]), 4 * 10**9, np.array([10**9, 2 * 10**9]),
    ...                 np.array([3 * 10**9, 5 * 10**9])).tolist()
    [3.0]
    """
    total = np.zeros(len(w_start), dtype="int64")
    order = np.argsort(e_start, kind="stable")
    lo: int | None = None
    hi = 0
    for a, b in zip(e_start[order], e_end[order], strict=True):
        if lo is not None and int(a) <= hi:
            hi = max(hi, int(b))
            continue
        if lo is not None:
            total += np.clip(np.minimum(w_start + clip_ns, hi) - np.maximum(w_start, lo), 0, None)
        lo, hi = int(a), int(b)
    if lo is not None:
        total += np.clip(np.minimum(w_start + clip_ns, hi) - np.maximum(w_start, lo), 0, None)
    return total / 1e9


def empty_table(classes: Sequence[str]) -> pd.DataFrame:
    """A clip table with no rows and every column typed.

    Examples
    --------
    >>> list(empty_table(["a"]).columns)[:4]
    ['stream_id', 'start', 'end', 'kind']
    """
    labels, reviewed = class_columns(classes)
    data: dict[str, Any] = {
        "stream_id": pd.Series([], dtype="object"),
        "start": pd.Series([], dtype="datetime64[ns, UTC]"),
        "end": pd.Series([], dtype="datetime64[ns, UTC]"),
        "kind": pd.Series([], dtype="object"),
        "review_status": pd.Series([], dtype="object"),
        "recording_start": pd.Series([], dtype="datetime64[ns, UTC]"),
    }
    data.update({c: pd.Series([], dtype="uint8") for c in labels})
    data.update({c: pd.Series([], dtype=bool) for c in reviewed})
    data.update({c: pd.Series([], dtype="float32") for c in overlap_columns(classes)})
    return pd.DataFrame(data)


def _statuses(hits: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Per window, the comma-joined kinds of the source rows it covers (``""``: none)."""
    parts = [np.where(hits[s], s, "") for s in SOURCE_STATUSES if s in hits]
    if not parts:
        return np.full(n, "", dtype=object)
    joined = [",".join(p for p in row if p) for row in zip(*parts, strict=True)]
    return np.asarray(joined, dtype=object)


def _recording_start(stream: StreamEvents, middle: np.ndarray) -> np.ndarray:
    """Start (ns) of the recording holding each window's middle (the window's own start
    where none does: background and labelled windows always have one)."""
    if len(stream.rec_start) == 0:
        return middle.copy()
    i = np.clip(np.searchsorted(stream.rec_start, middle, side="right") - 1, 0, None)
    return np.asarray(stream.rec_start[i], dtype="int64")


def label_windows(
    stream: StreamEvents,
    starts: np.ndarray,
    clip_ns: int,
    classes: Sequence[str],
    min_overlap: float,
    kind: str | None,
) -> pd.DataFrame:
    """The clip-table rows of one stream's windows starting at ``starts`` (ns).

    ``kind=None`` derives each row's kind from its labels (``positive``, ``validated``,
    ``context``); otherwise every row gets ``kind``.

    Examples
    --------
    >>> s = StreamEvents("s", pd.DataFrame({"start_ns": [0], "end_ns": [10], "value": ["a"],
    ...                  "kind": ["annotation"]}), pd.DataFrame(), np.array([0]),
    ...                  np.array([100]), {"a": np.array([True])})
    >>> label_windows(s, np.array([0, 50]), 20, ["a"], 0.5, None)["kind"].tolist()
    ['positive', 'context']
    """
    events, regions = stream.events, stream.regions
    n = len(starts)
    labels, reviewed = class_columns(classes)
    middle = starts + clip_ns // 2
    out: dict[str, Any] = {
        "stream_id": np.full(n, stream.stream_id, dtype=object),
        "start": ns_to_series(starts).to_numpy(),
        "end": ns_to_series(starts + clip_ns).to_numpy(),
    }
    any_label = np.zeros(n, dtype=bool)
    any_validated = np.zeros(n, dtype=bool)
    hits: dict[str, np.ndarray] = {}
    for c, label_col, reviewed_col in zip(classes, labels, reviewed, strict=True):
        label = np.zeros(n, dtype=bool)
        ambiguous = np.zeros(n, dtype=bool)
        validated = np.zeros(n, dtype=bool)
        of_class = events[events["value"] == c]
        kept = of_class[of_class["kind"] != "rejected"]
        out[f"overlap_{c}"] = covered_seconds(starts, clip_ns, kept["start_ns"].to_numpy(),
                                              kept["end_ns"].to_numpy()).astype("float32")
        for ev in of_class.itertuples():
            frac = _overlap_fraction(starts, clip_ns, int(ev.start_ns), int(ev.end_ns))
            covered = frac >= min_overlap
            hits[str(ev.kind)] = hits.get(str(ev.kind), np.zeros(n, dtype=bool)) | covered
            if ev.kind == "rejected":
                validated |= covered
            else:
                label |= covered
                ambiguous |= (frac > 0) & (frac < min_overlap)
        region = regions.get(c)
        in_region = (
            inside(middle, stream.rec_start[region], stream.rec_end[region])
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
    out["review_status"] = _statuses(hits, n)
    out["recording_start"] = ns_to_series(_recording_start(stream, middle)).to_numpy()
    frame = pd.DataFrame(out)
    return frame[["stream_id", "start", "end", "kind", "review_status", "recording_start",
                  *labels, *reviewed, *overlap_columns(classes)]]


__all__ = [
    "SOURCE_STATUSES",
    "StreamEvents",
    "class_columns",
    "covered_seconds",
    "empty_table",
    "inside",
    "label_windows",
    "overlap_columns",
]
