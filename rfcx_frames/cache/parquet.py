"""Parquet part files of the cache: names, crash-safe writes, verified parallel reads.

Every file goes through :func:`rfcx_frames.cache.disk.open_atomic` (locally a hidden
temporary, fsync and rename; on an object store one PUT); readers verify page checksums
and, where the manifest recorded it, the row count, and report damaged files by name so
the cache can drop and refetch them.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / new_part_name()
>>> write_parquet_atomic(p, pa.table({"a": [1]})) > 0
True
>>> parquet_is_readable(p, pa.schema([("a", pa.int64())]), rows=1)
True
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq

from rfcx_frames.cache.disk import open_atomic
from rfcx_frames.config import CacheRoot
from rfcx_frames.objectstore import ObjectPath

#: Threads :func:`read_parts` never exceeds, and the fewest files worth one thread.
MAX_READ_THREADS = 8
FILES_PER_THREAD = 16

# Errors that mean "this file is damaged": truncation, bad footer, bad page, and a file
# without the expected columns (the select fails with KeyError).
_DAMAGE: tuple[type[BaseException], ...] = (OSError, pa.ArrowException, ValueError, KeyError)

# One file to read, and the row count its manifest recorded (None: unknown).
_Job = tuple[CacheRoot, int | None]


class UnreadableFilesError(Exception):
    """Some files of a read could not be read back; ``paths`` names them."""

    def __init__(self, paths: Sequence[CacheRoot]) -> None:
        super().__init__(f"{len(paths)} unreadable Parquet file(s), first {paths[0]}")
        self.paths = list(paths)


def new_part_name() -> str:
    """A fresh data file name, ``part-<uuid>.parquet``.

    Examples
    --------
    >>> new_part_name().startswith("part-")
    True
    """
    return f"part-{uuid.uuid4().hex}.parquet"


def write_parquet_atomic(path: CacheRoot, table: pa.Table) -> int:
    """Write ``table`` as one Parquet file (snappy, page checksums), atomically.

    Snappy rather than zstd: the cache holds many small files (one per stream and day),
    and setting up a zstd decoder per column chunk more than doubles their read time
    for a few percent less disk.

    Parameters
    ----------
    path
        The final file (or object).
    table
        Its rows.

    Returns
    -------
    int
        The file size in bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> write_parquet_atomic(p, pa.table({"a": [1]})) > 0
    True
    """
    with open_atomic(path) as handle:
        pq.write_table(table, handle, compression="snappy", write_page_checksum=True)
        return handle.tell()


def read_parts(
    paths: Sequence[CacheRoot],
    schema: pa.Schema,
    threads: int | None = None,
    rows: Sequence[int] | None = None,
) -> list[pa.Table]:
    """Read whole Parquet files, one table each, in the order given, verifying checksums.

    Files are split into contiguous runs read in parallel, one per thread: up to
    ``threads`` (default: the CPU count), at most 8, and at least 16 files per run, since
    a thread costs more than reading a few small files. Parquet decoding releases the GIL.

    Parameters
    ----------
    paths
        The files.
    schema
        The columns and types to return (extra columns are dropped, types cast).
    threads
        The most threads to use.
    rows
        The row count each file must hold (as its manifest recorded it): a file that
        decodes to another count is damaged in a way checksums can miss, for instance
        in its footer.

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
    rfcx_frames.cache.parquet.UnreadableFilesError: 1 unreadable Parquet file(s), first ...
    """
    if rows is not None and len(rows) != len(paths):
        raise ValueError(f"rows has {len(rows)} counts for {len(paths)} paths")
    expected: list[int | None] = list(rows) if rows is not None else [None] * len(paths)
    chunks = _runs(list(zip(paths, expected, strict=True)), threads)
    if len(chunks) <= 1:
        results = [_read_run(chunk, schema) for chunk in chunks]
    else:
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            results = list(pool.map(lambda chunk: _read_run(chunk, schema), chunks))
    bad = sorted(path for _, damaged in results for path in damaged)
    if bad:
        raise UnreadableFilesError(bad)
    return [table for tables, _ in results for table in tables]


def parquet_is_readable(path: CacheRoot, schema: pa.Schema, rows: int | None = None) -> bool:
    """Whether the whole file reads back with ``schema`` (footer, pages, checksums), and
    with ``rows`` rows when given.

    Parameters
    ----------
    path
        The file.
    schema
        The columns it must hold.
    rows
        The row count it must hold, when known.

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


def _runs(jobs: list[_Job], threads: int | None) -> list[list[_Job]]:
    """``jobs`` cut into contiguous runs, one per reading thread."""
    if not jobs:
        return []
    cap = threads or os.cpu_count() or 1
    workers = max(1, min(cap, MAX_READ_THREADS, len(jobs) // FILES_PER_THREAD or 1))
    size = -(-len(jobs) // workers)
    return [jobs[i:i + size] for i in range(0, len(jobs), size)]


def _read_run(run: Sequence[_Job], schema: pa.Schema) -> tuple[list[pa.Table], list[CacheRoot]]:
    """The tables of the readable files of ``run``, and the damaged files."""
    tables: list[pa.Table] = []
    bad: list[CacheRoot] = []
    for path, count in run:
        table = _read_one(path, schema)
        if table is None or (count is not None and table.num_rows != count):
            bad.append(path)
        else:
            tables.append(table)
    return tables, bad


def _read_one(path: CacheRoot, schema: pa.Schema) -> pa.Table | None:
    """The file's table; ``None`` when it is gone or damaged. A failed open or read (``EMFILE``,
    ``EIO``) raises its ``OSError``: the file may be fine, so it must not be dropped.
    Decoding happens from memory, so any error there is damage to the file itself."""
    # Reading the bytes first and decoding from memory skips the per-file set-up of
    # Arrow's file readers, which dominates for files of a few hundred rows.
    try:
        if isinstance(path, ObjectPath):
            data = path.read_bytes()
        else:
            with open(path, "rb") as handle:
                data = handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return _decode(data, schema)
    except _DAMAGE:
        return None


def _decode(data: bytes, schema: pa.Schema) -> pa.Table:
    parquet = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
    table = parquet.read(use_threads=False)
    if table.schema != schema:
        table = table.select(schema.names).cast(schema)
    return table
