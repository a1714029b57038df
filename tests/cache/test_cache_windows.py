"""Interval algebra of the cache windows."""

from __future__ import annotations

import random

import pandas as pd

from rfcx_frames.cache.windows import (
    DAY_NS,
    covers,
    intersect,
    normalize,
    split_by_day,
    subtract,
    total,
    union,
)
from rfcx_frames.timeutil import from_ns, to_ns


def points(intervals: list[tuple[int, int]]) -> set[int]:
    return {x for a, b in intervals for x in range(a, b)}


def test_set_operations_match_point_sets() -> None:
    rng = random.Random(3)
    for _ in range(300):
        a = [(s, s + rng.randint(0, 6)) for s in (rng.randint(0, 30) for _ in range(4))]
        b = [(s, s + rng.randint(0, 6)) for s in (rng.randint(0, 30) for _ in range(4))]
        assert points(union(a, b)) == points(a) | points(b)
        assert points(intersect(a, b)) == points(a) & points(b)
        assert points(subtract(a, b)) == points(a) - points(b)
        assert covers(a, b) == (points(b) <= points(a))
        for result in (union(a, b), intersect(a, b), subtract(a, b)):
            assert result == normalize(result)  # sorted, disjoint, non-touching, non-empty
            assert total(result) == len(points(result))


def test_normalize_merges_touching_and_drops_empty() -> None:
    assert normalize([(3, 5), (0, 3), (7, 7), (6, 9), (8, 10)]) == [(0, 5), (6, 10)]


def test_split_by_day_cuts_at_utc_midnight() -> None:
    parts = list(split_by_day([(DAY_NS // 2, 2 * DAY_NS + 5)]))
    assert [d for d, _ in parts] == [0, DAY_NS, 2 * DAY_NS]
    assert parts[0][1] == [(DAY_NS // 2, DAY_NS)]
    assert parts[2][1] == [(2 * DAY_NS, 2 * DAY_NS + 5)]


def test_timestamp_round_trip_and_naive_is_utc() -> None:
    ts = pd.Timestamp("2024-05-06T07:08:09.123456789Z")
    assert from_ns(to_ns(ts)) == ts
    assert to_ns("2024-01-01") == to_ns(pd.Timestamp("2024-01-01", tz="UTC"))
    assert to_ns(pd.Timestamp("2024-01-01T03:00", tz="Asia/Bangkok")) == to_ns(
        "2023-12-31T20:00:00Z"
    )
