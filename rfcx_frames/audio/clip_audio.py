"""Lazy clip audio: an array-like ``[clips, samples]`` that decodes rows when indexed.

:class:`ClipAudio` holds no audio until asked: ``audio[i]`` loads one clip,
``audio[a:b]`` or ``audio[[i, j]]`` those rows, iteration loads ``batch_size`` clips at a
time, and ``np.asarray(audio)`` / :meth:`ClipAudio.materialize` load (and keep) them all.
Loaders turn row positions into ``float32 [len(rows), width]``: :class:`SourceLoader`
cuts windows from a :class:`~rfcx_frames.audio.sources.SegmentSource`.
:func:`native_rate` finds the one native rate of a set of windows from the segment
listing alone, before any audio is downloaded.

Examples
--------
>>> a = ClipAudio(3, 2, lambda rows: np.ones((len(rows), 2), np.float32) * rows[:, None])
>>> a.shape, a[2].tolist(), np.asarray(a)[:, 0].tolist()
((3, 2), [2.0, 2.0], [0.0, 1.0, 2.0])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from rfcx_frames.audio.clips import iter_clips
from rfcx_frames.audio.sample_time import series_ns
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.audio.windows import GapMode
from rfcx_frames.timeutil import from_ns

Loader = Callable[[np.ndarray], np.ndarray]


class ClipAudio:
    """``float32 [clips, samples]`` audio loaded on indexing, iteration or ``np.asarray``.

    Parameters
    ----------
    n
        Number of clips.
    width
        Samples per clip.
    load
        Row positions (``int64`` array) to ``float32 [len(rows), width]``.
    batch_size
        Clips loaded at a time when iterating or materialising (bounds memory).
    gap
        What the loader puts where a clip has no recording (``"nan"`` may hold NaN).

    Examples
    --------
    >>> a = ClipAudio(4, 3, lambda rows: np.zeros((len(rows), 3), np.float32), batch_size=2)
    >>> [clip.shape for clip in a][:1], a[1:3].shape, len(a)
    ([(3,)], (2, 3), 4)
    """

    dtype = np.dtype("float32")
    ndim = 2

    def __init__(self, n: int, width: int, load: Loader, batch_size: int = 256,
                 gap: str = "zero") -> None:
        self._n, self._width, self._load = int(n), int(width), load
        self.batch_size = max(1, int(batch_size))
        self.gap = gap
        self._held: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(clips, samples)``."""
        return self._n, self._width

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        state = "in memory" if self._held is not None else "lazy"
        return f"ClipAudio(shape={self.shape}, dtype=float32, {state})"

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        if self._held is not None:
            return self._held[rows]
        if len(rows) == 0:
            return np.zeros((0, self._width), dtype=np.float32)
        return np.asarray(self._load(rows), dtype=np.float32)

    def __getitem__(self, key: Any) -> np.ndarray:
        columns: Any = slice(None)
        if isinstance(key, tuple):
            key, columns = key[0], key[1:]
            columns = columns[0] if len(columns) == 1 else columns
        if isinstance(key, (int, np.integer)):
            position = int(key) + self._n if int(key) < 0 else int(key)
            if not 0 <= position < self._n:
                raise IndexError(f"clip {key} out of range for {self._n} clips")
            return self._rows(np.array([position]))[0][columns]
        rows = np.arange(self._n)[key]
        return self._rows(np.asarray(rows, dtype="int64"))[:, columns]

    def iter_batches(self, batch_size: int | None = None) -> Iterator[np.ndarray]:
        """Yield the audio in consecutive batches of ``batch_size`` rows.

        Examples
        --------
        >>> a = ClipAudio(3, 1, lambda rows: np.zeros((len(rows), 1), np.float32))
        >>> [b.shape[0] for b in a.iter_batches(2)]
        [2, 1]
        """
        size = self.batch_size if batch_size is None else max(1, int(batch_size))
        for lo in range(0, self._n, size):
            yield self._rows(np.arange(lo, min(lo + size, self._n), dtype="int64"))

    def __iter__(self) -> Iterator[np.ndarray]:
        for batch in self.iter_batches():
            yield from batch

    def materialize(self) -> np.ndarray:
        """Load every clip (in batches) and keep the array: later indexing reads memory.

        Examples
        --------
        >>> ClipAudio(2, 1, lambda rows: np.ones((len(rows), 1), np.float32)).materialize()
        array([[1.],
               [1.]], dtype=float32)
        """
        if self._held is None:
            held = np.zeros(self.shape, dtype=np.float32)
            for lo, batch in zip(range(0, self._n, self.batch_size), self.iter_batches(),
                                 strict=False):
                held[lo : lo + len(batch)] = batch
            self._held = held
        return self._held

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = self.materialize()
        return data if dtype is None else data.astype(dtype)

    def take(self, rows: np.ndarray) -> ClipAudio:
        """A lazy view of these row positions (memory shared when already loaded).

        Examples
        --------
        >>> a = ClipAudio(3, 1, lambda rows: rows[:, None].astype(np.float32))
        >>> a.take(np.array([2, 0]))[0].tolist()
        [2.0]
        """
        chosen = np.asarray(rows, dtype="int64")
        if self._held is not None:
            held = self._held[chosen]
            return ClipAudio(len(chosen), self._width, lambda r: held[r], self.batch_size,
                             self.gap)
        parent = self._rows
        return ClipAudio(len(chosen), self._width, lambda r: parent(chosen[r]), self.batch_size,
                         self.gap)


class SourceLoader:
    """Cuts the windows ``stream_id``/``start``/``end`` of a table from a source.

    Parameters
    ----------
    source
        Where the audio comes from.
    windows
        ``stream_id``, ``start``, ``end`` per clip.
    sample_rate
        The output rate.
    gap
        As in :func:`~rfcx_frames.audio.load_window`.
    width
        Samples per clip (shorter results are zero-padded, longer cut).

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> w = pd.DataFrame({"stream_id": ["s"], "start": pd.to_datetime([0], utc=True),
    ...                   "end": pd.to_datetime([10**9], utc=True)})
    >>> SourceLoader(TableSource(pd.DataFrame()), w, 100, "zero", 100)(np.array([0])).shape
    (1, 100)
    """

    def __init__(self, source: SegmentSource, windows: pd.DataFrame, sample_rate: int,
                 gap: GapMode, width: int) -> None:
        self.source, self.sample_rate, self.gap, self.width = source, sample_rate, gap, width
        self.windows = windows[["stream_id", "start", "end"]].reset_index(drop=True)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        batches = iter_clips(self.source, self.windows.iloc[rows], duration=None,
                             sample_rate=self.sample_rate, gap=self.gap,
                             batch_size=max(1, len(rows)), progress=False)
        audio, _ = next(batches)  # one batch holds every row, in order
        if audio.shape[1] == self.width:
            return audio  # no second copy: a shard's memory is one array
        out = np.zeros((len(rows), self.width), dtype=np.float32)
        n = min(self.width, audio.shape[1])
        out[:, :n] = audio[:, :n]
        return out


def _used_rates(segments: pd.DataFrame, starts: np.ndarray, ends: np.ndarray) -> set[int]:
    """Rates of the segments that overlap at least one window (windows sorted by start)."""
    if len(segments) == 0 or "sample_rate" not in segments.columns:
        return set()
    seg_start, seg_end = series_ns(segments["start"]), series_ns(segments["end"])
    reach = np.maximum.accumulate(ends)
    before = np.searchsorted(starts, seg_end, side="left")
    used = (before > 0) & (reach[np.clip(before - 1, 0, None)] > seg_start)
    return {int(r) for r in segments["sample_rate"][used].dropna()}


def native_rate(source: SegmentSource, windows: pd.DataFrame) -> int | None:
    """The one native rate of the recordings under ``windows`` (``None``: unknown).

    Only listings are read, so a mix of rates fails before any download: the segment
    listing's ``sample_rate`` where it has one (local sources), else the source's
    ``stream_rates()`` where it has that method (the client's source: the streams
    listing's ``max_sample_rate``).

    Parameters
    ----------
    source
        Where the segments are listed.
    windows
        ``stream_id``, ``start``, ``end``.

    Raises
    ------
    ValueError
        The windows span recordings of different rates (pass ``sample_rate=``).

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> w = pd.DataFrame({"stream_id": ["s"], "start": pd.to_datetime([0], utc=True),
    ...                   "end": pd.to_datetime([10**9], utc=True)})
    >>> native_rate(TableSource(pd.DataFrame()), w) is None
    True
    """
    rates: dict[int, list[str]] = {}
    stream_rates: Mapping[str, int] | None = None
    for stream_id, group in windows.groupby(windows["stream_id"].astype(str), sort=True):
        order = np.argsort(series_ns(group["start"]), kind="stable")
        starts = series_ns(group["start"])[order]
        ends = series_ns(group["end"])[order]
        segments = source.segments(str(stream_id), from_ns(int(starts[0])),
                                   from_ns(int(ends.max())))
        found = _used_rates(segments, starts, ends)
        if not found and hasattr(source, "stream_rates"):
            stream_rates = source.stream_rates() if stream_rates is None else stream_rates
            found = {int(stream_rates[str(stream_id)])} if str(stream_id) in stream_rates else set()
        for rate in found:
            rates.setdefault(rate, []).append(str(stream_id))
    if len(rates) > 1:
        listed = "; ".join(f"{r} Hz ({', '.join(s[:3])}{', ...' if len(s) > 3 else ''})"
                          for r, s in sorted(rates.items()))
        raise ValueError(f"the recordings have different native sample rates ({listed}); "
                         "pass sample_rate= to resample every clip to one rate")
    return next(iter(rates), None)


__all__ = ["ClipAudio", "Loader", "SourceLoader", "native_rate"]
