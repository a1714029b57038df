"""One declared schema per entity: the single source of truth for every table.

How a table is declared (:class:`Column`, :class:`Entity`, the dtypes that follow) is in
:mod:`~rfcx_frames.schemas.entity`; the declarations themselves sit one module per family
of endpoints (:mod:`~rfcx_frames.schemas.platform` for the core tables). A new family gets
its own module here and its entities join :data:`ENTITIES`.

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

from .counts import DETECTION_COUNT
from .entity import (
    CLASSIFICATION_NAMES_TYPE,
    REVIEW_STATUS_DTYPE,
    STRING_DTYPE,
    Column,
    Entity,
    Kind,
    arrow_schema,
    pandas_dtypes,
)
from .platform import ANNOTATION, CLASSIFICATION, DETECTION, PROJECT, SEGMENT, STREAM

#: Every declared entity by name (the cache's and the CLI's table names).
ENTITIES: dict[str, Entity] = {
    e.name: e for e in (PROJECT, STREAM, SEGMENT, DETECTION, ANNOTATION, CLASSIFICATION)
}

__all__ = [
    "ANNOTATION",
    "CLASSIFICATION",
    "CLASSIFICATION_NAMES_TYPE",
    "DETECTION",
    "DETECTION_COUNT",
    "ENTITIES",
    "PROJECT",
    "REVIEW_STATUS_DTYPE",
    "SEGMENT",
    "STREAM",
    "STRING_DTYPE",
    "Column",
    "Entity",
    "Kind",
    "arrow_schema",
    "pandas_dtypes",
]
