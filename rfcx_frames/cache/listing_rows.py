"""Every cached row of a whole listing (projects, streams, classifications), each once.

The whole-result cache keeps one file per request, so a stream listed by two queries
(all streams, then one project's) is stored twice, perhaps with a rename in between.
:func:`listing_rows` reads every file of one platform whose schema is the entity's,
keeps each row once by the entity's key (the copy of the latest fetch wins) and returns
it with the entity's declared types. Expiry is ignored: this is what the cache holds.

Examples
--------
>>> import tempfile
>>> from rfcx_frames.schemas import ENTITIES
>>> listing_rows(ENTITIES["streams"], Path(tempfile.mkdtemp()), None).num_rows
0
"""

from __future__ import annotations

from pathlib import Path  # noqa: F401  (the examples use it)

import pandas as pd
import pyarrow as pa

from rfcx_frames.cache.assemble import latest_copies, schema_fingerprint
from rfcx_frames.cache.disk import LAYOUT, read_json
from rfcx_frames.cache.parquet import UnreadableFilesError, read_parts
from rfcx_frames.config import CacheRoot
from rfcx_frames.convert import sort_table
from rfcx_frames.schemas import Entity, arrow_schema

#: The entities the whole-result cache holds.
LISTINGS = ("projects", "streams", "classifications")
_FOLDER = "whole"
_CREATED = "__created"


def _sidecars(root: CacheRoot, entity: str, fingerprint: str
              ) -> list[tuple[CacheRoot, dict[str, object]]]:
    """Readable sidecars of ``entity`` written with this schema version."""
    folder = root / LAYOUT / _FOLDER / entity
    if not folder.is_dir():
        return []
    out = []
    sidecars: list[CacheRoot] = list(folder.glob("*.json"))
    for sidecar in sorted(sidecars, key=str):
        meta = read_json(sidecar)  # None when damaged: the next query rewrites it
        if isinstance(meta, dict) and meta.get("schema") == fingerprint and "file" in meta:
            out.append((folder / str(meta["file"]), meta))
    return out


def listing_platforms(entity: Entity, root: CacheRoot) -> set[str]:
    """The platforms whose ``entity`` rows the cache holds.

    Examples
    --------
    >>> import tempfile
    >>> from rfcx_frames.schemas import ENTITIES
    >>> listing_platforms(ENTITIES["projects"], Path(tempfile.mkdtemp()))
    set()
    """
    fingerprint = schema_fingerprint(arrow_schema(entity))
    return {str(meta.get("base_url", "")) for _, meta in _sidecars(root, entity.name, fingerprint)}


def listing_rows(entity: Entity, root: CacheRoot, platform: str | None) -> pa.Table:
    """Every cached row of the listing ``entity`` of ``platform``, each key once.

    Parameters
    ----------
    entity
        A whole listing's declaration (``projects``, ``streams``, ``classifications``).
    root
        The cache folder.
    platform
        The platform identity the rows were fetched from (``None``: no rows).

    Returns
    -------
    pyarrow.Table
        The entity's Arrow schema, one row per key, in the entity's order.

    Examples
    --------
    >>> import tempfile
    >>> from rfcx_frames.schemas import ENTITIES
    >>> listing_rows(ENTITIES["projects"], Path(tempfile.mkdtemp()), "x").column_names[:2]
    ['id', 'name']
    """
    schema = arrow_schema(entity)
    found = [(path, meta) for path, meta in _sidecars(root, entity.name, schema_fingerprint(schema))
             if str(meta.get("base_url", "")) == platform]
    tables = []
    for path, meta in found:
        rows = meta.get("rows")
        try:
            (table,) = read_parts([path], schema, rows=None if rows is None else [int(str(rows))])
        except UnreadableFilesError:
            continue  # damaged: refetched by the next query of that request
        created = pd.Timestamp(str(meta["created"])).value
        tables.append(table.append_column(_CREATED, pa.array([created] * table.num_rows,
                                                             pa.int64())))
    if not tables:
        return schema.empty_table()
    merged = latest_copies(pa.concat_tables(tables), entity.key, _CREATED)
    return sort_table(merged.select(schema.names), list(entity.order_by)).cast(schema)
