"""Column and Entity: how a table is declared, and the dtypes that follow from a declaration.

Each :class:`Column` names a DataFrame column, its *kind* (which fixes both the pyarrow
type and the pandas dtype), and where its value sits in the platform's JSON (a path such
as ``("classification", "value")``). Everything else derives from these declarations:
the wire schema handed to the JSON parser, the conversion to pandas, the empty frame of a
query without results, and the Parquet schema of the cache.

Kinds
-----
``string``       text; pandas ``string[pyarrow]``
``category``     repeated text (stream ids, classification values); pandas ``category``
``timestamp``    ISO 8601 UTC on the wire; pandas ``datetime64[ms, UTC]``
``int64``        non-null integer (detection ids arrive as strings); ``int64``
``Int64``/``Int32``  nullable integers; pandas ``Int64``/``Int32``
``float32``/``float64``  floats (``NaN`` for null)
``boolean``      nullable boolean; pandas ``boolean``
``review_status``  -1/0/1/null on the wire; a category of
                 ``unreviewed, rejected, uncertain, confirmed``
``object``       nested lists kept as Python objects (classification alternative names)

Examples
--------
>>> col = Column("start", "timestamp", ("start",))
>>> str(col.pandas_dtype)
'datetime64[ms, UTC]'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from ..config import REVIEW_STATUSES

Kind = Literal[
    "string",
    "category",
    "timestamp",
    "int64",
    "Int64",
    "Int32",
    "float32",
    "float64",
    "boolean",
    "review_status",
    "object",
]

#: pandas dtype of the ``string`` kind (same on pandas 2 and 3).
STRING_DTYPE = pd.StringDtype("pyarrow")
REVIEW_STATUS_DTYPE = pd.CategoricalDtype(list(REVIEW_STATUSES), ordered=False)
CLASSIFICATION_NAMES_TYPE = pa.list_(
    pa.struct([pa.field("name", pa.string()), pa.field("language_id", pa.string())])
)

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "category": pa.dictionary(pa.int32(), pa.string()),
    "timestamp": pa.timestamp("ms", tz="UTC"),
    "int64": pa.int64(),
    "Int64": pa.int64(),
    "Int32": pa.int32(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
    "review_status": pa.dictionary(pa.int8(), pa.string()),
    "object": CLASSIFICATION_NAMES_TYPE,
}

_WIRE_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "category": pa.string(),
    "timestamp": pa.string(),
    "int64": pa.int64(),
    "Int64": pa.int64(),
    "Int32": pa.int64(),
    "float32": pa.float64(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
    "review_status": pa.int64(),
    "object": CLASSIFICATION_NAMES_TYPE,
}


@dataclass(frozen=True)
class Column:
    """One column of an entity's table.

    Parameters
    ----------
    name
        Column name in the DataFrame and in Parquet.
    kind
        See the module docstring; fixes the pyarrow type and the pandas dtype.
    source
        Path of the value in one JSON item, or ``None`` when the client fills it in
        (e.g. the ``stream_id`` of a segment, which the platform's list omits).
    wire
        pyarrow type of the raw JSON value when it differs from the kind's default
        (detection ids are strings on the wire).
    doc
        One line for the documentation.

    Examples
    --------
    >>> Column("confidence", "float32", ("confidence",)).arrow_type
    DataType(float)
    """

    name: str
    kind: Kind
    source: tuple[str, ...] | None
    wire: pa.DataType | None = None
    doc: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        """The pyarrow type of the column (what the cache writes to Parquet)."""
        return _ARROW_TYPES[self.kind]

    @property
    def wire_type(self) -> pa.DataType:
        """The pyarrow type of the value as it arrives in the JSON."""
        return self.wire if self.wire is not None else _WIRE_TYPES[self.kind]

    @property
    def pandas_dtype(self) -> Any:
        """The pandas dtype of the column (categories of a ``category`` depend on data)."""
        return _pandas_dtype(self.kind)


@dataclass(frozen=True)
class Entity:
    """The table of one kind of platform object.

    Parameters
    ----------
    name
        Short name (``"detections"``), also the cache's table name.
    endpoint
        API path template of the list (``/streams/{stream}/segments`` for segments).
    columns
        The columns, in DataFrame order.
    key
        Column that identifies a row (duplicates at window edges are dropped on it).
    order_by
        Columns of the stable row order of a frame.
    fields
        ``fields[]`` the client must request so that every column is present, or empty
        when the platform's default item already has them.
    stream_param
        How a request names its stream: ``"{stream}"`` in the endpoint path (segments),
        a query parameter taking one id (``"stream_id"``) or several (``"streams[]"``),
        or ``None`` for entities that are not time-ranged.
    defaults
        Query parameters the platform applies when they are not sent (detections:
        ``min_confidence`` 0.95), so the cache keys an unsent filter by its real value.
    cache_filters
        Query parameter -> :class:`~rfcx_frames.cache.FilterSignature` field of every
        filter a cached pull may carry; a query with any other filter is answered
        without the cache (the platform resolves it across streams).
    mutable
        Rows change on the platform after they were fetched (reviews, edits), so cached
        copies expire after the client's ``cache_max_age``.

    Examples
    --------
    >>> from rfcx_frames.schemas import DETECTION, SEGMENT
    >>> SEGMENT.key, SEGMENT.order_by
    ('id', ('start', 'stream_id', 'id'))
    >>> DETECTION.spans_streams, SEGMENT.spans_streams
    (True, False)
    """

    name: str
    endpoint: str
    columns: tuple[Column, ...]
    key: str
    order_by: tuple[str, ...]
    fields: tuple[str, ...] = field(default=())
    stream_param: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    cache_filters: Mapping[str, str] = field(default_factory=dict)
    mutable: bool = False

    def __hash__(self) -> int:
        return hash(self.name)

    @property
    def spans_streams(self) -> bool:
        """Whether one request may name several streams (``streams[]``)."""
        return self.stream_param == "streams[]"

    def cacheable(self, params: Mapping[str, Any]) -> bool:
        """Whether a query with ``params`` may be answered per stream from the cache.

        Examples
        --------
        >>> from rfcx_frames.schemas import DETECTION
        >>> DETECTION.cacheable({"classifiers[]": [1]}), DETECTION.cacheable({"projects[]": ["p"]})
        (True, False)
        """
        return all(value is None or name in self.cache_filters or name == "fields[]"
                   for name, value in params.items())

    def signature_filters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The cache signature's filter values of a query: sent values, else the defaults.

        Examples
        --------
        >>> from rfcx_frames.schemas import DETECTION
        >>> DETECTION.signature_filters({})["min_confidence"]
        0.95
        """
        return {field_name: params[name] if params.get(name) is not None
                else self.defaults.get(name)
                for name, field_name in self.cache_filters.items()}

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _pandas_dtype(kind: str) -> Any:
    if kind == "string":
        return STRING_DTYPE
    if kind == "category":
        return pd.CategoricalDtype(pd.Index([], dtype=str))
    if kind == "timestamp":
        return pd.DatetimeTZDtype(unit="ms", tz="UTC")
    if kind == "review_status":
        return REVIEW_STATUS_DTYPE
    if kind == "object":
        return object
    return pd.api.types.pandas_dtype(kind)


def pandas_dtypes(entity: Entity) -> dict[str, Any]:
    """Column name → pandas dtype of an entity.

    Examples
    --------
    >>> from rfcx_frames.schemas import ANNOTATION
    >>> str(pandas_dtypes(ANNOTATION)["frequency_min"])
    'Int32'
    """
    return {c.name: c.pandas_dtype for c in entity.columns}


def arrow_schema(entity: Entity) -> pa.Schema:
    """The pyarrow schema of an entity's table (what the cache writes to Parquet).

    Examples
    --------
    >>> from rfcx_frames.schemas import SEGMENT
    >>> arrow_schema(SEGMENT).field("start").type
    TimestampType(timestamp[ms, tz=UTC])
    """
    fields = []
    for col in entity.columns:
        metadata = None
        if col.kind == "review_status":
            # Fixed categories travel with the schema, so frames read back from Parquet
            # get the same dtype whichever statuses a file happens to hold.
            metadata = {b"categories": json.dumps(list(REVIEW_STATUSES)).encode()}
        fields.append(pa.field(col.name, col.arrow_type, metadata=metadata))
    return pa.schema(fields)
