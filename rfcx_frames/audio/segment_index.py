"""The audio store's SQLite index: one row per stored segment file, keyed by stream and start.

The index maps ``(stream_id, start_ms)`` to the segment id, its end, path (relative to the
store root), sample rate, frame count, channels and SHA-1, so finding the segments of a
time span never lists a folder. SQLite in WAL mode with a busy timeout makes it safe to
share between threads and processes.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> index = SegmentIndex(Path(tempfile.mkdtemp()))
>>> index.count()
0
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from rfcx_frames.cache.disk import storage_errors

#: The index's file name inside the store's folder.
INDEX_NAME = "index.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    stream_id      TEXT    NOT NULL,
    start_ms       INTEGER NOT NULL,
    end_ms         INTEGER NOT NULL,
    segment_id     TEXT    NOT NULL,
    file_extension TEXT    NOT NULL,
    path           TEXT    NOT NULL,
    sample_rate    INTEGER NOT NULL,
    frames         INTEGER NOT NULL,
    channels       INTEGER NOT NULL,
    sha1           TEXT    NOT NULL,
    PRIMARY KEY (stream_id, start_ms)
) WITHOUT ROWID;
"""

#: The columns of :class:`IndexRow`, in its order (not the table's).
_COLUMNS = ("stream_id, segment_id, start_ms, end_ms, file_extension, sample_rate, frames, "
            "channels, sha1, path")

#: The segments held in ``[start, end)`` of one stream: the last one starting at or before
#: ``start`` (it may reach into the span) and every one starting inside it. Both lookups
#: use the primary key.
_OVERLAPPING = f"""
SELECT {_COLUMNS}
FROM segments
WHERE stream_id = ?1 AND start_ms < ?3 AND start_ms >= COALESCE(
    (SELECT MAX(start_ms) FROM segments WHERE stream_id = ?1 AND start_ms <= ?2),
    ?2)
ORDER BY start_ms
"""


class IndexRow(NamedTuple):
    """One stored segment, as the index holds it."""

    stream_id: str
    segment_id: str
    start_ms: int
    end_ms: int
    file_extension: str
    sample_rate: int
    frames: int
    channels: int
    sha1: str
    path: str  # relative to the store root, POSIX separators


class SegmentIndex:
    """The index file of the store at ``root``, created with its table if missing.

    Errors of the database or its folder are raised as
    :class:`~rfcx_frames.exceptions.CacheError` naming ``root``.

    Parameters
    ----------
    root
        The store's folder; it must exist.

    Examples
    --------
    >>> import tempfile
    >>> index = SegmentIndex(Path(tempfile.mkdtemp()))
    >>> index.put(IndexRow("s", "a", 0, 1000, ".flac", 8000, 8000, 1, "00", "s/a.flac"))
    >>> index.get("s", 0).segment_id, index.count()
    ('a', 1)
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / INDEX_NAME
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._finalizer: weakref.finalize[Any, Any] | None = None
        with storage_errors(root, "create"), self._lock:
            self._connect().executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        """This process's connection (caller holds ``self._lock``).

        One connection shared by the threads of a process, serialised by the lock (SQLite
        serialises writers anyway); a connection inherited through fork() is never reused.
        """
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        conn = sqlite3.connect(
            str(self.path), timeout=60.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        self._conn, self._pid = conn, os.getpid()
        # Close on garbage collection too, so an index nobody closed leaks nothing.
        self._finalizer = weakref.finalize(self, conn.close)
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with storage_errors(self.root, "use"), self._lock:
            return list(self._connect().execute(sql, params).fetchall())

    def get(self, stream_id: str, start_ms: int) -> IndexRow | None:
        """The row of the segment of ``stream_id`` starting at ``start_ms``, if any.

        Parameters
        ----------
        stream_id
            The stream.
        start_ms
            The segment's start in epoch milliseconds.

        Returns
        -------
        IndexRow or None
            The row, or ``None`` when no segment starts there.

        Examples
        --------
        >>> import tempfile
        >>> SegmentIndex(Path(tempfile.mkdtemp())).get("s", 0) is None
        True
        """
        rows = self._query(
            f"SELECT {_COLUMNS} FROM segments WHERE stream_id=? AND start_ms=?",
            (stream_id, start_ms),
        )
        return IndexRow(*rows[0]) if rows else None

    def overlapping(self, stream_id: str, start_ms: int, end_ms: int) -> list[IndexRow]:
        """Rows of ``stream_id`` that may hold audio of ``[start_ms, end_ms)``, by start.

        The first row may end before ``start_ms``: the caller decides with the audio's
        real length.

        Parameters
        ----------
        stream_id
            The stream.
        start_ms, end_ms
            The span in epoch milliseconds.

        Returns
        -------
        list of IndexRow
            Ordered by start.

        Examples
        --------
        >>> import tempfile
        >>> SegmentIndex(Path(tempfile.mkdtemp())).overlapping("s", 0, 10)
        []
        """
        return [IndexRow(*r) for r in self._query(_OVERLAPPING, (stream_id, start_ms, end_ms))]

    def put(self, row: IndexRow) -> None:
        """Insert ``row``, replacing any segment of its stream at the same start.

        Parameters
        ----------
        row
            The segment to record.

        Examples
        --------
        >>> import tempfile
        >>> SegmentIndex(Path(tempfile.mkdtemp())).put(
        ...     IndexRow("s", "a", 0, 1, ".wav", 8000, 8, 1, "00", "s/a.wav"))
        """
        self._query(f"INSERT OR REPLACE INTO segments ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    tuple(row))

    def delete(self, stream_id: str, start_ms: int) -> None:
        """Forget the segment of ``stream_id`` starting at ``start_ms`` (no error if absent).

        Parameters
        ----------
        stream_id
            The stream.
        start_ms
            The segment's start in epoch milliseconds.

        Examples
        --------
        >>> import tempfile
        >>> SegmentIndex(Path(tempfile.mkdtemp())).delete("s", 0)
        """
        self._query("DELETE FROM segments WHERE stream_id=? AND start_ms=?", (stream_id, start_ms))

    def count(self) -> int:
        """How many segments the index holds.

        Returns
        -------
        int
            The row count.

        Examples
        --------
        >>> import tempfile
        >>> SegmentIndex(Path(tempfile.mkdtemp())).count()
        0
        """
        return int(self._query("SELECT COUNT(*) FROM segments")[0][0])

    def close(self) -> None:
        """Close the connection (it reopens on next use).

        Examples
        --------
        >>> import tempfile
        >>> SegmentIndex(Path(tempfile.mkdtemp())).close()
        """
        with self._lock:
            if self._conn is not None:
                if self._finalizer is not None:
                    self._finalizer.detach()
                if self._pid == os.getpid():
                    self._conn.close()
                self._conn = None
