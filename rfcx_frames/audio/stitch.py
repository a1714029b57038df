"""Stitching: which frames of which segment files land where in a window, and decoding them.

The window loader (:mod:`rfcx_frames.audio.windows`) works in three steps, all here except
the first: it lists the segments of each stream near the windows (:func:`segments_of`),
completes the rate and length of the segments some window needs from their file headers
(:func:`complete_segments`), plans every window in integer sample arithmetic
(:func:`plan_window`), and decodes each file once for all the reads planned from it
(:func:`read_file`).

Positions: sample 0 of a segment lands at ``round((segment start - window start) * R)``
(:func:`~rfcx_frames.audio.sample_time.samples_between`), computed from that segment's own start.

Examples
--------
>>> margin_samples(48000, 22050)  # whole samples at both rates: 960 * 22050 / 48000 = 441
960
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
import soundfile as sf
import soxr

from rfcx_frames.audio.sample_time import (
    NS_PER_MS,
    NS_PER_S,
    audio_end_ns,
    samples_between,
    series_ns,
)
from rfcx_frames.audio.sources import SegmentSource

Channel = int | Literal["mix"]
_T = TypeVar("_T")
_R = TypeVar("_R")

#: Extra samples read around a piece of a segment whose rate differs from the window's.
_MIXED_PAD = 64


@dataclass(frozen=True)
class WindowRequest:
    """One window to load: a stream and an integer-nanosecond span ``[start_ns, end_ns)``.

    Parameters
    ----------
    stream_id
        The stream.
    start_ns, end_ns
        The span in nanoseconds since the epoch.
    """

    stream_id: str
    start_ns: int
    end_ns: int


@dataclass
class Segments:
    """The segments of one run of one stream, resolved to arrays."""

    stream_id: str
    rows: list[dict[str, Any]]
    start_ns: np.ndarray
    frames: np.ndarray
    rate: np.ndarray
    end_ns: np.ndarray  # real end of the audio (from frames), ceil'd to ns
    paths: dict[int, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Read:
    window: int  # index of the request
    segment: int  # index into the run's Segments
    src_start: int  # first frame to read from the file
    src_count: int  # frames to read
    src_rate: int  # file rate
    chunk_dst: int  # buffer index of the first decoded (and resampled) sample
    dst_start: int  # buffer range actually written
    dst_count: int


@dataclass
class Plan:
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
END_SLACK_NS = 3 * NS_PER_MS


def segments_of(stream_id: str, table: pd.DataFrame) -> Segments:
    """Arrays of a segment table; rate and length stay 0 where the table lacks them.

    Examples
    --------
    >>> t = pd.DataFrame({"start": pd.to_datetime(["1970-01-01T00:00:01Z"]),
    ...                   "end": pd.to_datetime(["1970-01-01T00:00:02Z"]),
    ...                   "sample_rate": [8000], "sample_count": [8000]})
    >>> segs = segments_of("s", t)
    >>> int(segs.end_ns[0]), int(segs.rate[0])
    (2000000000, 8000)
    """
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
    real_end = audio_end_ns(starts, frames, np.maximum(rates, 1))
    ends = np.where(known, real_end, listed_end + END_SLACK_NS)
    return Segments(stream_id, rows, starts, frames, rates, ends)


def complete_segments(
    source: SegmentSource, pending: list[tuple[Segments, int]], workers: int
) -> None:
    """Fetch the files of segments whose rate or length is unknown and read their headers.

    Only segments some window needs get here, and they are fetched in parallel (a
    downloading source downloads them now; the files are decoded from the same paths later).

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> complete_segments(TableSource(pd.DataFrame()), [], workers=1)
    """

    def one(item: tuple[Segments, int]) -> tuple[Path, int, int]:
        segs, k = item
        path = source.fetch(segs.rows[k])
        info = sf.info(str(path))
        return path, int(info.samplerate), int(info.frames)

    results = parallel_map(one, pending, workers)
    for (segs, k), (path, rate, frames) in zip(pending, results, strict=True):
        segs.paths[k] = path
        segs.rate[k], segs.frames[k] = rate, frames
        segs.end_ns[k] = audio_end_ns(segs.start_ns[k], frames, rate)


def parallel_map(func: Callable[[_T], _R], items: Sequence[_T], workers: int) -> list[_R]:
    """``[func(x) for x in items]``, in ``workers`` threads when there is more than one item.

    libsndfile releases the GIL, and a downloading source waits on the network, so threads
    overlap; the first exception is raised.

    Parameters
    ----------
    func
        Called once per item.
    items
        The inputs.
    workers
        Threads at most (1 or fewer: in the calling thread).

    Returns
    -------
    list
        The results, in the order of ``items``.

    Examples
    --------
    >>> parallel_map(abs, [-1, -2], workers=2)
    [1, 2]
    """
    if workers <= 1 or len(items) <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


def margin_samples(native: int, target: int) -> int:
    """A resampling margin that is a whole number of samples at both rates.

    Examples
    --------
    >>> margin_samples(44100, 48000)  # 882 samples at 44.1 kHz = 960 at 48 kHz
    882
    """
    step = native // math.gcd(native, target)
    wanted = max(512, native // 50)
    return -(-wanted // step) * step


def _plan_reads(index: int, start_ns: int, segs: Segments, candidates: np.ndarray, native: int,
                span: tuple[int, int], n_native: int
                ) -> tuple[list[Read], list[tuple[int, int]]]:
    """The reads filling buffer samples ``span`` (native rate) and the window samples covered.

    Candidates are visited by start, so the earlier of two overlapping segments wins.
    """
    lo, hi = span
    reads: list[Read] = []
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
            Read(index, int(k), src0, src1 - src0, rate, chunk_dst - lo, dst0 - lo, dst1 - dst0)
        )
        inner0, inner1 = max(dst0, 0), min(dst1, n_native)
        if inner1 > inner0:
            covered.append((inner0, inner1))
    return reads, covered


def plan_window(
    index: int,
    request: WindowRequest,
    segs: Segments,
    candidates: np.ndarray,
    sample_rate: int | None,
) -> tuple[Plan, list[Read]]:
    """Plan one window: its native rate, output length, margin and the reads that fill it.

    ``candidates`` index the segments that may overlap the window (sorted by start); the
    earlier of two overlapping segments wins. Request ``index`` is recorded in each read.

    Examples
    --------
    >>> t = pd.DataFrame({"start": pd.to_datetime(["1970-01-01T00:00:01Z"]),
    ...                   "end": pd.to_datetime(["1970-01-01T00:00:02Z"]),
    ...                   "sample_rate": [10], "sample_count": [10]})
    >>> plan, reads = plan_window(0, WindowRequest("s", 1_500_000_000, 2_500_000_000),
    ...                           segments_of("s", t), np.array([0]), None)
    >>> plan.n_out, plan.covered, [(r.src_start, r.src_count, r.dst_start) for r in reads]
    (10, [(0, 5)], [(5, 5, 0)])
    """
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
        return Plan(request, 0, 0, 0, 0, 0, [], 0), []
    n_native = samples_between(start_ns, end_ns, native)
    n_out = samples_between(start_ns, end_ns, target)
    margin = 0 if target == native else margin_samples(native, target)
    lo, hi = -margin, n_native + margin
    reads, covered = _plan_reads(index, start_ns, segs, candidates, native, (lo, hi), n_native)
    plan = Plan(request, native, target, n_out, margin, hi - lo, covered, n_native)
    return plan, reads


def gaps_ns(plan: Plan) -> list[tuple[int, int]]:
    """Uncovered spans of a planned window, in integer ns, at native sample resolution.

    Examples
    --------
    >>> empty = segments_of("s", pd.DataFrame())
    >>> plan, _ = plan_window(0, WindowRequest("s", 0, 10**9), empty, np.zeros(0, int), 100)
    >>> gaps_ns(plan)
    [(0, 1000000000)]
    """
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


def coverage_mask(start_ns: int, n: int, rate: int, gaps: Sequence[tuple[int, int]]) -> np.ndarray:
    """Per-sample coverage of ``n`` samples from ``start_ns`` at ``rate``, given the gaps.

    Examples
    --------
    >>> coverage_mask(0, 4, 4, [(250_000_000, 500_000_000)]).tolist()
    [True, False, True, True]
    """
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


def _libsndfile_at_least(major: int, minor: int) -> bool:
    try:
        found = tuple(int(x) for x in str(sf.__libsndfile_version__).split(".")[:2])
    except ValueError:
        return False
    return found >= (major, minor)


#: libsndfile seeks Ogg/Opus sample-exactly from 1.2 on (tested in tests/audio); older
#: versions may land a few samples off, so those files are decoded from the start instead.
OGG_SEEK_EXACT = _libsndfile_at_least(1, 2)


def _seek(f: sf.SoundFile, target: int, position: int, exact: bool) -> None:
    """Move to frame ``target``: a real seek, or decoding and discarding when not exact."""
    if exact:
        f.seek(target)
        return
    if position < 0 or target < position:
        f.seek(0)
        position = 0
    while position < target:
        skipped = len(f.read(min(target - position, 1 << 16), dtype="float32", always_2d=True))
        if skipped == 0:
            break
        position += skipped


def read_file(
    path: Path,
    reads: list[Read],
    buffers: list[np.ndarray],
    native_rates: list[int],
    channel: Channel,
) -> None:
    """Decode every read of one file (in file order) into the window buffers.

    Each read is decoded straight into its buffer when the file is mono at the window's
    rate; otherwise channels are mixed/picked and the rate converted first.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.wav"
    >>> sf.write(p, np.arange(10, dtype="float32") / 10, 10)
    >>> buf = [np.zeros(4, dtype="float32")]
    >>> read_file(p, [Read(0, 0, 3, 4, 10, 0, 0, 4)], buf, [10], "mix")
    >>> (buf[0] * 10).round().tolist()  # 16-bit WAV: frames 3..6 of 0.0, 0.1, ...
    [3.0, 4.0, 5.0, 6.0]
    """
    with sf.SoundFile(str(path)) as f:
        position = -1
        exact = f.format != "OGG" or OGG_SEEK_EXACT
        for r in sorted(reads, key=lambda r: r.src_start):
            if r.src_start != position:
                _seek(f, r.src_start, position, exact)
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
