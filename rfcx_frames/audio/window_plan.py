"""Planning a batch of windows: segment lists per run of nearby windows, reads, one native rate.

The first half of :func:`~rfcx_frames.audio.windows.load_windows`: windows of one stream
that lie close together share one segment query (a *run*); the segments some window needs
but whose length is unknown get their headers read; every window is planned with
:func:`~rfcx_frames.audio.stitch.plan_window`; and windows with no audio at all get the
common native rate. Nothing is decoded here.

Examples
--------
>>> from rfcx_frames.audio.sources import TableSource
>>> batch = plan_batch(TableSource(pd.DataFrame()), [WindowRequest("s", 0, 10**9)], 100, 1)
>>> batch.plans[0].n_out, dict(batch.reads)
(100, {})
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rfcx_frames.audio.sample_time import NS_PER_S
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.audio.stitch import (
    Plan,
    Read,
    Segments,
    WindowRequest,
    complete_segments,
    plan_window,
    segments_of,
)
from rfcx_frames.timeutil import from_ns

#: Streams' segments are fetched in runs: windows of one stream closer than this share a query.
RUN_SPAN_NS = 3600 * NS_PER_S
#: Extra time queried around windows that will be resampled (covers the resampling margin).
QUERY_MARGIN_NS = 2 * NS_PER_S


class GapError(Exception):
    """A window is not fully covered by audio and ``gap="raise"`` was asked.

    Parameters
    ----------
    message
        What is missing.
    gaps
        The uncovered ``(start, end)`` spans as UTC Timestamps; kept as ``gaps``.
    stream_id
        The stream; kept as ``stream_id``.
    """

    def __init__(
        self, message: str, gaps: list[tuple[pd.Timestamp, pd.Timestamp]], stream_id: str = ""
    ) -> None:
        super().__init__(message)
        self.gaps = gaps
        self.stream_id = stream_id


@dataclass
class Batch:
    """The plan of a batch of windows: one :class:`Plan` per request, in request order."""

    plans: list[Plan]
    #: The segments of each run.
    runs: list[Segments]
    #: The reads planned from each file, keyed by ``(run index, segment index)``.
    reads: dict[tuple[int, int], list[Read]]


def runs_of(requests: Sequence[WindowRequest]) -> list[tuple[str, list[int]]]:
    """Group request indices by stream, then into runs of nearby windows.

    Parameters
    ----------
    requests
        The windows.

    Returns
    -------
    list
        ``(stream_id, request indices sorted by start)`` per run.

    Examples
    --------
    >>> runs_of([WindowRequest("s", 0, 1), WindowRequest("t", 0, 1), WindowRequest("s", 5, 6)])
    [('s', [0, 2]), ('t', [1])]
    """
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


def _list_runs(
    source: SegmentSource, requests: Sequence[WindowRequest], margin_ns: int
) -> tuple[list[Segments], dict[int, tuple[int, np.ndarray]]]:
    """The segments of every run, and per request its run and candidate segments."""
    runs: list[Segments] = []
    candidates: dict[int, tuple[int, np.ndarray]] = {}
    for stream_id, indices in runs_of(requests):
        lo = min(requests[i].start_ns for i in indices) - margin_ns
        hi = max(requests[i].end_ns for i in indices) + margin_ns
        segs = segments_of(stream_id, source.segments(stream_id, from_ns(lo), from_ns(hi)))
        runs.append(segs)
        for i in indices:
            q0, q1 = requests[i].start_ns - margin_ns, requests[i].end_ns + margin_ns
            # Segments are short compared with a run; a vectorised overlap test is cheap.
            candidates[i] = (len(runs) - 1,
                             np.flatnonzero((segs.start_ns < q1) & (segs.end_ns > q0)))
    return runs, candidates


def nearby_rate(source: SegmentSource, requests: Sequence[WindowRequest]) -> int:
    """Native rate for windows that are all gap: the stream's audio within the hour around.

    Parameters
    ----------
    source
        Where segments come from.
    requests
        The windows.

    Returns
    -------
    int
        The rate of the first segment found.

    Raises
    ------
    GapError
        No audio within an hour of any window.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> try:
    ...     nearby_rate(TableSource(pd.DataFrame()), [WindowRequest("s", 0, 1)])
    ... except GapError as err:
    ...     err.stream_id
    's'
    """
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


def _one_native_rate(source: SegmentSource, requests: Sequence[WindowRequest], batch: Batch
                     ) -> None:
    """Give every window the batch's one native rate; re-plan those with no audio."""
    native_rates = {p.rate for p in batch.plans if p.rate}
    if len(native_rates) > 1:
        raise ValueError(
            f"windows have different native sample rates {sorted(native_rates)}; "
            "pass sample_rate= to resample them to one rate"
        )
    common = native_rates.pop() if native_rates else nearby_rate(source, requests)
    for i, p in enumerate(batch.plans):
        if p.rate == 0:
            batch.plans[i] = plan_window(i, requests[i], batch.runs[0], np.zeros(0, int), common)[0]


def plan_batch(source: SegmentSource, requests: Sequence[WindowRequest],
               sample_rate: int | None, workers: int) -> Batch:
    """Plan every window of a batch (headers of unknown segments are read, nothing decoded).

    Parameters
    ----------
    source
        Where segments come from.
    requests
        The windows.
    sample_rate
        Output rate, or ``None`` for the one native rate of all windows.
    workers
        Threads that fetch segments whose length is unknown.

    Returns
    -------
    Batch
        The plans and the reads of every file.

    Raises
    ------
    ValueError
        ``sample_rate=None`` and the windows have different native rates.
    GapError
        ``sample_rate=None`` and no audio in or near any window.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> plan_batch(TableSource(pd.DataFrame()), [], 100, 1).plans
    []
    """
    margin_ns = 0 if sample_rate is None else QUERY_MARGIN_NS
    runs, candidates = _list_runs(source, requests, margin_ns)
    pending = {(run_id, int(k)): (runs[run_id], int(k))
               for run_id, cand in candidates.values()
               for k in cand[runs[run_id].rate[cand] == 0]}
    if pending:
        complete_segments(source, list(pending.values()), workers)
    plans: dict[int, Plan] = {}
    reads: dict[tuple[int, int], list[Read]] = defaultdict(list)
    for i, (run_id, cand) in candidates.items():
        plans[i], planned = plan_window(i, requests[i], runs[run_id], cand, sample_rate)
        for rd in planned:
            reads[(run_id, rd.segment)].append(rd)
    batch = Batch([plans[i] for i in range(len(requests))], runs, reads)
    if sample_rate is None:
        _one_native_rate(source, requests, batch)
    return batch
