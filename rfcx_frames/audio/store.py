"""The local audio store: verified segment files on disk, found through their index.

Layout under the root::

    <root>/index.sqlite
    <root>/<stream_id>/<YYYY>/<MM>/<DD>/<YYYYMMDDTHHMMSSmmmZ>_<segment id><ext>

File names come from :func:`~rfcx_frames.audio.naming.segment_path` (checked ids only, so
nothing is written outside the root); the index is a
:class:`~rfcx_frames.audio.segment_index.SegmentIndex`. Files are written through
:func:`rfcx_frames.files.atomic_path` and checked
(:func:`~rfcx_frames.audio.segment_check.check_segment_audio`) before they get their name,
so a crash or a failed check never leaves a partial file under a real name.

Examples
--------
>>> import tempfile
>>> store = AudioStore(tempfile.mkdtemp())
>>> store.find("abc", "2020-01-01", "2020-01-02").empty
True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rfcx_frames.audio.naming import check_extension, check_id, segment_path
from rfcx_frames.audio.sample_time import NS_PER_MS, audio_end_ns, ns_to_series
from rfcx_frames.audio.segment_check import AudioFacts, check_segment_audio
from rfcx_frames.audio.segment_index import IndexRow, SegmentIndex
from rfcx_frames.cache import cache_path
from rfcx_frames.cache.disk import remove_quietly, stale_files, storage_errors
from rfcx_frames.cache.manage import AUDIO
from rfcx_frames.files import TMP_PREFIX, atomic_path
from rfcx_frames.timeutil import to_ns

_COPY_BLOCK = 1 << 20


def default_audio_root() -> Path:
    """The default audio store root, ``<cache folder>/audio``.

    Returns
    -------
    Path
        ``audio/`` under :func:`rfcx_frames.cache.cache_path`.

    Examples
    --------
    >>> default_audio_root().name
    'audio'
    """
    return cache_path() / AUDIO


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_COPY_BLOCK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_synced(path: Path, data: str | os.PathLike[str] | bytes) -> None:
    """Write bytes, or copy a file, to ``path`` and fsync it."""
    with path.open("xb") as out:
        if isinstance(data, bytes):
            out.write(data)
        else:
            with open(data, "rb") as src:
                while chunk := src.read(_COPY_BLOCK):
                    out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def _start_ms(segment: Mapping[str, Any]) -> int:
    return to_ns(segment["start"]) // NS_PER_MS


def _rows_to_frame(root: Path, rows: list[IndexRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stream_id": pd.Series([r.stream_id for r in rows], dtype="object"),
            "id": pd.Series([r.segment_id for r in rows], dtype="object"),
            "start": ns_to_series([r.start_ms * NS_PER_MS for r in rows], unit="ms"),
            "end": ns_to_series([r.end_ms * NS_PER_MS for r in rows], unit="ms"),
            "file_extension": pd.Series([r.file_extension for r in rows], dtype="object"),
            "sample_rate": pd.array([r.sample_rate for r in rows], dtype="Int64"),
            "sample_count": pd.array([r.frames for r in rows], dtype="Int64"),
            "channels": pd.array([r.channels for r in rows], dtype="Int64"),
            "sha1": pd.Series([r.sha1 for r in rows], dtype="object"),
            "path": pd.Series([str(root / r.path) for r in rows], dtype="object"),
        }
    )


class AudioStore:
    """Segment files on disk under ``root`` with an index by (stream, time).

    Parameters
    ----------
    root
        Folder of the store; ``None`` uses :func:`default_audio_root`. Created if missing.

    Examples
    --------
    >>> import tempfile, numpy as np, soundfile as sf
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
        with storage_errors(self.root, "create"):
            self.root.mkdir(parents=True, exist_ok=True)
        self.index = SegmentIndex(self.root)
        self.index_path = self.index.path

    def close(self) -> None:
        """Close the index connection (it reopens on next use).

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).close()
        """
        self.index.close()

    def __enter__(self) -> AudioStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- naming

    def relative_path(self, segment: Mapping[str, Any]) -> Path:
        """Path of a segment's file relative to the root (validated ids only).

        Parameters
        ----------
        segment
            A segment-table row: ``stream_id``, ``id``, ``start``, ``file_extension``.

        Returns
        -------
        Path
            See :func:`~rfcx_frames.audio.naming.segment_path`.

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).relative_path({"stream_id": "s1", "id": "a1",
        ...     "start": "2020-05-24T09:21:00Z", "file_extension": ".opus"}).as_posix()
        's1/2020/05/24/20200524T092100000Z_a1.opus'
        """
        return segment_path(segment)

    def path_for(self, segment: Mapping[str, Any]) -> Path:
        """Absolute path where ``segment``'s file lives (whether or not it exists yet).

        Parameters
        ----------
        segment
            A segment-table row: ``stream_id``, ``id``, ``start``, ``file_extension``.

        Returns
        -------
        Path
            Inside the root.

        Examples
        --------
        >>> import tempfile
        >>> store = AudioStore(tempfile.mkdtemp())
        >>> p = store.path_for({"stream_id": "s1", "id": "a1", "start": "2020-01-01",
        ...                     "file_extension": ".flac"})
        >>> p.is_relative_to(store.root)
        True
        """
        path = self.root / segment_path(segment)
        # Belt and braces: ids are already validated, but never hand out a path outside.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"segment path {path} escapes the store root")
        return path

    # ----------------------------------------------------------------- queries

    def _stored(self, segment: Mapping[str, Any]) -> tuple[IndexRow, Path] | None:
        """The index row and file of this very segment (same id at that start), if stored."""
        row = self.index.get(check_id(segment["stream_id"], "stream_id"), _start_ms(segment))
        if row is None or row.segment_id != str(segment["id"]):
            return None
        path = self.root / row.path
        return (row, path) if path.is_file() else None

    def has(self, segment: Mapping[str, Any]) -> bool:
        """Whether the index holds this segment (same id at that start) and its file exists.

        Parameters
        ----------
        segment
            A segment-table row: ``stream_id``, ``id``, ``start``.

        Returns
        -------
        bool
            True when stored.

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).has({"stream_id": "s1", "id": "a1",
        ...     "start": "2020-01-01", "file_extension": ".flac"})
        False
        """
        return self._stored(segment) is not None

    def verify(self, segment: Mapping[str, Any]) -> bool:
        """Whether the stored file still has the SHA-1 recorded when it was added.

        Parameters
        ----------
        segment
            A segment-table row: ``stream_id``, ``id``, ``start``.

        Returns
        -------
        bool
            False when not stored or changed.

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).verify({"stream_id": "s1", "id": "a1",
        ...     "start": "2020-01-01", "file_extension": ".flac"})
        False
        """
        stored = self._stored(segment)
        return stored is not None and _sha1(stored[1]) == stored[0].sha1

    def find(self, stream_id: str, start: Any, end: Any) -> pd.DataFrame:
        """Stored segments of ``stream_id`` overlapping ``[start, end)``, ordered by start.

        A segment overlaps when its audio (``sample_count`` at ``sample_rate`` from its
        start, or ``end`` if later) intersects the span.

        Parameters
        ----------
        stream_id
            The stream.
        start, end
            The span; anything :func:`~rfcx_frames.timeutil.to_ns` reads.

        Returns
        -------
        pandas.DataFrame
            Columns ``stream_id, id, start, end, file_extension, sample_rate,
            sample_count, channels, sha1, path`` (absolute); ``start``/``end`` are
            ``datetime64[ms, UTC]``.

        Examples
        --------
        >>> import tempfile
        >>> list(AudioStore(tempfile.mkdtemp()).find("s1", "2020-01-01", "2020-01-02").columns[:4])
        ['stream_id', 'id', 'start', 'end']
        """
        check_id(stream_id, "stream_id")
        start_ns, end_ns = to_ns(start), to_ns(end)
        rows = self.index.overlapping(stream_id, start_ns // NS_PER_MS, -(-end_ns // NS_PER_MS))
        frame = _rows_to_frame(self.root, rows)
        if frame.empty:
            return frame
        starts = np.array([r.start_ms for r in rows], dtype="int64") * NS_PER_MS
        ends = np.array([r.end_ms for r in rows], dtype="int64") * NS_PER_MS
        real_end = audio_end_ns(starts, np.array([r.frames for r in rows], dtype="int64"),
                                np.array([r.sample_rate for r in rows], dtype="int64"))
        keep = (starts < end_ns) & (np.maximum(ends, real_end) > start_ns)
        return frame[keep].reset_index(drop=True)

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

        Returns
        -------
        Path
            The stored file.

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
        >>> import tempfile, io, numpy as np, soundfile as sf
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
            remove_quietly(stale_files(final.parent, [f"{TMP_PREFIX}*"]))
        with storage_errors(self.root), atomic_path(final) as tmp:
            _write_synced(tmp, data)
            facts = check_segment_audio(tmp, segment)
            sha1 = _sha1(tmp)
        self._record(segment, final, facts, sha1)
        return final

    def _record(
        self, segment: Mapping[str, Any], path: Path, facts: AudioFacts, sha1: str
    ) -> None:
        start_ns = to_ns(segment["start"])
        end_value = segment.get("end")
        if end_value is None or pd.isna(end_value):
            end_ns = audio_end_ns(start_ns, facts.frames, facts.sample_rate)
        else:
            end_ns = to_ns(end_value)
        self.index.put(IndexRow(
            str(segment["stream_id"]), str(segment["id"]), start_ns // NS_PER_MS,
            -(-end_ns // NS_PER_MS), check_extension(segment["file_extension"]),
            int(facts.sample_rate), int(facts.frames), int(facts.channels), sha1,
            path.relative_to(self.root).as_posix(),
        ))

    def remove(self, segment: Mapping[str, Any]) -> None:
        """Delete a segment's file and index row (no error if absent).

        Parameters
        ----------
        segment
            A segment-table row: ``stream_id``, ``id``, ``start``, ``file_extension``.

        Examples
        --------
        >>> import tempfile
        >>> AudioStore(tempfile.mkdtemp()).remove({"stream_id": "s1", "id": "a1",
        ...     "start": "2020-01-01", "file_extension": ".flac"})
        """
        path = self.path_for(segment)
        self.index.delete(str(segment["stream_id"]), _start_ms(segment))
        path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return self.index.count()

    def __repr__(self) -> str:
        return f"AudioStore({str(self.root)!r})"
