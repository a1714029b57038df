"""One declared schema per entity: the single source of truth for every table.

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
>>> DETECTION.names[:4]
('id', 'stream_id', 'classifier_id', 'classification_id')
>>> str(pandas_dtypes(DETECTION)["start"])
'datetime64[ms, UTC]'
>>> arrow_schema(DETECTION).names == list(DETECTION.names)
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from .config import REVIEW_STATUSES

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
        >>> DETECTION.cacheable({"classifiers[]": [1]}), DETECTION.cacheable({"projects[]": ["p"]})
        (True, False)
        """
        return all(value is None or name in self.cache_filters or name == "fields[]"
                   for name, value in params.items())

    def signature_filters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The cache signature's filter values of a query: sent values, else the defaults.

        Examples
        --------
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


def _classification_columns() -> tuple[Column, ...]:
    return (
        Column("classification_value", "category", ("classification", "value"),
               doc="Classification value (slug), e.g. ``sciurus_carolinensis``."),
        Column("classification_title", "category", ("classification", "title"),
               doc="Human-readable classification title."),
        Column("classification_image", "category", ("classification", "image"),
               doc="URL of the classification's image, if any."),
    )


PROJECT = Entity(
    name="projects",
    endpoint="/projects",
    columns=(
        Column("id", "string", ("id",), doc="12-character project id."),
        Column("name", "string", ("name",)),
        Column("is_public", "boolean", ("is_public",)),
        Column("external_id", "Int64", ("external_id",), doc="Arbimon project id."),
    ),
    key="id",
    order_by=("name", "id"),
)

STREAM = Entity(
    name="streams",
    endpoint="/streams",
    columns=(
        Column("id", "string", ("id",), doc="12-character stream (site) id."),
        Column("name", "string", ("name",)),
        Column("description", "string", ("description",)),
        Column("start", "timestamp", ("start",), doc="Start of the first segment."),
        Column("end", "timestamp", ("end",), doc="End of the last segment."),
        Column("project_id", "string", ("project_id",)),
        Column("project_name", "string", ("project", "name")),
        Column("project_is_public", "boolean", ("project", "is_public")),
        Column("project_external_id", "Int64", ("project", "external_id")),
        Column("is_public", "boolean", ("is_public",)),
        Column("hidden", "boolean", ("hidden",)),
        Column("latitude", "float64", ("latitude",)),
        Column("longitude", "float64", ("longitude",)),
        Column("altitude", "float64", ("altitude",)),
        Column("timezone", "string", ("timezone",), doc="IANA timezone of the site."),
        Column("timezone_locked", "boolean", ("timezone_locked",)),
        Column("max_sample_rate", "Int32", ("max_sample_rate",)),
        Column("external_id", "Int64", ("external_id",), doc="Arbimon site id."),
        Column("country_code", "string", ("country_code",)),
        Column("created_by_id", "Int64", ("created_by_id",)),
        Column("created_by_email", "string", ("created_by", "email")),
        Column("created_by_firstname", "string", ("created_by", "firstname")),
        Column("created_by_lastname", "string", ("created_by", "lastname")),
        Column("created_at", "timestamp", ("created_at",)),
        Column("updated_at", "timestamp", ("updated_at",)),
    ),
    key="id",
    order_by=("name", "id"),
)

SEGMENT = Entity(
    name="segments",
    endpoint="/streams/{stream}/segments",
    columns=(
        Column("id", "string", ("id",), doc="Segment uuid."),
        Column("stream_id", "category", None, doc="Filled in by the client."),
        Column("start", "timestamp", ("start",)),
        Column("end", "timestamp", ("end",)),
        Column("file_extension", "category", ("file_extension",),
               doc="Stored format with its dot: ``.flac``, ``.opus``."),
    ),
    key="id",
    order_by=("start", "stream_id", "id"),
    stream_param="{stream}",
)

DETECTION = Entity(
    name="detections",
    endpoint="/detections",
    columns=(
        Column("id", "int64", ("id",), wire=pa.string(), doc="Detection id (a string on the wire)."),
        Column("stream_id", "category", ("stream_id",)),
        Column("classifier_id", "Int32", ("classifier_id",)),
        Column("classification_id", "Int32", ("classification_id",)),
        Column("start", "timestamp", ("start",)),
        Column("end", "timestamp", ("end",)),
        Column("confidence", "float32", ("confidence",)),
        Column("review_status", "review_status", ("review_status",)),
        *_classification_columns(),
    ),
    key="id",
    order_by=("start", "stream_id", "classification_value", "classifier_id", "id"),
    fields=(
        "id", "stream_id", "classifier_id", "classification_id", "start", "end",
        "confidence", "review_status",
    ),
    stream_param="streams[]",
    defaults={"min_confidence": 0.95},
    cache_filters={"classifications[]": "classifications", "classifiers[]": "classifiers",
                   "min_confidence": "min_confidence", "review_statuses[]": "review_statuses"},
    mutable=True,
)

ANNOTATION = Entity(
    name="annotations",
    endpoint="/annotations",
    columns=(
        Column("id", "string", ("id",), doc="Annotation uuid."),
        Column("stream_id", "category", ("stream_id",)),
        Column("start", "timestamp", ("start",)),
        Column("end", "timestamp", ("end",)),
        Column("frequency_min", "Int32", ("frequency_min",), doc="Hz."),
        Column("frequency_max", "Int32", ("frequency_max",), doc="Hz."),
        *_classification_columns(),
    ),
    key="id",
    order_by=("start", "stream_id", "classification_value", "id"),
    stream_param="stream_id",
    cache_filters={"classifications[]": "classifications"},
    mutable=True,
)

CLASSIFICATION = Entity(
    name="classifications",
    endpoint="/classifications",
    columns=(
        Column("value", "string", ("value",), doc="Unique slug."),
        Column("title", "string", ("title",)),
        Column("image", "string", ("image",)),
        Column("type", "category", ("type", "value"), doc="species, genus, ..., characteristic."),
        Column("alternative_names", "object", ("alternative_names",),
               doc="List of ``{name, language_id}`` dicts."),
    ),
    key="value",
    order_by=("title", "value"),
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (PROJECT, STREAM, SEGMENT, DETECTION, ANNOTATION, CLASSIFICATION)
}


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
    >>> str(pandas_dtypes(ANNOTATION)["frequency_min"])
    'Int32'
    """
    return {c.name: c.pandas_dtype for c in entity.columns}


def arrow_schema(entity: Entity) -> pa.Schema:
    """The pyarrow schema of an entity's table (what the cache writes to Parquet).

    Examples
    --------
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
