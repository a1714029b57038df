"""The whole-result cache: small listings (projects, streams, classifications) with an expiry.

Each distinct request (entity, canonical parameters, API base URL, user identity and
schema) is one Parquet file plus a JSON sidecar::

    <root>/v2/whole/<entity>/<key>.json
    <root>/v2/whole/<entity>/<key>-<uuid>.parquet

The sidecar names the data file, so it is written after it; the previous data file
is deleted last. On an object store (no lock) the sidecar is replaced only if it is
still the version read: of two writers of one request, the one that loses deletes its
own file and its rows give way to the other's, fetched as recently.

Examples
--------
>>> import tempfile
>>> WholeResultCache(tempfile.mkdtemp()).ttl
Timedelta('0 days 01:00:00')
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from rfcx_frames.cache.assemble import schema_fingerprint
from rfcx_frames.cache.disk import (
    LAYOUT,
    lock,
    locking,
    open_root,
    read_versioned,
    remove_quietly,
    storage_errors,
    write_if,
)
from rfcx_frames.cache.modes import CacheArg, resolve_mode
from rfcx_frames.cache.parquet import UnreadableFilesError, read_parts, write_parquet_atomic
from rfcx_frames.cache.signature import FilterSignature, canonical_json, stable_hash
from rfcx_frames.config import DEFAULT_CACHE_TTL as DEFAULT_TTL
from rfcx_frames.config import CacheRoot, RootArg
from rfcx_frames.convert import frame_from_table, table_from_frame
from rfcx_frames.exceptions import NotCachedError
from rfcx_frames.files import TMP_PREFIX
from rfcx_frames.objectstore import ConflictError
from rfcx_frames.timeutil import utc_now

WHOLE = "whole"
SIDECAR_KEYS: frozenset[str] = frozenset(
    {"format", "entity", "params", "base_url", "user", "schema", "file", "rows", "created",
     "expires"}
)


class WholeResultCache:
    """Cache of whole results keyed by request, each valid for ``ttl``.

    Parameters
    ----------
    root
        The cache folder; default :func:`~rfcx_frames.config.cache_path`.
    ttl
        How long an entry answers ``"use"`` queries (offline ignores expiry).

    Examples
    --------
    >>> import tempfile
    >>> cache = WholeResultCache(tempfile.mkdtemp())
    >>> schema = pa.schema([("id", pa.string())])
    >>> fetch = lambda: pd.DataFrame({"id": ["p1"]})
    >>> cache.get("projects", {}, "http://x", "u", fetch, schema)["id"].tolist()
    ['p1']
    """

    def __init__(
        self, root: RootArg = None, *, ttl: pd.Timedelta = DEFAULT_TTL
    ) -> None:
        self.root = open_root(root)
        self.ttl = ttl

    def key(
        self, entity: str, params: Mapping[str, Any], base_url: str, user: str, schema: pa.Schema
    ) -> str:
        """The stable key of one request.

        Examples
        --------
        >>> import tempfile
        >>> c = WholeResultCache(tempfile.mkdtemp())
        >>> s = pa.schema([("a", pa.int64())])
        >>> c.key("streams", {"b": 1, "a": [2]}, "http://x", "u", s) == c.key(
        ...     "streams", {"a": (2,), "b": 1}, "http://x/", "u", s)
        True
        """
        # Validating through FilterSignature refuses token-shaped identities.
        checked = FilterSignature(entity, base_url, user)
        return stable_hash(
            {
                "entity": entity,
                "params": dict(params),
                "base_url": checked.base_url,
                "user": checked.user,
                "schema": schema_fingerprint(schema),
            }
        )

    def get(
        self,
        entity: str,
        params: Mapping[str, Any],
        base_url: str,
        user: str,
        fetch: Callable[[], pd.DataFrame | pa.Table],
        schema: pa.Schema,
        mode: CacheArg = "use",
        ttl: pd.Timedelta | None = None,
        now: pd.Timestamp | None = None,
        dtypes: Mapping[str, Any] | None = None,
        max_age: pd.Timedelta | None = None,
    ) -> pd.DataFrame:
        """The result of one request, from the cache when fresh, else from ``fetch()``.

        Rows come back in the order ``fetch`` returned them. ``attrs["cache"]`` holds
        ``fetched_at`` (when the rows were fetched) and ``from_cache`` (nothing fetched).
        :meth:`table` answers the same without the conversion to pandas.

        Parameters
        ----------
        entity, params, base_url, user
            What identifies the request (``user`` is a non-secret identity).
        fetch
            Returns the whole result as a DataFrame or Arrow table with ``schema``'s
            columns.
        schema
            The Arrow schema of the result.
        mode
            ``"use"``, ``"refresh"``, ``"offline"`` (expired entries are still used;
            :class:`NotCachedError` when absent) or ``"off"``/``False``.
        ttl
            Overrides the cache's ``ttl`` for entries written by this call.
        now
            The current time (for tests).
        dtypes
            pandas dtype per column (see
            :func:`~rfcx_frames.convert.frame_from_table`).
        max_age
            When given, a cached result fetched longer ago than this is fetched again,
            instead of one past its expiry (offline ignores both).

        Examples
        --------
        >>> import tempfile
        >>> c = WholeResultCache(tempfile.mkdtemp())
        >>> s = pa.schema([("a", pa.int64())])
        >>> c.get("projects", {}, "http://x", "u", lambda: pd.DataFrame({"a": [1]}), s,
        ...       mode="offline")
        Traceback (most recent call last):
        ...
        rfcx_frames.exceptions.NotCachedError: cache='offline' but projects {} is not cached
        """
        table, fetched_at, from_cache = self.table(entity, params, base_url, user, fetch,
                                                   schema, mode, ttl, now, max_age)
        return _provenance(frame_from_table(table, schema, dtypes), fetched_at, from_cache)

    def table(
        self,
        entity: str,
        params: Mapping[str, Any],
        base_url: str,
        user: str,
        fetch: Callable[[], pd.DataFrame | pa.Table],
        schema: pa.Schema,
        mode: CacheArg = "use",
        ttl: pd.Timedelta | None = None,
        now: pd.Timestamp | None = None,
        max_age: pd.Timedelta | None = None,
    ) -> tuple[pa.Table, pd.Timestamp, bool]:
        """As :meth:`get`, as an Arrow table with when it was fetched and whether from the cache.

        Examples
        --------
        >>> import tempfile
        >>> c = WholeResultCache(tempfile.mkdtemp())
        >>> s = pa.schema([("a", pa.int64())])
        >>> t, _, from_cache = c.table("projects", {}, "http://x", "u",
        ...                            lambda: pa.table({"a": [1]}), s)
        >>> t.num_rows, from_cache
        (1, False)
        """
        resolved = resolve_mode(mode, "use")
        moment = now if now is not None else utc_now()
        if resolved == "off":
            return table_from_frame(fetch(), schema), moment, False
        key = self.key(entity, params, base_url, user, schema)
        folder = self.root / LAYOUT / WHOLE / entity
        sidecar = folder / f"{key}.json"
        if resolved != "refresh":
            with storage_errors(self.root, "read from"):
                meta = _read_sidecar(sidecar)
            if isinstance(meta, dict) and "file" in meta:
                created = pd.Timestamp(meta["created"])
                if max_age is not None:
                    fresh = created > moment - max_age
                else:
                    fresh = pd.Timestamp(meta["expires"]) > moment
                if fresh or resolved == "offline":
                    rows = meta.get("rows")
                    try:
                        # A count other than the sidecar's means damage checksums missed;
                        # a failed open (EMFILE, EIO) raises CacheError, keeping the file.
                        with storage_errors(self.root, "read from"):
                            (table,) = read_parts([folder / str(meta["file"])], schema,
                                                  rows=None if rows is None else [int(rows)])
                        return table, created, True
                    except UnreadableFilesError:
                        pass  # damaged: fall through to a fetch (or NotCachedError)
        if resolved == "offline":
            raise NotCachedError(
                f"cache='offline' but {entity} {dict(params)} is not cached", missing=[]
            )
        table = table_from_frame(fetch(), schema)
        with storage_errors(self.root):
            self._store(folder, key, entity, params, base_url, user, schema, table, moment, ttl)
        return table, moment, False

    def _store(
        self,
        folder: CacheRoot,
        key: str,
        entity: str,
        params: Mapping[str, Any],
        base_url: str,
        user: str,
        schema: pa.Schema,
        table: pa.Table,
        moment: pd.Timestamp,
        ttl: pd.Timedelta | None,
    ) -> None:
        directory = folder
        sidecar = directory / f"{key}.json"
        with lock(self.root, WHOLE, entity, key):
            raw, version = read_versioned(sidecar)
            previous = _parse(raw)
            name = f"{key}-{uuid.uuid4().hex}.parquet"
            try:
                write_parquet_atomic(directory / name, table)
                self._write_sidecar(sidecar, entity, params, base_url, user, schema, name,
                                    table, moment, ttl, version)
            except ConflictError:
                # Another writer stored the same request meanwhile: its rows stand.
                remove_quietly([directory / name])
                return
            except BaseException:
                # Named by no sidecar, the new file would only take space.
                remove_quietly([directory / name])
                raise
            if isinstance(previous, dict) and previous.get("file") not in (None, name):
                with contextlib.suppress(OSError):
                    (directory / str(previous["file"])).unlink()
            if locking(self.root):
                # Data files and temporaries of crashed writers of this key (we hold its lock).
                strays = [p for p in directory.glob(f"{key}-*.parquet") if p.name != name]
                remove_quietly(strays + list(directory.glob(f"{TMP_PREFIX}*-{key}*")))

    def _write_sidecar(
        self,
        sidecar: CacheRoot,
        entity: str,
        params: Mapping[str, Any],
        base_url: str,
        user: str,
        schema: pa.Schema,
        name: str,
        table: pa.Table,
        moment: pd.Timestamp,
        ttl: pd.Timedelta | None,
        version: str | None,
    ) -> None:
        meta = {
            "format": 1,
            "entity": entity,
            "params": _plain(params),
            "base_url": base_url.rstrip("/"),
            "user": user,
            "schema": schema_fingerprint(schema),
            "file": name,
            "rows": table.num_rows,
            "created": moment.isoformat(),
            "expires": (moment + (ttl if ttl is not None else self.ttl)).isoformat(),
        }
        write_if(sidecar, meta, version)


def _read_sidecar(path: CacheRoot) -> Any:
    """The sidecar's JSON; ``None`` when absent or damaged; a failed open raises."""
    return _parse(read_versioned(path)[0])


def _parse(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _provenance(frame: pd.DataFrame, fetched_at: pd.Timestamp, from_cache: bool) -> pd.DataFrame:
    frame.attrs["cache"] = {"fetched_at": fetched_at, "from_cache": from_cache}
    return frame


def _plain(params: Mapping[str, Any]) -> Any:
    return json.loads(canonical_json(dict(params)))
