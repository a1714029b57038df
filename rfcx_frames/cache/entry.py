"""One (entity, signature) entry of the time-ranged cache: its folder, manifest and writes.

Layout of an entry (see ``docs/cache.md``)::

    <root>/v2/<entity>/<signature key>/
        _signature.json                the signature in clear
        _manifest.json                 complete windows and files, per stream
        stream_id=<id>/date=YYYY-MM-DD/part-<uuid>.parquet

Files hold the rows in :func:`~rfcx_frames.cache.assemble.file_schema` form: no stream
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
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from filelock import FileLock

from rfcx_frames.cache.assemble import file_schema, to_file_table
from rfcx_frames.cache.store import (
    LAYOUT,
    MANIFEST,
    SIGNATURE_FILE,
    TMP_PREFIX,
    Manifest,
    PartFile,
    StreamState,
    UnreadableFilesError,
    load_manifest,
    lock,
    new_part_name,
    parquet_is_readable,
    read_json,
    read_parts,
    remove_quietly,
    storage_errors,
    write_json_atomic,
    write_parquet_atomic,
)
from rfcx_frames.cache.windows import (
    Interval,
    day_label,
    fetched_since,
    intersect,
    split_by_day,
    subtract,
    union,
)
from rfcx_frames.cache.windows import stamp as stamp_windows
from rfcx_frames.convert import sort_table
from rfcx_frames.timeutil import to_ns, utc_now

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


def _bound(ns: int, unit_ns: int) -> int:
    # Smallest value in the column's unit whose instant is >= ns (ceil division).
    return -((-ns) // unit_ns)


UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def time_bounds(intervals: Iterable[Interval], type_: pa.DataType) -> list[tuple[int, int]]:
    """Intervals converted to ``[lo, hi)`` bounds in a timestamp column's own unit.

    Examples
    --------
    >>> time_bounds([(1, 2_000_001)], pa.timestamp("ms"))
    [(1, 3)]
    """
    unit_ns = UNIT_NS[type_.unit]
    return [(_bound(s, unit_ns), _bound(e, unit_ns)) for s, e in intervals]


def time_mask(column: pa.ChunkedArray | pa.Array, intervals: Sequence[Interval]) -> pa.Array:
    """A boolean mask of the rows whose instant falls in one of ``intervals``.

    Examples
    --------
    >>> col = pa.array([0, 5, 10], pa.timestamp("ns"))
    >>> time_mask(col, [(5, 10)]).to_pylist()
    [False, True, False]
    """
    values = column.cast(pa.int64())
    mask = None
    for lo, hi in time_bounds(intervals, column.type):
        part = pc.and_(pc.greater_equal(values, lo), pc.less(values, hi))
        mask = part if mask is None else pc.or_(mask, part)
    if mask is None:
        return pa.array([False] * len(values), pa.bool_())
    return pc.fill_null(mask, False)


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
        readers must not modify (see :func:`~rfcx_frames.cache.store.load_manifest`).

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
            stamp = moment.isoformat()
            manifest = self.load()
            if manifest is None or manifest.schema != fingerprint:
                stale = manifest is not None
                manifest = Manifest(self.entity, self.key, dict(signature), fingerprint, stamp, stamp,
                                    order=list(keys))
                if stale:
                    # Rows of another schema version: forget them first, then delete them.
                    write_json_atomic(self.folder / MANIFEST, manifest.to_json())
                    self._remove_data_tree()
            obsolete: list[str] = []
            touched: set[tuple[str, str]] = set()
            jobs: list[tuple[StreamState, str, int, list[Interval], pa.Table]] = []
            for piece in pieces:
                state = manifest.streams.setdefault(piece.stream_id, StreamState())
                if replace:
                    expired = piece.windows
                elif stale_before is not None:
                    # Stored windows too old to answer are replaced; fresher ones are kept.
                    expired = intersect(piece.windows, subtract(
                        state.complete, fetched_since(state.fetched, stale_before)))
                else:
                    expired = []
                if expired:
                    obsolete += self._cut(
                        piece.stream_id, state, expired, schema, time_column, stamp, touched
                    )
                windows = piece.windows
                new = subtract(windows, state.complete)
                if not new:
                    continue
                state.fetched = stamp_windows(state.fetched, new, to_ns(moment))
                # Files follow the entry's order, whatever order this query asked for.
                order = manifest.order or list(keys)
                table = sort_table(piece.table, order) if piece.table.num_rows else piece.table
                for day, parts in split_by_day(new):
                    rows = table.filter(time_mask(table[time_column], parts))
                    if rows.num_rows:
                        jobs.append((state, piece.stream_id, day, parts,
                                     to_file_table(rows, schema, self.stream_column)))
                state.complete = union(state.complete, new)
            for (state, stream_id, _, _, _), part in zip(jobs, self._write_all(jobs, stamp),
                                                         strict=True):
                state.files.append(part)
                touched.add((stream_id, part.path.rsplit("/", 1)[0]))
            for stream_id, folder in sorted(touched):
                obsolete += self._compact(
                    manifest.streams[stream_id], folder, file_schema(schema, self.stream_column),
                    [k for k in (manifest.order or keys) if k != self.stream_column], stamp,
                    max_parts,
                )
            manifest.updated = stamp
            if not (self.folder / SIGNATURE_FILE).exists():
                write_json_atomic(self.folder / SIGNATURE_FILE, dict(signature))
            write_json_atomic(self.folder / MANIFEST, manifest.to_json())
            for relative in obsolete:
                with contextlib.suppress(FileNotFoundError):
                    self.path(relative).unlink()
            self._collect_garbage(manifest, {folder for _, folder in touched})

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
                write_json_atomic(self.folder / MANIFEST, manifest.to_json())
                for relative in dropped:
                    with contextlib.suppress(FileNotFoundError):
                        self.path(relative).unlink()
        return dropped

    # -- helpers, all called with the lock held -------------------------------------

    def _write(self, stream_id: str, day: int, coverage: list[Interval], rows: pa.Table,
               now: str) -> PartFile:
        folder = partition_path(stream_id, day, self.stream_column)
        relative = f"{folder}/{new_part_name()}"
        size = write_parquet_atomic(self.path(relative), rows)
        return PartFile(relative, day_label(day), list(coverage), rows.num_rows, size, now)

    def _write_all(
        self, jobs: Sequence[tuple[StreamState, str, int, list[Interval], pa.Table]], now: str
    ) -> list[PartFile]:
        """Write one file per job, in parallel: encoding and fsync release the GIL, and
        a month of a project is hundreds of stream-day files."""
        def one(job: tuple[StreamState, str, int, list[Interval], pa.Table]) -> PartFile:
            _, stream_id, day, coverage, rows = job
            return self._write(stream_id, day, coverage, rows, now)

        if len(jobs) < 2:
            return [one(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, len(jobs))) as pool:
            return list(pool.map(one, jobs))

    def _cut(
        self,
        stream_id: str,
        state: StreamState,
        windows: list[Interval],
        schema: pa.Schema,
        time_column: str,
        now: str,
        touched: set[tuple[str, str]],
    ) -> list[str]:
        """Forget ``windows`` of a stream, rewriting files that also hold other windows."""
        obsolete: list[str] = []
        for part in list(state.files):
            if not intersect(part.coverage, windows):
                continue
            state.files.remove(part)
            obsolete.append(part.path)
            keep = subtract(part.coverage, windows)
            if not keep:
                continue
            try:
                (table,) = read_parts([self.path(part.path)], file_schema(schema, self.stream_column))
            except UnreadableFilesError:
                state.complete = subtract(state.complete, keep)
                continue
            rows = table.filter(time_mask(table[time_column], keep))
            if rows.num_rows:
                folder = part.path.rsplit("/", 1)[0]
                relative = f"{folder}/{new_part_name()}"
                size = write_parquet_atomic(self.path(relative), rows)
                touched.add((stream_id, folder))
                state.files.append(PartFile(relative, part.date, keep, rows.num_rows, size, now))
        state.complete = subtract(state.complete, windows)
        return obsolete

    def _compact(
        self,
        state: StreamState,
        folder: str,
        schema: pa.Schema,
        keys: Sequence[str],
        now: str,
        max_parts: int,
    ) -> list[str]:
        """Merge a partition's parts into one file once it holds more than ``max_parts``."""
        parts = [p for p in state.files if p.path.rsplit("/", 1)[0] == folder]
        if len(parts) <= max_parts:
            return []
        tables: list[pa.Table] = []
        coverage: list[Interval] = []
        for part in parts:
            state.files.remove(part)
            try:
                tables += read_parts([self.path(part.path)], schema)
                coverage = union(coverage, part.coverage)
            except UnreadableFilesError:
                state.complete = subtract(state.complete, part.coverage)
        merged = sort_table(pa.concat_tables(tables), keys) if tables else schema.empty_table()
        if merged.num_rows:
            relative = f"{folder}/{new_part_name()}"
            size = write_parquet_atomic(self.path(relative), merged)
            state.files.append(
                PartFile(relative, parts[0].date, coverage, merged.num_rows, size, now)
            )
        return [p.path for p in parts]

    def _collect_garbage(self, manifest: Manifest, folders: set[str]) -> None:
        """Delete files in ``folders`` that the manifest does not name (crash leftovers)."""
        named = {p.path for s in manifest.streams.values() for p in s.files}
        for folder in folders:
            directory = self.path(folder)
            if not directory.is_dir():
                continue
            for child in directory.iterdir():
                relative = f"{folder}/{child.name}"
                is_ours = child.name.startswith(TMP_PREFIX) or child.name.startswith("part-")
                if is_ours and relative not in named and child.is_file():
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
            is_data = "/" in relative and (
                child.name.startswith("part-") or child.name.startswith(TMP_PREFIX)
            )
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


def read_signature(folder: Path) -> dict[str, object] | None:
    """The ``_signature.json`` of an entry folder, or ``None``.

    Examples
    --------
    >>> import pathlib
    >>> read_signature(pathlib.Path("/nonexistent")) is None
    True
    """
    data = read_json(folder / SIGNATURE_FILE)
    return data if isinstance(data, dict) else None
