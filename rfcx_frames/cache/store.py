"""Files on disk: atomic writes, Parquet parts, manifests and locks.

Every file the cache writes goes to a hidden temporary name in its final folder, is
fsynced, then moved into place with ``os.replace``; a crash leaves either the old file
or the new one, plus at worst a hidden temporary that readers ignore (pyarrow skips
names starting with ``.``) and the next writer removes.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_json_atomic(folder / "m.json", {"a": 1})
>>> read_json(folder / "m.json")
{'a': 1}
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from filelock import FileLock

from rfcx_frames.cache.windows import Interval, Stamped, clip, normalize, subtract
from rfcx_frames.exceptions import CacheError
from rfcx_frames.timeutil import from_ns, to_ns, utc_now

LAYOUT = "v2"
MANIFEST = "_manifest.json"
SIGNATURE_FILE = "_signature.json"
TMP_PREFIX = ".tmp-"
LOCK_TIMEOUT_S = 600.0

#: Crash leftovers (temporaries, ``.part`` downloads) without a lock to prove them dead
#: are removed only once this old: no writer keeps one temporary open that long.
ORPHAN_AGE = pd.Timedelta(minutes=30)

# Errors that mean "this file cannot be read": truncation, bad footer, bad page, gone.
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, pa.ArrowException, ValueError)


@contextlib.contextmanager
def storage_errors(root: Path, action: str = "write to") -> Iterator[None]:
    """Turn an ``OSError`` (or SQLite error) of cache I/O into one :class:`CacheError`.

    Wrap only file-system work: network errors are ``OSError`` too.

    Examples
    --------
    >>> try:
    ...     with storage_errors(Path("/c")):
    ...         raise OSError(28, "No space left on device")
    ... except CacheError as err:
    ...     print(err.path)
    /c
    """
    try:
        yield
    except CacheError:
        raise
    except (OSError, sqlite3.Error) as exc:
        raise CacheError(root, exc, action=action) from exc


def stale_files(folder: Path, patterns: Sequence[str], now: pd.Timestamp | None = None,
                age: pd.Timedelta = ORPHAN_AGE) -> list[Path]:
    """Files directly in ``folder`` matching a glob of ``patterns``, last modified more
    than ``age`` before ``now`` (default: the system clock, which file times follow).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / ".tmp-x").write_text("")
    0
    >>> stale_files(folder, [".tmp-*"], now=pd.Timestamp("2200-01-01", tz="UTC"))[0].name
    '.tmp-x'
    """
    limit = ((now if now is not None else utc_now()) - age).timestamp()
    found: list[Path] = []
    for pattern in patterns:
        for path in folder.glob(pattern):
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_mtime < limit:
                    found.append(path)
    return sorted(set(found))


def remove_quietly(paths: Iterable[Path]) -> int:
    """Delete files, ignoring those already gone or not deletable; returns how many went.

    Cleaning leftovers must never turn a read into a failure (a read-only cache).

    Examples
    --------
    >>> remove_quietly([Path("/nonexistent/x")])
    0
    """
    removed = 0
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


def iso(ns: int) -> str:
    """ISO text of a nanosecond instant, as manifests store it.

    Examples
    --------
    >>> iso(0)
    '1970-01-01T00:00:00+00:00'
    """
    return from_ns(ns).isoformat()


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def iso_ns(text: str) -> int:
    """Integer nanoseconds of an ISO instant written by :func:`iso` (inverse of it).

    The standard library parses the usual microsecond form quickly; only text with
    nanoseconds goes through pandas.

    Examples
    --------
    >>> iso_ns(iso(1_500)), iso_ns(iso(5)), iso_ns(iso(86_400 * 10**9))
    (1500, 5, 86400000000000)
    """
    dot = text.find(".")
    if dot >= 0:
        digits = len(text[dot + 1:]) - len(text[dot + 1:].lstrip("0123456789"))
        if digits > 6:  # Python would drop the nanoseconds silently
            return to_ns(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return to_ns(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return ((moment - _EPOCH) // dt.timedelta(microseconds=1)) * 1000


def _fsync_dir(folder: Path) -> None:
    # Directory fsync makes the rename itself durable; not all platforms allow it.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}"
    try:
        yield tmp
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> write_bytes_atomic(p, b"hi"); p.read_bytes()
    b'hi'
    """
    with _temporary(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_json_atomic(path: Path, value: Any) -> None:
    """Write ``value`` as indented JSON, atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> write_json_atomic(p, [1]); p.read_text()
    '[\\n  1\\n]'
    """
    write_bytes_atomic(path, json.dumps(value, indent=2, sort_keys=True).encode("utf-8"))


def read_json(path: Path) -> Any:
    """The JSON content of ``path``, or ``None`` when it is missing or unreadable.

    Examples
    --------
    >>> import pathlib
    >>> read_json(pathlib.Path("/nonexistent/file.json")) is None
    True
    """
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def write_parquet_atomic(path: Path, table: pa.Table) -> int:
    """Write ``table`` as one Parquet file (snappy, page checksums), atomically.

    Snappy rather than zstd: the cache holds many small files (one per stream and day),
    and setting up a zstd decoder per column chunk more than doubles their read time
    for a few percent less disk.

    Returns the file size in bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> write_parquet_atomic(p, pa.table({"a": [1]})) > 0
    True
    """
    with _temporary(path) as tmp, open(tmp, "wb") as handle:
        pq.write_table(table, handle, compression="snappy", write_page_checksum=True)
        handle.flush()
        os.fsync(handle.fileno())
    return path.stat().st_size


def read_parquet(
    paths: Sequence[Path], schema: pa.Schema, filter: ds.Expression | None = None
) -> pa.Table:
    """Read many Parquet files in one dataset scan, in the order given, verifying checksums.

    Raises whatever Arrow raises for an unreadable file; callers treat any of
    :data:`READ_ERRORS` as corruption.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> _ = write_parquet_atomic(p, pa.table({"a": [1, 2]}))
    >>> read_parquet([p], pa.schema([("a", pa.int64())]))["a"].to_pylist()
    [1, 2]
    """
    if not paths:
        return schema.empty_table()
    options = ds.ParquetFragmentScanOptions(page_checksum_verification=True)
    fmt = ds.ParquetFileFormat(default_fragment_scan_options=options)
    # from_paths skips the per-file existence checks of ds.dataset(); a missing file
    # still fails the scan, which callers treat like any unreadable file.
    dataset = ds.FileSystemDataset.from_paths(
        [str(Path(p).absolute()) for p in paths],
        schema=schema,
        format=fmt,
        filesystem=pafs.LocalFileSystem(),
    )
    return dataset.to_table(filter=filter)


# A file without the expected columns fails the select with KeyError.
_PART_ERRORS: tuple[type[BaseException], ...] = (*READ_ERRORS, KeyError)


class UnreadableFilesError(Exception):
    """Some files of a read could not be read back; ``paths`` names them."""

    def __init__(self, paths: Sequence[Path]) -> None:
        super().__init__(f"{len(paths)} unreadable Parquet file(s), first {paths[0]}")
        self.paths = list(paths)


def _read_one(path: Path, schema: pa.Schema) -> pa.Table | None:
    """The file's table; ``None`` when it is gone or damaged. A failed open or read (``EMFILE``,
    ``EIO``) raises its ``OSError``: the file may be fine, so it must not be dropped.
    Decoding happens from memory, so any error there is damage to the file itself."""
    # Reading the bytes first and decoding from memory skips the per-file set-up of
    # Arrow's file readers, which dominates for files of a few hundred rows.
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return _decode(data, schema)
    except _PART_ERRORS:
        return None


def _decode(data: bytes, schema: pa.Schema) -> pa.Table:
    parquet = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
    table = parquet.read(use_threads=False)
    if table.schema != schema:
        table = table.select(schema.names).cast(schema)
    return table


def read_parts(
    paths: Sequence[Path],
    schema: pa.Schema,
    threads: int | None = None,
    rows: Sequence[int] | None = None,
) -> list[pa.Table]:
    """Read whole Parquet files, one table each, in the order given, verifying checksums.

    Files are split into contiguous runs read in parallel, one per thread: up to
    ``threads`` (default: the CPU count), at most 8, and at least 16 files per run, since
    a thread costs more than reading a few small files. Parquet decoding releases the GIL.
    ``rows`` gives the row count each file must hold (as its manifest recorded it): a
    file that decodes to another count is damaged in a way checksums can miss, for
    instance in its footer.

    Raises
    ------
    UnreadableFilesError
        Naming every file that is damaged (missing, truncated, corrupt, without
        ``schema``'s columns, or with another row count than ``rows`` says), sorted; the
        others were read fine.
    OSError
        A file could not be opened or read (``EMFILE``, ``EIO``, ``EACCES``): it may be
        intact, so it is not reported as damaged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> _ = write_parquet_atomic(p, pa.table({"a": [1, 2]}))
    >>> [t["a"].to_pylist() for t in read_parts([p, p], pa.schema([("a", pa.int64())]))]
    [[1, 2], [1, 2]]
    >>> read_parts([p], pa.schema([("a", pa.int64())]), rows=[3])
    Traceback (most recent call last):
    ...
    rfcx_frames.cache.store.UnreadableFilesError: 1 unreadable Parquet file(s), first ...
    """
    if not paths:
        return []
    if rows is not None and len(rows) != len(paths):
        raise ValueError(f"rows has {len(rows)} counts for {len(paths)} paths")
    expected: list[int | None] = list(rows) if rows is not None else [None] * len(paths)
    jobs = list(zip(paths, expected, strict=True))
    bad: list[Path] = []

    def run(chunk: Sequence[tuple[Path, int | None]]) -> list[pa.Table | None]:
        out: list[pa.Table | None] = []
        for path, count in chunk:
            table = _read_one(path, schema)
            if table is None or (count is not None and table.num_rows != count):
                bad.append(path)
                table = None
            out.append(table)
        return out

    workers = max(1, min(threads or os.cpu_count() or 1, 8, len(jobs) // 16 or 1))
    size = -(-len(jobs) // workers)
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    if len(chunks) == 1:
        results = [run(chunks[0])]
    else:
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            results = list(pool.map(run, chunks))
    if bad:
        raise UnreadableFilesError(sorted(bad))
    return [t for chunk in results for t in chunk if t is not None]


def parquet_is_readable(path: Path, schema: pa.Schema, rows: int | None = None) -> bool:
    """Whether the whole file reads back with ``schema`` (footer, pages, checksums), and
    with ``rows`` rows when given.

    Examples
    --------
    >>> import pathlib
    >>> parquet_is_readable(pathlib.Path("/nonexistent.parquet"), pa.schema([]))
    False
    """
    try:
        read_parts([path], schema, rows=None if rows is None else [rows])
    except UnreadableFilesError:
        return False
    return True


def new_part_name() -> str:
    """A fresh data file name, ``part-<uuid>.parquet``.

    Examples
    --------
    >>> new_part_name().startswith("part-")
    True
    """
    return f"part-{uuid.uuid4().hex}.parquet"


def lock(root: Path, *name: str) -> FileLock:
    """The inter-process lock of one cache entry (kept outside the entry's folder).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with lock(pathlib.Path(tempfile.mkdtemp()), "detections", "abc"):
    ...     pass
    """
    folder = root / LAYOUT / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ("-".join(name) + ".lock")), timeout=LOCK_TIMEOUT_S)


@dataclass
class PartFile:
    """One Parquet file of a stream-day partition and the windows its rows fill."""

    path: str
    date: str
    coverage: list[Interval]
    rows: int
    bytes: int
    written: str

    def to_json(self) -> dict[str, Any]:
        """JSON form (instants as ISO text).

        Examples
        --------
        >>> PartFile("p", "1970-01-01", [(0, 1)], 0, 0, "t").to_json()["coverage"]
        [['1970-01-01T00:00:00+00:00', '1970-01-01T00:00:00.000000001+00:00']]
        """
        return {
            "path": self.path,
            "date": self.date,
            "coverage": [[iso(s), iso(e)] for s, e in self.coverage],
            "rows": self.rows,
            "bytes": self.bytes,
            "written": self.written,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartFile:
        """Inverse of :meth:`to_json`.

        Examples
        --------
        >>> p = PartFile("p", "1970-01-01", [(0, 5)], 1, 2, "t")
        >>> PartFile.from_json(p.to_json()) == p
        True
        """
        return cls(
            path=str(data["path"]),
            date=str(data["date"]),
            coverage=normalize((iso_ns(s), iso_ns(e)) for s, e in data["coverage"]),
            rows=int(data["rows"]),
            bytes=int(data["bytes"]),
            written=str(data["written"]),
        )


@dataclass
class StreamState:
    """The complete windows of one stream, when each was fetched, and the files of their rows.

    ``fetched`` covers ``complete`` exactly once written (windows dropped from
    ``complete`` are dropped from it on writing).
    """

    complete: list[Interval] = field(default_factory=list)
    files: list[PartFile] = field(default_factory=list)
    fetched: list[Stamped] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON form.

        Examples
        --------
        >>> StreamState().to_json()
        {'complete': [], 'files': [], 'rows': 0, 'fetched': []}
        """
        return {
            "complete": [[iso(s), iso(e)] for s, e in self.complete],
            "files": [f.to_json() for f in self.files],
            "rows": sum(f.rows for f in self.files),
            "fetched": [[iso(s), iso(e), iso(t)] for s, e, t in clip(self.fetched, self.complete)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], default_fetched: int = 0) -> StreamState:
        """Inverse of :meth:`to_json`.

        Complete windows without a fetch time (manifests written before fetch times were
        kept) count as fetched at ``default_fetched``, the manifest's creation: the
        oldest they can be.

        Examples
        --------
        >>> StreamState.from_json({"complete": [], "files": []})
        StreamState(complete=[], files=[], fetched=[])
        """
        complete = normalize((iso_ns(s), iso_ns(e)) for s, e in data["complete"])
        fetched: list[Stamped] = sorted(
            (iso_ns(s), iso_ns(e), iso_ns(t)) for s, e, t in data.get("fetched", []))
        unstamped = subtract(complete, [(s, e) for s, e, _ in fetched])
        if unstamped:
            fetched = sorted([*fetched, *((s, e, default_fetched) for s, e in unstamped)])
        return cls(
            complete=complete,
            files=[PartFile.from_json(f) for f in data["files"]],
            fetched=fetched,
        )


MANIFEST_KEYS: frozenset[str] = frozenset(
    {"format", "entity", "key", "signature", "schema", "order", "created", "updated", "rows",
     "streams"}
)


@dataclass
class Manifest:
    """Which windows of which streams one (entity, signature) entry holds completely.

    ``order`` names the columns every data file of the entry is sorted by, fixed when
    the entry is created, so a reader knows whether files are already in the order it
    wants.
    """

    entity: str
    key: str
    signature: dict[str, Any]
    schema: str
    created: str
    updated: str
    streams: dict[str, StreamState] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON form; its top-level keys are exactly :data:`MANIFEST_KEYS`.

        Examples
        --------
        >>> sorted(Manifest("d", "k", {}, "s", "t", "t").to_json()) == sorted(MANIFEST_KEYS)
        True
        """
        return {
            "format": 1,
            "entity": self.entity,
            "key": self.key,
            "signature": self.signature,
            "schema": self.schema,
            "order": list(self.order),
            "created": self.created,
            "updated": self.updated,
            "rows": sum(f.rows for s in self.streams.values() for f in s.files),
            "streams": {sid: st.to_json() for sid, st in sorted(self.streams.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Inverse of :meth:`to_json`; raises ``KeyError``/``ValueError`` on a bad document.

        Examples
        --------
        >>> m = Manifest("d", "k", {}, "s", iso(0), iso(0))
        >>> Manifest.from_json(m.to_json()) == m
        True
        """
        if data.get("format") != 1:
            raise ValueError(f"unknown manifest format {data.get('format')!r}")
        created = iso_ns(str(data["created"]))
        return cls(
            entity=str(data["entity"]),
            key=str(data["key"]),
            signature=dict(data["signature"]),
            schema=str(data["schema"]),
            created=str(data["created"]),
            updated=str(data["updated"]),
            streams={sid: StreamState.from_json(st, created)
                     for sid, st in data["streams"].items()},
            order=[str(k) for k in data.get("order", [])],
        )


_SHARED: dict[str, tuple[bytes, Manifest]] = {}
_SHARED_LOCK = threading.Lock()


def load_manifest(path: Path, *, shared: bool = False) -> Manifest | None:
    """The manifest at ``path``, or ``None`` when absent or damaged.

    A manifest that cannot be opened or read (``EMFILE``, ``EIO``) raises its
    ``OSError``: taking it for absent would let the next write forget its files.

    With ``shared=True`` the parsed manifest is kept in memory and handed out again
    while the file holds the very same bytes (reading them is cheap; parsing the
    windows of hundreds of files is not). A shared manifest must not be modified;
    writers load their own copy.

    Examples
    --------
    >>> import pathlib
    >>> load_manifest(pathlib.Path("/nonexistent/manifest.json")) is None
    True
    """
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if shared:
        with _SHARED_LOCK:
            hit = _SHARED.get(str(path))
        if hit is not None and hit[0] == raw:
            return hit[1]
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        manifest = Manifest.from_json(data)
    except (KeyError, ValueError, TypeError):
        return None
    if shared:
        with _SHARED_LOCK:
            _SHARED[str(path)] = (raw, manifest)
    return manifest
