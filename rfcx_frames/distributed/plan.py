"""Plans of windows: a regular grid over recorded time, checked and cut into stream-day parts.

A plan is a frame of ``stream_id``, ``start``, ``end`` (UTC): what
:func:`~rfcx_frames.audio.clips.clip_spans` or a training set produce, or
:func:`window_grid` over a stream's segments. :func:`partitions` groups it by stream and
UTC day of the window start, the unit :func:`~rfcx_frames.distributed.map_windows` runs,
writes and resumes; a partition's name is its folder, ``stream_id=<id>/date=<day>``.

Examples
--------
>>> seg = pd.DataFrame({"stream_id": ["s1"], "start": ["2024-03-01T00:00:00Z"],
...                     "end": ["2024-03-01T00:03:00Z"]})
>>> grid = window_grid(seg, duration=60)
>>> grid["start"].dt.strftime("%H:%M").tolist()
['00:00', '00:01', '00:02']
>>> list(partitions(grid))
['stream_id=s1/date=2024-03-01']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rfcx_frames.audio.naming import check_id
from rfcx_frames.audio.sample_time import ns_to_series, seconds_to_ns, series_ns
from rfcx_frames.audio.window_apply import PLAN_COLUMNS
from rfcx_frames.ecology.effort import recorded_intervals
from rfcx_frames.validate import check_seconds


def check_plan(plan: pd.DataFrame) -> pd.DataFrame:
    """The plan with UTC ``start``/``end``, string ``stream_id`` and a fresh index.

    Raises
    ------
    TypeError
        When ``plan`` is not a DataFrame.
    ValueError
        For a missing column, an unsafe stream id, or a window that does not end after
        it starts.

    Examples
    --------
    >>> check_plan(pd.DataFrame({"stream_id": ["s"], "start": ["2024-01-01"]}))
    Traceback (most recent call last):
    ...
    ValueError: plan needs columns ['stream_id', 'start', 'end']; missing ['end']
    """
    if not isinstance(plan, pd.DataFrame):
        raise TypeError(f"plan must be a DataFrame of stream_id, start, end; got "
                        f"{type(plan).__name__}")
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise ValueError(f"plan needs columns {list(PLAN_COLUMNS)}; missing {missing}")
    out = plan.reset_index(drop=True).copy()
    out["stream_id"] = [check_id(str(s), "stream_id") for s in out["stream_id"]]
    for column in ("start", "end"):
        out[column] = ns_to_series(series_ns(out[column])).to_numpy()
    if (out["end"] <= out["start"]).any():
        raise ValueError("plan has windows that do not end after they start")
    return out


def window_grid(segments: pd.DataFrame, duration: float, step: float | None = None, *,
                partial: bool = False) -> pd.DataFrame:
    """Windows of ``duration`` seconds every ``step`` over the recorded time of each stream.

    Windows sit on a grid aligned to the UTC epoch (with ``duration=60``, on every whole
    minute), so two runs over overlapping spans plan the same windows. Recorded time is
    the union of the segments (overlaps count once).

    Parameters
    ----------
    segments
        ``stream_id``, ``start``, ``end`` of recordings (``segments_df(...)``).
    duration
        Window length in seconds.
    step
        Seconds between window starts (default ``duration``: adjacent windows).
    partial
        Keep windows only partly recorded (their missing part is a gap); by default a
        window lies wholly inside one recorded run.

    Returns
    -------
    pandas.DataFrame
        ``stream_id``, ``start``, ``end`` (UTC), by stream then start.

    Examples
    --------
    >>> seg = pd.DataFrame({"stream_id": ["s1", "s1"],
    ...                     "start": ["2024-03-01T00:00:30Z", "2024-03-01T00:05:00Z"],
    ...                     "end": ["2024-03-01T00:02:30Z", "2024-03-01T00:06:00Z"]})
    >>> window_grid(seg, 60)["start"].dt.strftime("%M:%S").tolist()
    ['01:00', '05:00']
    >>> len(window_grid(seg, 60, partial=True))
    4
    """
    length = seconds_to_ns(check_seconds(duration, "duration"))
    stride = length if step is None else seconds_to_ns(check_seconds(step, "step"))
    pieces = [_stream_grid(str(stream), rows, length, stride, partial)
              for stream, rows in check_plan(segments).groupby("stream_id", sort=True)]
    if not pieces:
        return pd.DataFrame({"stream_id": pd.Series([], dtype=str),
                             "start": ns_to_series(np.array([], dtype=np.int64)),
                             "end": ns_to_series(np.array([], dtype=np.int64))})
    return pd.concat(pieces, ignore_index=True)


def _stream_grid(stream: str, rows: pd.DataFrame, length: int, stride: int,
                 partial: bool) -> pd.DataFrame:
    """The grid windows of one stream's recorded runs."""
    lows, highs = recorded_intervals(series_ns(rows["start"]), series_ns(rows["end"]))
    starts: list[np.ndarray] = []
    for low, high in zip(lows.tolist(), highs.tolist(), strict=True):
        if partial:  # every grid window that overlaps the run
            first, last = ((low - length) // stride + 1) * stride, high - 1
        else:  # every grid window inside the run
            first, last = -(-low // stride) * stride, high - length
        if last >= first:
            starts.append(np.arange(first, last + 1, stride, dtype=np.int64))
    # A partial window may overlap two runs: it is planned once.
    begin = np.unique(np.concatenate(starts)) if starts else np.array([], dtype=np.int64)
    return pd.DataFrame({"stream_id": [stream] * len(begin), "start": ns_to_series(begin),
                         "end": ns_to_series(begin + length)})


def partition_name(stream_id: str, day: pd.Timestamp) -> str:
    """The folder of one stream-day partition: ``stream_id=<id>/date=<YYYY-MM-DD>``.

    Examples
    --------
    >>> partition_name("s1", pd.Timestamp("2024-03-01T05:00:00Z"))
    'stream_id=s1/date=2024-03-01'
    """
    return f"stream_id={check_id(stream_id, 'stream_id')}/date={day.strftime('%Y-%m-%d')}"


def partitions(plan: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The plan cut by stream and UTC day of each window's start, in name order.

    Examples
    --------
    >>> p = pd.DataFrame({"stream_id": ["b", "a"], "start": ["2024-03-02T23:59:00Z",
    ...                   "2024-03-01T00:00:00Z"], "end": ["2024-03-03T00:01:00Z",
    ...                   "2024-03-01T00:01:00Z"]})
    >>> list(partitions(p))
    ['stream_id=a/date=2024-03-01', 'stream_id=b/date=2024-03-02']
    """
    checked = check_plan(plan)
    days = checked["start"].dt.floor("D")
    out = {partition_name(str(stream), pd.Timestamp(str(day))): rows.sort_values(
               ["start", "end"], kind="stable").reset_index(drop=True)
           for (stream, day), rows in checked.groupby([checked["stream_id"], days], sort=True)}
    return dict(sorted(out.items()))
