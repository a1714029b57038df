"""Interval algebra of the cache windows, and the rows of a time column inside them."""

from __future__ import annotations

import random

import pyarrow as pa

from rfcx_frames.cache.intervals import (
    covers,
    intersect,
    normalize,
    split_by_day,
    subtract,
    time_mask,
    union,
)
from rfcx_frames.timeutil import DAY_NS


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
            assert sum(e - s for s, e in result) == len(points(result))


def test_normalize_merges_touching_and_drops_empty() -> None:
    assert normalize([(3, 5), (0, 3), (7, 7), (6, 9), (8, 10)]) == [(0, 5), (6, 10)]


def test_split_by_day_cuts_at_utc_midnight() -> None:
    parts = list(split_by_day([(DAY_NS // 2, 2 * DAY_NS + 5)]))
    assert [d for d, _ in parts] == [0, DAY_NS, 2 * DAY_NS]
    assert parts[0][1] == [(DAY_NS // 2, DAY_NS)]
    assert parts[2][1] == [(2 * DAY_NS, 2 * DAY_NS + 5)]


def test_time_mask_keeps_rows_inside_windows_whatever_the_unit() -> None:
    # A bound between two milliseconds: the row at the next millisecond is inside.
    column = pa.array([0, 1, 2, 3], pa.timestamp("ms", tz="UTC"))
    assert time_mask(column, [(1_500_000, 3_000_000)]).to_pylist() == [False, False, True, False]
    assert time_mask(column, []).to_pylist() == [False] * 4
    with_null = pa.array([None, 2], pa.timestamp("ms", tz="UTC"))
    assert time_mask(with_null, [(0, 10**7)]).to_pylist() == [False, True]
