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

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import soxr

from rfcx_frames.audio.sample_time import NS_PER_S
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.audio.stitch import (
    Channel,
    Plan,
    Read,
    Segments,
    WindowRequest,
    complete_segments,
    coverage_mask,
    default_workers,
    gaps_ns,
    plan_window,
    read_file,
    segments_of,
)
from rfcx_frames.timeutil import from_ns, to_ns
from rfcx_frames.validate import check_sample_rate

GapMode = Literal["zero", "nan", "raise"]

#: Streams' segments are fetched in runs: windows of one stream closer than this share a query.
RUN_SPAN_NS = 3600 * NS_PER_S
#: Extra time queried around windows that will be resampled (covers the resampling margin).
QUERY_MARGIN_NS = 2 * NS_PER_S


class GapError(Exception):
    """A window is not fully covered by audio and ``gap="raise"`` was asked.

    ``gaps`` lists the uncovered ``(start, end)`` spans as UTC Timestamps; ``stream_id``
    names the stream.
    """

    def __init__(
        self, message: str, gaps: list[tuple[pd.Timestamp, pd.Timestamp]], stream_id: str = ""
    ) -> None:
        super().__init__(message)
        self.gaps = gaps
        self.stream_id = stream_id


class Coverage:
    """Which part of a window had audio.

    The per-sample mask is built only when asked for (clips of many windows need only
    :attr:`fraction`).

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


def _runs(requests: Sequence[WindowRequest]) -> list[tuple[str, list[int]]]:
    """Group request indices by stream, then into runs of nearby windows."""
    by_stream: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(requests):
        by_stream[r.stream_id].append(i)
    runs: list[tuple[str, list[int]]] = []
    for stream_id, indices in by_stream.items():
        indices.sort(key=lambda i: requests[i].start_ns)
        current: list[int] = []
        run_start = 0
        for i in indices:
            if current and requests[i].end_ns - run_start > RUN_SPAN_NS:
                runs.append((stream_id, current))
                current = []
            if not current:
                run_start = requests[i].start_ns
            current.append(i)
        if current:
            runs.append((stream_id, current))
    return runs


def _nearby_rate(source: SegmentSource, requests: Sequence[WindowRequest]) -> int:
    """Native rate for windows that are all gap: the stream's audio within the hour around."""
    for r in requests:
        table = source.segments(
            r.stream_id, from_ns(r.start_ns - RUN_SPAN_NS), from_ns(r.end_ns + RUN_SPAN_NS)
        )
        if len(table):
            segs = segments_of(r.stream_id, table)
            if segs.rate[0] == 0:
                complete_segments(source, [(segs, 0)], 1)
            return int(segs.rate[0])
    gaps = [(from_ns(r.start_ns), from_ns(r.end_ns)) for r in requests[:1]]
    raise GapError(
        "no audio in the window(s) or within an hour of them, and no sample_rate= given to "
        "size them",
        gaps,
        requests[0].stream_id if requests else "",
    )


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
    if gap not in ("zero", "nan", "raise"):
        raise ValueError(f"gap must be 'zero', 'nan' or 'raise', not {gap!r}")
    sample_rate = check_sample_rate(sample_rate)
    for r in requests:
        if r.end_ns <= r.start_ns:
            raise ValueError(f"window end {from_ns(r.end_ns)} is not after start")
    target = None if sample_rate is None else int(sample_rate)
    margin_ns = 0 if target is None else QUERY_MARGIN_NS

    n_workers = workers if workers is not None else default_workers()
    plans: list[Plan | None] = [None] * len(requests)
    reads_by_file: dict[tuple[int, int], list[Read]] = defaultdict(list)
    run_segments: list[Segments] = []
    candidates: dict[int, tuple[int, np.ndarray]] = {}
    pending: dict[tuple[int, int], tuple[Segments, int]] = {}
    for stream_id, indices in _runs(requests):
        lo = min(requests[i].start_ns for i in indices) - margin_ns
        hi = max(requests[i].end_ns for i in indices) + margin_ns
        segs = segments_of(stream_id, source.segments(stream_id, from_ns(lo), from_ns(hi)))
        run_id = len(run_segments)
        run_segments.append(segs)
        for i in indices:
            r = requests[i]
            q0, q1 = r.start_ns - margin_ns, r.end_ns + margin_ns
            # Segments are short compared with a run; a vectorised overlap test is cheap.
            cand = np.flatnonzero((segs.start_ns < q1) & (segs.end_ns > q0))
            candidates[i] = (run_id, cand)
            for k in cand[segs.rate[cand] == 0]:
                pending[(run_id, int(k))] = (segs, int(k))
    if pending:
        complete_segments(source, list(pending.values()), n_workers)
    for i, (run_id, cand) in candidates.items():
        segs = run_segments[run_id]
        plan, reads = plan_window(i, requests[i], segs, cand, target)
        plans[i] = plan
        for rd in reads:
            reads_by_file[(run_id, rd.segment)].append(rd)

    native_rates = {p.rate for p in plans if p is not None and p.rate}
    if target is None:
        if len(native_rates) > 1:
            raise ValueError(
                f"windows have different native sample rates {sorted(native_rates)}; "
                "pass sample_rate= to resample them to one rate"
            )
        common = native_rates.pop() if native_rates else _nearby_rate(source, requests)
        for i, p in enumerate(plans):
            if p is not None and p.rate == 0:
                plans[i] = plan_window(i, requests[i], run_segments[0], np.zeros(0, int), common)[0]

    final_plans = [p for p in plans if p is not None]
    n_max = max((p.n_out for p in final_plans), default=0)
    if width is None:
        width = n_max
    elif width < n_max:
        raise ValueError(f"width {width} is shorter than the longest window ({n_max} samples)")
    fill = np.nan if gap == "nan" else 0.0
    # np.empty, then write every sample exactly once: decoded audio where covered, zeros in
    # the gaps, the fill value after each window. A pre-filled array would be written twice.
    out = np.empty((len(requests), width), dtype=np.float32)

    buffers: list[np.ndarray] = []
    for i, p in enumerate(final_plans):
        out[i, p.n_out :] = fill
        if p.margin == 0 and p.rate == p.target:
            row = out[i, : p.n_out]
            position = 0
            for a, b in sorted(p.covered):
                if a > position:
                    row[position:a] = 0.0
                position = max(position, b)
            row[position:] = 0.0
            buffers.append(row)
        else:
            buffers.append(np.zeros(p.n_buffer, dtype=np.float32))

    all_gaps = [gaps_ns(p) for p in final_plans]
    if gap == "raise":
        for p, gaps in zip(final_plans, all_gaps, strict=True):
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

    rates = [p.rate for p in final_plans]
    jobs = [
        (run_segments[run_id], seg_index, reads)
        for (run_id, seg_index), reads in reads_by_file.items()
    ]

    def decode(job: tuple[Segments, int, list[Read]]) -> None:
        segs, seg_index, reads = job
        # Fetch inside the worker: a downloading source downloads files in parallel too.
        path = segs.paths.get(seg_index) or source.fetch(segs.rows[seg_index])
        read_file(path, reads, buffers, rates, channel)

    if n_workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            decode(job)
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for fut in [pool.submit(decode, job) for job in jobs]:
                fut.result()

    coverages: list[Coverage] = []
    for i, p in enumerate(final_plans):
        r = p.request
        gaps = all_gaps[i]
        if p.margin or p.rate != p.target:
            y = soxr.resample(buffers[i], p.rate, p.target)
            shift = p.margin * p.target // p.rate
            piece = y[shift : shift + p.n_out]
            out[i, : len(piece)] = piece
            out[i, len(piece) : p.n_out] = 0.0
        coverage = Coverage(r.start_ns, p.n_out, p.target, gaps)
        if gap == "nan" and gaps:
            out[i, : p.n_out][~coverage.mask] = np.nan
        coverages.append(coverage)
    return out, coverages


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
