"""Arrow tables to pandas and back, and row order: the one conversion path of every frame.

Fetched pages (:mod:`rfcx_frames.wire`) and cached Parquet files are both Arrow tables of
the entity's schema; rows are de-duplicated and ordered in Arrow (:func:`ordered`), and
:func:`frame_from_table` converts once, with deterministic dtypes, so a cached frame
equals the same frame fetched fresh.

Categorical columns (Arrow dictionaries) get their categories from the field metadata
key ``categories`` (a JSON list; ``ordered`` = ``"true"`` for an ordered dtype) when the
schema declares it, otherwise the sorted distinct values present: the result never
depends on how rows were split across pages or files.

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

from .schemas import Entity, arrow_schema, pandas_dtypes


def table_from_frame(data: pd.DataFrame | pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a frame (or table) to exactly ``schema``: its columns, order and types.

    Parameters
    ----------
    data
        Rows holding at least ``schema``'s columns; extra columns are dropped.
    schema
        The target schema.

    Returns
    -------
    pyarrow.Table

    Raises
    ------
    KeyError
        A column of ``schema`` is missing.

    Examples
    --------
    >>> schema = pa.schema([("a", pa.int32())])
    >>> table_from_frame(pd.DataFrame({"a": [1], "b": [2]}), schema).schema.names
    ['a']
    """
    names = data.column_names if isinstance(data, pa.Table) else list(data.columns)
    missing = [n for n in schema.names if n not in names]
    if missing:
        raise KeyError(f"fetched rows lack columns {missing}")
    if isinstance(data, pa.Table):
        table = data.select(schema.names)
        return table if table.schema == schema else table.cast(schema)
    table = pa.Table.from_pandas(data[list(schema.names)], schema=schema, preserve_index=False)
    return table.replace_schema_metadata(schema.metadata)


def category_codes(
    column: pa.ChunkedArray, categories: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Integer codes of a text or dictionary column against sorted (or given) categories.

    Without ``categories`` they are the sorted distinct non-null values present. Nulls
    and values outside ``categories`` get code ``-1``. Works on each chunk's dictionary,
    so the cost is one integer gather per row.

    Parameters
    ----------
    column
        Text or dictionary values.
    categories
        Fixed categories, or ``None`` for the sorted values present.

    Returns
    -------
    codes, categories
        ``int32`` codes and the categories they index.

    Examples
    --------
    >>> codes, cats = category_codes(pa.chunked_array([pa.array(["b", None, "a"])]))
    >>> codes.tolist(), cats
    ([1, -1, 0], ['a', 'b'])
    """
    chunks = [c if pa.types.is_dictionary(c.type) else c.dictionary_encode()
              for c in column.chunks]
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


def sort_indices(table: pa.Table, keys: Sequence[str]) -> pa.Array:
    """Row order by ``keys``: ascending, stable, nulls last; dictionaries by value.

    Parameters
    ----------
    table
        The rows.
    keys
        Column names, most significant first.

    Returns
    -------
    pyarrow.Array
        Indices to :meth:`pyarrow.Table.take`.

    Examples
    --------
    >>> sort_indices(pa.table({"a": [2, 1]}), ["a"]).to_pylist()
    [1, 0]
    """
    columns = {}
    for key in keys:
        column = table[key]
        if pa.types.is_dictionary(column.type):
            codes, cats = category_codes(column)
            codes[codes < 0] = len(cats)  # nulls after every value
            column = pa.chunked_array([pa.array(codes)])
        columns[key] = column
    return pc.sort_indices(pa.table(columns), sort_keys=[(k, "ascending") for k in keys])


def sort_table(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """``table`` in the order of :func:`sort_indices`.

    Parameters
    ----------
    table
        The rows.
    keys
        Column names, most significant first.

    Returns
    -------
    pyarrow.Table

    Examples
    --------
    >>> sort_table(pa.table({"a": [2, 1]}), ["a"])["a"].to_pylist()
    [1, 2]
    """
    if table.num_rows < 2 or not keys:
        return table
    return table.take(sort_indices(table, keys))


def ordered(entity: Entity, table: pa.Table) -> pa.Table:
    """Rows in the entity's stable order, each once (pages overlap at piece edges).

    One sort: every ``order_by`` ends with the entity's key, so repeats of a row are
    neighbours after it, and the first of each run is kept.

    Parameters
    ----------
    entity
        Whose ``order_by`` and ``key`` apply.
    table
        The rows, in any order, possibly repeated.

    Returns
    -------
    pyarrow.Table

    Examples
    --------
    >>> from rfcx_frames.schemas import PROJECT
    >>> t = pa.table({"id": ["b", "a", "b"], "name": ["B", "A", "B"]})
    >>> ordered(PROJECT, t)["id"].to_pylist()
    ['a', 'b']
    """
    keys = [k for k in entity.order_by if k in table.column_names]
    table = sort_table(table, keys)
    if table.num_rows < 2:
        return table
    key = table[entity.key]
    if pa.types.is_dictionary(key.type):
        key = key.cast(key.type.value_type)
    values = key.combine_chunks()
    repeat = pc.equal(values.slice(1), values.slice(0, len(values) - 1)).fill_null(False)
    if not pc.any(repeat).as_py():
        return table
    keep = pa.concat_arrays([pa.array([True]), pc.invert(repeat)])
    return table.filter(keep)


def categories_of(field: pa.Field) -> tuple[list[str] | None, bool]:
    """The fixed categories and orderedness a schema field declares, if any.

    Parameters
    ----------
    field
        A schema field.

    Returns
    -------
    categories, ordered
        ``None`` when the field declares no categories.

    Examples
    --------
    >>> f = pa.field("r", pa.dictionary(pa.int8(), pa.string()),
    ...              metadata={"categories": '["x", "y"]', "ordered": "true"})
    >>> categories_of(f)
    (['x', 'y'], True)
    """
    meta = field.metadata or {}
    raw = meta.get(b"categories")
    is_ordered = meta.get(b"ordered", b"false").lower() in (b"true", b"1")
    if raw is None:
        return None, is_ordered
    return list(json.loads(raw)), is_ordered


def _categorical(column: pa.ChunkedArray, field: pa.Field, target: Any) -> pd.Categorical:
    declared, is_ordered = categories_of(field)
    if isinstance(target, pd.CategoricalDtype):
        is_ordered = bool(target.ordered)
        if target.categories is not None and len(target.categories):
            declared = [str(c) for c in target.categories]
    codes, categories = category_codes(column, declared)
    dtype = pd.CategoricalDtype(pd.Index(categories, dtype=str), ordered=is_ordered)
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _column(column: pa.ChunkedArray, field: pa.Field, target: Any) -> Any:
    if pa.types.is_dictionary(field.type) or isinstance(target, pd.CategoricalDtype):
        return _categorical(column, field, target)
    if pa.types.is_list(field.type):
        # Nested lists stay Python lists (pyarrow would give numpy arrays of dicts).
        out = np.empty(len(column), dtype=object)
        out[:] = column.to_pylist()
        return out
    if isinstance(target, pd.api.extensions.ExtensionDtype) and not isinstance(
            target, pd.DatetimeTZDtype) and hasattr(target, "__from_arrow__"):
        return target.__from_arrow__(column)
    series = column.to_pandas()
    if target is not None and series.dtype != target:
        series = series.astype(target)
    return series


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

    Returns
    -------
    pandas.DataFrame
        ``schema``'s columns, a fresh ``RangeIndex``.

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
    columns = {field.name: _column(table[field.name], field, wanted.get(field.name))
               for field in schema}
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows), copy=False)


def entity_frame(entity: Entity, table: pa.Table) -> pd.DataFrame:
    """The pandas frame of an entity's Arrow table, with the schema's dtypes.

    Parameters
    ----------
    entity
        The entity.
    table
        Rows of :func:`~rfcx_frames.schemas.arrow_schema` of the entity.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from rfcx_frames.schemas import SEGMENT
    >>> entity_frame(SEGMENT, arrow_schema(SEGMENT).empty_table()).shape
    (0, 5)
    """
    return frame_from_table(table, arrow_schema(entity), pandas_dtypes(entity))


def empty_frame(entity: Entity) -> pd.DataFrame:
    """A frame with no rows and exactly the columns and dtypes of a full result.

    Parameters
    ----------
    entity
        The entity.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> from rfcx_frames.schemas import SEGMENT
    >>> list(empty_frame(SEGMENT).columns)
    ['id', 'stream_id', 'start', 'end', 'file_extension']
    """
    return entity_frame(entity, arrow_schema(entity).empty_table())
