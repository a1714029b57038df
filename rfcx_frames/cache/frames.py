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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
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


def _dictionary_chunks(column: pa.ChunkedArray) -> list[pa.DictionaryArray]:
    if pa.types.is_dictionary(column.type):
        return list(column.chunks)
    return [chunk.dictionary_encode() for chunk in column.chunks]


def category_codes(
    column: pa.ChunkedArray, categories: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a text or dictionary column against sorted (or given) categories.

    Without ``categories`` they are the sorted distinct non-null values present. Nulls
    and values outside ``categories`` get code ``-1``. Works on each chunk's dictionary,
    so the cost is one integer gather per row.

    Examples
    --------
    >>> codes, cats = category_codes(pa.chunked_array([pa.array(["b", None, "a"])]))
    >>> codes.tolist(), cats
    ([1, -1, 0], ['a', 'b'])
    """
    chunks = _dictionary_chunks(column)
    if categories is None:
        present: set[str] = set()
        for chunk in chunks:
            used = pc.unique(chunk.indices).drop_null()
            present.update(chunk.dictionary.take(used).to_pylist())
        categories = sorted(present)
    value_set = pa.array(list(categories), type=pa.string())
    parts = [np.empty(0, dtype=np.int32)]
    for chunk in chunks:
        mapping = pc.index_in(chunk.dictionary.cast(pa.string()), value_set=value_set)
        codes = pc.take(mapping.fill_null(-1), chunk.indices).fill_null(-1)
        parts.append(np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int32))
    return np.concatenate(parts), list(categories)


def sort_table(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Sort by ``keys`` (all ascending, stable, nulls last); dictionaries sort by value.

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
            codes, cats = category_codes(column)
            codes[codes < 0] = len(cats)  # nulls after every value
            column = pa.chunked_array([pa.array(codes)])
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


def _categorical(column: pa.ChunkedArray, field: pa.Field, target: Any) -> pd.Categorical:
    declared, ordered = categories_of(field)
    if isinstance(target, pd.CategoricalDtype):
        ordered = bool(target.ordered)
        if len(target.categories):
            declared = [str(c) for c in target.categories]
    codes, categories = category_codes(column, declared)
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype=str), ordered=ordered)
    return pd.Categorical.from_codes(codes, dtype=dtype)


def frame_from_table(
    table: pa.Table, schema: pa.Schema, dtypes: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Convert once to pandas with deterministic dtypes (see the module notes).

    Parameters
    ----------
    table
        Rows with ``schema``'s columns.
    schema
        The Arrow schema; dictionary fields become categoricals.
    dtypes
        Optional pandas dtype per column (e.g. ``schemas.pandas_dtypes(entity)``):
        extension dtypes (``string[pyarrow]``, ``Int32``, ``boolean`` ...) are built
        straight from Arrow; a ``CategoricalDtype`` with categories fixes them, one
        without categories means "the sorted values present". Columns not named get
        pyarrow's default conversion.

    Examples
    --------
    >>> schema = pa.schema([("t", pa.timestamp("ms", tz="UTC")), ("n", pa.int32())])
    >>> t = pa.table({"t": pa.array([0], schema.field("t").type), "n": pa.array([1], pa.int32())})
    >>> frame = frame_from_table(t, schema, {"n": pd.Int32Dtype()})
    >>> [str(d) for d in frame.dtypes]
    ['datetime64[ms, UTC]', 'Int32']
    """
    table = table.select(schema.names)
    if table.schema != schema:
        table = table.cast(schema)
    wanted = dict(dtypes or {})
    columns: dict[str, Any] = {}
    for field in schema:
        column = table[field.name]
        target = wanted.get(field.name)
        if pa.types.is_dictionary(field.type) or isinstance(target, pd.CategoricalDtype):
            columns[field.name] = _categorical(column, field, target)
        elif isinstance(target, pd.api.extensions.ExtensionDtype) and not isinstance(
            target, pd.DatetimeTZDtype
        ) and hasattr(target, "__from_arrow__"):
            columns[field.name] = target.__from_arrow__(column)
        else:
            series = column.to_pandas()
            if target is not None and series.dtype != target:
                series = series.astype(target)
            columns[field.name] = series
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows), copy=False)
