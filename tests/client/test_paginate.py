"""Paging rules, the query planner, the worker pool and the progress bar."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest

from rfcx_frames import config
from rfcx_frames.paginate import iter_pages, parse_total, plan_pieces, run_parallel
from rfcx_frames.progress import Progress


def pager(data: list[int], total: int | None = None,
          calls: list[tuple[int, int]] | None = None) -> Callable[[int, int], Page]:
    def fetch(offset: int, limit: int) -> tuple[list[int], int | None]:
        if calls is not None:
            calls.append((offset, limit))
        return data[offset:offset + limit], total

    return fetch


Page = tuple[list[int], int | None]


def test_short_page_stops_without_total() -> None:
    calls: list[tuple[int, int]] = []
    pages = list(iter_pages(pager(list(range(2500)), calls=calls), limit=1000))
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert calls == [(0, 1000), (1000, 1000), (2000, 1000)]


def test_exact_multiple_needs_one_empty_page() -> None:
    calls: list[tuple[int, int]] = []
    list(iter_pages(pager(list(range(2000)), calls=calls), limit=1000))
    assert len(calls) == 3


def test_total_items_saves_the_last_request() -> None:
    calls: list[tuple[int, int]] = []
    list(iter_pages(pager(list(range(2000)), total=2000, calls=calls), limit=1000))
    assert len(calls) == 2


def test_stop_on_empty_reads_past_short_pages() -> None:
    data = list(range(10))

    def fetch(offset: int, limit: int) -> tuple[list[int], int | None]:
        # a page may hold fewer items than limit even when more follow (classifications)
        return data[offset:offset + 3], None

    pages = list(iter_pages(fetch, limit=5, stop_on_empty=True))
    assert sum(len(p) for p in pages) == 10


def test_limit_is_always_explicit_and_bounded() -> None:
    with pytest.raises(ValueError, match="limit"):
        list(iter_pages(pager([]), limit=1001))
    calls: list[tuple[int, int]] = []
    list(iter_pages(pager([], calls=calls)))
    assert calls == [(0, config.PAGE_LIMIT_MAX)]


def test_parse_total_handles_the_platform_bug() -> None:
    assert parse_total("undefined") is None
    assert parse_total(" 12 ") == 12


def test_plan_covers_the_window_without_overlap() -> None:
    day = 86_400_000
    pieces = plan_pieces(["a", "b", "c"], 0, 31 * day, max_workers=8)
    for stream in "abc":
        mine = [p for p in pieces if p.stream == stream]
        assert mine[0].start_ms == 0 and mine[-1].end_ms == 31 * day
        assert all(x.end_ms == y.start_ms for x, y in itertools.pairwise(mine))
    assert 8 <= len(pieces) <= 8 * config.PIECES_PER_WORKER + 3
    assert plan_pieces(None, 5, 5) == []
    short = plan_pieces(None, 0, 1000, max_workers=8)
    assert len(short) == 1  # never cut below MIN_WINDOW_MS
    assert len(plan_pieces(None, 0, 31 * day, max_workers=1)) == 1


def test_run_parallel_keeps_order_and_raises_first_error() -> None:
    assert run_parallel(lambda x, stop: x * x, list(range(20)), max_workers=4) == [
        x * x for x in range(20)]
    ran: list[int] = []
    lock = threading.Lock()

    def work(x: int, stop: threading.Event) -> int:
        with lock:
            ran.append(x)
        if x == 3:
            raise RuntimeError("boom")
        time.sleep(0.01)
        return x

    with pytest.raises(RuntimeError, match="boom"):
        run_parallel(work, list(range(200)), max_workers=2)
    assert len(ran) < 200  # queued work was cancelled


def test_progress_counts_and_respects_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ENV_PROGRESS, raising=False)
    with Progress("x", enabled=True) as bar:
        assert not bar._bar.disable
        bar.page(10)
        bar.page(5)
    assert (bar.rows, bar.requests) == (15, 2)
    assert Progress("x", enabled=False)._bar.disable
    monkeypatch.setenv(config.ENV_PROGRESS, "0")
    assert Progress("x", enabled=True)._bar.disable
