"""Reading ``/clustered-detections``: bucket widths, bucket edges, every row of a window.

The platform groups detections by a TimescaleDB ``time_bucket`` of their UTC start
(aligned on 2000-01-03T00:00Z) and by classification, ordered by bucket only. Used by
``detection_counts`` (:mod:`.counts`) and by the pagination plan (:mod:`.count_plan`).

Examples
--------
>>> parse_interval("6h")
(21600000, '6h')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from .. import config, paginate, timeutil, wire
from ..progress import Progress
from ..schemas import DETECTION_COUNT
from .context import Context
from .pages import page

#: TimescaleDB's default origin of ``time_bucket`` (2000-01-03T00:00Z), in epoch ms.
ORIGIN_MS = 946_857_600_000
_UNITS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([dhmsDHMS])\s*$")


def parse_interval(interval: Any) -> tuple[int, str]:
    """The bucket width of ``interval`` in ms and how the platform is asked for it.

    Parameters
    ----------
    interval
        ``"<n>d"``, ``"<n>h"``, ``"<n>m"`` (minutes) or ``"<n>s"``, or a
        ``pandas.Timedelta``/``datetime.timedelta`` of whole seconds.

    Returns
    -------
    width_ms, text

    Raises
    ------
    ValueError
        Any other value, naming the allowed forms.

    Examples
    --------
    >>> parse_interval("1d"), parse_interval(pd.Timedelta(minutes=90))
    ((86400000, '1d'), (5400000, '90m'))
    """
    allowed = ("interval must be a whole number of days, hours, minutes or seconds such as "
               "'1d', '6h', '15m', '30s', or a Timedelta of whole seconds")
    if isinstance(interval, str):
        m = _INTERVAL.match(interval)
        if not m or int(m.group(1)) == 0:
            raise ValueError(f"{allowed}; got {interval!r}")
        unit = m.group(2).lower()
        return int(m.group(1)) * _UNITS[unit], f"{int(m.group(1))}{unit}"
    if isinstance(interval, (pd.Timedelta, timedelta)):
        ms = pd.Timedelta(interval) // pd.Timedelta(milliseconds=1)
        if ms <= 0 or ms % 1000:
            raise ValueError(f"{allowed}; got {interval!r}")
        unit = next(u for u, size in _UNITS.items() if ms % size == 0)
        return int(ms), f"{ms // _UNITS[unit]}{unit}"
    raise TypeError(f"{allowed}; got {type(interval).__name__} {interval!r}")


def bucket_floor(ms: int, width: int) -> int:
    """The start of the platform's bucket holding ``ms``.

    Examples
    --------
    >>> bucket_floor(ORIGIN_MS + 5, 3_600_000) == ORIGIN_MS
    True
    """
    return ms - (ms - ORIGIN_MS) % width


def clustered_rows(ctx: Context, query: Mapping[str, Any], start_ms: int, end_ms: int,
                   width: int, bar: Progress) -> list[pa.StructArray]:
    """Every row ``/clustered-detections`` has for ``[start_ms, end_ms)``.

    The platform orders rows by bucket only, so an offset page could cut among the
    classifications of one bucket in a different order each time: a full answer is
    asked again as two halves split on a bucket edge instead.

    Parameters
    ----------
    ctx
        The client's shared state.
    query
        Filters, ``interval``, ``aggregate`` and ``field``.
    start_ms, end_ms
        The window.
    width
        The bucket width (ms) ``query["interval"]`` asks for.
    bar
        Progress bar.

    Returns
    -------
    list of pyarrow.StructArray
        Parsed answers, in time order.
    """
    url = f"{ctx.api_url}{DETECTION_COUNT.endpoint}"
    params = {**query, "start": timeutil.to_wire(timeutil.from_epoch_ms(start_ms)),
              "end": timeutil.to_wire(timeutil.from_epoch_ms(end_ms)),
              "limit": config.COUNTS_LIMIT, "offset": 0}
    chunk = page(ctx, DETECTION_COUNT, url, params, bar)[0]
    if len(chunk) < config.COUNTS_LIMIT:
        return [chunk]
    first = bucket_floor(start_ms, width)
    buckets = (bucket_floor(end_ms - 1, width) - first) // width + 1
    if buckets < 2:
        # One bucket holding that many classifications: offsets are all that is left.
        return list(paginate.iter_pages(
            lambda offset, limit: page(ctx, DETECTION_COUNT, url,
                                       {**params, "offset": offset, "limit": limit}, bar),
            limit=config.PAGE_LIMIT_MAX))
    middle = first + buckets // 2 * width
    return (clustered_rows(ctx, query, start_ms, middle, width, bar)
            + clustered_rows(ctx, query, middle, end_ms, width, bar))


def bucket_totals(ctx: Context, query: Mapping[str, Any], start_ms: int, end_ms: int,
                  width: int, bar: Progress) -> list[tuple[int, int]]:
    """``(bucket start ms, detections)`` of every non-empty bucket, all classifications summed.

    Parameters
    ----------
    ctx, start_ms, end_ms, width, bar
        As for :func:`clustered_rows`.
    query
        Filters the counting route takes (``streams[]``, ``classifications[]``,
        ``min_confidence``).

    Returns
    -------
    list of (int, int)
        In time order.
    """
    interval = parse_interval(f"{width // 1000}s")[1]
    chunks = clustered_rows(ctx, {**query, "interval": interval, "aggregate": "count"},
                            start_ms, end_ms, width, bar)
    table = wire.to_table(DETECTION_COUNT, chunks)
    totals: dict[int, int] = {}
    buckets = table["time_bucket"].cast(pa.int64()).to_pylist()
    for bucket, value in zip(buckets, table["aggregated_value"].to_pylist(), strict=True):
        totals[bucket] = totals.get(bucket, 0) + int(value or 0)
    return sorted(totals.items())
