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
from itertools import groupby
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
        if target.categories is not None and len(target.categories):
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


def file_schema(schema: pa.Schema, stream_column: str = "stream_id") -> pa.Schema:
    """The schema of the cache's Parquet files for rows of ``schema``.

    The stream column lives in the hive folder name (``stream_id=<id>``), not in the
    file, and dictionary columns are stored as their plain value type: Parquet
    dictionary-encodes them on its own, and plain types read back faster than one Arrow
    dictionary per small file, which the reader would then have to unify.

    Examples
    --------
    >>> s = pa.schema([("stream_id", pa.dictionary(pa.int32(), pa.string())),
    ...                ("v", pa.dictionary(pa.int8(), pa.string())), ("n", pa.int32())])
    >>> file_schema(s).names, str(file_schema(s).field("v").type)
    (['v', 'n'], 'string')
    """
    fields = [
        pa.field(f.name, f.type.value_type, f.nullable, f.metadata)
        if pa.types.is_dictionary(f.type) else f
        for f in schema
        if f.name != stream_column
    ]
    return pa.schema(fields)


def to_file_table(table: pa.Table, schema: pa.Schema, stream_column: str = "stream_id") -> pa.Table:
    """Rows of ``schema`` in the form the cache's files store (see :func:`file_schema`).

    Examples
    --------
    >>> s = pa.schema([("stream_id", pa.string()), ("n", pa.int32())])
    >>> to_file_table(pa.table({"stream_id": ["a"], "n": pa.array([1], pa.int32())}), s).column_names
    ['n']
    """
    target = file_schema(schema, stream_column)
    return table.select(target.names).cast(target)


def _sort_order(start: pa.ChunkedArray) -> np.ndarray:
    # Stable, nulls last: a null start sorts after every instant.
    values = start.cast(pa.int64()).fill_null(np.iinfo(np.int64).max)
    return np.argsort(values.to_numpy(), kind="stable")


def _dictionary_column(column: pa.ChunkedArray, type_: pa.DictionaryType) -> pa.Array:
    # One dictionary for all rows (a single encode of the concatenated values), so the
    # conversion to pandas does one code lookup instead of one per file.
    if pa.types.is_dictionary(column.type):
        column = column.cast(type_.value_type)
    encoded = pc.dictionary_encode(column.combine_chunks())
    return pa.DictionaryArray.from_arrays(
        encoded.indices.cast(type_.index_type), encoded.dictionary.cast(type_.value_type)
    )


def assemble(
    pieces: Sequence[tuple[str, pa.Table]],
    schema: pa.Schema,
    keys: Sequence[str],
    dtypes: Mapping[str, Any] | None = None,
    *,
    time_column: str = "start",
    stream_column: str = "stream_id",
) -> pd.DataFrame:
    """One DataFrame of ``schema`` from per-stream pieces of rows, ordered by ``keys``.

    Each piece is ``(stream_id, rows)`` with the columns of :func:`file_schema` (more
    columns are ignored); every row of a piece belongs to its stream, and each piece is
    already sorted by ``keys``. Pieces of one stream must hold disjoint time windows,
    so rows tied on (time, stream) always come from one piece. Under those rules, when
    ``keys`` begin with (time, stream), laying the pieces out stream by stream and
    sorting stably by time alone gives the full order.

    Examples
    --------
    >>> s = pa.schema([("stream_id", pa.dictionary(pa.int32(), pa.string())),
    ...                ("start", pa.int64())])
    >>> df = assemble([("b", pa.table({"start": [1, 3]})), ("a", pa.table({"start": [1]}))],
    ...               s, ["start", "stream_id"])
    >>> df.values.tolist()
    [['a', 1], ['b', 1], ['b', 3]]
    """
    target = file_schema(schema, stream_column)
    ordered = sorted((p for p in pieces if p[1].num_rows), key=lambda p: p[0])
    if not ordered:
        return frame_from_table(schema.empty_table(), schema, dtypes)
    table = pa.concat_tables(
        [t if t.schema.equals(target) else t.select(target.names).cast(target) for _, t in ordered]
    )
    stream_ids = [sid for sid, _ in groupby(sid for sid, _ in ordered)]
    counts = [sum(t.num_rows for _, t in group) for _, group in groupby(ordered, key=lambda p: p[0])]
    codes = np.repeat(np.arange(len(stream_ids), dtype=np.int32), counts)
    stream_type = schema.field(stream_column).type
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for field in schema:
        if field.name == stream_column:
            dictionary = pa.array(stream_ids, pa.string())
            if pa.types.is_dictionary(stream_type):
                columns[field.name] = pa.DictionaryArray.from_arrays(
                    pa.array(codes, stream_type.index_type), dictionary.cast(stream_type.value_type))
            else:
                columns[field.name] = dictionary.take(pa.array(codes)).cast(stream_type)
        elif pa.types.is_dictionary(field.type):
            columns[field.name] = _dictionary_column(table[field.name], field.type)
        else:
            columns[field.name] = table[field.name].combine_chunks()
    merged = pa.table(columns, schema=schema)
    # Laid out stream by stream, a stable sort by time alone is the full order.
    by_time = list(keys[:2]) == [time_column, stream_column]
    merged = merged.take(pa.array(_sort_order(merged[time_column]))) if by_time else sort_table(
        merged, keys)
    return frame_from_table(merged, schema, dtypes)
