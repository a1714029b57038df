"""Stream-day partitions of an entry: adding, cutting out and compacting part files.

An entry's rows live in ``<stream column>=<id>/date=YYYY-MM-DD/part-<uuid>.parquet``
folders; these functions write and rewrite those files and keep each stream's
:class:`~rfcx_frames.cache.manifest.StreamState` in step with them. They run with the
entry's lock held (:meth:`~rfcx_frames.cache.entry.Entry.store`; on an object store,
before a conditional commit); files they make obsolete are collected in the
:class:`Batch` and deleted only after the new manifest is in place, and the files they
wrote are listed there too, so a write that fails or loses its commit deletes exactly
those.

Examples
--------
>>> partition_path("abc", 0)
'stream_id=abc/date=1970-01-01'
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path  # noqa: F401  (the examples use it)
from urllib.parse import quote

import pyarrow as pa

from rfcx_frames.cache.assemble import file_schema, to_file_table
from rfcx_frames.cache.intervals import Interval, intersect, split_by_day, subtract, time_mask, union
from rfcx_frames.cache.intervals import stamp as stamp_windows
from rfcx_frames.cache.manifest import PartFile, StreamState
from rfcx_frames.cache.parquet import (
    UnreadableFilesError,
    new_part_name,
    read_parts,
    write_parquet_atomic,
)
from rfcx_frames.config import CacheRoot
from rfcx_frames.convert import sort_table
from rfcx_frames.timeutil import day_label

#: Part files written at once: encoding and fsync release the GIL.
WRITE_THREADS = 8

#: One file to write: the stream's state, stream id, day start, windows, and rows.
Job = tuple[StreamState, str, int, list[Interval], pa.Table]


def partition_path(stream_id: str, day_start_ns: int, stream_column: str = "stream_id") -> str:
    """The hive partition folder of a stream-day, relative to the entry folder.

    The key is the stream column's name, so hive readers give the rows back their
    stream column; stream ids are percent-encoded, which pyarrow decodes.

    Parameters
    ----------
    stream_id
        The stream.
    day_start_ns
        The first nanosecond of the UTC day.
    stream_column
        The hive key naming the stream.

    Examples
    --------
    >>> partition_path("a/b", 86_400 * 10**9)
    'stream_id=a%2Fb/date=1970-01-02'
    """
    return f"{stream_column}={quote(stream_id, safe='')}/date={day_label(day_start_ns)}"


def folder_of(relative: str) -> str:
    """The partition folder of a file path relative to the entry folder.

    Parameters
    ----------
    relative
        A path as a manifest names it.

    Examples
    --------
    >>> folder_of("stream_id=a/date=2024-01-01/part-x.parquet")
    'stream_id=a/date=2024-01-01'
    """
    return relative.rsplit("/", 1)[0]


@dataclass
class Batch:
    """One store into an entry: where and what it writes, the files it made obsolete,
    touched (``(stream_id, partition folder)``) and wrote."""

    folder: CacheRoot
    stream_column: str
    schema: pa.Schema
    time_column: str
    stamp: str
    obsolete: list[str] = field(default_factory=list)
    touched: set[tuple[str, str]] = field(default_factory=set)
    written: list[str] = field(default_factory=list)

    @property
    def stored(self) -> pa.Schema:
        """The schema of the part files (without the stream column).

        Examples
        --------
        >>> schema = pa.schema([("stream_id", pa.string()), ("a", pa.int64())])
        >>> Batch(Path("/e"), "stream_id", schema, "a", "t").stored.names
        ['a']
        """
        return file_schema(self.schema, self.stream_column)


def jobs_for(batch: Batch, state: StreamState, stream_id: str, windows: list[Interval],
             table: pa.Table, when: int) -> list[Job]:
    """Mark the ``windows`` a stream lacks complete, fetched ``when`` (ns), and return the
    files to write for their rows of ``table``, one per UTC day.

    Parameters
    ----------
    batch
        The store the rows are written for (its schema and time column).
    state
        The stream's state: its complete and fetched windows grow here.
    stream_id
        The stream.
    windows
        The windows ``table`` answers completely.
    table
        The fetched rows, in the entry's file order.
    when
        The fetch time (ns).

    Examples
    --------
    >>> schema = pa.schema([("stream_id", pa.string()), ("start", pa.timestamp("ns", tz="UTC"))])
    >>> state = StreamState()
    >>> batch = Batch(Path("/e"), "stream_id", schema, "start", "t")
    >>> jobs_for(batch, state, "s", [(0, 10)], schema.empty_table(), 1), state.complete
    ([], [(0, 10)])
    """
    new = subtract(windows, state.complete)
    if not new:
        return []
    state.fetched = stamp_windows(state.fetched, new, when)
    jobs: list[Job] = []
    for day, parts in split_by_day(new):
        rows = table.filter(time_mask(table[batch.time_column], parts))
        if rows.num_rows:
            jobs.append((state, stream_id, day, parts,
                         to_file_table(rows, batch.schema, batch.stream_column)))
    state.complete = union(state.complete, new)
    return jobs


def write_jobs(batch: Batch, jobs: Sequence[Job]) -> None:
    """Write one file per job, in parallel (a month of a project is hundreds of
    stream-day files), and add each to its stream's state.

    Parameters
    ----------
    batch
        The store.
    jobs
        From :func:`jobs_for`.

    Examples
    --------
    >>> write_jobs(Batch(Path("/e"), "stream_id", pa.schema([]), "start", "t"), [])
    """
    def one(job: Job) -> PartFile:
        _, stream_id, day, coverage, rows = job
        folder = partition_path(stream_id, day, batch.stream_column)
        return _new_part(batch, folder, coverage, rows, day_label(day))

    if len(jobs) < 2:
        parts = [one(job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, len(jobs))) as pool:
            parts = list(pool.map(one, jobs))
    for (state, stream_id, _, _, _), part in zip(jobs, parts, strict=True):
        state.files.append(part)
        batch.touched.add((stream_id, folder_of(part.path)))


def cut(batch: Batch, stream_id: str, state: StreamState, windows: list[Interval]) -> None:
    """Forget ``windows`` of a stream, rewriting files that also hold other windows.

    Parameters
    ----------
    batch
        The store.
    stream_id
        The stream.
    state
        Its state, updated in place.
    windows
        The windows whose rows go.

    Examples
    --------
    >>> state = StreamState(complete=[(0, 10)])
    >>> cut(Batch(Path("/e"), "stream_id", pa.schema([]), "start", "t"), "s", state, [(0, 5)])
    >>> state.complete
    [(5, 10)]
    """
    for part in list(state.files):
        if not intersect(part.coverage, windows):
            continue
        state.files.remove(part)
        batch.obsolete.append(part.path)
        keep = subtract(part.coverage, windows)
        if not keep:
            continue
        try:
            (table,) = read_parts([batch.folder / part.path], batch.stored)
        except UnreadableFilesError:
            state.complete = subtract(state.complete, keep)
            continue
        rows = table.filter(time_mask(table[batch.time_column], keep))
        if rows.num_rows:
            folder = folder_of(part.path)
            batch.touched.add((stream_id, folder))
            state.files.append(_new_part(batch, folder, keep, rows, part.date))
    state.complete = subtract(state.complete, windows)


def compact(batch: Batch, state: StreamState, folder: str, order: Sequence[str],
            max_parts: int) -> None:
    """Merge a partition's parts into one file once it holds more than ``max_parts``.

    Parameters
    ----------
    batch
        The store the merge is part of (its stamp dates the merged file).
    state
        The state of the stream the partition belongs to, updated in place.
    folder
        The partition folder, relative to the entry.
    order
        The entry's file order.
    max_parts
        The most files a partition keeps before it is merged.

    Examples
    --------
    >>> batch = Batch(Path("/e"), "stream_id", pa.schema([]), "start", "t")
    >>> compact(batch, StreamState(), "stream_id=s/date=2024-01-01", ["start"], 8)
    >>> batch.obsolete
    []
    """
    parts = [p for p in state.files if folder_of(p.path) == folder]
    if len(parts) <= max_parts:
        return
    tables: list[pa.Table] = []
    coverage: list[Interval] = []
    for part in parts:
        state.files.remove(part)
        try:
            tables += read_parts([batch.folder / part.path], batch.stored)
            coverage = union(coverage, part.coverage)
        except UnreadableFilesError:
            state.complete = subtract(state.complete, part.coverage)
    keys = [k for k in order if k != batch.stream_column]
    merged = sort_table(pa.concat_tables(tables), keys) if tables else batch.stored.empty_table()
    if merged.num_rows:
        state.files.append(_new_part(batch, folder, coverage, merged, parts[0].date))
    batch.obsolete.extend(p.path for p in parts)


def _new_part(batch: Batch, folder: str, coverage: list[Interval], rows: pa.Table,
              day: str) -> PartFile:
    """Write ``rows`` as a new file in the partition ``folder``."""
    relative = f"{folder}/{new_part_name()}"
    batch.written.append(relative)
    size = write_parquet_atomic(batch.folder / relative, rows)
    return PartFile(relative, day, list(coverage), rows.num_rows, size, batch.stamp)
