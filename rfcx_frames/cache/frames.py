"""Conversions between pandas frames and Arrow tables of a declared schema.

The cache promises that a cached frame equals the same frame fetched fresh, so both
paths go through the same two pure functions: :func:`table_from_frame` (what a fetch
returned, cast to the schema) and :func:`frame_from_table` (one conversion to pandas
with deterministic dtypes). The client should build its uncached frames with the same
pair to get identical results with and without the cache.

Categorical columns (Arrow dictionaries) get their categories from the field metadata
key ``categories`` (a JSON list; ``ordered`` = ``"true"`` for an ordered dtype) when the
schema declares it, otherwise the sorted distinct values present: the result never
depends on how rows were split across files.

Examples
--------
>>> schema = pa.schema([("v", pa.dictionary(pa.int32(), pa.string()))])
>>> frame = frame_from_table(table_from_frame(pd.DataFrame({"v": ["b", "a"]}), schema), schema)
>>> list(frame["v"].cat.categories)
['a', 'b']
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rfcx_frames.cache.signature import stable_hash

TIE_BREAKERS: tuple[str, ...] = ("classification_value", "classifier_id", "id", "end")


def schema_fingerprint(schema: pa.Schema) -> str:
    """A short stable hash of a schema's column names and types (not its metadata).

    Examples
    --------
    >>> schema_fingerprint(pa.schema([("a", pa.int64())])) == schema_fingerprint(
    ...     pa.schema([("a", pa.int64())]))
    True
    """
    return stable_hash([[f.name, str(f.type)] for f in schema], length=16)


def sort_keys(
    schema: pa.Schema, time_column: str = "start", stream_column: str = "stream_id"
) -> list[str]:
    """The row order of every frame: time, stream, then the tie-breakers present.

    Examples
    --------
    >>> sort_keys(pa.schema([("start", pa.int64()), ("stream_id", pa.string()), ("id", pa.int64())]))
    ['start', 'stream_id', 'id']
    """
    names = set(schema.names)
    keys = [time_column, stream_column]
    keys += [k for k in TIE_BREAKERS if k in names and k not in keys]
    return [k for k in keys if k in names]


def table_from_frame(data: pd.DataFrame | pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a fetched frame (or table) to exactly ``schema``: its columns, order and types.

    Extra columns are dropped; a missing column raises ``KeyError``.

    Examples
    --------
    >>> schema = pa.schema([("a", pa.int32())])
    >>> table_from_frame(pd.DataFrame({"a": [1], "b": [2]}), schema).schema.names
    ['a']
    """
    if isinstance(data, pa.Table):
        missing = [n for n in schema.names if n not in data.column_names]
        if missing:
            raise KeyError(f"fetched table lacks columns {missing}")
        table = data.select(schema.names)
        return table.cast(schema)
    missing = [n for n in schema.names if n not in data.columns]
    if missing:
        raise KeyError(f"fetched frame lacks columns {missing}")
    table = pa.Table.from_pandas(data[list(schema.names)], schema=schema, preserve_index=False)
    return table.replace_schema_metadata(schema.metadata)


def sort_table(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Sort by ``keys`` (all ascending, stable); dictionary columns sort by their values.

    Examples
    --------
    >>> sort_table(pa.table({"a": [2, 1]}), ["a"])["a"].to_pylist()
    [1, 2]
    """
    if table.num_rows < 2 or not keys:
        return table
    columns = {}
    for key in keys:
        column = table[key]
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns[key] = column
    order = pc.sort_indices(pa.table(columns), sort_keys=[(k, "ascending") for k in keys])
    return table.take(order)


def categories_of(field: pa.Field) -> tuple[list[str] | None, bool]:
    """The fixed categories and orderedness a schema field declares, if any.

    Examples
    --------
    >>> f = pa.field("r", pa.dictionary(pa.int8(), pa.string()),
    ...              metadata={"categories": '["x", "y"]', "ordered": "true"})
    >>> categories_of(f)
    (['x', 'y'], True)
    """
    meta = field.metadata or {}
    raw = meta.get(b"categories")
    ordered = meta.get(b"ordered", b"false").lower() in (b"true", b"1")
    if raw is None:
        return None, ordered
    return list(json.loads(raw)), ordered


def frame_from_table(table: pa.Table, schema: pa.Schema) -> pd.DataFrame:
    """Convert once to pandas with deterministic dtypes (see the module notes).

    Timestamps keep their unit and time zone, dictionaries become categoricals with
    declared categories or the sorted values present, the index is a fresh ``RangeIndex``.

    Examples
    --------
    >>> schema = pa.schema([("t", pa.timestamp("ms", tz="UTC"))])
    >>> str(frame_from_table(pa.table({"t": pa.array([0], schema.field("t").type)}), schema).dtypes["t"])
    'datetime64[ms, UTC]'
    """
    table = table.select(schema.names)
    if table.schema != schema:
        table = table.cast(schema)
    frame = table.to_pandas()
    for field in schema:
        if not pa.types.is_dictionary(field.type):
            continue
        column = frame[field.name]
        declared, ordered = categories_of(field)
        if declared is not None:
            wanted = pd.CategoricalDtype(declared, ordered=ordered)
            if column.dtype != wanted:
                frame[field.name] = column.astype(wanted)
            continue
        # Dictionaries of files and of filtered tables may list values no row has.
        column = column.cat.remove_unused_categories()
        current = column.cat.categories
        if not current.is_monotonic_increasing or column.cat.ordered != ordered:
            column = column.cat.set_categories(current.sort_values(), ordered=ordered)
        frame[field.name] = column
    return frame
