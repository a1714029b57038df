"""Recorded runs: the segments of a stream merged into disjoint intervals, cached.

Effort needs only *when* audio exists, not each segment: a year of one-minute segments of
a continuous recorder is half a million rows, but a handful of recorded runs. This module
merges the segments of each cache window into runs and keeps those in the Parquet cache
(as their own entity, ``recordings``, under the same platform, user, horizon and modes as
the segments they come from), so a warm ``effort_df`` over a year of many streams reads a
few thousand rows instead of millions.

A run is clipped to the window it was computed for; runs of neighbouring windows touch
and are merged again when effort is computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from rfcx_frames import cache as cache_mod
from rfcx_frames import config, timeutil
from rfcx_frames.ecology.effort import column_ns, recorded_intervals

if TYPE_CHECKING:
    from rfcx_frames.client import Client

#: The cache entity of recorded runs.
ENTITY = "recordings"
SCHEMA = pa.schema([
    ("stream_id", pa.dictionary(pa.int32(), pa.string())),
    ("start", pa.timestamp("ns", tz="UTC")),
    ("end", pa.timestamp("ns", tz="UTC")),
])
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


def recorded_runs(client: Client, streams: list[str], start: pd.Timestamp, end: pd.Timestamp,
                  *, cache: Any = None, progress: bool | None = None) -> pd.DataFrame:
    """Recorded runs of ``streams`` in ``[start, end)``, from the cache or from segments.

    Parameters
    ----------
    client
        The client whose cache, platform and user key the runs, and whose
        ``segments_df`` (with the same ``cache`` mode) supplies what the cache lacks.
    streams
        Stream ids.
    start, end
        The window, UTC.
    cache, progress
        As for ``segments_df``.

    Returns
    -------
    pandas.DataFrame
        ``stream_id, start, end`` of disjoint runs per window, with the cache's provenance
        in ``attrs["cache"]``.

    Examples
    --------
    >>> runs = recorded_runs(client, ["abc123abc123"], start, end)  # doctest: +SKIP
    """
    mode = client._cache_mode(cache)
    lookback = pd.Timedelta(config.EFFORT_SEGMENT_LOOKBACK)

    def fetch(stream: str, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
        # A segment that starts before the window can still reach into it.
        segments = client.segments_df([stream], a - lookback, b, progress=progress, cache=cache)
        return runs_from_segments(segments, stream, a, b)

    signature = cache_mod.FilterSignature.build(ENTITY, client.platform(mode), client.identity())
    store = cache_mod.TimeRangedCache(client.cache_root)
    return store.query(ENTITY, signature, streams, start, end, fetch=fetch, schema=SCHEMA,
                       mode=mode, dtypes=DTYPES, order_by=("start", "stream_id"),
                       max_workers=client.max_workers, horizon=client.cache_horizon,
                       now=client.now())
