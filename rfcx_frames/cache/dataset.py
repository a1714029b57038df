"""Every cached row of an entity, each once: what to read instead of the cache folder.

The time-ranged cache keeps one entry per filter signature, so a row pulled by a
looser and by a stricter query is stored twice, and a window fetched again after it
expired may still be stored by another entry. :func:`dataset` reads every entry of one
platform, keeps each row once (by ``id``; the copy fetched last wins, so a review seen
by a later fetch replaces the older status) and returns it with the entity's declared
types, ``stream_id`` included.

Examples
--------
>>> import tempfile
>>> dataset("detections", tempfile.mkdtemp()).num_rows
0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from rfcx_frames.cache.assemble import file_schema, latest_copies, schema_fingerprint
from rfcx_frames.cache.disk import LAYOUT, children, store_errors
from rfcx_frames.cache.entry import Entry
from rfcx_frames.cache.intervals import Stamped, clip
from rfcx_frames.cache.listing_rows import LISTINGS, listing_platforms, listing_rows
from rfcx_frames.cache.manifest import Manifest
from rfcx_frames.cache.parquet import UnreadableFilesError, read_parts
from rfcx_frames.cache.platforms import normalize_url, remembered
from rfcx_frames.config import CacheRoot, RootArg, cache_root
from rfcx_frames.convert import sort_table
from rfcx_frames.schemas import ENTITIES, arrow_schema

RANGED = ("detections", "annotations", "segments")
_FETCHED = "__fetched"


def entries_of(root: CacheRoot, entity: str, fingerprint: str) -> list[tuple[Entry, Manifest]]:
    """Every ranged entry of ``entity`` under ``root`` whose rows have ``fingerprint``'s schema.

    Parameters
    ----------
    root
        The cache root (a folder or an ``s3://`` prefix).
    entity
        The entity's folder name (``detections``, ``recordings``, ...).
    fingerprint
        :func:`~rfcx_frames.cache.assemble.schema_fingerprint` of the schema the reader expects.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> entries_of(Path(tempfile.mkdtemp()), "detections", "abc")
    []
    """
    out = []
    for child in children(root / LAYOUT / entity):
        if not child.is_dir():
            continue
        entry = Entry(root, entity, child.name)
        manifest = entry.load(shared=True)
        # Entries of another schema version are rewritten by the next query, never read.
        if manifest is not None and manifest.schema == fingerprint:
            out.append((entry, manifest))
    return out


def platform_of(manifest: Manifest) -> str:
    """The base URL (or emulator identity) an entry's rows came from.

    Parameters
    ----------
    manifest
        A loaded entry manifest.

    Examples
    --------
    >>> platform_of(entry.load())  # doctest: +SKIP
    'https://api.rfcx.org'
    """
    return str(manifest.signature.get("base_url", ""))


def pick_platform(found: set[str], platform: str | None, root: CacheRoot) -> str | None:
    """The one platform to read: ``platform`` if given, else the only one ``found``.

    Parameters
    ----------
    found
        The platforms the entries come from.
    platform
        The caller's choice (a base URL or an identity), or ``None``.
    root
        The cache root, whose remembered identities resolve a base URL.

    Raises
    ------
    ValueError
        When several platforms are found and none was chosen.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> pick_platform({"https://api.rfcx.org"}, None, Path(tempfile.mkdtemp()))
    'https://api.rfcx.org'
    """
    if platform is not None:
        base = normalize_url(platform) if "://" in platform else platform
        return remembered(root).get(base, base)
    if len(found) > 1:
        raise ValueError(
            f"the cache holds rows of {len(found)} platforms; pass platform= one of "
            f"{sorted(found)} (client.platform() names a client's)")
    return next(iter(found), None)


def _fetch_times(starts: pa.ChunkedArray, stamps: Sequence[Stamped]) -> np.ndarray:
    """Per row, when the window holding its start was fetched (ns; 0 when unknown)."""
    values = starts.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy(
        zero_copy_only=False)
    if not stamps:
        return np.zeros(len(values), dtype=np.int64)
    lows = np.array([s for s, _, _ in stamps], dtype=np.int64)
    highs = np.array([e for _, e, _ in stamps], dtype=np.int64)
    times = np.array([t for _, _, t in stamps], dtype=np.int64)
    at = np.clip(np.searchsorted(lows, values, side="right") - 1, 0, None)
    inside = (values >= lows[at]) & (values < highs[at])
    return np.where(inside, times[at], 0)


def dataset(entity: str, root: RootArg = None, *,
            platform: str | None = None) -> pa.Table:
    """Every cached row of ``entity``, each once, with the entity's declared types.

    Parameters
    ----------
    entity
        ``"detections"``, ``"annotations"``, ``"segments"`` (time-ranged), or
        ``"projects"``, ``"streams"``, ``"classifications"`` (listings: one row per key,
        the latest fetch, expired or not).
    root
        The cache folder or ``s3://`` prefix; default
        :func:`~rfcx_frames.config.cache_root`.
    platform
        Whose rows: a platform identity (``client.platform()``) or an API URL that a
        client has used. Needed only when the cache holds rows of several platforms.

    Returns
    -------
    pyarrow.Table
        The columns of :func:`rfcx_frames.schemas.arrow_schema` (``stream_id``
        included), one row per ``id``, the copy fetched last when several entries hold
        it, in the entity's order. Filter it with pyarrow, or hand it to DuckDB or
        polars (``duckdb.sql("SELECT ... FROM table")``, ``polars.from_arrow(table)``).

    Raises
    ------
    ValueError
        For another entity, or when the cache holds several platforms and ``platform``
        is not given.

    Examples
    --------
    >>> import tempfile
    >>> dataset("detections", tempfile.mkdtemp()).column_names[:3]
    ['id', 'stream_id', 'classifier_id']
    """
    if entity not in RANGED + LISTINGS:
        raise ValueError(f"entity must be one of {list(RANGED + LISTINGS)}; got {entity!r}")
    described = ENTITIES[entity]
    folder = cache_root(root)
    with store_errors(folder):
        if entity in LISTINGS:
            found = listing_platforms(described, folder)
            return listing_rows(described, folder, pick_platform(found, platform, folder))
        return _ranged(entity, folder, platform)


def _ranged(entity: str, folder: CacheRoot, platform: str | None) -> pa.Table:
    described = ENTITIES[entity]
    schema = arrow_schema(described)
    entries = entries_of(folder, entity, schema_fingerprint(schema))
    chosen = pick_platform({platform_of(m) for _, m in entries}, platform, folder)
    stored = file_schema(schema)
    tables = [table for entry, manifest in entries if platform_of(manifest) == chosen
              for table in _entry_tables(entry, manifest, stored)]
    if not tables:
        return schema.empty_table()
    merged = latest_copies(pa.concat_tables(tables), "id", _FETCHED).select(schema.names)
    return sort_table(merged, list(described.order_by)).cast(schema)


def _entry_tables(entry: Entry, manifest: Manifest, stored: pa.Schema) -> list[pa.Table]:
    """The rows of one entry, per file, with their ``stream_id`` and fetch time."""
    tables: list[pa.Table] = []
    for stream_id, state in sorted(manifest.streams.items()):
        if not state.files:
            continue
        paths = [entry.path(p.path) for p in state.files]
        try:
            parts = read_parts(paths, stored, rows=[p.rows for p in state.files])
        except UnreadableFilesError:
            continue  # the next query of these windows drops the files and refetches
        stamps = clip(state.fetched, state.complete)
        for part in parts:
            part = part.append_column(
                _FETCHED, pa.array(_fetch_times(part["start"], stamps), pa.int64()))
            tables.append(part.append_column(
                "stream_id", pa.array([stream_id] * part.num_rows, pa.string())))
    return tables
