"""Generic limit/offset paging and the concurrent query planner.

The platform pages with ``limit``/``offset`` only. Lists of projects and streams send a
true ``Total-Items`` header; segment lists send ``Total-Items: undefined`` and detections
and annotations none, so those stop at the first short page. Every request carries an
explicit ``limit`` (without one the platform returns every row at once).

Large time-ranged queries are split into :class:`Piece` s, one per stream and time window,
which a bounded thread pool fetches; the caller merges them in plan order, so results do
not depend on which thread finished first.

Examples
--------
>>> [(p.start_ms, p.end_ms) for p in plan_pieces(None, 0, 10, max_workers=1)]
[(0, 10)]
>>> len(plan_pieces(["a", "b"], 0, 48 * 3_600_000, max_workers=2))
8
"""

from __future__ import annotations

import itertools
import math
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol, TypeVar

from . import config
from .exceptions import CrowdedInstantWarning

T = TypeVar("T")
R = TypeVar("R")


class Sized(Protocol):
    """Anything with a length (a parsed page)."""

    def __len__(self) -> int: ...


P = TypeVar("P", bound=Sized)

#: ``fetch(offset, limit) -> (page, total or None)``
PageFunc = Callable[[int, int], "tuple[P, int | None]"]


@dataclass(frozen=True)
class Piece:
    """One unit of work: a stream (or all streams) and a ``[start_ms, end_ms)`` window."""

    stream: str | tuple[str, ...] | None
    start_ms: int
    end_ms: int


def parse_total(value: str | None) -> int | None:
    """The ``Total-Items`` header as an int, or ``None`` when absent or ``undefined``.

    Examples
    --------
    >>> parse_total("42"), parse_total("undefined"), parse_total(None)
    (42, None, None)
    """
    if value is None:
        return None
    text = value.strip()
    return int(text) if text.isdigit() else None


def iter_pages(
    fetch: Callable[[int, int], tuple[P, int | None]],
    *,
    limit: int = config.PAGE_LIMIT_MAX,
    offset: int = 0,
    stop_on_empty: bool = False,
    stop: threading.Event | None = None,
) -> Iterator[P]:
    """Yield pages from ``fetch(offset, limit)`` until the data is exhausted.

    A page shorter than ``limit`` ends the loop, unless ``stop_on_empty`` (for endpoints
    whose ``limit`` counts something other than the items returned, like classifications
    counted by joined names). A ``Total-Items`` count, when the first page gives one, ends
    the loop as soon as it is reached.

    Examples
    --------
    >>> data = list(range(25))
    >>> pages = iter_pages(lambda o, n: (data[o:o + n], None), limit=10)
    >>> [len(p) for p in pages]
    [10, 10, 5]
    """
    if not 1 <= limit <= config.PAGE_LIMIT_MAX:
        raise ValueError(f"limit must be between 1 and {config.PAGE_LIMIT_MAX}, not {limit!r}")
    total: int | None = None
    while True:
        if stop is not None and stop.is_set():
            return
        page, page_total = fetch(offset, limit)
        if total is None:
            total = page_total
        yield page
        offset += len(page)
        if total is not None and offset >= total:
            return
        if len(page) == 0 or (not stop_on_empty and total is None and len(page) < limit):
            return


def iter_keyset_pages(
    fetch: Callable[[int, int, int, int], P],
    start_ms: int,
    end_ms: int,
    last_start: Callable[[P], int],
    *,
    limit: int = config.PAGE_LIMIT_MAX,
    stop: threading.Event | None = None,
) -> Iterator[P]:
    """Pages of a time-ordered listing, each starting at the last start seen.

    ``fetch(start_ms, end_ms, offset, limit)`` returns rows ordered by start. The platform
    orders by start only, so rows sharing a start may come in a different order in every
    query, and offset pages can skip some of them. Restarting each page at the last start
    seen (offset 0) fetches the rows at that start again, whole; the caller drops the
    repeats by id. Only when one millisecond holds a full page of rows does paging fall
    back to offsets inside that millisecond.

    Examples
    --------
    >>> rows = [0, 1, 1, 2, 3, 3, 4]
    >>> def fetch(a, b, offset, n):
    ...     return [r for r in rows if a <= r < b][offset:offset + n]
    >>> pages = list(iter_keyset_pages(fetch, 0, 5, last_start=lambda p: p[-1], limit=3))
    >>> sorted(set(r for page in pages for r in page)) == sorted(set(rows))
    True
    """
    if not 1 <= limit <= config.PAGE_LIMIT_MAX:
        raise ValueError(f"limit must be between 1 and {config.PAGE_LIMIT_MAX}, not {limit!r}")
    cursor = start_ms
    while cursor < end_ms:
        if stop is not None and stop.is_set():
            return
        page = fetch(cursor, end_ms, 0, limit)
        yield page
        if len(page) < limit:
            return
        last = last_start(page)
        if last > cursor:
            cursor = last
            continue
        # A whole page at one millisecond: page through it by offset, then move past it.
        warnings.warn(
            f"{limit} or more rows start at the same millisecond ({cursor} ms since the "
            "epoch) in one query; the platform does not order them, so some may be missed. "
            "Narrow the query (classifiers=, classifications=, streams=) to be sure.",
            CrowdedInstantWarning, stacklevel=2)
        offset = len(page)
        while True:
            if stop is not None and stop.is_set():
                return
            crowded = fetch(cursor, cursor + 1, offset, limit)
            yield crowded
            if len(crowded) < limit:
                break
            offset += len(crowded)
        cursor += 1


def plan_pieces(
    streams: Sequence[str | tuple[str, ...]] | None,
    start_ms: int,
    end_ms: int,
    *,
    max_workers: int = config.DEFAULT_MAX_WORKERS,
    min_window_ms: int = config.MIN_WINDOW_MS,
) -> list[Piece]:
    """Split a ``[start_ms, end_ms)`` query by stream and time window.

    Aims at about ``PIECES_PER_WORKER`` pieces per worker in total (one piece when there
    is a single worker), never cutting a window shorter than ``min_window_ms``. Windows
    are contiguous and half-open, so no row belongs to two pieces of the same stream.

    Examples
    --------
    >>> [p.stream for p in plan_pieces(["s1", "s2"], 0, 1000, max_workers=8)]
    ['s1', 's2']
    """
    span = end_ms - start_ms
    if span <= 0:
        return []
    groups: list[str | tuple[str, ...] | None] = list(streams) if streams else [None]
    target = max_workers * config.PIECES_PER_WORKER if max_workers > 1 else 1
    per_group = max(1, math.ceil(target / len(groups)))
    n_windows = max(1, min(per_group, span // max(min_window_ms, 1)))
    edges = [start_ms + span * i // n_windows for i in range(n_windows + 1)]
    return [
        Piece(stream, lo, hi)
        for stream in groups
        for lo, hi in itertools.pairwise(edges)
        if hi > lo
    ]


def run_parallel(
    func: Callable[[T, threading.Event], R],
    items: Sequence[T],
    *,
    max_workers: int,
) -> list[R]:
    """``[func(item, stop) for item in items]`` on a bounded thread pool, in input order.

    The first exception stops the remaining work (``stop`` is set, queued items are
    cancelled) and is raised; no partial result is returned.

    Examples
    --------
    >>> run_parallel(lambda x, stop: x * 2, [1, 2, 3], max_workers=2)
    [2, 4, 6]
    """
    if not items:
        return []
    stop = threading.Event()
    if max_workers <= 1 or len(items) == 1:
        return [func(item, stop) for item in items]
    pool = ThreadPoolExecutor(max_workers=min(max_workers, len(items)),
                              thread_name_prefix="rfcx-frames")
    futures: list[Future[R]] = []
    try:
        futures = [pool.submit(func, item, stop) for item in items]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return [f.result() for f in futures]
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def pages_needed(rows: int, limit: int = config.PAGE_LIMIT_MAX) -> int:
    """Requests :func:`iter_keyset_pages` spends on ``rows`` rows (each later page repeats one).

    A page holding exactly ``limit`` rows cannot tell it is the last, so it costs one
    more request; an empty window costs one.

    Examples
    --------
    >>> [pages_needed(n) for n in (0, 999, 1000, 1998, 1999)]
    [1, 1, 2, 2, 3]
    """
    return max(0, rows - 1) // (limit - 1) + 1


def _cuts(edges: Sequence[int], cumulative: Sequence[int], n_pieces: int,
          limit: int) -> list[int]:
    """Indexes of ``edges`` to cut at: about ``n_pieces`` pieces, each but the last as
    close below a whole number of pages as the edges allow."""
    total = cumulative[-1] if cumulative else 0
    target = total / n_pieces
    cuts: list[int] = []
    done, i = 0, 0
    for _ in range(n_pieces - 1):
        best: tuple[float, float, int] | None = None
        while i < len(edges) and cumulative[i] - done < 0.5 * target:
            i += 1
        j = i
        while j < len(edges) and cumulative[j] - done <= 1.5 * target and cumulative[j] < total:
            rows = cumulative[j] - done
            # Rows a piece's last page leaves unused, and a little margin for ties.
            unused = pages_needed(rows, limit) * (limit - 1) - (rows - 1)
            score = (unused if unused >= 3 else limit + unused, abs(rows - target), j)
            best = score if best is None or score < best else best
            j += 1
        if best is None:
            break
        cuts.append(best[2])
        done, i = cumulative[best[2]], best[2] + 1
    return cuts


def plan_full_pages(totals: Sequence[tuple[int, int]], start_ms: int, end_ms: int, width: int,
                    *, max_pieces: int, limit: int = config.PAGE_LIMIT_MAX) -> list[tuple[int, int]]:
    """Cut ``[start_ms, end_ms)`` at bucket edges into windows made of full pages.

    ``totals`` are the platform's counts: ``(bucket start, rows)`` per non-empty bucket of
    ``width`` ms. Each window but the last ends where its rows fill its pages nearly
    whole, so the pieces together cost about what one sequential query would
    (:func:`pages_needed` of all the rows); among the plans of least cost, the one with
    most pieces (at most ``max_pieces``) is kept, for concurrency.

    Examples
    --------
    >>> totals = [(h * 10, 450) for h in range(8)]  # 3,600 rows: four pages at best
    >>> plan_full_pages(totals, 0, 80, 10, max_pieces=4)
    [(0, 20), (20, 40), (40, 60), (60, 80)]
    """
    edges: list[int] = []
    cumulative: list[int] = []
    running = 0
    for bucket, rows in totals:
        running += rows
        if start_ms < bucket + width < end_ms:
            edges.append(bucket + width)
            cumulative.append(running)
    whole = pages_needed(running, limit)
    best: tuple[int, int, list[int]] | None = None
    for n_pieces in range(1, max(1, max_pieces) + 1):
        cuts = _cuts(edges, cumulative, n_pieces, limit)
        bounds = [0, *(cumulative[c] for c in cuts), running]
        cost = sum(pages_needed(b - a, limit) for a, b in itertools.pairwise(bounds))
        if best is None or (cost, -len(cuts)) < (best[0], -len(best[2])):
            best = (cost, n_pieces, cuts)
    assert best is not None
    if best[0] > whole:
        best = (whole, 1, [])
    points = [start_ms, *(edges[c] for c in best[2]), end_ms]
    return list(itertools.pairwise(points))
