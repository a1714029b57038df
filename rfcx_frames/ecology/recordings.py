"""Recorded runs: the segments of a stream merged into disjoint intervals, cached.

Effort needs only *when* audio exists, not each segment: a year of one-minute segments of
a continuous recorder is half a million rows, but a handful of recorded runs. This module
merges the segments of each cache window into runs and keeps those in the Parquet cache
(as their own entity, ``recordings``, under the same platform, user, horizon and modes as
the segments they come from), so a warm ``effort_df`` over a year of many streams reads a
few thousand rows instead of millions.

A run is clipped to the window it was computed for; runs of neighbouring windows touch
and are merged again when effort is computed.

The cache keeps one file per stream and UTC day of its rows' time column, and each file
costs a fixed time to open. A recorder on a duty cycle (a minute in ten) has a run per
segment, so a year would mean a file per stream and day. Whole UTC months are therefore
kept apart (``recordings-monthly``): their runs are split at month edges and placed by
``month``, the month's start (or the start of the window that fetched them, when the
horizon left a month's first part complete and its rest to fetch later), so a whole month
is one or two files. Only whole months are ever asked of that entity, which keeps the
placement exact; the partial months at a window's edges use the day-placed entity.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rfcx_frames import cache as cache_mod
from rfcx_frames import config, timeutil
from rfcx_frames.cache.recorded import ENTITY, MONTHLY_ENTITY, MONTHLY_SCHEMA, SCHEMA
from rfcx_frames.ecology.effort import column_ns, recorded_intervals
from rfcx_frames.frames import concat

DTYPES: dict[str, Any] = {"stream_id": "category"}


def runs_from_segments(segments: pd.DataFrame, stream: str, start: pd.Timestamp,
                       end: pd.Timestamp) -> pd.DataFrame:
    """The recorded runs of one stream's segments, clipped to ``[start, end)``.

    Examples
    --------
    >>> seg = pd.DataFrame({"stream_id": ["s", "s", "s"],
    ...     "start": pd.to_datetime(["2024-03-01 00:00", "2024-03-01 00:01", "2024-03-01 05:00"], utc=True),
    ...     "end": pd.to_datetime(["2024-03-01 00:01", "2024-03-01 00:02", "2024-03-01 05:01"], utc=True)})
    >>> runs = runs_from_segments(seg, "s", pd.Timestamp("2024-03-01", tz="UTC"),
    ...                           pd.Timestamp("2024-03-02", tz="UTC"))
    >>> [(str(a.time()), str(b.time())) for a, b in zip(runs["start"], runs["end"])]
    [('00:00:00', '00:02:00'), ('05:00:00', '05:01:00')]
    """
    lo, hi = timeutil.to_ns(start), timeutil.to_ns(end)
    mine = segments[segments["stream_id"].astype(str) == stream]
    starts, ends = recorded_intervals(np.clip(column_ns(mine["start"]), lo, hi),
                                      np.clip(column_ns(mine["end"]), lo, hi))
    return pd.DataFrame({
        "stream_id": pd.Categorical([stream] * len(starts)),
        "start": pd.to_datetime(starts, utc=True),
        "end": pd.to_datetime(ends, utc=True),
    })


def month_runs(runs: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Runs split at UTC month edges, each with ``month``: its month's start, or ``start``.

    Examples
    --------
    >>> runs = pd.DataFrame({"stream_id": pd.Categorical(["s"]),
    ...     "start": [pd.Timestamp("2024-01-31 23:00", tz="UTC")],
    ...     "end": [pd.Timestamp("2024-02-01 01:00", tz="UTC")]})
    >>> out = month_runs(runs, pd.Timestamp("2024-01-15", tz="UTC"))
    >>> [(str(m.date()), str(a), str(b)) for m, a, b in zip(out["month"], out["start"], out["end"])]
    [('2024-01-15', '2024-01-31 23:00:00+00:00', '2024-02-01 00:00:00+00:00'), \
('2024-02-01', '2024-02-01 00:00:00+00:00', '2024-02-01 01:00:00+00:00')]
    """
    starts, ends = column_ns(runs["start"]), column_ns(runs["end"])
    if len(starts) == 0:
        return runs.assign(month=pd.Series([], dtype="datetime64[ns, UTC]"))[
            ["stream_id", "month", "start", "end"]]
    earliest = pd.Timestamp(int(starts.min()), tz="UTC")
    first = pd.Timestamp(year=earliest.year, month=earliest.month, day=1, tz="UTC")
    edges = pd.date_range(first, pd.Timestamp(int(ends.max()), tz="UTC") + pd.offsets.MonthBegin(),
                          freq="MS").as_unit("ns").asi8
    pieces = []
    for lo, hi in itertools.pairwise(edges):
        a, b = np.maximum(starts, lo), np.minimum(ends, hi)
        keep = b > a
        if keep.any():
            pieces.append(pd.DataFrame({
                "stream_id": runs["stream_id"].to_numpy()[keep],
                "month": pd.to_datetime(np.full(int(keep.sum()), max(lo, timeutil.to_ns(start))),
                                        utc=True),
                "start": pd.to_datetime(a[keep], utc=True),
                "end": pd.to_datetime(b[keep], utc=True),
            }))
    out = pd.concat(pieces, ignore_index=True)
    out["stream_id"] = pd.Categorical(out["stream_id"].astype(str))
    return out


def whole_months(start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The span of whole UTC months inside ``[start, end)``, or ``None`` when there is none.

    Examples
    --------
    >>> [str(t.date()) for t in whole_months(pd.Timestamp("2024-01-15", tz="UTC"),
    ...                                      pd.Timestamp("2024-05-02", tz="UTC"))]
    ['2024-02-01', '2024-05-01']
    """
    first = start if start == start.normalize() and start.day == 1 else (
        start.normalize() + pd.offsets.MonthBegin())
    last = end.normalize() - pd.offsets.MonthBegin() if not (
        end == end.normalize() and end.day == 1) else end
    return (first, last) if first < last else None


#: Fetches the segments of one stream in ``[start, end)``: ``fetch(stream, start, end)``.
SegmentsFetch = Callable[[str, pd.Timestamp, pd.Timestamp], pd.DataFrame]


@dataclass(frozen=True)
class RunsCache:
    """Where and how the runs are cached: the same keys and modes as the segments they
    come from.

    Attributes
    ----------
    root
        The cache root (folder or ``s3://`` prefix).
    platform, user
        The platform identity and the user identity that key the entries.
    options
        ``mode``, ``horizon``, ``now``, ``max_workers`` (and ``dtypes``), as
        :meth:`rfcx_frames.cache.TimeRangedCache.query` takes them.
    """

    root: config.CacheRoot
    platform: str
    user: str
    options: dict[str, Any]


def cached_runs(store: RunsCache, streams: list[str], start: pd.Timestamp, end: pd.Timestamp,
                segments: SegmentsFetch) -> pd.DataFrame:
    """Recorded runs of ``streams`` in ``[start, end)``: whole months from the monthly entity,
    the partial months at the edges from the day-placed one, missing parts from ``segments``.

    Parameters
    ----------
    store
        The cache and its keys.
    streams
        Stream ids.
    start, end
        The window, UTC.
    segments
        Fetches one stream's segments; it is asked from a lookback before each window,
        since a segment that starts earlier can reach into it.

    Returns
    -------
    pandas.DataFrame
        ``stream_id, start, end`` of disjoint runs per window, with the cache's provenance
        in ``attrs["cache"]``.

    Examples
    --------
    >>> runs = cached_runs(store, ["abc123abc123"], start, end, fetch)  # doctest: +SKIP
    """
    lookback = pd.Timedelta(config.EFFORT_SEGMENT_LOOKBACK)

    def fetch(stream: str, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
        return runs_from_segments(segments(stream, a - lookback, b), stream, a, b)

    months = whole_months(start, end)
    if months is None:
        return _daily_runs(store, streams, start, end, fetch)
    signature = cache_mod.FilterSignature.build(MONTHLY_ENTITY, store.platform, store.user)
    monthly = cache_mod.TimeRangedCache(store.root, time_column="month").query(
        MONTHLY_ENTITY, signature, streams, months[0], months[1],
        fetch=lambda stream, a, b: month_runs(fetch(stream, a, b), a),
        schema=MONTHLY_SCHEMA, order_by=("month", "start", "stream_id"), **store.options)
    parts = [monthly.drop(columns="month")]
    parts += [_daily_runs(store, streams, a, b, fetch)
              for a, b in ((start, months[0]), (months[1], end)) if a < b]
    frame = concat(parts) if len(parts) > 1 else parts[0]
    frame.attrs["cache"] = _oldest([p.attrs.get("cache") for p in parts])
    return frame


def _daily_runs(store: RunsCache, streams: list[str], start: pd.Timestamp, end: pd.Timestamp,
                fetch: SegmentsFetch) -> pd.DataFrame:
    """Runs of a window that is not whole months, from the entity placed by day."""
    signature = cache_mod.FilterSignature.build(ENTITY, store.platform, store.user)
    return cache_mod.TimeRangedCache(store.root).query(
        ENTITY, signature, streams, start, end, fetch=fetch, schema=SCHEMA,
        order_by=("start", "stream_id"), **store.options)


def _oldest(provenances: list[Any]) -> Any:
    """The provenance of rows from several queries: the oldest fetch, cached only if all were."""
    known = [p for p in provenances if p]
    if not known:
        return None
    return {"fetched_at": min(p["fetched_at"] for p in known),
            "from_cache": all(p["from_cache"] for p in known)}
