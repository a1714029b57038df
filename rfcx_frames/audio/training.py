"""Labelled clip tables for training: multi-hot windows from annotations and detections.

:func:`label_table` builds a *clip table*: one row per fixed-length window with
``stream_id``, ``start``, ``end`` (``datetime64[ns, UTC]``), ``kind``, ``review_status``,
``recording_start``, one ``label_<class>`` column (``uint8``, 0/1) per class and one
``reviewed_<class>`` column (``bool``) per class. ``reviewed_<class>`` is True only where
someone looked for that class: unlabelled is not negative. ``overlap_<class>``
(``float32``) is how many seconds of the window the class's events (annotations,
confirmed and used unreviewed detections, overlapping ones counted once) cover; the
``"overlap"`` rule of ``single_label`` reads it.
:class:`~rfcx_frames.audio.training_set.TrainingSet` wraps it with the audio.

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

*Context windows* are the grid windows within one clip of an event that carry no label:
near misses (touching an event less than ``min_overlap``: not reviewed for its class) and
neighbours in an annotated recording (reviewed negatives for the classes annotated
there). ``context="drop"`` (the default) leaves them out, so the set holds positive,
validated and background windows; ``context="keep"`` keeps them with their review masks.

``review_status`` names the kinds of source rows a window covers at least
``min_overlap`` of, comma-joined in the order ``annotation, confirmed, rejected,
unreviewed`` (``""`` for none). ``review_statuses`` chooses which kinds are used at all:
``("annotation", "confirmed")`` trains on human-verified positives only; adding
``"unreviewed"`` makes unreviewed detections (weak) positives.
``recording_start`` is the start of the recording (segment) holding the window's middle.

Examples
--------
>>> class_columns(["frog", "bird"])
(['label_frog', 'label_bird'], ['reviewed_frog', 'reviewed_bird'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from rfcx_frames.audio.events import detection_events, event_table, unreviewed_events
from rfcx_frames.audio.sample_time import NS_PER_S, seconds_to_ns, series_ns
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.audio.window_labels import (
    SOURCE_STATUSES,
    StreamEvents,
    class_columns,
    empty_table,
    inside,
    label_windows,
)
from rfcx_frames.timeutil import from_ns
from rfcx_frames.validate import check_seconds

#: Events of one stream further apart than this are looked up in separate segment queries.
_QUERY_SPAN_NS = 6 * 3600 * NS_PER_S


def _recordings(
    source: SegmentSource, stream_id: str, events: pd.DataFrame, reach_ns: int
) -> tuple[np.ndarray, np.ndarray]:
    """Start/end (ns) of the stream's segments within ``reach_ns`` of the events, by start."""
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    order = np.sort(events["start_ns"].to_numpy())
    stops = np.sort(events["end_ns"].to_numpy())
    lo = 0
    while lo < len(order):
        hi = lo
        while hi + 1 < len(order) and order[hi + 1] - order[lo] <= _QUERY_SPAN_NS:
            hi += 1
        first = int(order[lo]) - reach_ns
        last = int(max(stops[: hi + 1].max(), order[hi] + 1)) + reach_ns
        table = source.segments(stream_id, from_ns(first), from_ns(last))
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


ContextMode = Literal["drop", "keep"]

#: The source kinds used unless ``review_statuses`` says otherwise.
DEFAULT_STATUSES = ("annotation", "confirmed", "rejected")


def label_table(
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
    context: ContextMode = "drop",
    review_statuses: Sequence[str] = DEFAULT_STATUSES,
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
        1/-1, else unreviewed): confirmed ones are positives, rejected ones validated
        negatives.
    seed
        Seed of the background draw.
    min_distance
        Seconds between a background window and any event.
    context
        ``"drop"`` or ``"keep"`` the context windows (see the module docstring).
    review_statuses
        The source kinds used, among ``annotation``, ``confirmed``, ``rejected``,
        ``unreviewed``.

    Returns
    -------
    pandas.DataFrame
        The clip table, sorted by stream and start; ``attrs["classes"]`` lists the classes.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> ann = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:01Z"],
    ...                     "end": ["2020-01-01T00:00:02Z"], "classification_value": ["frog"]})
    >>> label_table(TableSource(pd.DataFrame()), ann, 2.0).empty  # no recordings: no windows
    True
    """
    clip_ns, step_ns = _grid(clip_duration, step, min_overlap)
    if context not in ("drop", "keep"):
        raise ValueError(f"context must be 'drop' or 'keep', not {context!r}")
    every, wanted, classes = _events(annotations, detections, classes,
                                     _check_statuses(review_statuses))
    tables: list[pd.DataFrame] = []
    backgrounds: list[pd.DataFrame] = []
    for stream_id in sorted(wanted["stream_id"].unique()):
        stream = _stream(source, str(stream_id), wanted, every, clip_ns)
        starts = _grid_near(stream.events, clip_ns, step_ns)
        starts = starts[inside(starts + clip_ns // 2, stream.rec_start, stream.rec_end)]
        tables.append(label_windows(stream, starts, clip_ns, classes, min_overlap, kind=None))
        backgrounds.append(_background_pool(stream, clip_ns, step_ns,
                                            seconds_to_ns(min_distance), starts))
    table = pd.concat(tables, ignore_index=True) if tables else empty_table(classes)
    n_positive = int((table["kind"] == "positive").sum())
    if context == "drop":
        table = table[table["kind"] != "context"]
    count = int(negatives) if isinstance(negatives, (int, np.integer)) else round(
        float(negatives) * n_positive
    )
    pool = pd.concat(backgrounds, ignore_index=True) if backgrounds else pd.DataFrame()
    if count > 0 and len(pool):
        drawn = _draw_background(source, pool, count, seed, wanted, every, classes, clip_ns,
                                 min_overlap)
        table = pd.concat([table, *drawn], ignore_index=True)
    return _typed(table, classes, clip_duration)


def _check_statuses(review_statuses: Sequence[str]) -> tuple[str, ...]:
    if isinstance(review_statuses, str):
        review_statuses = (review_statuses,)
    chosen = tuple(str(s) for s in review_statuses)
    unknown = [s for s in chosen if s not in SOURCE_STATUSES]
    if unknown or not chosen:
        raise ValueError(f"review_statuses must be a non-empty selection of {SOURCE_STATUSES}, "
                         f"not {tuple(review_statuses)!r}")
    return chosen


def _grid(clip_duration: float, step: float | None, min_overlap: float) -> tuple[int, int]:
    """Window length and grid step in nanoseconds, after checking the arguments."""
    clip_duration = check_seconds(clip_duration, "clip_duration")
    if step is not None:
        step = check_seconds(step, "step")
    if not 0 < min_overlap <= 1:
        raise ValueError("min_overlap must be in (0, 1]")
    clip_ns = seconds_to_ns(clip_duration)
    step_ns = seconds_to_ns(step) if step is not None else clip_ns // 2
    if step_ns <= 0:
        raise ValueError("step must be > 0")
    return clip_ns, step_ns


def _events(annotations: pd.DataFrame, detections: pd.DataFrame | None,
            classes: Sequence[str] | None, statuses: tuple[str, ...],
            ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Every event, the used events of the wanted classes, and the classes (sorted by
    default). Background keeps away from every event, used or not."""
    annotated = event_table(annotations, "annotation")
    confirmed, rejected = detection_events(detections)
    every = pd.concat([annotated, confirmed, rejected, unreviewed_events(detections)],
                      ignore_index=True)
    used = every[every["kind"].isin(statuses)]
    if classes is None:
        classes = sorted(set(used["value"]))
    classes = [str(c) for c in classes]
    return every, used[used["value"].isin(classes)], classes


def _stream(source: SegmentSource, stream_id: str, wanted: pd.DataFrame, every: pd.DataFrame,
            clip_ns: int) -> StreamEvents:
    events = wanted[wanted["stream_id"] == stream_id]
    all_events = every[every["stream_id"] == stream_id]
    rec_start, rec_end = _recordings(source, stream_id, all_events, 2 * clip_ns)
    annotated = events[events["kind"] == "annotation"]
    regions = {str(value): _inside_any(rec_start, rec_end, group)
               for value, group in annotated.groupby("value")}
    return StreamEvents(stream_id, events, all_events, rec_start, rec_end, regions)


def _background_pool(stream: StreamEvents, clip_ns: int, step_ns: int, distance_ns: int,
                     taken: np.ndarray) -> pd.DataFrame:
    """Background window starts of one stream, from its annotated recordings."""
    annotated = np.zeros(len(stream.rec_start), dtype=bool)
    for hit in stream.regions.values():
        annotated |= hit
    candidates = _background_candidates(
        stream.rec_start[annotated], stream.rec_end[annotated], clip_ns, step_ns,
        stream.all_events, distance_ns, set(taken.tolist()),
    )
    return pd.DataFrame({"stream_id": stream.stream_id, "start_ns": candidates})


def _draw_background(source: SegmentSource, pool: pd.DataFrame, count: int, seed: int,
                     wanted: pd.DataFrame, every: pd.DataFrame, classes: Sequence[str],
                     clip_ns: int, min_overlap: float) -> list[pd.DataFrame]:
    """``count`` background windows drawn from ``pool`` at random (``seed``), labelled."""
    rng = np.random.default_rng(seed)
    chosen = pool.iloc[np.sort(rng.choice(len(pool), size=min(count, len(pool)), replace=False))]
    return [
        label_windows(_stream(source, str(stream_id), wanted, every, clip_ns),
                       group["start_ns"].to_numpy(), clip_ns, classes, min_overlap,
                       kind="background")
        for stream_id, group in chosen.groupby("stream_id", sort=True)
    ]


def _typed(table: pd.DataFrame, classes: list[str], clip_duration: float) -> pd.DataFrame:
    """Sorted by stream and start, label/reviewed dtypes set, classes in ``attrs``."""
    labels, reviewed = class_columns(classes)
    table = table.sort_values(["stream_id", "start"], kind="stable").reset_index(drop=True)
    for column in labels:
        table[column] = table[column].astype("uint8")
    for column in reviewed:
        table[column] = table[column].astype(bool)
    table.attrs["classes"] = list(classes)
    table.attrs["clip_duration"] = float(check_seconds(clip_duration, "clip_duration"))
    return table

def _inside_any(rec_start: np.ndarray, rec_end: np.ndarray, events: pd.DataFrame) -> np.ndarray:
    """Which recordings overlap at least one of the events."""
    hit = np.zeros(len(rec_start), dtype=bool)
    for s, e in zip(events["start_ns"].to_numpy(), events["end_ns"].to_numpy(), strict=True):
        hit |= (rec_start <= e) & (rec_end > s)
    return hit


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


__all__ = [
    "DEFAULT_STATUSES",
    "ContextMode",
    "class_columns",
    "label_table",
]
