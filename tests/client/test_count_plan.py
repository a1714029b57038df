"""Detections paged from the platform's counts: whole pages, every row once (issue 16).

After a full first page, ``detections_df`` asks ``/clustered-detections`` how many rows
the rest holds and cuts it where each piece fills its pages: the requests stay within
5% of ``ceil(rows / 1000)``, and the rows are those of the database, under tie
shuffling and injected faults too.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from itertools import pairwise

import pandas as pd
import pytest

from rfcx_frames import paginate
from rfcx_frames.api.count_plan import bucket_width
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.emulator.http import Route, error_response
from tests.client.conftest import Truth

START = "2024-03-01"


def cut_for(emu: Emulator, truth: Truth, rows: int) -> str:
    """An end time so that the demo user's query holds about ``rows`` detections."""
    streams = truth.readable_streams(emu)
    found = emu.store.query(
        f"SELECT start FROM detections WHERE confidence >= 0.001 AND stream_id IN "
        f"({','.join('?' * len(streams))}) ORDER BY start LIMIT 1 OFFSET ?", (*streams, rows))
    assert found, "the world is too small for this test"
    return str(pd.Timestamp(found[0]["start"], unit="ms", tz="UTC").isoformat())


def test_requests_stay_within_five_percent_of_the_minimum(big_emulator: Emulator,
                                                         truth: Truth) -> None:
    # the size the issue measured: 63 requests before, for a minimum of 45
    end = cut_for(big_emulator, truth, 44_158)
    streams = truth.readable_streams(big_emulator)
    expected = {r["id"] for r in big_emulator.store.query(
        f"SELECT id FROM detections WHERE confidence >= 0.001 AND start >= ? AND start < ? "
        f"AND stream_id IN ({','.join('?' * len(streams))})",
        (pd.Timestamp(START, tz="UTC").value // 10**6, pd.Timestamp(end).value // 10**6,
         *streams))}
    with big_emulator.client(progress=False, cache=False) as client:
        big_emulator.reset_stats()
        frame = client.detections_df(START, end, min_confidence=0.001)
        sent = big_emulator.stats()["total_requests"]
    assert frame["id"].is_unique and set(frame["id"]) == expected
    minimum = math.ceil(len(expected) / 1000)
    assert sent <= 1.05 * minimum, (sent, minimum)


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running(world="demo", days=10, tie_order="random",
                 data_dir=tmp_path_factory.mktemp("count-plan")) as emu:
        yield emu


@pytest.mark.parametrize("max_workers", [1, 8])
def test_rows_are_whole_under_tie_shuffling_and_faults(shuffled: Emulator, truth: Truth,
                                                       max_workers: int) -> None:
    streams = truth.readable_streams(shuffled)
    expected = truth.detections(shuffled, streams, START, "2024-03-11", 0.0)
    assert len(expected) > 8_000  # enough for a counted plan of several pieces
    shuffled.set_faults(fault_rate=0.1)
    try:
        with shuffled.client(progress=False, cache=False, max_workers=max_workers) as client:
            frame = client.detections_df(START, "2024-03-11", streams=streams, min_confidence=0)
    finally:
        shuffled.set_faults(fault_rate=0.0)
    pd.testing.assert_frame_equal(frame, expected)


def test_the_cached_path_plans_from_counts_too(shuffled: Emulator, truth: Truth) -> None:
    streams = truth.readable_streams(shuffled)
    expected = truth.detections(shuffled, streams, START, "2024-03-11", 0.0)
    with shuffled.client(progress=False) as client:
        shuffled.reset_stats()
        frame = client.detections_df(START, "2024-03-11", streams=streams, min_confidence=0)
        sent = shuffled.stats()["total_requests"]
    pd.testing.assert_frame_equal(frame, expected)
    # the stream listing of the id check, then whole pages
    assert sent <= 1 + math.ceil(1.05 * math.ceil(len(expected) / 1000))


def test_plan_is_contiguous_and_costs_no_more_than_one_sequential_query() -> None:
    rng = random.Random(7)
    for _ in range(200):
        width = rng.choice([10, 60, 3600])
        buckets = rng.randint(0, 300)
        totals = [(b * width, rng.randint(0, 900)) for b in range(buckets) if rng.random() < 0.8]
        end = buckets * width + rng.randint(1, width)
        workers = rng.randint(1, 12)
        plan = paginate.plan_full_pages(totals, 0, end, width, max_pieces=workers)
        assert plan[0][0] == 0 and plan[-1][1] == end and len(plan) <= workers
        assert all(a < b for a, b in plan) and all(x[1] == y[0] for x, y in pairwise(plan))
        cost = sum(paginate.pages_needed(sum(n for t, n in totals if a <= t < b))
                   for a, b in plan)
        assert cost <= paginate.pages_needed(sum(n for _, n in totals))


def test_plan_uses_every_worker_when_the_counts_allow_it() -> None:
    totals = [(h * 10, 330) for h in range(24)]  # 7,920 rows: 8 pieces of one page each
    plan = paginate.plan_full_pages(totals, 0, 240, 10, max_pieces=8)
    assert plan == [(h * 30, h * 30 + 30) for h in range(8)]
    assert paginate.pages_needed(7_920) == 8


def test_bucket_width_keeps_the_count_answer_small() -> None:
    week, month = 7 * 86_400_000, 31 * 86_400_000
    assert bucket_width(week, 44_000, 30, 8_000) == 3_600_000
    assert bucket_width(week, 44_000, 30, 4_000) == 21_600_000
    assert bucket_width(month, 200_000, 30, 1_000) == 86_400_000
    assert bucket_width(3_600_000, 5_000, 30, 4_000) == 60_000


def test_a_platform_without_the_counting_route_still_pages_every_row(shuffled: Emulator,
                                                                    truth: Truth) -> None:
    # A deployment that answers 404 on /clustered-detections (an older platform).
    missing = Route("GET", re.compile(r"^/clustered-detections$"),
                    lambda req: error_response(404, "Not Found"), "GET /clustered-detections")
    shuffled.app.core.routes.insert(0, missing)
    try:
        streams = truth.readable_streams(shuffled)
        expected = truth.detections(shuffled, streams, START, "2024-03-11", 0.0)
        shuffled.reset_stats()
        with shuffled.client(progress=False, cache=False) as client:
            frame = client.detections_df(START, "2024-03-11", streams=streams,
                                         min_confidence=0)
        asked = shuffled.stats()["requests"]
    finally:
        shuffled.app.core.routes.remove(missing)
    pd.testing.assert_frame_equal(frame, expected)
    assert any("clustered-detections" in key for key in asked)  # asked, refused, paged anyway
