"""One (entity, signature) entry of the time-ranged cache: its folder, manifest and writes.

Layout of an entry (see ``docs/cache.md``)::

    <root>/v2/<entity>/<signature key>/
        _signature.json                the signature in clear
        _manifest.json                 complete windows and files, per stream
        stream_id=<id>/date=YYYY-MM-DD/part-<uuid>.parquet

Files hold the rows in :func:`~rfcx_frames.cache.assemble.file_schema` form: no stream
column (the folder names it, as hive readers expect) and plain value types.

All writes happen under the entry's file lock (the part files themselves through
:mod:`rfcx_frames.cache.partitions`), and the manifest is replaced only after
the data files it names are in place; files it no longer names are deleted afterwards.
So a crash at any moment leaves the old manifest (plus unreferenced files that the next
writer collects) or the new one.

On an object store there is no lock: a write builds on the manifest version it read,
writes its part files under fresh names, and replaces the manifest only if it is still
that version (a conditional PUT). A writer that loses deletes the files it wrote and
starts over from the newer manifest, so every commit includes every earlier one.

Examples
--------
>>> import tempfile, pathlib
>>> Entry(pathlib.Path(tempfile.mkdtemp()), "detections", "k").load() is None
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from filelock import FileLock

from rfcx_frames.cache.assemble import file_schema
from rfcx_frames.cache.commit import committed
from rfcx_frames.cache.disk import (
    LAYOUT,
    NoLock,
    lock,
    locking,
    read_versioned,
    remove_tree,
    write_if,
    write_json,
)
from rfcx_frames.cache.disk import (
    relative as relative_path,
)
from rfcx_frames.cache.intervals import Interval, fetched_since, intersect, subtract
from rfcx_frames.cache.manifest import (
    MANIFEST,
    SIGNATURE_FILE,
    Manifest,
    StreamState,
    load_manifest,
    parse_manifest,
)
from rfcx_frames.cache.parquet import parquet_is_readable
from rfcx_frames.cache.partitions import Batch, Job, compact, cut, jobs_for, write_jobs
from rfcx_frames.config import CacheRoot
from rfcx_frames.convert import sort_table
from rfcx_frames.files import TMP_PREFIX
from rfcx_frames.timeutil import to_ns, utc_now

MAX_PARTS = 8


@dataclass
class Piece:
    """Rows fetched for one stream, and the windows they completely answer."""

    stream_id: str
    windows: list[Interval]
    table: pa.Table


class Entry:
    """One (entity, signature key) folder of the time-ranged cache.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> Entry(pathlib.Path("/c"), "detections", "k").folder.as_posix()
    '/c/v2/detections/k'
    """

    def __init__(self, root: CacheRoot, entity: str, key: str, stream_column: str = "stream_id") -> None:
        self.root = root
        self.entity = entity
        self.key = key
        self.stream_column = stream_column
        self.folder = root / LAYOUT / entity / key

    def lock(self) -> FileLock | NoLock:
        """The inter-process lock guarding this entry's writes (none on an object store).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> with Entry(pathlib.Path(tempfile.mkdtemp()), "d", "k").lock():
        ...     pass
        """
        return lock(self.root, self.entity, self.key)

    def load(self, *, shared: bool = False) -> Manifest | None:
        """The current manifest, or ``None`` when the entry is empty or unreadable.

        ``shared=True`` may return the in-memory copy of an unchanged manifest, which
        readers must not modify (see :func:`~rfcx_frames.cache.manifest.load_manifest`).

        Parameters
        ----------
        shared
            Reuse the in-memory copy of an unchanged manifest.

        Examples
        --------
        >>> import pathlib
        >>> Entry(pathlib.Path("/nonexistent"), "d", "k").load() is None
        True
        """
        manifest = load_manifest(self.folder / MANIFEST, shared=shared)
        if manifest is not None and manifest.key != self.key:
            return None
        return manifest

    def path(self, relative: str) -> CacheRoot:
        """The absolute path of a file named relative to the entry folder.

        Parameters
        ----------
        relative
            A path as the manifest names files.

        Examples
        --------
        >>> import pathlib
        >>> Entry(pathlib.Path("/c"), "d", "k").path("x").as_posix()
        '/c/v2/d/k/x'
        """
        return self.folder / relative

    def store(
        self,
        pieces: Sequence[Piece],
        *,
        signature: dict[str, object],
        schema: pa.Schema,
        fingerprint: str,
        keys: Sequence[str],
        time_column: str,
        replace: bool = False,
        max_parts: int = MAX_PARTS,
        now: pd.Timestamp | None = None,
        stale_before: int | None = None,
    ) -> None:
        """Add fetched rows to the entry and mark their windows complete, fetched ``now``.

        Windows another process completed meanwhile are skipped (their rows are already
        stored), unless they were fetched before ``stale_before`` (ns): those, like every
        window with ``replace``, have their stored rows replaced.

        Parameters
        ----------
        pieces
            The fetched rows, per stream, with the windows they answer completely.
        signature
            The filter signature in clear (written once, as ``_signature.json``).
        schema
            The rows' Arrow schema.
        fingerprint
            The schema's fingerprint: rows of another one are dropped first.
        keys
            The order the pieces' rows are in; also the sort order of a new entry's files
            (an existing entry's files keep their own, and pieces are re-sorted to it).
        time_column
            The column placing a row in a window.
        replace
            Replace the stored rows of every window of ``pieces``.
        max_parts
            A partition with more files than this is merged into one.
        now
            The fetch time recorded (default: the system clock).
        stale_before
            Stored windows fetched before this instant (ns) are replaced.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> schema = pa.schema([("stream_id", pa.string()),
        ...                     ("start", pa.timestamp("ms", tz="UTC"))])
        >>> e = Entry(pathlib.Path(tempfile.mkdtemp()), "d", "k")
        >>> e.store([Piece("s", [(0, 10**9)], schema.empty_table())], signature={},
        ...         schema=schema, fingerprint="f", keys=["start"], time_column="start")
        >>> e.load().streams["s"].complete
        [(0, 1000000000)]
        """
        def once(batches: list[Batch]) -> None:
            moment = now if now is not None else utc_now()
            batch = Batch(self.folder, self.stream_column, schema, time_column, moment.isoformat())
            batches.append(batch)
            manifest, version = self._current(signature, fingerprint, keys, batch)
            order = manifest.order or list(keys)
            jobs: list[Job] = []
            for piece in pieces:
                state = manifest.streams.setdefault(piece.stream_id, StreamState())
                expired = _expired(state, piece.windows, replace, stale_before)
                if expired:
                    cut(batch, piece.stream_id, state, expired)
                table = piece.table if list(order) == list(keys) else sort_table(piece.table, order)
                jobs += jobs_for(batch, state, piece.stream_id, piece.windows, table,
                                 to_ns(moment))
            write_jobs(batch, jobs)
            for stream_id, folder in sorted(batch.touched):
                compact(batch, manifest.streams[stream_id], folder, order, max_parts)
            self._commit(manifest, signature, batch, version)

        committed(self, once)

    def forget(self, windows: Mapping[str, list[Interval]], *, schema: pa.Schema,
               time_column: str, now: pd.Timestamp | None = None) -> bool:
        """Forget windows of streams: their rows go and they are no longer complete.

        Files that also hold other windows are rewritten without these rows, so the next
        query fetches exactly the forgotten windows again.

        Parameters
        ----------
        windows
            Stream id -> windows (ns) to forget.
        schema
            The rows' Arrow schema (with the stream column).
        time_column
            The column placing a row in a window.
        now
            The time recorded as the manifest's update (default: the system clock).

        Returns
        -------
        bool
            Whether the entry held any of these windows.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> Entry(pathlib.Path(tempfile.mkdtemp()), "d", "k").forget(
        ...     {"s": [(0, 1)]}, schema=pa.schema([]), time_column="start")
        False
        """
        def once(batches: list[Batch]) -> bool:
            manifest, version = self._load_versioned()
            held = {} if manifest is None else {
                sid: intersect(manifest.streams[sid].complete, spans)
                for sid, spans in windows.items() if sid in manifest.streams}
            held = {sid: spans for sid, spans in held.items() if spans}
            if manifest is None or not held:
                return False
            moment = now if now is not None else utc_now()
            batch = Batch(self.folder, self.stream_column, schema, time_column, moment.isoformat())
            batches.append(batch)
            for sid, spans in held.items():
                cut(batch, sid, manifest.streams[sid], spans)
            self._commit(manifest, manifest.signature, batch, version)
            return True

        return committed(self, once)

    def drop_unreadable(self, candidates: Iterable[str], schema: pa.Schema) -> list[str]:
        """Remove the named files that cannot be read; their windows become missing.

        Returns the relative paths dropped. Files that read fine are kept.

        Parameters
        ----------
        candidates
            Relative paths of files a read failed on.
        schema
            The entry's Arrow schema (with its stream column).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> Entry(pathlib.Path(tempfile.mkdtemp()), "d", "k").drop_unreadable(["x"], pa.schema([]))
        []
        """
        wanted = set(candidates)
        stored = file_schema(schema, self.stream_column)

        def once(batches: list[Batch]) -> list[str]:
            dropped: list[str] = []
            manifest, version = self._load_versioned()
            if manifest is None:
                return dropped
            for state in manifest.streams.values():
                for part in list(state.files):
                    if part.path in wanted and not parquet_is_readable(
                        self.path(part.path), stored, part.rows):
                        state.files.remove(part)
                        state.complete = subtract(state.complete, part.coverage)
                        dropped.append(part.path)
            if dropped:
                manifest.updated = utc_now().isoformat()
                write_if(self.folder / MANIFEST, manifest.to_json(), version)
                self._unlink(dropped)
            return dropped

        return committed(self, once)

    # -- helpers, all called with the lock held (or before a conditional commit) -----

    def _load_versioned(self) -> tuple[Manifest | None, str | None]:
        """The manifest a write builds on, and its version for the commit."""
        raw, version = read_versioned(self.folder / MANIFEST)
        manifest = None if raw is None else parse_manifest(raw)
        return (manifest if manifest is not None and manifest.key == self.key else None), version

    def _current(self, signature: dict[str, object], fingerprint: str, keys: Sequence[str],
                 batch: Batch) -> tuple[Manifest, str | None]:
        """The manifest to add to, and its version: the stored one, or a new one when there
        is none or it holds rows of another schema version (which are forgotten, then
        deleted)."""
        manifest, version = self._load_versioned()
        if manifest is not None and manifest.schema == fingerprint:
            return manifest, version
        fresh = Manifest(self.entity, self.key, dict(signature), fingerprint, batch.stamp,
                         batch.stamp, order=list(keys))
        if manifest is not None and locking(self.root):
            write_json(self.folder / MANIFEST, fresh.to_json())
            self._remove_data_tree()
        elif manifest is not None:
            # Without a lock only the files the old manifest named are surely not another
            # writer's; they go once the new manifest is committed.
            batch.obsolete += [p.path for st in manifest.streams.values() for p in st.files]
        return fresh, version

    def _commit(self, manifest: Manifest, signature: dict[str, object], batch: Batch,
                version: str | None) -> None:
        """Replace the manifest (if still at ``version``), then delete the files it no
        longer names."""
        manifest.updated = batch.stamp
        if not (self.folder / SIGNATURE_FILE).exists():
            write_json(self.folder / SIGNATURE_FILE, dict(signature))
        write_if(self.folder / MANIFEST, manifest.to_json(), version)
        batch.written.clear()  # named by the manifest now: no longer this write's to undo
        self._unlink(batch.obsolete)
        if locking(self.root):
            self._collect_garbage(manifest, {folder for _, folder in batch.touched})

    def _unlink(self, relatives: Iterable[str]) -> None:
        for relative in relatives:
            with contextlib.suppress(FileNotFoundError):
                self.path(relative).unlink()

    def _collect_garbage(self, manifest: Manifest, folders: set[str]) -> None:
        """Delete files in ``folders`` that the manifest does not name (crash leftovers)."""
        named = {p.path for s in manifest.streams.values() for p in s.files}
        for folder in folders:
            directory = self.path(folder)
            if not directory.is_dir():
                continue
            for child in directory.iterdir():
                relative = f"{folder}/{child.name}"
                if _is_written_here(child.name) and relative not in named and child.is_file():
                    with contextlib.suppress(FileNotFoundError):
                        child.unlink()

    def orphans(self) -> list[CacheRoot]:
        """Data and temporary files of the entry that its manifest does not name.

        Only dead once the caller holds :meth:`lock` (writers hold it while writing).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> Entry(pathlib.Path(tempfile.mkdtemp()), "d", "k").orphans()
        []
        """
        manifest = self.load()
        named = {p.path for s in manifest.streams.values() for p in s.files} if manifest else set()
        if not self.folder.is_dir():
            return []
        found: list[CacheRoot] = []
        for child in self.folder.rglob("*"):
            if not child.is_file():
                continue
            relative = relative_path(child, self.folder)
            is_data = "/" in relative and _is_written_here(child.name)
            stray_tmp = "/" not in relative and child.name.startswith(TMP_PREFIX)
            if (is_data and relative not in named) or stray_tmp:
                found.append(child)
        return sorted(found)

    def _remove_data_tree(self) -> None:
        for child in self.folder.glob(f"{self.stream_column}=*"):
            remove_tree(child)


def _expired(state: StreamState, windows: list[Interval], replace: bool,
             stale_before: int | None) -> list[Interval]:
    """The stored parts of ``windows`` whose rows a store replaces: all with ``replace``,
    else those fetched before ``stale_before`` (fresher ones are kept)."""
    if replace:
        return windows
    if stale_before is None:
        return []
    return intersect(windows, subtract(state.complete, fetched_since(state.fetched, stale_before)))


def _is_written_here(name: str) -> bool:
    """Whether a partition file of this name is one an entry writes (a part or a temporary)."""
    return name.startswith("part-") or name.startswith(TMP_PREFIX)
