"""Recording effort as a frame: ``effort_df``, from the (cached) recorded runs of segments.

Examples
--------
>>> effort_df(client, "2024-03-01", "2024-03-08", freq="1D")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import timeutil, validate
from ..ecology.effort import effort_from_segments, parse_freq, period_span
from ..ecology.recordings import DTYPES, RunsCache, cached_runs
from ..timeutil import TimeLike
from . import listings, ranged
from .context import Context
from .timezones import stream_timezones


def effort_df(
    ctx: Context, start: TimeLike, end: TimeLike, streams: Any = None, projects: Any = None,
    freq: str = "1h", local_time: bool = False, *, progress: bool | None = None,
    cache: Any = None,
) -> pd.DataFrame:
    """Recording effort: recorded seconds per stream and period, from the segments.

    Effort tells "no audio" from "audio, and nothing detected"; divide counts by it
    (:func:`rfcx_frames.detection_rates`) or mask occasions with too little of it
    (:func:`rfcx_frames.detection_history`).

    Parameters
    ----------
    start, end
        The window. Naive times are UTC.
    streams
        Stream ids (default: every stream of ``projects``, else every stream you can
        read). Each gets a row per period, 0 where nothing was recorded.
    projects
        Project ids whose streams to take when ``streams`` is not given.
    freq
        Period length, any pandas frequency: ``"1h"``, ``"1D"``, ``"7D"``, ``"MS"``.
        Every period overlapping ``[start, end)`` is returned whole (see
        :mod:`rfcx_frames.ecology.effort` for how periods are aligned).
    local_time
        Align periods to each stream's own timezone (local days across a DST change
        last 23 or 25 hours); default UTC.
    progress, cache
        As for :meth:`segments_df`, which this reads (and caches) underneath.

    Returns
    -------
    pandas.DataFrame
        ``stream_id, period_start, period_end, period_start_local, timezone,
        period_seconds, recorded_seconds, coverage``; segments overlapping each other
        count once, and only their part inside the window and the period.

    Examples
    --------
    >>> e = client.effort_df("2024-03-01", "2024-03-08", freq="1D", local_time=True)  # doctest: +SKIP
    >>> e.groupby("stream_id", observed=True)["recorded_seconds"].sum() / 3600  # doctest: +SKIP
    """
    begin, finish = timeutil.window(start, end)
    offset = parse_freq(freq)
    local = validate.check_bool(local_time, "local_time")
    mode = ctx.cache_mode(cache)
    ids = validate.as_str_list(streams, "streams")
    if ids is None:
        listing_mode = mode if mode in ("offline", "refresh") else None
        listed = listings.streams_df(ctx, projects=projects, progress=False, cache=listing_mode)
        ids = [str(s) for s in listed["id"]]
    zones: dict[str, str | None] | None = None
    if local:
        zones = stream_timezones(ctx, ids, mode)
    first, last = period_span(begin, finish, offset, (zones or {}).values())
    runs = (recorded_runs(ctx, ids, first, last, cache=cache, progress=progress) if ids
            else pd.DataFrame({"stream_id": [], "start": [], "end": []}))
    frame = effort_from_segments(runs, begin, finish, freq, streams=ids, timezones=zones)
    frame.attrs["cache"] = runs.attrs.get("cache")
    return ctx.attach_query(frame, "effort", {"freq": freq, "local_time": local,
                                                "streams[]": ids}, begin, finish)



def recorded_runs(ctx: Context, streams: list[str], start: pd.Timestamp, end: pd.Timestamp, *,
                  cache: Any = None, progress: bool | None = None) -> pd.DataFrame:
    """Recorded runs of ``streams`` in ``[start, end)``, from the cache or from segments.

    Parameters
    ----------
    ctx
        The client's shared state: its cache, platform and user key the runs.
    streams
        Stream ids.
    start, end
        The window, UTC.
    cache, progress
        As for :func:`rfcx_frames.api.ranged.segments_df`, which supplies what the cache
        lacks (with the same ``cache`` mode).

    Returns
    -------
    pandas.DataFrame
        ``stream_id, start, end`` of disjoint runs per window, with the cache's provenance
        in ``attrs["cache"]`` (see :func:`rfcx_frames.ecology.recordings.cached_runs`).

    Examples
    --------
    >>> runs = recorded_runs(client, ["abc123abc123"], start, end)  # doctest: +SKIP
    """
    store = RunsCache(
        root=ctx.cache_root, platform=ctx.platform(cache), user=ctx.identity(),
        options={"mode": ctx.cache_mode(cache), "dtypes": DTYPES,
                 "max_workers": ctx.max_workers, "horizon": ctx.cache_horizon,
                 "now": ctx.now()})

    def segments(stream: str, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
        return ranged.segments_df(ctx, [stream], a, b, progress=progress, cache=cache)

    return cached_runs(store, streams, start, end, segments)
