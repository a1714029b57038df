"""The Parquet cache around the client's queries: time-ranged windows and whole listings.

Time-ranged frames go through :class:`~rfcx_frames.cache.TimeRangedCache` (windows per
stream, with the filters in a signature derived from the entity's declared
``cache_filters``), small listings through :class:`~rfcx_frames.cache.WholeResultCache`.
The signature names the user by a hash of the token's email or subject, never by the
token, and the platform by its identity (:mod:`rfcx_frames.cache.platforms`), not by its
URL's port.

Examples
--------
>>> frame = ranged(client, DETECTION, fetch, ["abc123abc123"], start, end, {}, "use")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from .. import cache as cache_mod
from .. import convert
from ..schemas import Entity, arrow_schema, pandas_dtypes
from .context import Context
from .pieces import Fetch, Window, fetch_many


def signature(ctx: Context, entity: Entity, params: Mapping[str, Any],
              mode: str) -> cache_mod.FilterSignature:
    """The cache signature of a query: entity, platform, user and the entity's filters.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        The entity queried.
    params
        The query parameters; unsent filters take the entity's ``defaults``.
    mode
        The cache mode (offline identifies the platform without a request).

    Returns
    -------
    rfcx_frames.cache.FilterSignature
    """
    return cache_mod.FilterSignature.build(entity.name, ctx.platform(mode), ctx.identity(),
                                           **entity.signature_filters(params))


def ranged(ctx: Context, entity: Entity, fetch: Fetch, streams: Sequence[str],
           start: pd.Timestamp, end: pd.Timestamp, params: Mapping[str, Any], mode: str,
           max_age: Any = None) -> pd.DataFrame:
    """The rows of ``streams`` in ``[start, end)`` from the cache and fetches of what it lacks.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        A time-ranged entity.
    fetch
        From :func:`rfcx_frames.api.pieces.fetcher`; the cache's missing windows are
        batched through :func:`~rfcx_frames.api.pieces.fetch_many`.
    streams
        Stream ids.
    start, end
        The window.
    params
        The query's parameters (the signature's filters).
    mode
        ``"use"``, ``"refresh"`` or ``"offline"``.
    max_age
        The call's ``max_age``, else the client's for mutable entities.

    Returns
    -------
    pandas.DataFrame
        With the provenance in ``attrs["cache"]``.
    """

    def many(windows: Sequence[Window]) -> list[pa.Table]:
        return fetch_many(ctx, entity, fetch, windows)

    store = cache_mod.TimeRangedCache(ctx.cache_root)
    return store.query(entity.name, signature(ctx, entity, params, mode), streams, start, end,
                       None, arrow_schema(entity), mode=mode, dtypes=pandas_dtypes(entity),
                       order_by=entity.order_by, horizon=ctx.cache_horizon, now=ctx.now(),
                       max_age=ctx.max_age(entity, max_age), fetch_many=many)


def whole(ctx: Context, entity: Entity, params: Mapping[str, Any], cache: Any,
          fetch: Callable[[], pa.Table], max_age: Any = None) -> pd.DataFrame:
    """A whole listing from the cache (until it expires) or from ``fetch()``.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        The listing's entity.
    params
        Its query parameters (the cache key).
    cache
        The call's cache mode.
    fetch
        Returns the listing as an Arrow table of the entity's schema, in order.
    max_age
        A cached listing older than this is fetched again.

    Returns
    -------
    pandas.DataFrame
        With the provenance in ``attrs["cache"]`` when the cache was used.
    """
    table, fetched_at, from_cache = whole_table(ctx, entity, params, cache, fetch, max_age)
    frame = convert.entity_frame(entity, table)
    if fetched_at is not None:
        frame.attrs["cache"] = {"fetched_at": fetched_at, "from_cache": from_cache}
    return frame


def whole_table(ctx: Context, entity: Entity, params: Mapping[str, Any], cache: Any,
                fetch: Callable[[], pa.Table],
                max_age: Any = None) -> tuple[pa.Table, pd.Timestamp | None, bool]:
    """As :func:`whole`, in Arrow: the table, when it was fetched and whether from the cache.

    ``fetched_at`` is ``None`` when the cache is off. Readers that only need a few
    columns (the id check) use this and never build a pandas frame.
    """
    mode = ctx.cache_mode(cache)
    if mode == "off":
        return fetch(), None, False
    limit = cache_mod.parse_max_age(max_age, "max_age") if max_age is not None else None
    return cache_mod.WholeResultCache(ctx.cache_root).table(
        entity.name, {k: v for k, v in params.items() if v is not None}, ctx.platform(mode),
        ctx.identity(), fetch, arrow_schema(entity), mode=mode, now=ctx.now(), max_age=limit)
