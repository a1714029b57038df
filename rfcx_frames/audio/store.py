"""The local audio store: segment files on disk plus a SQLite index of them.

Layout under the root::

    <root>/index.sqlite
    <root>/<stream_id>/<YYYY>/<MM>/<DD>/<YYYYMMDDTHHMMSSmmmZ>_<segment id><ext>

Names are built from ids and timestamps only, and ids must match ``^[A-Za-z0-9_-]+$``, so
no stream or segment id can make the store write outside its root. The index maps
``(stream_id, start_ms)`` to the segment id, its end, path, sample rate, frame count and
SHA-1, so finding the segments of a time span never lists a folder. Files are written to a
temporary name in their final folder, verified (decodable, right length) and then moved into
place with :func:`os.replace`, so a crash or a failed verification never leaves a partial
file under a real name. SQLite in WAL mode with a busy timeout makes the index safe to share
between threads and processes.

Examples
--------
>>> import tempfile
>>> store = AudioStore(tempfile.mkdtemp())
>>> store.find("abc", "2020-01-01", "2020-01-02").empty
True
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import platformdirs
import soundfile as sf

from rfcx_frames.audio.source import NS_PER_MS, NS_PER_S, ns_to_series
from rfcx_frames.cache.disk import remove_quietly, stale_files, storage_errors
from rfcx_frames.timeutil import to_ns, to_utc

_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_EXTENSIONS = {".flac", ".opus", ".ogg", ".wav", ".mp3"}
_INDEX_NAME = "index.sqlite"
_BLOCK = 1 << 16

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


class AudioVerificationError(ValueError):
    """A segment file is not decodable or its length does not match the segment.

    ``path`` is the file that was checked (already removed when it was a temporary file).
    """

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def default_cache_root() -> Path:
    """The rfcx_frames cache folder: ``$RFCX_FRAMES_CACHE`` or the user cache dir.

    Examples
    --------
    >>> isinstance(default_cache_root(), Path)
    True
    """
    env = os.environ.get("RFCX_FRAMES_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("rfcx_frames"))


def default_audio_root() -> Path:
    """The default audio store root, ``<cache root>/audio``.

    Examples
    --------
    >>> default_audio_root().name
    'audio'
    """
    return default_cache_root() / "audio"


def check_id(value: Any, what: str) -> str:
    """Return ``value`` as a string if it is a safe id, else raise ``ValueError``.

    Examples
    --------
    >>> check_id("ev69cht895gc", "stream_id")
    'ev69cht895gc'
    >>> check_id("../../x", "stream_id")
    Traceback (most recent call last):
    ...
    ValueError: stream_id '../../x' may only contain letters, digits, '_' and '-'
    """
    text = str(value)
    if not _ID_RE.fullmatch(text):
        raise ValueError(f"{what} {text!r} may only contain letters, digits, '_' and '-'")
    return text


def check_extension(value: Any) -> str:
    """Normalise a file extension to ``.xxx`` and accept only known audio formats.

    Examples
    --------
    >>> check_extension("flac")
    '.flac'
    """
    text = str(value).lower()
    if not text.startswith("."):
        text = "." + text
    if text not in _EXTENSIONS:
        raise ValueError(f"unsupported audio file extension {value!r}")
    return text


def compact_time(ts: pd.Timestamp) -> str:
    """``YYYYMMDDTHHMMSSmmmZ``, the platform's compact time form (milliseconds).

    Examples
    --------
    >>> compact_time(pd.Timestamp("2020-05-24T09:21:00.5Z"))
    '20200524T092100500Z'
    """
    ts = to_utc(ts)
    return ts.strftime("%Y%m%dT%H%M%S") + f"{ts.microsecond // 1000:03d}Z"


def expected_frame_range(duration_ms: int, sample_rate: int) -> tuple[int, int]:
    """Frame counts accepted for a segment ``duration_ms`` long (``end - start``).

    The platform stores ``end = start + floor(duration)`` in milliseconds (older data:
    ``next start - 1 ms``), so the true length lies within 2 ms above ``end - start``; one
    sample of slack is allowed each side.

    Examples
    --------
    >>> expected_frame_range(60_000, 48_000)
    (2879999, 2880097)
    """
    low = (duration_ms * sample_rate) // 1000 - 1
    high = math.ceil((duration_ms + 2) * sample_rate / 1000) + 1
    return low, high


def decode_check(path: Path) -> tuple[int, int, int]:
    """Decode a whole file; return ``(sample_rate, frames actually decoded, channels)``.

    Raises :class:`AudioVerificationError` if libsndfile cannot read it to the end or
    decodes fewer frames than its header announces (a truncated file).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> p = Path(tempfile.mkdtemp()) / "a.flac"
    >>> sf.write(p, np.zeros(100, dtype="float32"), 8000)
    >>> decode_check(p)
    (8000, 100, 1)
    """
    try:
        with sf.SoundFile(str(path)) as f:
            rate, channels, announced = f.samplerate, f.channels, f.frames
            decoded = 0
            while True:
                block = f.read(_BLOCK, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                decoded += len(block)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioVerificationError(f"{path.name} is not decodable: {exc}", path) from exc
    if decoded != announced:
        raise AudioVerificationError(
            f"{path.name} decodes {decoded} frames but announces {announced} (truncated?)", path
        )
    if decoded == 0:
        raise AudioVerificationError(f"{path.name} holds no audio", path)
    return rate, decoded, channels


def verify_segment_file(segment: Mapping[str, Any], path: Path) -> tuple[int, int, int]:
    """Check that ``path`` is a complete recording of ``segment``.

    The frame count must equal ``sample_count`` when the row has one (within one sample),
    else match ``end - start`` at the file's own rate (see :func:`expected_frame_range`).
    Returns ``(sample_rate, frames, channels)``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> p = Path(tempfile.mkdtemp()) / "a.flac"
    >>> sf.write(p, np.zeros(8000, dtype="float32"), 8000)
    >>> verify_segment_file({"start": "2020-01-01T00:00:00Z",
    ...                      "end": "2020-01-01T00:00:01Z"}, p)
    (8000, 8000, 1)
    """
    rate, frames, channels = decode_check(path)
    count = segment.get("sample_count")
    if count is not None and not pd.isna(count):
        if abs(int(count) - frames) > 1:
            raise AudioVerificationError(
                f"{path.name} has {frames} frames, segment says sample_count={int(count)}", path
            )
        return rate, frames, channels
    if segment.get("end") is not None and not pd.isna(segment.get("end")):
        duration_ms = (to_ns(segment["end"]) - to_ns(segment["start"])) // NS_PER_MS
        low, high = expected_frame_range(duration_ms, rate)
        if not low <= frames <= high:
            raise AudioVerificationError(
                f"{path.name} has {frames} frames at {rate} Hz; a {duration_ms} ms segment "
                f"needs {low}..{high}",
                path,
            )
    return rate, frames, channels


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class AudioStore:
    """Segment files on disk under ``root`` with an index by (stream, time).

    Parameters
    ----------
    root
        Folder of the store; ``None`` uses :func:`default_audio_root`. Created if missing.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> store = AudioStore(tempfile.mkdtemp())
    >>> seg = {"stream_id": "s1", "id": "a1", "start": "2020-01-01T00:00:00Z",
    ...        "end": "2020-01-01T00:00:01Z", "file_extension": ".flac"}
    >>> src = store.root / "x.flac"
    >>> sf.write(src, np.zeros(8000, dtype="float32"), 8000)
    >>> store.add(seg, src).name
    '20200101T000000000Z_a1.flac'
    >>> store.find("s1", "2020-01-01", "2020-01-02")[["id", "sample_count"]].values.tolist()
    [['a1', 8000]]
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_audio_root()
        self.index_path = self.root / _INDEX_NAME
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._finalizer: weakref.finalize[Any, Any] | None = None
        with storage_errors(self.root, "create"):
            self.root.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._connect().executescript(_SCHEMA)

    # ----------------------------------------------------------------- index plumbing

    def _connect(self) -> sqlite3.Connection:
        """This process's connection (caller holds ``self._lock``).

        One connection shared by the threads of a process, serialised by the lock (SQLite
        serialises writers anyway); a connection inherited through fork() is never reused.
        """
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        conn = sqlite3.connect(
            str(self.index_path), timeout=60.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        self._conn, self._pid = conn, os.getpid()
        # Close on garbage collection too, so a store nobody closed leaks nothing.
        self._finalizer = weakref.finalize(self, conn.close)
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with storage_errors(self.root, "use"), self._lock:
            return list(self._connect().execute(sql, params).fetchall())

    def close(self) -> None:
        """Close the index connection (it reopens on next use).

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).close()
        """
        with self._lock:
            if self._conn is not None:
                if self._finalizer is not None:
                    self._finalizer.detach()
                if self._pid == os.getpid():
                    self._conn.close()
                self._conn = None

    def __enter__(self) -> AudioStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- naming

    def relative_path(self, segment: Mapping[str, Any]) -> Path:
        """Path of a segment's file relative to the root (validated ids only).

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).relative_path({"stream_id": "s1", "id": "a1",
        ...     "start": "2020-05-24T09:21:00Z", "file_extension": ".opus"}).as_posix()
        's1/2020/05/24/20200524T092100000Z_a1.opus'
        """
        stream_id = check_id(segment["stream_id"], "stream_id")
        segment_id = check_id(segment["id"], "segment id")
        ext = check_extension(segment["file_extension"])
        start = to_utc(segment["start"])
        return Path(
            stream_id,
            f"{start.year:04d}",
            f"{start.month:02d}",
            f"{start.day:02d}",
            f"{compact_time(start)}_{segment_id}{ext}",
        )

    def path_for(self, segment: Mapping[str, Any]) -> Path:
        """Absolute path where ``segment``'s file lives (whether or not it exists yet).

        Examples
        --------
        >>> import tempfile
        >>> store = AudioStore(tempfile.mkdtemp())
        >>> p = store.path_for({"stream_id": "s1", "id": "a1", "start": "2020-01-01",
        ...                     "file_extension": ".flac"})
        >>> p.is_relative_to(store.root)
        True
        """
        path = self.root / self.relative_path(segment)
        # Belt and braces: ids are already validated, but never hand out a path outside.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"segment path {path} escapes the store root")
        return path

    # ----------------------------------------------------------------- queries

    def has(self, segment: Mapping[str, Any]) -> bool:
        """Whether the index holds this segment (same id at that start) and its file exists.

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).has({"stream_id": "s1", "id": "a1",
        ...     "start": "2020-01-01", "file_extension": ".flac"})
        False
        """
        stream_id = check_id(segment["stream_id"], "stream_id")
        start_ms = to_ns(segment["start"]) // NS_PER_MS
        rows = self._query(
            "SELECT segment_id, path FROM segments WHERE stream_id=? AND start_ms=?",
            (stream_id, start_ms),
        )
        row = rows[0] if rows else None
        if row is None or row[0] != str(segment["id"]):
            return False
        return (self.root / row[1]).is_file()

    def find(self, stream_id: str, start: Any, end: Any) -> pd.DataFrame:
        """Stored segments of ``stream_id`` overlapping ``[start, end)``, ordered by start.

        Columns: ``stream_id, id, start, end, file_extension, sample_rate, sample_count,
        channels, sha1, path`` (absolute). ``start``/``end`` are ``datetime64[ms, UTC]``.
        A segment overlaps when its audio (``sample_count`` at ``sample_rate`` from its
        start, or ``end`` if later) intersects the span.

        Examples
        --------
        >>> import tempfile
        >>> list(AudioStore(tempfile.mkdtemp()).find("s1", "2020-01-01", "2020-01-02").columns[:4])
        ['stream_id', 'id', 'start', 'end']
        """
        check_id(stream_id, "stream_id")
        start_ns, end_ns = to_ns(start), to_ns(end)
        start_ms = start_ns // NS_PER_MS
        end_ms = -(-end_ns // NS_PER_MS)
        # The segment containing `start` is the last one starting at or before it; every
        # other overlapping segment starts inside the span. Both lookups use the primary key.
        rows = self._query(
                """
                SELECT stream_id, segment_id, start_ms, end_ms, file_extension, sample_rate,
                       frames, channels, sha1, path
                FROM segments
                WHERE stream_id = ?1 AND start_ms < ?3 AND start_ms >= COALESCE(
                    (SELECT MAX(start_ms) FROM segments WHERE stream_id = ?1 AND start_ms <= ?2),
                    ?2)
                ORDER BY start_ms
                """,
                (stream_id, start_ms, end_ms),
        )
        frame = self._rows_to_frame(rows)
        if frame.empty:
            return frame
        starts = np.array([r[2] for r in rows], dtype="int64") * NS_PER_MS
        ends = np.array([r[3] for r in rows], dtype="int64") * NS_PER_MS
        rates = np.array([r[5] for r in rows], dtype="int64")
        frames = np.array([r[6] for r in rows], dtype="int64")
        real_end = starts + -(-(frames * NS_PER_S) // rates)
        keep = (starts < end_ns) & (np.maximum(ends, real_end) > start_ns)
        return frame[keep].reset_index(drop=True)

    def _rows_to_frame(self, rows: list[tuple[Any, ...]]) -> pd.DataFrame:
        starts = [r[2] * NS_PER_MS for r in rows]
        ends = [r[3] * NS_PER_MS for r in rows]
        return pd.DataFrame(
            {
                "stream_id": pd.Series([r[0] for r in rows], dtype="object"),
                "id": pd.Series([r[1] for r in rows], dtype="object"),
                "start": ns_to_series(starts, unit="ms"),
                "end": ns_to_series(ends, unit="ms"),
                "file_extension": pd.Series([r[4] for r in rows], dtype="object"),
                "sample_rate": pd.array([r[5] for r in rows], dtype="Int64"),
                "sample_count": pd.array([r[6] for r in rows], dtype="Int64"),
                "channels": pd.array([r[7] for r in rows], dtype="Int64"),
                "sha1": pd.Series([r[8] for r in rows], dtype="object"),
                "path": pd.Series([str(self.root / r[9]) for r in rows], dtype="object"),
            }
        )

    # ----------------------------------------------------------------- writes

    def add(self, segment: Mapping[str, Any], data: str | os.PathLike[str] | bytes) -> Path:
        """Store one segment's file, verified, atomically; return its path.

        Parameters
        ----------
        segment
            A segment-table row: ``stream_id``, ``id``, ``start``, ``end``,
            ``file_extension`` and optionally ``sample_count``.
        data
            The file's bytes, or the path of a file to copy (left untouched).

        Raises
        ------
        ValueError
            An unsafe id or unknown extension.
        AudioVerificationError
            The audio is not decodable or its length does not match; nothing is stored.
        CacheError
            The store's folder cannot be written (read-only, full); nothing is stored.

        Examples
        --------
        >>> import tempfile, io, numpy as np
        >>> store = AudioStore(tempfile.mkdtemp())
        >>> buf = io.BytesIO()
        >>> sf.write(buf, np.zeros(800, dtype="float32"), 8000, format="FLAC")
        >>> store.add({"stream_id": "s1", "id": "a1", "start": "2020-01-01T00:00:00Z",
        ...            "end": "2020-01-01T00:00:00.100Z", "file_extension": ".flac"},
        ...           buf.getvalue()).suffix
        '.flac'
        """
        final = self.path_for(segment)
        with storage_errors(self.root):
            final.parent.mkdir(parents=True, exist_ok=True)
            # Temporaries of writers killed long ago (none is kept open that long).
            remove_quietly(stale_files(final.parent, [".tmp-*"]))
            fd, tmp_name = tempfile.mkstemp(
                dir=final.parent, prefix=".tmp-", suffix=final.suffix
            )
        tmp = Path(tmp_name)
        try:
            with storage_errors(self.root), os.fdopen(fd, "wb") as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    with open(data, "rb") as src:
                        while chunk := src.read(1 << 20):
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            rate, frames, channels = verify_segment_file(segment, tmp)
            with storage_errors(self.root):
                sha1 = _sha1(tmp)
                os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._index(segment, final, rate, frames, channels, sha1)
        return final

    def _index(
        self,
        segment: Mapping[str, Any],
        path: Path,
        rate: int,
        frames: int,
        channels: int,
        sha1: str,
    ) -> None:
        start_ns = to_ns(segment["start"])
        end_value = segment.get("end")
        if end_value is None or pd.isna(end_value):
            end_ns = start_ns + -(-(frames * NS_PER_S) // rate)
        else:
            end_ns = to_ns(end_value)
        self._query(
            "INSERT OR REPLACE INTO segments VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                str(segment["stream_id"]),
                start_ns // NS_PER_MS,
                -(-end_ns // NS_PER_MS),
                str(segment["id"]),
                check_extension(segment["file_extension"]),
                path.relative_to(self.root).as_posix(),
                int(rate),
                int(frames),
                int(channels),
                sha1,
            ),
        )

    def remove(self, segment: Mapping[str, Any]) -> None:
        """Delete a segment's file and index row (no error if absent).

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).remove({"stream_id": "s1", "id": "a1",
        ...     "start": "2020-01-01", "file_extension": ".flac"})
        """
        path = self.path_for(segment)
        self._query(
            "DELETE FROM segments WHERE stream_id=? AND start_ms=?",
            (str(segment["stream_id"]), to_ns(segment["start"]) // NS_PER_MS),
        )
        path.unlink(missing_ok=True)

    def verify(self, segment: Mapping[str, Any]) -> bool:
        """Whether the stored file still has the SHA-1 recorded when it was added.

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).verify({"stream_id": "s1", "id": "a1",
        ...     "start": "2020-01-01", "file_extension": ".flac"})
        False
        """
        rows = self._query(
            "SELECT sha1, path, segment_id FROM segments WHERE stream_id=? AND start_ms=?",
            (check_id(segment["stream_id"], "stream_id"), to_ns(segment["start"]) // NS_PER_MS),
        )
        row = rows[0] if rows else None
        if row is None or row[2] != str(segment["id"]):
            return False
        path = self.root / row[1]
        return path.is_file() and _sha1(path) == row[0]

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM segments")[0][0])

    def __repr__(self) -> str:
        return f"AudioStore({str(self.root)!r})"
