"""Conversion of platform JSON into typed DataFrames, driven by :mod:`rfcx_frames.schemas`.

Pages are parsed straight from the response bytes by pyarrow's JSON reader against the
entity's declared wire schema (C++, no Python object per row, and it releases the GIL so
worker threads parse in parallel). Columns are then cast in bulk. The pure functions here
never touch the network.

Examples
--------
>>> from rfcx_frames.schemas import SEGMENT
>>> body = b'[{"id": "u1", "start": "2024-03-01T00:00:00.000Z", '
>>> body += b'"end": "2024-03-01T00:01:00.000Z", "file_extension": ".flac"}]'
>>> chunk = with_constant(parse_page(SEGMENT, body), "stream_id", "abc")
>>> to_frame(SEGMENT, [chunk])[["stream_id", "file_extension"]].iloc[0].tolist()
['abc', '.flac']
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from .config import REVIEW_STATUSES
from .schemas import Column, Entity, empty_frame, wire_type

_REVIEW_CODES = {None: 0, -1: 1, 0: 2, 1: 3}


@functools.lru_cache(maxsize=32)
def _page_schema(entity: Entity) -> pa.Schema:
    return pa.schema([pa.field("r", pa.list_(wire_type(entity)))])


def parse_page(entity: Entity, body: bytes) -> pa.StructArray:
    """Parse one JSON array response into a struct array of the entity's wire schema.

    Fields the schema does not declare are ignored; declared fields that are absent
    become nulls.

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
    lists = column.chunk(0)
    values = lists.flatten()
    if values.null_count:
        raise ValueError("the JSON array holds a null item")
    return values


def rows_to_struct(entity: Entity, rows: Sequence[Mapping[str, Any]]) -> pa.StructArray:
    """Struct array of already-decoded JSON items (e.g. from a seed-parity method).

    Examples
    --------
    >>> from rfcx_frames.schemas import PROJECT
    >>> len(rows_to_struct(PROJECT, [{"id": "p1", "name": "P"}]))
    1
    """
    target = wire_type(entity)
    names = [f.name for f in target]
    pruned = [{k: r.get(k) for k in names} for r in rows]
    return pa.array(pruned, type=target)


def with_constant(chunk: pa.StructArray, name: str, value: str) -> pa.StructArray:
    """Add a top-level string field holding ``value`` in every row.

    Used for columns the platform leaves out of an item because the request fixed them
    (the stream of a segment list).

    Examples
    --------
    >>> arr = pa.array([{"a": 1}])
    >>> with_constant(arr, "s", "x").to_pylist()
    [{'a': 1, 's': 'x'}]
    """
    fields = [chunk.type.field(i) for i in range(chunk.type.num_fields)]
    arrays = [chunk.field(i) for i in range(chunk.type.num_fields)]
    arrays.append(pa.array(np.full(len(chunk), value, dtype=object), type=pa.string()))
    fields.append(pa.field(name, pa.string()))
    return pa.StructArray.from_arrays(arrays, fields=fields)


def to_frame(entity: Entity, chunks: Iterable[pa.StructArray]) -> pd.DataFrame:
    """Build the entity's typed DataFrame from parsed pages (no de-duplication or sorting).

    Examples
    --------
    >>> from rfcx_frames.schemas import DETECTION
    >>> to_frame(DETECTION, []).shape
    (0, 11)
    """
    parts = [c for c in chunks if len(c)]
    if not parts:
        return empty_frame(entity)
    data = pa.chunked_array(parts)
    columns: dict[str, Any] = {}
    for col in entity.columns:
        path = list(col.source) if col.source is not None else [col.name]
        try:
            raw = pc.struct_field(data, path)
        except (KeyError, pa.ArrowInvalid, IndexError):
            raw = pa.chunked_array([pa.nulls(len(data), col.wire_type)])
        columns[col.name] = convert_column(col, raw)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(data)), copy=False)


def convert_column(col: Column, raw: pa.ChunkedArray) -> Any:
    """Convert one raw (wire-typed) column into its pandas array.

    Raises
    ------
    ValueError
        If a non-nullable column holds nulls, or a value does not convert (a detection
        id that is not an integer, a time that is not ISO 8601 ...).

    Examples
    --------
    >>> c = Column("n", "Int32", ("n",))
    >>> arr = convert_column(c, pa.chunked_array([pa.array([1, None])]))
    >>> str(arr.dtype), int(arr[0]), arr.isna().tolist()
    ('Int32', 1, [False, True])
    """
    kind = col.kind
    try:
        if kind == "string":
            return col.pandas_dtype.__from_arrow__(raw.cast(pa.string()))
        if kind == "timestamp":
            stamps = raw.cast(pa.string()).cast(col.arrow_type)
            return col.pandas_dtype.__from_arrow__(stamps)
        if kind in ("Int64", "Int32", "boolean"):
            return col.pandas_dtype.__from_arrow__(raw.cast(col.arrow_type))
        if kind == "int64":
            if raw.null_count:
                raise ValueError(f"column {col.name!r} holds nulls")
            return raw.cast(pa.int64()).to_numpy()
        if kind in ("float32", "float64"):
            return np.asarray(raw.cast(col.arrow_type).to_numpy(), dtype=kind)
        if kind == "category":
            return _categorical(raw.cast(pa.string()))
        if kind == "review_status":
            return _review_status(raw)
        if kind == "object":
            out = np.empty(len(raw), dtype=object)
            out[:] = raw.to_pylist()
            return out
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as exc:
        raise ValueError(f"column {col.name!r}: {exc}") from exc
    raise AssertionError(f"unknown kind {kind!r}")


def _categorical(raw: pa.ChunkedArray) -> Any:
    # Sorted categories make category order lexicographic, so sorting by the codes
    # orders rows exactly as a text sort would.
    uniques = pc.unique(raw).drop_null()
    categories = sorted(uniques.to_pylist())
    cat_array = pa.array(categories, type=pa.string())
    codes = pc.index_in(raw, value_set=cat_array).fill_null(-1).to_numpy()
    return pd.Categorical.from_codes(
        np.asarray(codes, dtype=np.int32),
        dtype=pd.CategoricalDtype(pd.Index(categories, dtype=str)),
    )


def _review_status(raw: pa.ChunkedArray) -> Any:
    values = raw.cast(pa.int64()).fill_null(-99).to_numpy()
    codes = np.full(len(values), -1, dtype=np.int8)
    codes[values == -99] = _REVIEW_CODES[None]
    for wire, code in _REVIEW_CODES.items():
        if wire is not None:
            codes[values == wire] = code
    return pd.Categorical.from_codes(
        codes, dtype=pd.CategoricalDtype(list(REVIEW_STATUSES), ordered=False)
    )


def finalize(entity: Entity, frame: pd.DataFrame, *, descending: bool = False) -> pd.DataFrame:
    """Drop rows repeated at window edges and put rows in the entity's stable order.

    Rows are ordered by ``entity.order_by`` (e.g. start, stream, classification, id);
    ``descending=True`` reverses that order.

    Examples
    --------
    >>> from rfcx_frames.schemas import PROJECT
    >>> df = pd.DataFrame({"id": ["b", "a", "b"], "name": ["B", "A", "B"]})
    >>> finalize(PROJECT, df)["id"].tolist()
    ['a', 'b']
    """
    if len(frame) == 0:
        return frame
    out = frame.drop_duplicates(subset=[entity.key], keep="first")
    keys = [k for k in entity.order_by if k in out.columns]
    out = out.sort_values(keys, kind="stable", ascending=not descending, na_position="last")
    return out.reset_index(drop=True)


def add_local_time(frame: pd.DataFrame, timezones: Mapping[str, str | None]) -> pd.DataFrame:
    """Add ``start_local``: naive wall-clock start in each row's stream timezone.

    Streams without a known timezone use UTC. The column is ``datetime64[ms]`` (naive),
    because one column cannot hold several timezones.

    Examples
    --------
    >>> df = pd.DataFrame({"stream_id": pd.Categorical(["s"]),
    ...                    "start": pd.to_datetime(["2024-03-01T12:00Z"]).as_unit("ms")})
    >>> str(add_local_time(df, {"s": "America/Sao_Paulo"})["start_local"][0])
    '2024-03-01 09:00:00'
    """
    out = frame.copy()
    local = np.full(len(out), np.datetime64("NaT", "ms"), dtype="datetime64[ms]")
    streams = out["stream_id"].astype(object).to_numpy()
    starts = out["start"]
    for stream in pd.unique(streams):
        mask = streams == stream
        tz = timezones.get(str(stream)) or "UTC"
        wall = starts[mask].dt.tz_convert(tz).dt.tz_localize(None)
        local[mask] = wall.to_numpy(dtype="datetime64[ms]")
    out["start_local"] = pd.Series(local, index=out.index, dtype="datetime64[ms]")
    return out


def concat(frames: Iterable[pd.DataFrame], *, ignore_index: bool = True) -> pd.DataFrame:
    """Concatenate frames of one entity from separate calls, keeping categorical columns.

    ``pd.concat`` turns a categorical column into ``object`` when the frames' categories
    differ (two queries rarely see the same set of streams or classes); here categories are
    unioned first, so the result keeps the schema's dtypes.

    Parameters
    ----------
    frames
        DataFrames with the same columns (e.g. ``detections_df`` of two windows).
    ignore_index
        Renumber the rows (default), as ``pd.concat(ignore_index=True)``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        For no frames, or frames whose columns differ.

    Examples
    --------
    >>> a = pd.DataFrame({"stream_id": pd.Categorical(["s1"])})
    >>> b = pd.DataFrame({"stream_id": pd.Categorical(["s2"])})
    >>> list(concat([a, b])["stream_id"].cat.categories)
    ['s1', 's2']
    """
    items = list(frames)
    if not items:
        raise ValueError("frames is empty: pass at least one DataFrame")
    columns = list(items[0].columns)
    for frame in items[1:]:
        if list(frame.columns) != columns:
            raise ValueError(f"frames have different columns: {columns} and {list(frame.columns)}")
    unified = [frame.copy(deep=False) for frame in items]
    for name in columns:
        dtypes = [frame[name].dtype for frame in items]
        if all(isinstance(d, pd.CategoricalDtype) for d in dtypes):
            categories = pd.api.types.union_categoricals(
                [frame[name].array for frame in items], ignore_order=True).categories
            for frame in unified:
                frame[name] = frame[name].cat.set_categories(categories)
    return pd.concat(unified, ignore_index=ignore_index)
