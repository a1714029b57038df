"""Platform JSON into Arrow: pages parsed straight into a table of the entity's schema.

Pages are parsed from the response bytes by pyarrow's JSON reader against the entity's
declared wire schema (C++, no Python object per row, and it releases the GIL so worker
threads parse in parallel); :func:`to_table` then casts every column in bulk to the
entity's Arrow schema (:func:`rfcx_frames.schemas.arrow_schema`). Nothing here builds a
pandas object: the one conversion to pandas is :func:`rfcx_frames.convert.frame_from_table`.

Examples
--------
>>> from rfcx_frames.schemas import SEGMENT
>>> body = b'[{"id": "u1", "start": "2024-03-01T00:00:00.000Z", '
>>> body += b'"end": "2024-03-01T00:01:00.000Z", "file_extension": ".flac"}]'
>>> chunk = with_constant(parse_page(SEGMENT, body), "stream_id", "abc")
>>> to_table(SEGMENT, [chunk]).select(["stream_id", "file_extension"]).to_pylist()
[{'stream_id': 'abc', 'file_extension': '.flac'}]
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from .config import REVIEW_STATUSES
from .schemas import Column, Entity, arrow_schema

#: The platform's review values (-1 rejected, 0 uncertain, 1 confirmed, null unreviewed)
#: as indices into ``REVIEW_STATUSES`` (unreviewed, rejected, uncertain, confirmed).
_REVIEW_INDEX = {-1: 1, 0: 2, 1: 3}


def wire_type(entity: Entity) -> pa.StructType:
    """pyarrow struct type of one JSON item, built from the columns' source paths.

    Columns sharing a path prefix (``classification.value``, ``classification.title``)
    become one nested struct.

    Examples
    --------
    >>> from rfcx_frames.schemas import DETECTION
    >>> wire_type(DETECTION).field("classification").type.field("value").type
    DataType(string)
    """
    tree: dict[str, Any] = {}
    for col in entity.columns:
        if col.source is None:
            continue
        node = tree
        for part in col.source[:-1]:
            node = node.setdefault(part, {})
        node[col.source[-1]] = col.wire_type

    def build(node: dict[str, Any]) -> pa.StructType:
        return pa.struct([
            pa.field(key, build(value) if isinstance(value, dict) else value)
            for key, value in node.items()
        ])

    return build(tree)


@functools.lru_cache(maxsize=32)
def _page_schema(entity: Entity) -> pa.Schema:
    return pa.schema([pa.field("r", pa.list_(wire_type(entity)))])


def parse_page(entity: Entity, body: bytes) -> pa.StructArray:
    """Parse one JSON array response into a struct array of the entity's wire schema.

    Fields the schema does not declare are ignored; declared fields that are absent
    become nulls.

    Parameters
    ----------
    entity
        The entity whose items the page holds.
    body
        The response bytes.

    Returns
    -------
    pyarrow.StructArray
        One struct per JSON item.

    Raises
    ------
    ValueError
        If the body is not a JSON array of objects of the expected types (a truncated
        body, an HTML error page ...). ``pyarrow.ArrowInvalid`` is a ``ValueError``.

    Examples
    --------
    >>> from rfcx_frames.schemas import PROJECT
    >>> parse_page(PROJECT, b'[{"id": "p1", "name": "P", "is_public": true}]').to_pylist()
    [{'id': 'p1', 'name': 'P', 'is_public': True, 'external_id': None}]
    """
    text = body.strip()
    if not text.startswith(b"[") or not text.endswith(b"]"):
        raise ValueError(f"expected a JSON array, got {text[:40]!r}...")
    if b"\n" in text or b"\r" in text:
        # The reader is line-delimited; raw newlines are only whitespace in valid JSON.
        text = text.replace(b"\r", b" ").replace(b"\n", b" ")
    wrapped = b'{"r":' + text + b"}"
    table = pa_json.read_json(
        io.BytesIO(wrapped),
        read_options=pa_json.ReadOptions(use_threads=False, block_size=len(wrapped) + 64),
        parse_options=pa_json.ParseOptions(
            explicit_schema=_page_schema(entity), unexpected_field_behavior="ignore"
        ),
    )
    column = table.column("r")
    if table.num_rows != 1 or column.null_count:
        raise ValueError("expected exactly one JSON array")
    values = column.chunk(0).flatten()
    if values.null_count:
        raise ValueError("the JSON array holds a null item")
    return values


def rows_to_struct(entity: Entity, rows: Sequence[Mapping[str, Any]]) -> pa.StructArray:
    """Struct array of already-decoded JSON items (e.g. from a seed-parity method).

    Parameters
    ----------
    entity
        The entity whose items ``rows`` are.
    rows
        Decoded JSON objects; keys the entity does not declare are ignored.

    Returns
    -------
    pyarrow.StructArray

    Examples
    --------
    >>> from rfcx_frames.schemas import PROJECT
    >>> len(rows_to_struct(PROJECT, [{"id": "p1", "name": "P"}]))
    1
    """
    target = wire_type(entity)
    names = [f.name for f in target]
    return pa.array([{k: r.get(k) for k in names} for r in rows], type=target)


def with_constant(chunk: pa.StructArray, name: str, value: str) -> pa.StructArray:
    """Add a top-level string field holding ``value`` in every row.

    Used for columns the platform leaves out of an item because the request fixed them
    (the stream of a segment list).

    Parameters
    ----------
    chunk
        Parsed items.
    name, value
        The field to add and its value.

    Returns
    -------
    pyarrow.StructArray

    Examples
    --------
    >>> with_constant(pa.array([{"a": 1}]), "s", "x").to_pylist()
    [{'a': 1, 's': 'x'}]
    """
    fields = [chunk.type.field(i) for i in range(chunk.type.num_fields)]
    arrays = [chunk.field(i) for i in range(chunk.type.num_fields)]
    arrays.append(pa.array(np.full(len(chunk), value, dtype=object), type=pa.string()))
    fields.append(pa.field(name, pa.string()))
    return pa.StructArray.from_arrays(arrays, fields=fields)


def to_table(entity: Entity, chunks: Iterable[pa.StructArray]) -> pa.Table:
    """The entity's Arrow table from parsed pages (no de-duplication or sorting).

    Parameters
    ----------
    entity
        The entity of the pages.
    chunks
        Parsed pages (:func:`parse_page`, :func:`rows_to_struct`).

    Returns
    -------
    pyarrow.Table
        Exactly :func:`~rfcx_frames.schemas.arrow_schema` of the entity.

    Raises
    ------
    ValueError
        A value that does not convert (a detection id that is not an integer, a time
        that is not ISO 8601, a null in a non-nullable column), naming the column.

    Examples
    --------
    >>> from rfcx_frames.schemas import DETECTION
    >>> to_table(DETECTION, []).num_rows
    0
    """
    schema = arrow_schema(entity)
    parts = [c for c in chunks if len(c)]
    if not parts:
        return schema.empty_table()
    data = pa.chunked_array(parts)
    columns = []
    for col in entity.columns:
        path = list(col.source) if col.source is not None else [col.name]
        try:
            raw = pc.struct_field(data, path)
        except (KeyError, pa.ArrowInvalid, IndexError):
            raw = pa.chunked_array([pa.nulls(len(data), col.wire_type)])
        columns.append(convert_column(col, raw))
    return pa.Table.from_arrays(columns, schema=schema)


def convert_column(col: Column, raw: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cast one raw (wire-typed) column to the column's Arrow type.

    Parameters
    ----------
    col
        The declared column.
    raw
        Its values as parsed from the JSON.

    Returns
    -------
    pyarrow.ChunkedArray
        Of ``col.arrow_type``.

    Raises
    ------
    ValueError
        A non-nullable column holding nulls, or a value that does not convert.

    Examples
    --------
    >>> c = Column("n", "Int32", ("n",))
    >>> convert_column(c, pa.chunked_array([pa.array([1, None])])).to_pylist()
    [1, None]
    """
    try:
        if col.kind == "int64" and raw.null_count:
            raise ValueError("holds nulls")
        if col.kind == "timestamp":
            return raw.cast(pa.string()).cast(col.arrow_type)
        if col.kind == "category":
            return pa.chunked_array([pc.dictionary_encode(raw.cast(pa.string()).combine_chunks())
                                     .cast(col.arrow_type)])
        if col.kind == "review_status":
            return pa.chunked_array([_review_status(raw)])
        return raw.cast(col.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
        raise ValueError(f"column {col.name!r}: {exc}") from exc


def _review_status(raw: pa.ChunkedArray) -> pa.DictionaryArray:
    values = raw.cast(pa.int64()).fill_null(-99).to_numpy()
    indices = np.zeros(len(values), dtype=np.int8)  # null: unreviewed
    for wire, index in _REVIEW_INDEX.items():
        indices[values == wire] = index
    # A value the platform does not define becomes a missing status, not a guess.
    unknown = (values != -99) & ~np.isin(values, list(_REVIEW_INDEX))
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int8(), mask=unknown),
                                          pa.array(list(REVIEW_STATUSES), pa.string()))
