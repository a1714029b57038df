"""Rows as the cache's files hold them, and one ordered table from per-stream pieces.

Files store rows without the stream column (it lives in the hive folder name) and with
dictionary columns as plain values (:func:`file_schema`); :func:`assemble` merges the
pieces read from files and fetched from the platform into one Arrow table of the
entity's schema, in the frame's order. The conversion to pandas is
:func:`rfcx_frames.convert.frame_from_table`, once, at the end of :func:`assemble`.

Examples
--------
>>> s = pa.schema([("stream_id", pa.string()), ("n", pa.int32())])
>>> file_schema(s).names
['n']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rfcx_frames.cache.signature import stable_hash
from rfcx_frames.convert import frame_from_table, sort_table

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


def latest_copies(merged: pa.Table, key: str, fetched: str) -> pa.Table:
    """One row per ``key``: the copy whose ``fetched`` (int64 ns) is the latest.

    Examples
    --------
    >>> t = pa.table({"id": [1, 1, 2], "at": [5, 9, 1], "v": ["old", "new", "x"]})
    >>> latest_copies(t, "id", "at")["v"].to_pylist()
    ['new', 'x']
    """
    # The freshest copy of each key first, then keep the first of every key.
    merged = sort_table(merged.append_column("__desc", pc.negate(merged[fetched])),
                        [key, "__desc"])
    keys = merged[key].to_numpy()
    keep = np.ones(len(keys), dtype=bool)
    keep[1:] = keys[1:] != keys[:-1]
    return merged.filter(pa.array(keep)).drop_columns(["__desc"])
