"""Classification columns the listing lacks: common names, and bands from ``GET /classifications/{value}``.

The platform's listing gives each class's alternative names but not its frequency band or
description; those come from one request per class, sent on the client's workers only
when ``classifications_df(details=True)`` asks for them. No route gives a class's parent.

Examples
--------
>>> import pyarrow as pa
>>> from rfcx_frames.schemas import CLASSIFICATION, arrow_schema
>>> names = [[{"name": "Aves", "language_id": "es_ES"}, {"name": "Birds", "language_id": "en_US"}]]
>>> table = pa.Table.from_pylist([{"value": "aves", "alternative_names": names[0]}],
...                              schema=arrow_schema(CLASSIFICATION))
>>> with_common_names(table)["common_name"].to_pylist()
['Birds']
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from .context import Context

#: The columns a class's own page adds to the listing's.
DETAIL_COLUMNS = ("frequency_min", "frequency_max", "description")


def _english(names: list[dict[str, Any]] | None) -> str | None:
    for item in names or []:
        if str(item.get("language_id") or "").lower().startswith("en"):
            return str(item["name"])
    return None


def with_common_names(table: pa.Table) -> pa.Table:
    """``common_name``: each row's first English alternative name (``None`` if it has none).

    Parameters
    ----------
    table
        Classifications in the entity's schema.

    Returns
    -------
    pyarrow.Table
        The same rows, ``common_name`` filled.

    Examples
    --------
    >>> from rfcx_frames.schemas import CLASSIFICATION, arrow_schema
    >>> with_common_names(arrow_schema(CLASSIFICATION).empty_table()).num_rows
    0
    """
    names = [_english(row) for row in table.column("alternative_names").to_pylist()]
    index = table.schema.get_field_index("common_name")
    return table.set_column(index, table.schema.field(index), pa.array(names, pa.string()))


def with_details(ctx: Context, table: pa.Table) -> pa.Table:
    """The band and description of every row, one ``GET /classifications/{value}`` each.

    Parameters
    ----------
    ctx
        The client's shared state (its workers send the requests).
    table
        Classifications in the entity's schema.

    Returns
    -------
    pyarrow.Table
        The same rows, ``frequency_min``, ``frequency_max`` and ``description`` filled.

    Examples
    --------
    >>> with_details(client, table)  # doctest: +SKIP
    """
    values = [str(v) for v in table.column("value").to_pylist()]

    def one(value: str) -> dict[str, Any]:
        doc: dict[str, Any] = ctx.get_json(f"/classifications/{quote(value, safe='')}")
        return doc

    with ThreadPoolExecutor(max_workers=min(ctx.max_workers, max(len(values), 1))) as pool:
        docs = list(pool.map(one, values))
    for name in DETAIL_COLUMNS:
        index = table.schema.get_field_index(name)
        field = table.schema.field(index)
        table = table.set_column(index, field, pa.array([d.get(name) for d in docs], field.type))
    return table
