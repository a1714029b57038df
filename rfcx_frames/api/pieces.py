"""Time-ranged rows fetched in concurrent pieces: one probe page per stream, then split.

A stream whose first page is short is complete after one request. For a full one, the
rest of the window, from the last start seen, is cut into time pieces fetched
concurrently: where the platform counts the rows (detections), at the points where each
piece fills whole pages (:mod:`.count_plan`), else evenly (:mod:`rfcx_frames.paginate`);
rows at a piece edge come twice and
:func:`rfcx_frames.convert.ordered` keeps one. Everything stays Arrow: a fetch returns a
table of the entity's schema, de-duplicated and in the entity's order.

Examples
--------
>>> from rfcx_frames.schemas import ANNOTATION
>>> fetch = fetcher(client, ANNOTATION, {})  # doctest: +SKIP
>>> table = fetch(["abc123abc123"], start, end)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import config, convert, ids, paginate, timeutil, wire
from ..paginate import Piece
from ..progress import Progress
from ..schemas import Entity, arrow_schema
from . import count_plan
from .context import Context
from .pages import page

#: ``fetch(stream_ids or None, start, end) -> Table`` of one entity and filter set.
Fetch = Callable[[Sequence[str] | None, pd.Timestamp, pd.Timestamp], pa.Table]
#: A window the cache asks for: ``(stream_id, start, end)``.
Window = tuple[str, pd.Timestamp, pd.Timestamp]


def fetcher(ctx: Context, entity: Entity, params: Mapping[str, Any], *,
            progress: bool = True) -> Fetch:
    """The pure fetch of one entity and filter set: ``fetch(stream_ids, start, end)``.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        A time-ranged entity (``stream_param`` set).
    params
        Its query parameters (``None`` values are left out).
    progress
        Show a progress bar.

    Returns
    -------
    callable
        ``fetch(stream_ids, start, end)``: every row with ``start`` in ``[start, end)``
        as an Arrow table of the entity's schema, each row once, in the entity's order.
        ``stream_ids=None`` asks for every stream the caller can read (not valid when
        the stream is part of the path); ``[]`` returns no rows without a request.
    """
    base = {k: v for k, v in params.items() if v is not None}

    def fetch(stream_ids: Sequence[str] | None, start: pd.Timestamp,
              end: pd.Timestamp) -> pa.Table:
        if stream_ids is not None and not stream_ids:
            return arrow_schema(entity).empty_table()
        if stream_ids is None and entity.stream_param == "{stream}":
            raise ValueError(f"{entity.name} need a stream")
        with Progress(entity.name, enabled=progress) as bar:
            # [start, end) in whole milliseconds holds exactly the rows of [start, end).
            chunks = _probe_then_split(ctx, entity, base, stream_ids,
                                       timeutil.ceil_epoch_ms(start),
                                       timeutil.ceil_epoch_ms(end), bar)
        table = wire.to_table(entity, chunks)
        if table.num_rows:
            # Segment lists include a segment starting exactly at ``end``; keep [start, end).
            ms = table["start"].cast(pa.int64())
            inside = pc.and_(pc.greater_equal(ms, timeutil.ceil_epoch_ms(start)),
                             pc.less(ms, timeutil.ceil_epoch_ms(end)))
            table = table.filter(inside)
        return convert.ordered(entity, table)

    return fetch


def fetch_many(ctx: Context, entity: Entity, fetch: Fetch,
               windows: Sequence[Window]) -> list[pa.Table]:
    """Fetch the cache's ``(stream, start, end)`` windows, batching where the platform can.

    Windows sharing one ``[start, end)`` become one request for all their streams when
    the entity takes several streams per request (detections' ``streams[]``); the rows
    are split per stream afterwards. Groups run concurrently.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        The entity fetched.
    fetch
        From :func:`fetcher`.
    windows
        What the cache lacks.

    Returns
    -------
    list of pyarrow.Table
        One per window, in the order given.
    """
    groups: dict[tuple[pd.Timestamp, pd.Timestamp], list[str]] = {}
    for stream, start, end in windows:
        groups.setdefault((start, end), []).append(stream)
    if entity.spans_streams:
        batches = [(streams, key) for key, streams in groups.items()]
    else:
        batches = [([stream], key) for key, streams in groups.items() for stream in streams]

    def run(batch: tuple[list[str], tuple[pd.Timestamp, pd.Timestamp]], stop: Any) -> pa.Table:
        streams, (start, end) = batch
        return fetch(streams, start, end)

    tables = paginate.run_parallel(run, batches, max_workers=ctx.max_workers)
    found: dict[tuple[str, pd.Timestamp, pd.Timestamp], pa.Table] = {}
    for (streams, (start, end)), table in zip(batches, tables, strict=True):
        for stream, rows in _by_stream(table, streams).items():
            found[(stream, start, end)] = rows
    return [found[window] for window in windows]


def _by_stream(table: pa.Table, streams: list[str]) -> dict[str, pa.Table]:
    if len(streams) == 1:
        return {streams[0]: table}
    ids_column = table["stream_id"].cast(pa.string())
    return {s: table.filter(pc.equal(ids_column, s)) for s in streams}


def _probe_then_split(ctx: Context, entity: Entity, base: Mapping[str, Any],
                      stream_ids: Sequence[str] | None, start_ms: int, end_ms: int,
                      bar: Progress) -> list[pa.StructArray]:
    """Every row: one first page per stream (or per request), then split what is dense."""
    limit = config.PAGE_LIMIT_MAX
    groups: list[str | tuple[str, ...] | None]
    if entity.spans_streams and stream_ids and len(stream_ids) > 1:
        groups = [tuple(stream_ids)]  # one probe for every stream
    else:
        groups = list(stream_ids) if stream_ids else [None]

    def first(group: str | tuple[str, ...] | None, stop: Any) -> pa.StructArray:
        url, query, constant = piece_request(ctx, entity, base, Piece(group, start_ms, end_ms))
        return page(ctx, entity, url, {**query, "limit": limit, "offset": 0}, bar, constant)[0]

    firsts = paginate.run_parallel(first, groups, max_workers=ctx.max_workers)
    full = [(g, c) for g, c in zip(groups, firsts, strict=True) if len(c) >= limit]
    pieces: list[Piece] = []
    for group, chunk in full:
        share = max(1, ctx.max_workers // len(full))
        pieces += count_plan.plan(ctx, entity, base, group, chunk, start_ms,
                                  _last_start_ms(chunk), end_ms, share, bar)

    def run(piece: Piece, stop: Any) -> list[pa.StructArray]:
        def fetch(a: int, b: int, offset: int, count: int) -> pa.StructArray:
            url, query, constant = piece_request(ctx, entity, base, Piece(piece.stream, a, b))
            return page(ctx, entity, url, {**query, "limit": count, "offset": offset}, bar,
                        constant)[0]

        return list(paginate.iter_keyset_pages(fetch, piece.start_ms, piece.end_ms,
                                               last_start=_last_start_ms, stop=stop))

    chunks = list(firsts)
    for result in paginate.run_parallel(run, pieces, max_workers=ctx.max_workers):
        chunks += result
    return chunks


def piece_request(ctx: Context, entity: Entity, base: Mapping[str, Any], piece: Piece
                  ) -> tuple[str, dict[str, Any], tuple[str, str] | None]:
    """URL, query and constant column of the request for one piece.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        The entity fetched; its ``stream_param`` says where the stream goes.
    base
        The query's filters.
    piece
        Stream(s) and ``[start_ms, end_ms)``.

    Returns
    -------
    url, query, constant
        ``constant`` is ``("stream_id", id)`` when the stream is in the path (the
        platform leaves it out of each item).
    """
    query: dict[str, Any] = dict(base)
    query["start"] = timeutil.to_wire(timeutil.from_epoch_ms(piece.start_ms))
    query["end"] = timeutil.to_wire(timeutil.from_epoch_ms(piece.end_ms))
    if entity.stream_param == "{stream}":
        assert isinstance(piece.stream, str)
        path = entity.endpoint.format(stream=ids.path_id(piece.stream, "stream"))
        return f"{ctx.api_url}{path}", query, ("stream_id", piece.stream)
    if piece.stream is not None:
        streams = list(piece.stream) if isinstance(piece.stream, tuple) else [piece.stream]
        query[str(entity.stream_param)] = streams if entity.spans_streams else streams[0]
    return f"{ctx.api_url}{entity.endpoint}", query, None


def _last_start_ms(chunk: pa.StructArray) -> int:
    """The latest ``start`` of a parsed page, in epoch ms."""
    return timeutil.to_epoch_ms(timeutil.to_utc(pc.max(chunk.field("start")).as_py()))
