"""Reading pages of a listing: one GET per page, parsed into Arrow, each row once.

Examples
--------
>>> from rfcx_frames.schemas import PROJECT
>>> with Progress("projects") as bar:  # doctest: +SKIP
...     table = counted_listing(client, PROJECT, "/projects", {"sort": "id"}, bar)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import requests

from .. import config, paginate, wire
from ..exceptions import RFCxError
from ..progress import Progress
from ..schemas import Entity
from .context import Context


def page(ctx: Context, entity: Entity, url: str, params: Mapping[str, Any], bar: Progress,
         constant: tuple[str, str] | None = None) -> tuple[pa.StructArray, int | None]:
    """One page: its parsed items and the ``Total-Items`` header, if any.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        The entity the page lists.
    url
        Full URL of the listing.
    params
        Query parameters, ``limit`` and ``offset`` included.
    bar
        Progress bar advanced by the rows read.
    constant
        ``(column, value)`` added to every item (the stream of a segment list).

    Returns
    -------
    items, total
    """

    def parse(response: requests.Response) -> tuple[pa.StructArray, int | None]:
        chunk = wire.parse_page(entity, response.content)
        return chunk, paginate.parse_total(response.headers.get("Total-Items"))

    chunk, total = ctx.session.request("GET", url, params=dict(params), parse=parse)
    bar.page(len(chunk))
    if constant is not None:
        chunk = wire.with_constant(chunk, *constant)
    return chunk, total


#: How often a listing whose pages disagree with its ``Total-Items`` is read again.
LISTING_ATTEMPTS = 3


def counted_listing(ctx: Context, entity: Entity, path: str, params: Mapping[str, Any],
                    bar: Progress) -> pa.Table:
    """Every row of ``GET {api_url}{path}``, each once, checked against ``Total-Items``.

    The caller sorts by a unique column (``sort=id``), so pages cannot cut a run of
    rows sharing a sort key. Rows added, removed or reordered while the pages are read
    can still make a row repeat or go missing: a read whose distinct keys are not
    ``Total-Items`` (or that repeats a key) is read again, up to ``LISTING_ATTEMPTS``
    times, and never returned short.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        The entity the listing holds.
    path
        API path of the listing.
    params
        Query parameters (without ``limit``/``offset``).
    bar
        Progress bar.

    Returns
    -------
    pyarrow.Table
        The listing in the entity's Arrow schema, in the platform's order.

    Raises
    ------
    RFCxError
        The listing kept changing while it was read.

    Examples
    --------
    >>> from rfcx_frames.schemas import PROJECT
    >>> with Progress("projects") as bar:  # doctest: +SKIP
    ...     table = counted_listing(client, PROJECT, "/projects", {"sort": "id"}, bar)
    """
    url = f"{ctx.api_url}{path}"
    for _ in range(LISTING_ATTEMPTS):
        table, totals = _read_pages(ctx, entity, url, params, bar)
        distinct = pc.count_distinct(table[entity.key]).as_py() if table.num_rows else 0
        if distinct == table.num_rows and all(t in (None, distinct) for t in totals):
            return table
    raise RFCxError(f"{path} changed while it was read ({LISTING_ATTEMPTS} attempts gave "
                    "pages that disagree with Total-Items); try again")


def _read_pages(ctx: Context, entity: Entity, url: str, params: Mapping[str, Any],
                bar: Progress) -> tuple[pa.Table, list[int | None]]:
    """One pass over the pages: the rows and every page's ``Total-Items``."""
    totals: list[int | None] = []

    def fetch(offset: int, limit: int) -> tuple[pa.StructArray, int | None]:
        chunk, total = page(ctx, entity, url, {**params, "limit": limit, "offset": offset}, bar)
        totals.append(total)
        return chunk, total

    return wire.to_table(entity, paginate.iter_pages(fetch)), totals


def single_query_listing(ctx: Context, entity: Entity, path: str, params: Mapping[str, Any],
                         bar: Progress) -> pa.Table:
    """Every row of a listing without ``Total-Items`` or a unique sort, from one query.

    ``GET /classifications`` orders by title and name rank only and takes no ``sort``,
    so rows sharing a title may come in a new order in every query and offset pages can
    skip or repeat them. Its ``limit`` has no maximum: one page at offset 0 is one
    consistent order, and a probe (``limit=1`` at the page's end) tells whether it held
    everything; if not, the page grows fourfold and is read again.

    Parameters
    ----------
    ctx, entity, path, params, bar
        As for :func:`counted_listing`.

    Returns
    -------
    pyarrow.Table
        The listing in the entity's Arrow schema, in the platform's order.

    Examples
    --------
    >>> from rfcx_frames.schemas import CLASSIFICATION
    >>> with Progress("classifications") as bar:  # doctest: +SKIP
    ...     table = single_query_listing(client, CLASSIFICATION, "/classifications", {}, bar)
    """
    url = f"{ctx.api_url}{path}"
    limit = config.PAGE_LIMIT_MAX
    while True:
        chunk, _ = page(ctx, entity, url, {**params, "limit": limit, "offset": 0}, bar)
        if len(chunk) == 0:
            return wire.to_table(entity, [])
        rest, _ = page(ctx, entity, url, {**params, "limit": 1, "offset": limit}, bar)
        if len(rest) == 0:
            return wire.to_table(entity, [chunk])
        limit *= 4
