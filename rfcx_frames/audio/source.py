"""Where audio comes from: the segment-source Protocol, two local sources, column time helpers.

The window loader, clips and training sets only ever talk to a :class:`SegmentSource`: an
object that lists the segments of a stream overlapping a time span and hands back a local
file for one of them. The client's downloading source (later) and the local sources here all
implement it, so everything above works the same offline and online.

A *segment table* is a DataFrame with one row per audio file: ``stream_id``, ``id`` (segment
uuid), ``start``, ``end`` (UTC), ``file_extension`` (``".flac"``, ``".opus"``, ``".wav"``) and,
when known from the file itself, ``sample_rate`` and ``sample_count``. When the last two are
missing the window loader reads them from the file's header.

Examples
--------
>>> import pandas as pd
>>> series_ns(pd.Series(["2020-05-24T09:21:00.5Z"])).tolist()
[1590312060500000000]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import soundfile as sf

from rfcx_frames.timeutil import to_ns

if TYPE_CHECKING:
    from rfcx_frames.audio.store import AudioStore

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000

#: Columns every segment table has, in this order.
SEGMENT_COLUMNS = ("stream_id", "id", "start", "end", "file_extension")


# --------------------------------------------------------------------------- time helpers


def series_ns(values: pd.Series | pd.Index | np.ndarray | list[Any]) -> np.ndarray:
    """Integer nanoseconds (int64 array) of a column of instants; naive values are UTC.

    Examples
    --------
    >>> series_ns(pd.Series(["1970-01-01T00:00:01Z"])).tolist()
    [1000000000]
    """
    parsed = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601")
    return parsed.dt.as_unit("ns").astype("int64").to_numpy()


def ns_to_series(
    values: np.ndarray | list[int], unit: Literal["s", "ms", "us", "ns"] = "ns"
) -> pd.Series:
    """A ``datetime64[<unit>, UTC]`` Series from integer nanoseconds.

    Examples
    --------
    >>> str(ns_to_series([0], unit="ms").dtype)
    'datetime64[ms, UTC]'
    """
    arr = np.asarray(values, dtype="int64")
    index = pd.to_datetime(arr, unit="ns", utc=True).as_unit(unit)
    return pd.Series(index)


def seconds_to_ns(seconds: float) -> int:
    """Round a duration in seconds to integer nanoseconds.

    Examples
    --------
    >>> seconds_to_ns(0.5)
    500000000
    """
    return round(seconds * NS_PER_S)


def samples_between(start_ns: int, end_ns: int, sample_rate: int) -> int:
    """Samples between two instants at a rate: ``round((end-start) * rate)`` in integers.

    Rounds half up, also for negative spans, so offsets of different segments measured from
    the same origin never disagree by a sample.

    Examples
    --------
    >>> samples_between(0, 1_000_000, 22050)  # 1 ms at 22050 Hz = 22.05 samples
    22
    >>> samples_between(0, -1_000_000, 22050)
    -22
    """
    return ((end_ns - start_ns) * sample_rate + NS_PER_S // 2) // NS_PER_S


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class SegmentSource(Protocol):
    """What the window loader needs from a place that has audio.

    Examples
    --------
    >>> isinstance(TableSource(pd.DataFrame()), SegmentSource)
    True
    """

    def segments(self, stream_id: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Segments of ``stream_id`` overlapping ``[start, end)``, ordered by start."""
        ...

    def fetch(self, segment: Mapping[str, Any]) -> Path:
        """A local file holding ``segment`` (one row of :meth:`segments`), fetched if needed."""
        ...


def empty_segments() -> pd.DataFrame:
    """An empty segment table with the declared dtypes.

    Examples
    --------
    >>> list(empty_segments().columns)[:3]
    ['stream_id', 'id', 'start']
    """
    return pd.DataFrame(
        {
            "stream_id": pd.Series([], dtype="object"),
            "id": pd.Series([], dtype="object"),
            "start": pd.Series([], dtype="datetime64[ms, UTC]"),
            "end": pd.Series([], dtype="datetime64[ms, UTC]"),
            "file_extension": pd.Series([], dtype="object"),
            "sample_rate": pd.Series([], dtype="Int64"),
            "sample_count": pd.Series([], dtype="Int64"),
        }
    )


def overlapping(table: pd.DataFrame, start_ns: int, end_ns: int) -> np.ndarray:
    """Boolean mask of rows of a segment table overlapping ``[start_ns, end_ns)``.

    A segment's extent is ``[start, end)``; when ``sample_rate`` and ``sample_count`` are
    known the file's real length counts too, since ``end`` is rounded to milliseconds.

    Examples
    --------
    >>> t = pd.DataFrame({"start": pd.to_datetime(["1970-01-01"], utc=True),
    ...                   "end": pd.to_datetime(["1970-01-01 00:01"], utc=True)})
    >>> overlapping(t, 0, 1).tolist()
    [True]
    """
    if len(table) == 0:
        return np.zeros(0, dtype=bool)
    starts = series_ns(table["start"])
    ends = series_ns(table["end"])
    if "sample_rate" in table.columns and "sample_count" in table.columns:
        rate = pd.to_numeric(table["sample_rate"]).astype("Float64").to_numpy(np.float64, na_value=0)
        count = pd.to_numeric(table["sample_count"]).astype("Float64").to_numpy(
            np.float64, na_value=0
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            real = np.where(rate > 0, starts + np.ceil(count * NS_PER_S / np.maximum(rate, 1)), 0)
        ends = np.maximum(ends, real.astype("int64"))
    return np.asarray((starts < end_ns) & (ends > start_ns), dtype=bool)


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
        from rfcx_frames.audio.store import AudioStore

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
