"""Recording effort: how much audio exists per stream and period.

Effort tells "no audio was recorded" from "recorded, and nothing was heard". It is computed
here from a segments frame alone (pure functions, no I/O): the segments of each stream are
merged into disjoint recorded intervals (overlaps count once) and measured against a grid
of whole periods.

Periods
-------
- A frequency below one day (``"1h"``, ``"6h"``, ``"15min"``) makes periods that start at
  the multiples of it on the stream's clock (local 00:00, 06:00, 12:00, 18:00 for
  ``"6h"``). A DST day has 23 or 25 hourly periods; a 6-hour period across the change
  lasts 5 or 7 hours.
- A frequency of one day or more (``"1D"``, ``"7D"``) starts at midnight of the window's
  first day; calendar frequencies (``"MS"``, ``"W-MON"``) start on their anchor at or
  before that midnight. With ``local_time`` the midnights are the stream's own, so a local
  day across a DST change lasts 23 or 25 hours, and ``period_seconds`` says so.
- Every period that overlaps ``[start, end)`` is returned whole: a window starting at
  06:30 has a first hourly period of 06:00-07:00, measured over the full hour. So local
  days of sites on several continents line up by date, and coverage is always a fraction
  of a whole period.

Examples
--------
>>> import pandas as pd
>>> seg = pd.DataFrame({"stream_id": ["a", "a"],
...                     "start": pd.to_datetime(["2024-03-01 00:00", "2024-03-01 00:30"], utc=True),
...                     "end": pd.to_datetime(["2024-03-01 00:45", "2024-03-01 01:30"], utc=True)})
>>> effort = effort_from_segments(seg, "2024-03-01", "2024-03-01 02:00", freq="1h")
>>> print(effort[["period_start", "recorded_seconds", "coverage"]].to_string(index=False))
             period_start  recorded_seconds  coverage
2024-03-01 00:00:00+00:00            3600.0       1.0
2024-03-01 01:00:00+00:00            1800.0       0.5
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset, Tick

from rfcx_frames import timeutil
from rfcx_frames.ecology.columns import require_columns
from rfcx_frames.timeutil import TimeLike

_DAY = pd.Timedelta(days=1)

#: Columns of every effort frame, in order.
EFFORT_COLUMNS = ("stream_id", "period_start", "period_end", "period_start_local", "timezone",
                  "period_seconds", "recorded_seconds", "coverage")


def parse_freq(freq: str | pd.Timedelta | BaseOffset, name: str = "freq") -> BaseOffset:
    """A pandas offset for a period frequency, refusing what makes no period.

    Parameters
    ----------
    freq
        A pandas frequency (``"1h"``, ``"30min"``, ``"1D"``, ``"7D"``, ``"MS"``, ``"W-MON"``)
        or a positive ``Timedelta``.
    name
        The argument's name, quoted in errors.

    Raises
    ------
    ValueError
        For a frequency pandas does not know, zero or negative lengths, or one below a second.

    Examples
    --------
    >>> parse_freq("1h")
    <Hour>
    >>> parse_freq("fortnightly")
    Traceback (most recent call last):
    ...
    ValueError: freq='fortnightly' is not a pandas frequency; use e.g. '1h', '1D', '7D' or 'MS'
    """
    try:
        offset = to_offset(freq)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}={freq!r} is not a pandas frequency; use e.g. '1h', '1D', "
                         f"'7D' or 'MS'") from exc
    if isinstance(offset, Tick) and pd.Timedelta(offset) < pd.Timedelta(seconds=1):
        raise ValueError(f"{name}={freq!r} must be at least one second long")
    if getattr(offset, "n", 1) <= 0:
        raise ValueError(f"{name}={freq!r} must be a positive frequency")
    return offset


def recorded_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge ``[start, end)`` intervals (int64 ns) into sorted disjoint ones.

    Overlapping or touching intervals become one, so overlapping segments count once.

    Examples
    --------
    >>> s, e = recorded_intervals(np.array([0, 5, 20]), np.array([10, 12, 30]))
    >>> s.tolist(), e.tolist()
    ([0, 20], [12, 30])
    """
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if len(starts) == 0:
        return starts.astype(np.int64), ends.astype(np.int64)
    if np.any(starts[1:] < starts[:-1]):
        order = np.argsort(starts, kind="stable")
        starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    # A new run starts where an interval begins after everything before it has ended; the
    # run ends where the reach stands just before the next run starts.
    first = np.flatnonzero(np.concatenate([[True], starts[1:] > reach[:-1]]))
    last = np.concatenate([first[1:], [len(starts)]]) - 1
    return starts[first].astype(np.int64), reach[last].astype(np.int64)


def recorded_before(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Total recorded nanoseconds before each instant of ``at``, for disjoint sorted intervals.

    The recorded time inside ``[a, b)`` is ``recorded_before(b) - recorded_before(a)``.

    Examples
    --------
    >>> recorded_before(np.array([0, 20]), np.array([12, 30]), np.array([5, 15, 25, 99])).tolist()
    [5, 12, 17, 22]
    """
    if len(starts) == 0:
        return np.zeros(len(at), dtype=np.int64)
    before = np.concatenate([[0], np.cumsum(ends - starts)])
    k = np.searchsorted(starts, at, side="right") - 1
    inside = np.clip(at - starts[np.maximum(k, 0)], 0, (ends - starts)[np.maximum(k, 0)])
    return np.where(k >= 0, before[np.maximum(k, 0)] + inside, 0)


def period_edges(start: pd.Timestamp, end: pd.Timestamp, freq: BaseOffset,
                 timezone: str | None = None) -> pd.DatetimeIndex:
    """The UTC edges of the whole periods that overlap ``[start, end)``.

    Parameters
    ----------
    start, end
        The window, UTC.
    freq
        A parsed frequency (:func:`parse_freq`).
    timezone
        The IANA timezone whose clock aligns the periods; ``None`` for UTC.

    Examples
    --------
    >>> edges = period_edges(pd.Timestamp("2024-03-30 12:00", tz="UTC"),
    ...                      pd.Timestamp("2024-04-01", tz="UTC"), parse_freq("1D"),
    ...                      "Europe/Berlin")
    >>> for edge in edges:  # the local day of the DST change lasts 23 hours
    ...     print(edge)
    2024-03-29 23:00:00+00:00
    2024-03-30 23:00:00+00:00
    2024-03-31 22:00:00+00:00
    2024-04-01 22:00:00+00:00
    """
    tz = timezone or "UTC"
    wall_start = start.tz_convert(tz).tz_localize(None)
    if isinstance(freq, Tick) and pd.Timedelta(freq) < _DAY:
        anchor = wall_start.floor(pd.Timedelta(freq))
    else:
        midnight = wall_start.normalize()
        anchor = midnight if isinstance(freq, Tick) else freq.rollback(midnight)
    walls = pd.date_range(anchor, end.tz_convert(tz).tz_localize(None) + freq, freq=freq)
    # A wall time the clock shows twice (DST ends) is an edge at both instants, so the
    # long day has 25 hourly periods; one it skips (DST starts) moves to the next instant.
    both = [walls.tz_localize(tz, ambiguous=np.full(len(walls), first),
                              nonexistent="shift_forward") for first in (True, False)]
    edges = both[0].append(both[1]).unique().sort_values().tz_convert("UTC")
    first = max(int(edges.searchsorted(start, side="right")) - 1, 0)
    last = int(edges.searchsorted(end, side="left"))
    return pd.DatetimeIndex(edges[first:last + 1]).as_unit("ns")


def period_span(start: pd.Timestamp, end: pd.Timestamp, freq: BaseOffset,
                timezones: Iterable[str | None]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """From the first edge to the last of the whole periods of ``[start, end)`` in any zone.

    The segments of this span are what :func:`effort_from_segments` needs.

    Examples
    --------
    >>> span = period_span(pd.Timestamp("2024-03-01 12:00", tz="UTC"),
    ...                    pd.Timestamp("2024-03-02 12:00", tz="UTC"), parse_freq("1D"),
    ...                    ["Asia/Tokyo", None])
    >>> [str(t) for t in span]
    ['2024-02-29 15:00:00+00:00', '2024-03-03 00:00:00+00:00']
    """
    spans = [period_edges(start, end, freq, tz) for tz in set(timezones) or {None}]
    return min(e[0] for e in spans), max(e[-1] for e in spans)


def effort_from_segments(
    segments: pd.DataFrame, start: TimeLike, end: TimeLike, freq: str | BaseOffset = "1h", *,
    streams: Iterable[str] | None = None, timezones: Mapping[str, str | None] | None = None,
) -> pd.DataFrame:
    """Recorded seconds per stream and period, from a segments frame.

    Parameters
    ----------
    segments
        A frame with ``stream_id``, ``start`` and ``end`` (as ``segments_df`` returns).
        A segment counts in each period for the part of it inside that period;
        overlapping segments count once. It must cover :func:`period_span`, the whole
        periods, not only ``[start, end)``.
    start, end
        The window: every period overlapping it is returned whole. Naive times are UTC.
    freq
        The period length: any pandas frequency (``"1h"``, ``"1D"``, ``"7D"``, ``"MS"``).
    streams
        Every stream that gets rows, recorded or not (default: the streams in ``segments``).
        A stream without segments has rows of 0, never missing rows.
    timezones
        ``{stream_id: IANA timezone}``: periods follow each stream's own clock (local days
        across a DST change last 23 or 25 hours). ``None``: every period is UTC.

    Returns
    -------
    pandas.DataFrame
        One row per stream and period: ``stream_id`` (category), ``period_start`` and
        ``period_end`` (UTC), ``period_start_local`` (the stream's wall time, naive),
        ``timezone``, ``period_seconds``, ``recorded_seconds`` and ``coverage`` (0-1).

    Raises
    ------
    ValueError
        For a bad window or frequency, or ``segments`` without its columns.

    Examples
    --------
    >>> seg = pd.DataFrame({"stream_id": ["a"], "start": [pd.Timestamp("2024-03-01 00:10", tz="UTC")],
    ...                     "end": [pd.Timestamp("2024-03-01 00:40", tz="UTC")]})
    >>> e = effort_from_segments(seg, "2024-03-01", "2024-03-01 01:00", "1h", streams=["a", "b"])
    >>> print(e[["stream_id", "recorded_seconds", "coverage"]].to_string(index=False))
    stream_id  recorded_seconds  coverage
            a            1800.0       0.5
            b               0.0       0.0
    """
    require_columns(segments, ("stream_id", "start", "end"), "segments", "segments_df(...)")
    (begin, finish), offset = timeutil.window(start, end), parse_freq(freq)
    by_stream = _rows_by_stream(segments["stream_id"])
    wanted = list(dict.fromkeys(map(str, streams))) if streams is not None else sorted(by_stream)
    seg_start, seg_end = column_ns(segments["start"]), column_ns(segments["end"])
    zones = {stream: timezones.get(stream) if timezones else None for stream in wanted}
    grids = {tz: period_edges(begin, finish, offset, tz) for tz in set(zones.values())}
    parts = []
    for stream in wanted:
        rows = by_stream.get(stream, np.array([], dtype=np.int64))
        parts.append(_stream_effort(stream, seg_start[rows], seg_end[rows], grids[zones[stream]],
                                    zones[stream]))
    return _typed(pd.concat(parts, ignore_index=True) if parts
                  else pd.DataFrame({c: [] for c in EFFORT_COLUMNS}))


def _rows_by_stream(stream_ids: pd.Series) -> dict[str, np.ndarray]:
    """The row positions of each stream's segments."""
    # Integer codes, not strings: millions of segments group in milliseconds this way.
    codes, uniques = pd.factorize(stream_ids, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {str(name): order[bounds[i]:bounds[i + 1]] for i, name in enumerate(uniques)}


def _stream_effort(stream: str, starts: np.ndarray, ends: np.ndarray, edges: pd.DatetimeIndex,
                   tz: str | None) -> pd.DataFrame:
    """One stream's effort rows: its segments (int64 ns) measured against period ``edges``."""
    s, e = recorded_intervals(starts, ends)
    ns = edges.asi8
    recorded = np.diff(recorded_before(s, e, ns)) / 1e9
    length = np.diff(ns) / 1e9
    return pd.DataFrame({
        "stream_id": stream,
        "period_start": edges[:-1],
        "period_end": edges[1:],
        "period_start_local": edges[:-1].tz_convert(tz or "UTC").tz_localize(None),
        "timezone": tz or "UTC",
        "period_seconds": length,
        "recorded_seconds": recorded,
        "coverage": np.where(length > 0, recorded / np.where(length > 0, length, 1), np.nan),
    })


def column_ns(column: pd.Series) -> np.ndarray:
    """A column of times as int64 nanoseconds since the epoch (naive means UTC).

    Examples
    --------
    >>> column_ns(pd.Series(pd.to_datetime(["1970-01-01 00:00:01"], utc=True))).tolist()
    [1000000000]
    """
    array = column.array
    unit = getattr(array, "unit", None)
    if isinstance(array, pd.arrays.DatetimeArray) and unit in _PER_UNIT:
        # The stored integers in their own unit: no conversion of millions of values.
        raw = np.asarray(array.view("i8"), dtype=np.int64)
        return raw * _PER_UNIT[str(unit)]
    values = pd.DatetimeIndex(pd.to_datetime(column, utc=True)).as_unit("ns")
    return np.asarray(values.asi8, dtype=np.int64)


_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "stream_id": pd.Categorical(frame["stream_id"].astype(str)),
        "period_start": pd.to_datetime(frame["period_start"], utc=True).astype("datetime64[ms, UTC]"),
        "period_end": pd.to_datetime(frame["period_end"], utc=True).astype("datetime64[ms, UTC]"),
        "period_start_local": pd.to_datetime(frame["period_start_local"]).astype("datetime64[ms]"),
        "timezone": frame["timezone"].astype("string"),
        "period_seconds": frame["period_seconds"].astype("float64"),
        "recorded_seconds": frame["recorded_seconds"].astype("float64"),
        "coverage": frame["coverage"].astype("float64"),
    })
    return out.reset_index(drop=True)
