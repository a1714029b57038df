"""One (entity, signature) entry of the time-ranged cache: its folder, manifest and writes.

Layout of an entry (see ``docs/cache.md``)::

    <root>/v2/<entity>/<signature key>/
        _signature.json                the signature in clear
        _manifest.json                 complete windows and files, per stream
        stream_id=<id>/date=YYYY-MM-DD/part-<uuid>.parquet

Files hold the rows in :func:`~rfcx_frames.cache.frames.file_schema` form: no stream
column (the folder names it, as hive readers expect) and plain value types.

All writes happen under the entry's file lock, and the manifest is replaced only after
the data files it names are in place; files it no longer names are deleted afterwards.
So a crash at any moment leaves the old manifest (plus unreferenced files that the next
writer collects) or the new one.

Examples
--------
>>> partition_path("abc", 0)
'stream_id=abc/date=1970-01-01'
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
from filelock import FileLock

from rfcx_frames.cache.disk import LAYOUT, lock, remove_quietly, storage_errors
from rfcx_frames.cache.frames import file_schema, sort_table, to_file_table
from rfcx_frames.cache.intervals import (
    Interval,
    fetched_since,
    intersect,
    split_by_day,
    subtract,
    time_mask,
    union,
)
from rfcx_frames.cache.intervals import stamp as stamp_windows
from rfcx_frames.cache.manifest import (
    MANIFEST,
    SIGNATURE_FILE,
    Manifest,
    PartFile,
    StreamState,
    load_manifest,
)
from rfcx_frames.cache.parquet import (
    UnreadableFilesError,
    new_part_name,
    parquet_is_readable,
    read_parts,
    write_parquet_atomic,
)
from rfcx_frames.files import TMP_PREFIX, write_json
from rfcx_frames.timeutil import day_label, to_ns, utc_now

MAX_PARTS = 8
WRITE_THREADS = 8

# Entry folders this process has already swept of crash leftovers.
_SWEPT: set[str] = set()


def partition_path(stream_id: str, day_start_ns: int, stream_column: str = "stream_id") -> str:
    """The hive partition folder of a stream-day, relative to the entry folder.

    The key is the stream column's name, so hive readers give the rows back their
    stream column; stream ids are percent-encoded, which pyarrow decodes.

    Examples
    --------
    >>> partition_path("a/b", 86_400 * 10**9)
    'stream_id=a%2Fb/date=1970-01-02'
    """
    return f"{stream_column}={quote(stream_id, safe='')}/date={day_label(day_start_ns)}"


@dataclass
class Piece:
    """Rows fetched for one stream, and the windows they completely answer."""

    stream_id: str
    windows: list[Interval]
    table: pa.Table


@dataclass
class _Write:
    """One :meth:`Entry.store` call: its settings, and the files it made obsolete or touched."""

    schema: pa.Schema
    time_column: str
    stamp: str
    obsolete: list[str] = field(default_factory=list)
    touched: set[tuple[str, str]] = field(default_factory=set)


# One file to write: the stream's state, stream id, day start, windows, and rows.
_Job = tuple[StreamState, str, int, list[Interval], pa.Table]


class Entry:
    """One (entity, signature key) folder of the time-ranged cache.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> Entry(pathlib.Path("/c"), "detections", "k").folder.as_posix()
    '/c/v2/detections/k'
    """

    def __init__(self, root: Path, entity: str, key: str, stream_column: str = "stream_id") -> None:
        self.root = root
        self.entity = entity
        self.key = key
        self.stream_column = stream_column
        self.folder = root / LAYOUT / entity / key

    def lock(self) -> FileLock:
        """The inter-process lock guarding this entry's writes.

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

    def path(self, relative: str) -> Path:
        """The absolute path of a file named relative to the entry folder.

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
        with storage_errors(self.root), self.lock(), self._no_orphans_left():
            moment = now if now is not None else utc_now()
            write = _Write(schema, time_column, moment.isoformat())
            manifest = self._current(signature, fingerprint, keys, write.stamp)
            order = manifest.order or list(keys)
            jobs: list[_Job] = []
            for piece in pieces:
                state = manifest.streams.setdefault(piece.stream_id, StreamState())
                expired = _expired(state, piece.windows, replace, stale_before)
                if expired:
                    self._cut(piece.stream_id, state, expired, write)
                jobs += self._add(state, piece, order, write, to_ns(moment))
            for (state, stream_id, _, _, _), part in zip(jobs, self._write_all(jobs, write.stamp),
                                                         strict=True):
                state.files.append(part)
                write.touched.add((stream_id, _folder_of(part.path)))
            for stream_id, folder in sorted(write.touched):
                self._compact(manifest.streams[stream_id], folder, order, write, max_parts)
            self._commit(manifest, signature, write)

    def drop_unreadable(self, candidates: Iterable[str], schema: pa.Schema) -> list[str]:
        """Remove the named files that cannot be read; their windows become missing.

        Returns the relative paths dropped. Files that read fine are kept.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> Entry(pathlib.Path(tempfile.mkdtemp()), "d", "k").drop_unreadable(["x"], pa.schema([]))
        []
        """
        wanted = set(candidates)
        stored = file_schema(schema, self.stream_column)
        dropped: list[str] = []
        with self.lock():
            manifest = self.load()
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
                write_json(self.folder / MANIFEST, manifest.to_json())
                self._unlink(dropped)
        return dropped

    # -- helpers, all called with the lock held -------------------------------------

    def _current(self, signature: dict[str, object], fingerprint: str, keys: Sequence[str],
                 stamp: str) -> Manifest:
        """The manifest to add to: the stored one, or a new one when there is none or it
        holds rows of another schema version (which are forgotten, then deleted)."""
        manifest = self.load()
        if manifest is not None and manifest.schema == fingerprint:
            return manifest
        fresh = Manifest(self.entity, self.key, dict(signature), fingerprint, stamp, stamp,
                         order=list(keys))
        if manifest is not None:
            write_json(self.folder / MANIFEST, fresh.to_json())
            self._remove_data_tree()
        return fresh

    def _add(self, state: StreamState, piece: Piece, order: Sequence[str], write: _Write,
             when: int) -> list[_Job]:
        """Mark the windows of ``piece`` the stream lacks complete, fetched ``when``; the
        files to write for them, one per day."""
        new = subtract(piece.windows, state.complete)
        if not new:
            return []
        state.fetched = stamp_windows(state.fetched, new, when)
        # Files follow the entry's order, whatever order this query asked for.
        table = sort_table(piece.table, order) if piece.table.num_rows else piece.table
        jobs: list[_Job] = []
        for day, parts in split_by_day(new):
            rows = table.filter(time_mask(table[write.time_column], parts))
            if rows.num_rows:
                jobs.append((state, piece.stream_id, day, parts,
                             to_file_table(rows, write.schema, self.stream_column)))
        state.complete = union(state.complete, new)
        return jobs

    def _commit(self, manifest: Manifest, signature: dict[str, object], write: _Write) -> None:
        """Replace the manifest, then delete the files it no longer names."""
        manifest.updated = write.stamp
        if not (self.folder / SIGNATURE_FILE).exists():
            write_json(self.folder / SIGNATURE_FILE, dict(signature))
        write_json(self.folder / MANIFEST, manifest.to_json())
        self._unlink(write.obsolete)
        self._collect_garbage(manifest, {folder for _, folder in write.touched})

    def _unlink(self, relatives: Iterable[str]) -> None:
        for relative in relatives:
            with contextlib.suppress(FileNotFoundError):
                self.path(relative).unlink()

    def _new_part(self, folder: str, coverage: list[Interval], rows: pa.Table, day: str,
                  now: str) -> PartFile:
        """Write ``rows`` as a new file in the partition ``folder``."""
        relative = f"{folder}/{new_part_name()}"
        size = write_parquet_atomic(self.path(relative), rows)
        return PartFile(relative, day, list(coverage), rows.num_rows, size, now)

    def _write_all(self, jobs: Sequence[_Job], now: str) -> list[PartFile]:
        """Write one file per job, in parallel: encoding and fsync release the GIL, and
        a month of a project is hundreds of stream-day files."""
        def one(job: _Job) -> PartFile:
            _, stream_id, day, coverage, rows = job
            folder = partition_path(stream_id, day, self.stream_column)
            return self._new_part(folder, coverage, rows, day_label(day), now)

        if len(jobs) < 2:
            return [one(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, len(jobs))) as pool:
            return list(pool.map(one, jobs))

    def _cut(self, stream_id: str, state: StreamState, windows: list[Interval],
             write: _Write) -> None:
        """Forget ``windows`` of a stream, rewriting files that also hold other windows."""
        stored = file_schema(write.schema, self.stream_column)
        for part in list(state.files):
            if not intersect(part.coverage, windows):
                continue
            state.files.remove(part)
            write.obsolete.append(part.path)
            keep = subtract(part.coverage, windows)
            if not keep:
                continue
            try:
                (table,) = read_parts([self.path(part.path)], stored)
            except UnreadableFilesError:
                state.complete = subtract(state.complete, keep)
                continue
            rows = table.filter(time_mask(table[write.time_column], keep))
            if rows.num_rows:
                folder = _folder_of(part.path)
                write.touched.add((stream_id, folder))
                state.files.append(self._new_part(folder, keep, rows, part.date, write.stamp))
        state.complete = subtract(state.complete, windows)

    def _compact(self, state: StreamState, folder: str, order: Sequence[str], write: _Write,
                 max_parts: int) -> None:
        """Merge a partition's parts into one file once it holds more than ``max_parts``."""
        parts = [p for p in state.files if _folder_of(p.path) == folder]
        if len(parts) <= max_parts:
            return
        stored = file_schema(write.schema, self.stream_column)
        tables: list[pa.Table] = []
        coverage: list[Interval] = []
        for part in parts:
            state.files.remove(part)
            try:
                tables += read_parts([self.path(part.path)], stored)
                coverage = union(coverage, part.coverage)
            except UnreadableFilesError:
                state.complete = subtract(state.complete, part.coverage)
        keys = [k for k in order if k != self.stream_column]
        merged = sort_table(pa.concat_tables(tables), keys) if tables else stored.empty_table()
        if merged.num_rows:
            state.files.append(self._new_part(folder, coverage, merged, parts[0].date, write.stamp))
        write.obsolete.extend(p.path for p in parts)

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

    def orphans(self) -> list[Path]:
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
        found: list[Path] = []
        for child in self.folder.rglob("*"):
            if not child.is_file():
                continue
            relative = child.relative_to(self.folder).as_posix()
            is_data = "/" in relative and _is_written_here(child.name)
            stray_tmp = "/" not in relative and child.name.startswith(TMP_PREFIX)
            if (is_data and relative not in named) or stray_tmp:
                found.append(child)
        return sorted(found)

    @contextlib.contextmanager
    def _no_orphans_left(self) -> Iterator[None]:
        """With the lock held around a write: first delete the leftovers of writers killed
        earlier (once per process), and if the write fails, the files it wrote, which
        no manifest names yet (a full or failing disk leaves no half-written part)."""
        if str(self.folder) not in _SWEPT:
            remove_quietly(self.orphans())
            _SWEPT.add(str(self.folder))
        try:
            yield
        except BaseException:
            with contextlib.suppress(OSError):
                remove_quietly(self.orphans())
            raise

    def _remove_data_tree(self) -> None:
        for child in self.folder.glob(f"{self.stream_column}=*"):
            shutil.rmtree(child, ignore_errors=True)


def _expired(state: StreamState, windows: list[Interval], replace: bool,
             stale_before: int | None) -> list[Interval]:
    """The stored parts of ``windows`` whose rows a store replaces: all with ``replace``,
    else those fetched before ``stale_before`` (fresher ones are kept)."""
    if replace:
        return windows
    if stale_before is None:
        return []
    return intersect(windows, subtract(state.complete, fetched_since(state.fetched, stale_before)))


def _folder_of(relative: str) -> str:
    """The partition folder of a file path relative to the entry folder."""
    return relative.rsplit("/", 1)[0]


def _is_written_here(name: str) -> bool:
    """Whether a partition file of this name is one an entry writes (a part or a temporary)."""
    return name.startswith("part-") or name.startswith(TMP_PREFIX)
