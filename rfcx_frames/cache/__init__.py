"""A Parquet cache for rfcx_frames queries, in a local folder or on an object store (``s3://``).

Time-ranged entities (detections, annotations, segments) live in
:class:`TimeRangedCache`: a hive-partitioned Parquet dataset per entity and filter
signature, with a manifest of the ``[start, end)`` windows held completely. Small
listings (projects, streams, classifications) live in :class:`WholeResultCache`, one
file per request with an expiry. See ``docs/cache.md`` for the layout and the modes.

Examples
--------
>>> resolve_mode("offline")
'offline'
>>> parse_duration("7d")
Timedelta('7 days 00:00:00')
"""

from __future__ import annotations

from rfcx_frames.cache.assemble import schema_fingerprint
from rfcx_frames.cache.dataset import dataset
from rfcx_frames.cache.duckdb_views import duckdb
from rfcx_frames.cache.invalidate import invalidate
from rfcx_frames.cache.manage import clear, clear_orphans, info, orphans, windows_frame
from rfcx_frames.cache.modes import MODES, CacheArg, Mode, parse_duration, parse_max_age, resolve_mode
from rfcx_frames.cache.platforms import IDENTITY_ROUTE
from rfcx_frames.cache.platforms import resolve as resolve_platform
from rfcx_frames.cache.ranged import TimeRangedCache
from rfcx_frames.cache.signature import (
    REVIEW_STATUSES,
    FilterSignature,
    canonical_json,
    stable_hash,
    user_identity,
)
from rfcx_frames.cache.whole import WholeResultCache
from rfcx_frames.config import DEFAULT_CACHE_HORIZON as DEFAULT_HORIZON
from rfcx_frames.config import DEFAULT_CACHE_TTL as DEFAULT_TTL
from rfcx_frames.config import DEFAULT_LABEL_MAX_AGE, cache_path, cache_root
from rfcx_frames.config import ENV_CACHE_DIR as ENV_DIR
from rfcx_frames.config import ENV_CACHE_MODE as ENV_MODE
from rfcx_frames.convert import frame_from_table, table_from_frame
from rfcx_frames.exceptions import NotCachedError

__all__ = [
    "DEFAULT_HORIZON",
    "DEFAULT_LABEL_MAX_AGE",
    "DEFAULT_TTL",
    "ENV_DIR",
    "ENV_MODE",
    "IDENTITY_ROUTE",
    "MODES",
    "REVIEW_STATUSES",
    "CacheArg",
    "FilterSignature",
    "Mode",
    "NotCachedError",
    "TimeRangedCache",
    "WholeResultCache",
    "cache_path",
    "cache_root",
    "canonical_json",
    "clear",
    "clear_orphans",
    "dataset",
    "duckdb",
    "frame_from_table",
    "info",
    "invalidate",
    "orphans",
    "parse_duration",
    "parse_max_age",
    "resolve_mode",
    "resolve_platform",
    "schema_fingerprint",
    "stable_hash",
    "table_from_frame",
    "user_identity",
    "windows_frame",
]
