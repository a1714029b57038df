"""The platform's core tables: projects, streams, segments, detections, annotations, classifications.

Examples
--------
>>> DETECTION.names[:4]
('id', 'stream_id', 'classifier_id', 'classification_id')
"""

from __future__ import annotations

import pyarrow as pa

from .entity import Column, Entity


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
        Column("classifier_job_id", "Int32", ("classifier_job_id",),
               doc="The classifier job that made the detection (``<NA>`` if none)."),
        Column("start", "timestamp", ("start",)),
        Column("end", "timestamp", ("end",)),
        Column("confidence", "float32", ("confidence",)),
        Column("review_status", "review_status", ("review_status",)),
        *_classification_columns(),
    ),
    key="id",
    order_by=("start", "stream_id", "classification_value", "classifier_id", "id"),
    fields=(
        "id", "stream_id", "classifier_id", "classification_id", "classifier_job_id", "start",
        "end", "confidence", "review_status",
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
        Column("common_name", "string", None,
               doc="The first English alternative name, in the platform's rank order."),
        Column("frequency_min", "Int32", ("frequency_min",),
               doc="Hz, the low edge of the class's band (``details=True``)."),
        Column("frequency_max", "Int32", ("frequency_max",),
               doc="Hz, the high edge of the class's band (``details=True``)."),
        Column("description", "string", ("description",), doc="``details=True``."),
    ),
    key="value",
    order_by=("title", "value"),
)
