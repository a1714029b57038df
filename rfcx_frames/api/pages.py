"""Reading pages of a listing: one GET per page, parsed straight into Arrow.

Examples
--------
>>> from rfcx_frames.schemas import PROJECT
>>> with Progress("projects") as bar:  # doctest: +SKIP
...     chunks = all_pages(client, PROJECT, "/projects", {}, bar)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import requests

from .. import paginate, wire
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


def all_pages(ctx: Context, entity: Entity, path: str, params: Mapping[str, Any],
              bar: Progress, *, stop_on_empty: bool = False) -> list[pa.StructArray]:
    """Every page of ``GET {api_url}{path}`` (limit/offset, ``Total-Items`` when given).

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
    stop_on_empty
        Read until an empty page even when a page is short (the platform's limit counts
        classification x alternative-name rows, not items).

    Returns
    -------
    list of pyarrow.StructArray
        One per page.
    """
    url = f"{ctx.api_url}{path}"

    def fetch(offset: int, limit: int) -> tuple[pa.StructArray, int | None]:
        return page(ctx, entity, url, {**params, "limit": limit, "offset": offset}, bar)

    return list(paginate.iter_pages(fetch, stop_on_empty=stop_on_empty))
