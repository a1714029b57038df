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
>>> from rfcx_frames.audio.source import TableSource
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

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import soundfile as sf
import soxr

from rfcx_frames.audio.source import (
    NS_PER_MS,
    NS_PER_S,
    SegmentSource,
    from_ns,
    samples_between,
    series_ns,
    to_ns,
)

GapMode = Literal["zero", "nan", "raise"]
Channel = int | Literal["mix"]

#: Streams' segments are fetched in runs: windows of one stream closer than this share a query.
RUN_SPAN_NS = 3600 * NS_PER_S
#: Extra time queried around windows that will be resampled (covers the resampling margin).
QUERY_MARGIN_NS = 2 * NS_PER_S
#: Extra samples read around a piece of a segment whose rate differs from the window's.
_MIXED_PAD = 64


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


@dataclass(frozen=True)
class Coverage:
    """Which part of a window had audio.

    Attributes
    ----------
    gaps
        Uncovered spans ``(start, end)`` as UTC Timestamps, in order.
    mask
        Boolean array, one value per returned sample, True where audio was present.
    sample_rate
        Rate of the returned samples.
    """

    gaps: list[tuple[pd.Timestamp, pd.Timestamp]]
    mask: np.ndarray
    sample_rate: int

    @property
    def fraction(self) -> float:
        """Fraction of samples covered by audio (1.0 = no gap).

        Examples
        --------
        >>> Coverage([], np.ones(4, dtype=bool), 8000).fraction
        1.0
        """
        return float(self.mask.mean()) if self.mask.size else 1.0


@dataclass(frozen=True)
class WindowRequest:
    """One window to load: a stream and an integer-nanosecond span ``[start_ns, end_ns)``."""

    stream_id: str
    start_ns: int
    end_ns: int


# --------------------------------------------------------------------------- planning


@dataclass
class _Segments:
    """The segments of one run of one stream, resolved to arrays."""

    stream_id: str
    rows: list[dict[str, Any]]
    start_ns: np.ndarray
    frames: np.ndarray
    rate: np.ndarray
    end_ns: np.ndarray  # real end of the audio (from frames), ceil'd to ns
    paths: dict[int, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class _Read:
    window: int  # index of the request
    segment: int  # index into the run's _Segments
    src_start: int  # first frame to read from the file
    src_count: int  # frames to read
    src_rate: int  # file rate
    chunk_dst: int  # buffer index of the first decoded (and resampled) sample
    dst_start: int  # buffer range actually written
    dst_count: int


@dataclass
class _Plan:
    request: WindowRequest
    rate: int  # native rate of the stitched buffer
    target: int  # output rate
    n_out: int
    margin: int  # native samples before the window in the buffer (resampling)
    n_buffer: int
    covered: list[tuple[int, int]]  # native sample ranges inside [0, n_native)
    n_native: int


#: Slack on a segment's listed ``end`` while its real length is unknown: the platform floors
#: ``end`` to milliseconds and older rows end 1 ms before the next segment.
_END_SLACK_NS = 3 * NS_PER_MS


def _segments_of(stream_id: str, table: pd.DataFrame) -> _Segments:
    """Arrays of a segment table; rate and length stay 0 where the table lacks them."""
    table = table.sort_values("start", kind="stable") if len(table) else table
    rows: list[dict[str, Any]] = table.to_dict("records")  # type: ignore[assignment]
    n = len(rows)
    starts = series_ns(table["start"]) if n else np.zeros(0, dtype="int64")
    listed_end = series_ns(table["end"]) if n and "end" in table.columns else starts.copy()
    frames = np.zeros(n, dtype="int64")
    rates = np.zeros(n, dtype="int64")
    for i, row in enumerate(rows):
        rate, count = row.get("sample_rate"), row.get("sample_count")
        if rate is not None and count is not None and not pd.isna(rate) and not pd.isna(count):
            rates[i], frames[i] = int(rate), int(count)
    known = (rates > 0) & (frames > 0)
    real_end = starts + -(-(frames * NS_PER_S) // np.maximum(rates, 1))
    ends = np.where(known, real_end, listed_end + _END_SLACK_NS)
    return _Segments(stream_id, rows, starts, frames, rates, ends)


def _complete(
    source: SegmentSource, pending: list[tuple[_Segments, int]], workers: int
) -> None:
    """Fetch the files of segments whose rate or length is unknown and read their headers.

    Only segments some window needs get here, and they are fetched in parallel (a
    downloading source downloads them now; the files are decoded from the same paths later).
    """

    def one(item: tuple[_Segments, int]) -> tuple[Path, int, int]:
        segs, k = item
        path = source.fetch(segs.rows[k])
        info = sf.info(str(path))
        return path, int(info.samplerate), int(info.frames)

    if workers <= 1 or len(pending) <= 1:
        results = [one(item) for item in pending]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, pending))
    for (segs, k), (path, rate, frames) in zip(pending, results, strict=True):
        segs.paths[k] = path
        segs.rate[k], segs.frames[k] = rate, frames
        segs.end_ns[k] = segs.start_ns[k] + -(-(frames * NS_PER_S) // rate)


def _margin_samples(native: int, target: int) -> int:
    """A resampling margin that is a whole number of samples at both rates."""
    step = native // math.gcd(native, target)
    wanted = max(512, native // 50)
    return -(-wanted // step) * step


def _plan_window(
    index: int,
    request: WindowRequest,
    segs: _Segments,
    candidates: np.ndarray,
    sample_rate: int | None,
) -> tuple[_Plan, list[_Read]]:
    start_ns, end_ns = request.start_ns, request.end_ns
    inner = candidates[
        (segs.start_ns[candidates] < end_ns) & (segs.end_ns[candidates] > start_ns)
    ]
    if len(inner):
        native = int(segs.rate[inner].max())
    elif sample_rate is not None:
        native = sample_rate
    else:
        native = 0  # decided by the caller (no audio at all in this window)
    target = sample_rate if sample_rate is not None else native
    if native == 0:
        return _Plan(request, 0, 0, 0, 0, 0, [], 0), []
    n_native = samples_between(start_ns, end_ns, native)
    n_out = samples_between(start_ns, end_ns, target)
    margin = 0 if target == native else _margin_samples(native, target)
    lo, hi = -margin, n_native + margin
    reads: list[_Read] = []
    covered: list[tuple[int, int]] = []
    covered_until = lo
    for k in candidates:
        rate = int(segs.rate[k])
        frames = int(segs.frames[k])
        off = samples_between(start_ns, int(segs.start_ns[k]), native)
        length = frames if rate == native else samples_between(0, frames * NS_PER_S // rate, native)
        dst0 = max(lo, off, covered_until)
        dst1 = min(hi, off + length)
        if dst1 <= dst0:
            continue
        covered_until = dst1
        if rate == native:
            src0, src1, chunk_dst = dst0 - off, dst1 - off, dst0
        else:
            src0 = max(0, (dst0 - off) * rate // native - _MIXED_PAD)
            src1 = min(frames, -(-(dst1 - off) * rate // native) + _MIXED_PAD)
            chunk_dst = off + samples_between(0, src0 * NS_PER_S // rate, native)
        reads.append(
            _Read(index, int(k), src0, src1 - src0, rate, chunk_dst - lo, dst0 - lo, dst1 - dst0)
        )
        inner0, inner1 = max(dst0, 0), min(dst1, n_native)
        if inner1 > inner0:
            covered.append((inner0, inner1))
    plan = _Plan(request, native, target, n_out, margin, hi - lo, covered, n_native)
    return plan, reads


def _gaps_ns(plan: _Plan) -> list[tuple[int, int]]:
    """Uncovered spans of a planned window, in integer ns, at native sample resolution."""
    start_ns = plan.request.start_ns
    if plan.rate == 0:
        return [(start_ns, plan.request.end_ns)]
    gaps: list[tuple[int, int]] = []
    position = 0
    for a, b in sorted(plan.covered):
        if a > position:
            gaps.append((position, a))
        position = max(position, b)
    if position < plan.n_native:
        gaps.append((position, plan.n_native))

    def at(i: int) -> int:
        if i >= plan.n_native:
            return plan.request.end_ns
        return start_ns + (i * NS_PER_S + plan.rate // 2) // plan.rate

    return [(at(a), at(b)) for a, b in gaps]


def _mask(start_ns: int, n: int, rate: int, gaps: Sequence[tuple[int, int]]) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    for g0, g1 in gaps:
        a = max(0, samples_between(start_ns, g0, rate))
        b = min(n, samples_between(start_ns, g1, rate))
        if b > a:
            mask[a:b] = False
    return mask


# --------------------------------------------------------------------------- decoding


def _mono(block: np.ndarray, channel: Channel, path: Path) -> np.ndarray:
    if channel == "mix":
        if block.shape[1] == 1:
            return block[:, 0]
        return np.asarray(block.mean(axis=1), dtype=np.float32)
    if not 0 <= channel < block.shape[1]:
        raise ValueError(f"channel {channel} not in {path.name} ({block.shape[1]} channels)")
    return block[:, channel]


def _read_file(
    path: Path,
    reads: list[_Read],
    buffers: list[np.ndarray],
    native_rates: list[int],
    channel: Channel,
) -> None:
    """Decode every read of one file (in file order) into the window buffers."""
    with sf.SoundFile(str(path)) as f:
        position = -1
        for r in sorted(reads, key=lambda r: r.src_start):
            if r.src_start != position:
                f.seek(r.src_start)
            direct = (
                f.channels == 1
                and channel in ("mix", 0)
                and r.src_rate == native_rates[r.window]
                and r.chunk_dst == r.dst_start
                and r.src_count == r.dst_count
            )
            if direct:
                # Decode straight into the output: no temporary array, no copy.
                target = buffers[r.window][r.dst_start : r.dst_start + r.dst_count]
                got = f.read(dtype="float32", out=target, fill_value=0.0)
                position = r.src_start + len(got)
                continue
            block = f.read(r.src_count, dtype="float32", always_2d=True)
            position = r.src_start + len(block)
            data = _mono(block, channel, path)
            if r.src_rate != native_rates[r.window]:
                data = soxr.resample(data, r.src_rate, native_rates[r.window]).astype(
                    np.float32, copy=False
                )
            # Copy the part of the decoded chunk that falls in the planned buffer range.
            a = max(r.dst_start, r.chunk_dst)
            b = min(r.dst_start + r.dst_count, r.chunk_dst + len(data))
            if b > a:
                buffers[r.window][a:b] = data[a - r.chunk_dst : b - r.chunk_dst]


def default_workers() -> int:
    """Decoding threads used when none are given: ``min(8, 2 * cpu count)``.

    Examples
    --------
    >>> default_workers() >= 1
    True
    """
    return max(1, min(8, 2 * (os.cpu_count() or 1)))


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
            segs = _segments_of(r.stream_id, table)
            if segs.rate[0] == 0:
                _complete(source, [(segs, 0)], 1)
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
    >>> from rfcx_frames.audio.source import TableSource
    >>> x, cov = load_windows(TableSource(pd.DataFrame()), [WindowRequest("s", 0, 10**9)],
    ...                       sample_rate=100)
    >>> x.shape, cov[0].fraction
    ((1, 100), 0.0)
    """
    if gap not in ("zero", "nan", "raise"):
        raise ValueError(f"gap must be 'zero', 'nan' or 'raise', not {gap!r}")
    if sample_rate is not None and (int(sample_rate) != sample_rate or sample_rate <= 0):
        raise ValueError(f"sample_rate must be a positive integer, not {sample_rate!r}")
    for r in requests:
        if r.end_ns <= r.start_ns:
            raise ValueError(f"window end {from_ns(r.end_ns)} is not after start")
    target = None if sample_rate is None else int(sample_rate)
    margin_ns = 0 if target is None else QUERY_MARGIN_NS

    n_workers = workers if workers is not None else default_workers()
    plans: list[_Plan | None] = [None] * len(requests)
    reads_by_file: dict[tuple[int, int], list[_Read]] = defaultdict(list)
    run_segments: list[_Segments] = []
    candidates: dict[int, tuple[int, np.ndarray]] = {}
    pending: dict[tuple[int, int], tuple[_Segments, int]] = {}
    for stream_id, indices in _runs(requests):
        lo = min(requests[i].start_ns for i in indices) - margin_ns
        hi = max(requests[i].end_ns for i in indices) + margin_ns
        segs = _segments_of(stream_id, source.segments(stream_id, from_ns(lo), from_ns(hi)))
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
        _complete(source, list(pending.values()), n_workers)
    for i, (run_id, cand) in candidates.items():
        segs = run_segments[run_id]
        plan, reads = _plan_window(i, requests[i], segs, cand, target)
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
                plans[i] = _plan_window(i, requests[i], run_segments[0], np.zeros(0, int), common)[0]

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

    all_gaps = [_gaps_ns(p) for p in final_plans]
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
    jobs: list[tuple[Path, list[_Read]]] = []
    for (run_id, seg_index), reads in reads_by_file.items():
        segs = run_segments[run_id]
        path = segs.paths.get(seg_index)
        if path is None:
            path = source.fetch(segs.rows[seg_index])
        jobs.append((path, reads))
    if n_workers <= 1 or len(jobs) <= 1:
        for path, reads in jobs:
            _read_file(path, reads, buffers, rates, channel)
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            futures = [
                pool.submit(_read_file, path, reads, buffers, rates, channel)
                for path, reads in jobs
            ]
            for fut in futures:
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
        mask = _mask(r.start_ns, p.n_out, p.target, gaps)
        gap_list = [(from_ns(a), from_ns(b)) for a, b in gaps]
        if gap == "nan":
            out[i, : p.n_out][~mask] = np.nan
        coverages.append(Coverage(gap_list, mask, p.target))
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
        Where segments come from (:class:`~rfcx_frames.audio.source.LocalSource`, ...).
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
    >>> from rfcx_frames.audio.source import TableSource
    >>> empty = TableSource(pd.DataFrame())
    >>> load_window(empty, "s1", "2020-01-01", "2020-01-01T00:00:01Z", sample_rate=8000).shape
    (8000,)
    """
    request = WindowRequest(str(stream_id), to_ns(start), to_ns(end))
    audio, coverages = load_windows(source, [request], sample_rate, channel, gap)
    if return_gaps:
        return audio[0], coverages[0]
    return audio[0]


def requests_from(
    stream_ids: Iterable[str], starts: Iterable[Any], ends: Iterable[Any]
) -> list[WindowRequest]:
    """Window requests from parallel columns of stream ids, starts and ends.

    Examples
    --------
    >>> requests_from(["s"], ["1970-01-01T00:00:01Z"], ["1970-01-01T00:00:02Z"])[0].end_ns
    2000000000
    """
    s_ns = series_ns(pd.Series(list(starts)))
    e_ns = series_ns(pd.Series(list(ends)))
    return [
        WindowRequest(str(sid), int(a), int(b))
        for sid, a, b in zip(stream_ids, s_ns, e_ns, strict=True)
    ]
