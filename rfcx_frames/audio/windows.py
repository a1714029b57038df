"""Sample-exact audio windows stitched from segments: gaps, channels and resampling.

Time is kept in integer nanoseconds. A window ``[start, end)`` at rate ``R`` has
``round((end - start) * R)`` samples, and sample 0 of each segment lands at
``round((segment start - window start) * R)``, both computed in integers from that segment's
own start. Nothing accumulates float durations, so a window 59 minutes into an hour of
60 s segments is as exact as one at the top of the hour.

Each file is opened once per call, only the frames the window needs are decoded
(``SoundFile.seek`` + ``read``), and files are decoded in parallel threads (libsndfile
releases the GIL). When segments overlap, the earlier one wins.

Resampling (``sample_rate`` other than the native rate) runs soxr over the stitched
native-rate window plus a margin on each side, then trims to exactly
``round(duration * sample_rate)`` samples; the margin is a whole number of samples at both
rates so the trim does not shift the signal by a fraction of a sample.

Examples
--------
>>> import tempfile, numpy as np, pandas as pd, soundfile as sf
>>> from pathlib import Path
>>> from rfcx_frames.audio.sources import TableSource
>>> p = Path(tempfile.mkdtemp()) / "a.flac"
>>> sf.write(p, np.ones(8000, dtype="float32") * 0.5, 8000)
>>> src = TableSource(pd.DataFrame({"stream_id": ["s1"], "id": ["a"],
...     "start": ["2020-01-01T00:00:00Z"], "end": ["2020-01-01T00:00:01Z"],
...     "file_extension": [".flac"], "path": [str(p)]}))
>>> x, cov = load_window(src, "s1", "2020-01-01T00:00:00.5Z", "2020-01-01T00:00:01.25Z",
...                      return_gaps=True)
>>> x.shape, float(x[0]), cov.gaps[0][0]
((6000,), 0.5, Timestamp('2020-01-01 00:00:01+0000', tz='UTC'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import soxr

from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.audio.stitch import (
    Channel,
    Plan,
    WindowRequest,
    coverage_mask,
    default_workers,
    gaps_ns,
    parallel_map,
    read_file,
)
from rfcx_frames.audio.window_plan import Batch, GapError, plan_batch
from rfcx_frames.timeutil import from_ns, to_ns
from rfcx_frames.validate import check_sample_rate

GapMode = Literal["zero", "nan", "raise"]

class Coverage:
    """Which part of a window had audio.

    The per-sample mask is built only when asked for (clips of many windows need only
    :attr:`fraction`).

    Parameters
    ----------
    start_ns
        Start of the window in integer nanoseconds.
    n_samples
        Number of returned samples.
    sample_rate
        Rate of the returned samples.
    gaps_ns
        Uncovered spans ``(start, end)`` in integer nanoseconds, in order.

    Attributes
    ----------
    gaps
        Uncovered spans ``(start, end)`` as UTC Timestamps, in order.
    sample_rate
        Rate of the returned samples.
    n_samples
        Number of returned samples.

    Examples
    --------
    >>> cov = Coverage(0, 4, 4, [(250_000_000, 500_000_000)])
    >>> cov.mask.tolist(), cov.fraction, cov.gaps[0][0]
    ([True, False, True, True], 0.75, Timestamp('1970-01-01 00:00:00.250000+0000', tz='UTC'))
    """

    def __init__(
        self, start_ns: int, n_samples: int, sample_rate: int, gaps_ns: list[tuple[int, int]]
    ) -> None:
        self.start_ns = start_ns
        self.n_samples = n_samples
        self.sample_rate = sample_rate
        self.gaps_ns = gaps_ns
        self.gaps: list[tuple[pd.Timestamp, pd.Timestamp]] = [
            (from_ns(a), from_ns(b)) for a, b in gaps_ns
        ]
        self._mask: np.ndarray | None = None

    @property
    def mask(self) -> np.ndarray:
        """Boolean array, one value per returned sample, True where audio was present.

        Examples
        --------
        >>> Coverage(0, 3, 3, []).mask.tolist()
        [True, True, True]
        """
        if self._mask is None:
            self._mask = coverage_mask(self.start_ns, self.n_samples, self.sample_rate,
                                       self.gaps_ns)
        return self._mask

    @property
    def fraction(self) -> float:
        """Fraction of samples covered by audio (1.0 = no gap).

        Examples
        --------
        >>> Coverage(0, 4, 8000, []).fraction
        1.0
        """
        if not self.gaps_ns:
            return 1.0
        if self.n_samples == 0:
            return 1.0
        return float(self.mask.mean())

    def __repr__(self) -> str:
        return (f"Coverage(sample_rate={self.sample_rate}, n_samples={self.n_samples}, "
                f"gaps={self.gaps!r})")


# --------------------------------------------------------------------------- batch loader


def _check_requests(requests: Sequence[WindowRequest], gap: str) -> None:
    if gap not in ("zero", "nan", "raise"):
        raise ValueError(f"gap must be 'zero', 'nan' or 'raise', not {gap!r}")
    for r in requests:
        if r.end_ns <= r.start_ns:
            raise ValueError(f"window end {from_ns(r.end_ns)} is not after start")


def _raise_on_gaps(plans: list[Plan], all_gaps: list[list[tuple[int, int]]]) -> None:
    for p, gaps in zip(plans, all_gaps, strict=True):
        if gaps:
            r = p.request
            gap_list = [(from_ns(a), from_ns(b)) for a, b in gaps]
            raise GapError(
                f"stream {r.stream_id} has no audio for {len(gap_list)} span(s) in "
                f"[{from_ns(r.start_ns)}, {from_ns(r.end_ns)}): "
                + ", ".join(f"{a}..{b}" for a, b in gap_list[:5]),
                gap_list,
                r.stream_id,
            )


def _zero_uncovered(row: np.ndarray, covered: list[tuple[int, int]]) -> None:
    position = 0
    for a, b in sorted(covered):
        if a > position:
            row[position:a] = 0.0
        position = max(position, b)
    row[position:] = 0.0


def _allocate(plans: list[Plan], width: int | None, gap: GapMode
              ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The output array and each window's decode buffer (a view of its row when possible)."""
    n_max = max((p.n_out for p in plans), default=0)
    if width is None:
        width = n_max
    elif width < n_max:
        raise ValueError(f"width {width} is shorter than the longest window ({n_max} samples)")
    fill = np.nan if gap == "nan" else 0.0
    # np.empty, then write every sample exactly once: decoded audio where covered, zeros in
    # the gaps, the fill value after each window. A pre-filled array would be written twice.
    out = np.empty((len(plans), width), dtype=np.float32)
    buffers: list[np.ndarray] = []
    for i, p in enumerate(plans):
        out[i, p.n_out :] = fill
        if p.margin == 0 and p.rate == p.target:
            _zero_uncovered(out[i, : p.n_out], p.covered)
            buffers.append(out[i, : p.n_out])
        else:
            buffers.append(np.zeros(p.n_buffer, dtype=np.float32))
    return out, buffers


def _decode_all(source: SegmentSource, batch: Batch, buffers: list[np.ndarray],
                channel: Channel, workers: int) -> None:
    """Decode each file once, for all the reads planned from it, into the buffers."""
    rates = [p.rate for p in batch.plans]

    def decode(key: tuple[int, int]) -> None:
        segs, seg_index = batch.runs[key[0]], key[1]
        # Fetch inside the worker: a downloading source downloads files in parallel too.
        path = segs.paths.get(seg_index) or source.fetch(segs.rows[seg_index])
        read_file(path, batch.reads[key], buffers, rates, channel)

    parallel_map(decode, list(batch.reads), workers)


def _finish(out: np.ndarray, plans: list[Plan], buffers: list[np.ndarray],
            all_gaps: list[list[tuple[int, int]]], gap: GapMode) -> list[Coverage]:
    """Resample the buffers that need it into the output, mark NaN gaps; the coverages."""
    coverages: list[Coverage] = []
    for i, p in enumerate(plans):
        if p.margin or p.rate != p.target:
            y = soxr.resample(buffers[i], p.rate, p.target)
            shift = p.margin * p.target // p.rate
            piece = y[shift : shift + p.n_out]
            out[i, : len(piece)] = piece
            out[i, len(piece) : p.n_out] = 0.0
        coverage = Coverage(p.request.start_ns, p.n_out, p.target, all_gaps[i])
        if gap == "nan" and all_gaps[i]:
            out[i, : p.n_out][~coverage.mask] = np.nan
        coverages.append(coverage)
    return coverages


def load_windows(
    source: SegmentSource,
    requests: Sequence[WindowRequest],
    sample_rate: int | None = None,
    channel: Channel = "mix",
    gap: GapMode = "zero",
    width: int | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, list[Coverage]]:
    """Load many windows at once into one ``float32`` array ``[N, width]``.

    Windows shorter than ``width`` are followed by zeros (``NaN`` with ``gap="nan"``);
    ``width`` defaults to the longest window. Each file is opened once per call and files
    are decoded in parallel. With ``sample_rate=None`` all windows must have the same
    native rate (``ValueError`` otherwise); windows with no audio at all take that rate, or
    the rate of the stream's audio within an hour (:class:`GapError` if there is none).

    Parameters
    ----------
    source
        Where segments come from.
    requests
        The windows, each a stream and an integer-nanosecond span.
    sample_rate
        Output rate in Hz; ``None`` keeps the one native rate of all windows.
    channel
        ``"mix"`` averages the channels; an integer picks one.
    gap
        Samples with no recording: ``"zero"``, ``"nan"`` or ``"raise"`` (:class:`GapError`).
    width
        Columns of the result (default: the longest window); shorter windows are followed
        by zeros (NaN with ``gap="nan"``).
    workers
        Decoding threads (default :func:`~rfcx_frames.audio.stitch.default_workers`).

    Returns
    -------
    audio, coverages
        The array and one :class:`Coverage` per window.

    Examples
    --------
    >>> import pandas as pd
    >>> from rfcx_frames.audio.sources import TableSource
    >>> x, cov = load_windows(TableSource(pd.DataFrame()), [WindowRequest("s", 0, 10**9)],
    ...                       sample_rate=100)
    >>> x.shape, cov[0].fraction
    ((1, 100), 0.0)
    """
    _check_requests(requests, gap)
    sample_rate = check_sample_rate(sample_rate)
    n_workers = workers if workers is not None else default_workers()
    batch = plan_batch(source, requests, sample_rate, n_workers)
    out, buffers = _allocate(batch.plans, width, gap)
    all_gaps = [gaps_ns(p) for p in batch.plans]
    if gap == "raise":
        _raise_on_gaps(batch.plans, all_gaps)
    _decode_all(source, batch, buffers, channel, n_workers)
    return out, _finish(out, batch.plans, buffers, all_gaps, gap)


# --------------------------------------------------------------------------- one window


@overload
def load_window(
    source: SegmentSource,
    stream_id: str,
    start: Any,
    end: Any,
    sample_rate: int | None = ...,
    channel: Channel = ...,
    gap: GapMode = ...,
    return_gaps: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def load_window(
    source: SegmentSource,
    stream_id: str,
    start: Any,
    end: Any,
    sample_rate: int | None = ...,
    channel: Channel = ...,
    gap: GapMode = ...,
    *,
    return_gaps: Literal[True],
) -> tuple[np.ndarray, Coverage]: ...


def load_window(
    source: SegmentSource,
    stream_id: str,
    start: Any,
    end: Any,
    sample_rate: int | None = None,
    channel: Channel = "mix",
    gap: GapMode = "zero",
    return_gaps: bool = False,
) -> np.ndarray | tuple[np.ndarray, Coverage]:
    """Audio of one stream for exactly ``[start, end)`` as a 1-D ``float32`` array.

    Parameters
    ----------
    source
        Where segments come from (:class:`~rfcx_frames.audio.sources.LocalSource`, ...).
    stream_id
        The stream.
    start, end
        The span, anything :func:`pandas.Timestamp` reads; naive times are UTC.
    sample_rate
        Output rate in Hz; ``None`` keeps the native rate (the highest rate among the
        segments in the window). Other rates are produced with soxr.
    channel
        ``"mix"`` averages the channels; an integer picks one.
    gap
        Samples with no recording: ``"zero"`` fills 0, ``"nan"`` fills NaN, ``"raise"``
        raises :class:`GapError` listing the gaps.
    return_gaps
        Also return a :class:`Coverage` (gap list and per-sample mask).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, Coverage)
        ``round((end - start) * rate)`` samples.

    Examples
    --------
    >>> import pandas as pd
    >>> from rfcx_frames.audio.sources import TableSource
    >>> empty = TableSource(pd.DataFrame())
    >>> load_window(empty, "s1", "2020-01-01", "2020-01-01T00:00:01Z", sample_rate=8000).shape
    (8000,)
    """
    request = WindowRequest(str(stream_id), to_ns(start), to_ns(end))
    audio, coverages = load_windows(source, [request], sample_rate, channel, gap)
    if return_gaps:
        return audio[0], coverages[0]
    return audio[0]


__all__ = [
    "Channel",
    "Coverage",
    "GapError",
    "GapMode",
    "WindowRequest",
    "default_workers",
    "load_window",
    "load_windows",
]
