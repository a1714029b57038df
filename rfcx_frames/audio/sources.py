"""Where audio comes from: the segment-source Protocol, the two local sources and the client's.

The window loader, clips and training sets only ever talk to a :class:`SegmentSource`: an
object that lists the segments of a stream overlapping a time span and hands back a local
file for one of them. :class:`LocalSource` (an audio store), :class:`TableSource` (files
listed in a DataFrame) and :class:`ClientSource` (downloads into a store) all implement it,
so everything above works the same offline and online.

Segment tables are described in :mod:`rfcx_frames.audio.segment_table`.

Examples
--------
>>> import pandas as pd
>>> sorted(TableSource(pd.DataFrame()).segments("s", pd.Timestamp(0, tz="UTC"),
...                                              pd.Timestamp(1, tz="UTC")).columns)[:2]
['end', 'file_extension']
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd
import soundfile as sf

from rfcx_frames.api import listings, ranged
from rfcx_frames.api.context import Context
from rfcx_frames.audio.download import fetch_bytes
from rfcx_frames.audio.segment_table import SEGMENT_COLUMNS, empty_segments, overlapping
from rfcx_frames.audio.store import AudioStore
from rfcx_frames.cache import cache_path
from rfcx_frames.cache.manage import AUDIO
from rfcx_frames.timeutil import to_ns, to_utc

#: Longest segment the platform makes (a file just under 120 s is kept whole).
MAX_SEGMENT = pd.Timedelta(seconds=120)


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class SegmentSource(Protocol):
    """What the window loader needs from a place that has audio.

    Any object with these two methods is a source; nothing needs to subclass this.

    Examples
    --------
    >>> isinstance(TableSource(pd.DataFrame()), SegmentSource)
    True
    """

    def segments(self, stream_id: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Segments of ``stream_id`` overlapping ``[start, end)``, ordered by start.

        Parameters
        ----------
        stream_id
            The stream.
        start, end
            The span.

        Returns
        -------
        pandas.DataFrame
            A segment table.
        """
        ...

    def fetch(self, segment: Mapping[str, Any]) -> Path:
        """A local file holding ``segment``, fetched if needed.

        Parameters
        ----------
        segment
            One row of :meth:`segments`.

        Returns
        -------
        Path
            The local file.
        """
        ...


# --------------------------------------------------------------------------- local sources


class LocalSource:
    """A :class:`SegmentSource` over an :class:`~rfcx_frames.audio.store.AudioStore`.

    Only what the store holds is visible; :meth:`fetch` raises ``FileNotFoundError`` for a
    segment that is not stored (a downloading source would fetch it instead).

    Parameters
    ----------
    store
        The store to read; ``None`` opens the default store under the cache folder.

    Examples
    --------
    >>> from rfcx_frames.audio.store import AudioStore
    >>> import tempfile
    >>> src = LocalSource(AudioStore(tempfile.mkdtemp()))
    >>> len(src.segments("abc", pd.Timestamp(0, tz="UTC"), pd.Timestamp(1, tz="UTC")))
    0
    """

    def __init__(self, store: AudioStore | None = None) -> None:
        self.store = store if store is not None else AudioStore()

    @classmethod
    def from_files(cls, table: pd.DataFrame, store: AudioStore | None = None) -> LocalSource:
        """Import a segment table with a ``path`` column of audio files into a store.

        Each file is copied into the store (verified, atomically) unless already there.

        Examples
        --------
        >>> import tempfile
        >>> from rfcx_frames.audio.store import AudioStore
        >>> src = LocalSource.from_files(empty_segments().assign(path=[]),
        ...                              AudioStore(tempfile.mkdtemp()))
        """
        source = cls(store)
        rows: list[dict[str, Any]] = table.to_dict("records")  # type: ignore[assignment]
        for row in rows:
            if not source.store.has(row):
                source.store.add(row, Path(row["path"]))
        return source

    def segments(self, stream_id: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Stored segments of ``stream_id`` overlapping ``[start, end)``.

        Parameters
        ----------
        stream_id
            The stream, looked up in the store's index.
        start, end
            The span.

        Returns
        -------
        pandas.DataFrame
            The rows of :meth:`AudioStore.find`, with ``path`` and ``sha1``.

        Examples
        --------
        >>> import tempfile
        >>> from rfcx_frames.audio.store import AudioStore
        >>> LocalSource(AudioStore(tempfile.mkdtemp())).segments(
        ...     "s1", pd.Timestamp(0, tz="UTC"), pd.Timestamp(10, tz="UTC")).empty
        True
        """
        return self.store.find(stream_id, start, end)

    def fetch(self, segment: Mapping[str, Any]) -> Path:
        """The stored file of ``segment``.

        Parameters
        ----------
        segment
            One row of :meth:`segments`.

        Returns
        -------
        Path
            The file in the store.

        Raises
        ------
        FileNotFoundError
            The store does not hold the segment.

        Examples
        --------
        >>> import tempfile
        >>> from rfcx_frames.audio.store import AudioStore
        >>> src = LocalSource(AudioStore(tempfile.mkdtemp()))
        >>> try:
        ...     src.fetch({"stream_id": "s1", "id": "x", "start": "2020-01-01",
        ...                "file_extension": ".flac"})
        ... except FileNotFoundError:
        ...     print("not stored")
        not stored
        """
        path = segment.get("path")
        if isinstance(path, (str, os.PathLike)) and Path(path).is_file():
            return Path(path)
        if not self.store.has(segment):
            raise FileNotFoundError(
                f"segment {segment.get('id')} of stream {segment.get('stream_id')} "
                "is not in the local audio store"
            )
        return self.store.path_for(segment)


class TableSource:
    """A :class:`SegmentSource` over a segment table whose ``path`` column names the files.

    Nothing is copied: the files are read where they are. Missing ``sample_rate`` /
    ``sample_count`` are read from each file's header once, when the source is built.

    Parameters
    ----------
    table
        A segment table with a ``path`` column.

    Examples
    --------
    >>> TableSource(pd.DataFrame()).segments("s", pd.Timestamp(0, tz="UTC"),
    ...                                       pd.Timestamp(1, tz="UTC")).empty
    True
    """

    def __init__(self, table: pd.DataFrame) -> None:
        if len(table) == 0:
            self._table = empty_segments().assign(path=pd.Series([], dtype="object"))
            self._by_stream: dict[str, pd.DataFrame] = {}
            return
        missing = [c for c in (*SEGMENT_COLUMNS, "path") if c not in table.columns]
        if missing:
            raise ValueError(f"table is missing columns {missing}")
        work = table.copy()
        work["start"] = pd.to_datetime(work["start"], utc=True, format="ISO8601")
        work["end"] = pd.to_datetime(work["end"], utc=True, format="ISO8601")
        rates: list[int] = []
        counts: list[int] = []
        have_rate = "sample_rate" in work.columns
        have_count = "sample_count" in work.columns
        for row in work.to_dict("records"):
            rate, count = row.get("sample_rate"), row.get("sample_count")
            if not (have_rate and have_count) or pd.isna(rate) or pd.isna(count):
                info = sf.info(str(row["path"]))
                rate, count = info.samplerate, info.frames
            rates.append(int(rate))
            counts.append(int(count))
        work["sample_rate"] = pd.array(rates, dtype="Int64")
        work["sample_count"] = pd.array(counts, dtype="Int64")
        work = work.sort_values(["stream_id", "start"], kind="stable").reset_index(drop=True)
        self._table = work
        self._by_stream = {str(k): g for k, g in work.groupby("stream_id", sort=False)}

    @property
    def table(self) -> pd.DataFrame:
        """The segment table (sorted by stream and start), with rates and counts filled.

        Examples
        --------
        >>> TableSource(pd.DataFrame()).table.empty
        True
        """
        return self._table

    def segments(self, stream_id: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Rows of ``stream_id`` overlapping ``[start, end)``.

        Parameters
        ----------
        stream_id
            The stream; a stream the table lacks has no rows.
        start, end
            The span.

        Returns
        -------
        pandas.DataFrame
            The table's own rows (with ``path``), in start order.

        Examples
        --------
        >>> TableSource(pd.DataFrame()).segments("s", pd.Timestamp(0, tz="UTC"),
        ...                                       pd.Timestamp(5, tz="UTC")).empty
        True
        """
        group = self._by_stream.get(stream_id)
        if group is None:
            return self._table.iloc[0:0]
        return group[overlapping(group, to_ns(start), to_ns(end))]

    def fetch(self, segment: Mapping[str, Any]) -> Path:
        """The file named in the row's ``path``.

        Parameters
        ----------
        segment
            A row with a ``path``.

        Returns
        -------
        Path
            That path.

        Raises
        ------
        FileNotFoundError
            The file is missing.

        Examples
        --------
        >>> try:
        ...     TableSource(pd.DataFrame()).fetch({"path": "/nonexistent.flac"})
        ... except FileNotFoundError:
        ...     print("missing")
        missing
        """
        path = Path(str(segment["path"]))
        if not path.is_file():
            raise FileNotFoundError(path)
        return path


# --------------------------------------------------------------------------- the client's


def default_store(client: Context) -> AudioStore:
    """The client's audio store: ``audio/`` in its cache folder, or, for a client made
    with ``cache=False`` (or ``RFCX_FRAMES_CACHE_MODE=off``), a temporary folder that is
    deleted with the store, so the cache folder is never touched.

    Parameters
    ----------
    client
        The client whose cache settings decide.

    Returns
    -------
    AudioStore
        The store.

    Examples
    --------
    >>> from rfcx_frames import Client
    >>> store = default_store(Client(cache=False))
    >>> store.root.name.startswith("rfcx_frames-audio-")
    True
    """
    if client.cache_mode(None) == "off":
        folder = tempfile.mkdtemp(prefix="rfcx_frames-audio-")
        store = AudioStore(folder)
        # The index connection is closed first (finalizers run last-registered first).
        weakref.finalize(store, shutil.rmtree, folder, ignore_errors=True)
        return store
    return AudioStore(cache_path(client.cache_dir) / AUDIO)


class ClientSource:
    """A :class:`SegmentSource` that downloads into an AudioStore.

    Segments are listed through the client (cached like any ``segments_df``) and files
    are fetched on first use, checked, and kept in the store for every later window.

    Parameters
    ----------
    client
        The client to list and download with.
    store
        The local audio store (default: :func:`default_store`).

    Examples
    --------
    >>> from rfcx_frames.emulator import running
    >>> with running(days=1) as emu:  # doctest: +SKIP
    ...     src = ClientSource(emu.client())
    """

    def __init__(self, client: Context, store: AudioStore | None = None) -> None:
        self.client = client
        self.store = store if store is not None else default_store(client)

    def segments(self, stream_id: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Segments of ``stream_id`` overlapping ``[start, end)``, ordered by start.

        Parameters
        ----------
        stream_id
            The stream, listed through :meth:`Client.segments_df` (cached).
        start, end
            The span.

        Returns
        -------
        pandas.DataFrame
            The platform's segment rows, in start order.

        Examples
        --------
        >>> src.segments("abc123abc123", start, end)  # doctest: +SKIP
        """
        # The list endpoint filters on segment start, so look back one maximal segment.
        table = ranged.segments_df(self.client, stream_id, to_utc(start) - MAX_SEGMENT, to_utc(end),
                                        progress=False)
        if len(table) == 0:
            return empty_segments()
        table = table.assign(stream_id=table["stream_id"].astype(str))
        mask = overlapping(table, int(to_utc(start).value), int(to_utc(end).value))
        return table[mask].reset_index(drop=True)

    def stream_rates(self) -> dict[str, int]:
        """Each listed stream's native rate: ``max_sample_rate`` of the (cached) listing.

        Segment rows carry no rate, so this is how a set of windows learns its native
        rate before any download.

        Examples
        --------
        >>> src.stream_rates()  # doctest: +SKIP
        {'abc123abc123': 48000}
        """
        streams = listings.streams_df(self.client, progress=False)
        known = streams[streams["max_sample_rate"].notna()]
        return {str(i): int(r) for i, r in zip(known["id"], known["max_sample_rate"],
                                                strict=True)}

    def fetch(self, segment: Mapping[str, Any]) -> Path:
        """A local, checked file for ``segment``, downloaded on first use.

        Parameters
        ----------
        segment
            One row of :meth:`segments`.

        Returns
        -------
        Path
            The file in the store.

        Examples
        --------
        >>> path = src.fetch(src.segments("abc123abc123", start, end).iloc[0])  # doctest: +SKIP
        """
        row = dict(segment)
        row["stream_id"] = str(row["stream_id"])
        if self.store.has(row):
            return self.store.path_for(row)
        data = fetch_bytes(self.client, row["stream_id"], row["start"])
        return self.store.add(row, data)
