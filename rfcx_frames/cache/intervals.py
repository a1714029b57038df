"""Interval algebra on half-open ``[start, end)`` ns windows, and the rows a window holds.

The cache keeps, per stream, the set of windows it holds completely. Every question it
asks ("what is missing?", "which part of this file is still valid?") is a set
operation on lists of intervals, so these are pure functions on sorted, disjoint,
non-empty ``(start, end)`` tuples (a *normal* list). Integers rather than timestamps
keep the arithmetic exact and cheap; :func:`~rfcx_frames.timeutil.to_ns` and
:func:`~rfcx_frames.timeutil.from_ns` convert at the edges, and :func:`time_mask` applies
a list to a table's time column.

Examples
--------
>>> subtract([(0, 10)], [(2, 4), (6, 8)])
[(0, 2), (4, 6), (8, 10)]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from rfcx_frames.timeutil import DAY_NS, day_of

Interval = tuple[int, int]


def normalize(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort, drop empty intervals and merge overlapping or touching ones.

    Parameters
    ----------
    intervals
        Any ``(start, end)`` pairs.

    Examples
    --------
    >>> normalize([(5, 7), (0, 2), (2, 3), (4, 4)])
    [(0, 3), (5, 7)]
    """
    out: list[Interval] = []
    for start, end in sorted((int(s), int(e)) for s, e in intervals if e > s):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def union(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The union of two interval lists.

    Parameters
    ----------
    a, b
        Interval lists, normal or not.

    Examples
    --------
    >>> union([(0, 2)], [(1, 5), (7, 8)])
    [(0, 5), (7, 8)]
    """
    return normalize([*a, *b])


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The intersection of two interval lists (each normalized first).

    Parameters
    ----------
    a, b
        The lists; an instant is kept when both hold it.

    Examples
    --------
    >>> intersect([(0, 10)], [(2, 4), (8, 12)])
    [(2, 4), (8, 10)]
    """
    left, right = normalize(a), normalize(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i][0], right[j][0])
        end = min(left[i][1], right[j][1])
        if start < end:
            out.append((start, end))
        # Advance whichever interval finishes first: it cannot meet anything further right.
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The parts of ``a`` not covered by ``b``.

    Parameters
    ----------
    a
        The intervals to keep parts of.
    b
        The holes to cut out of them.

    Examples
    --------
    >>> subtract([(0, 10)], [(0, 3)])
    [(3, 10)]
    >>> subtract([(0, 10)], [])
    [(0, 10)]
    """
    out: list[Interval] = []
    holes = normalize(b)
    for start, end in normalize(a):
        cursor = start
        for h_start, h_end in holes:
            if h_end <= cursor or h_start >= end:
                continue
            if h_start > cursor:
                out.append((cursor, h_start))
            cursor = max(cursor, h_end)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


def covers(a: Iterable[Interval], b: Iterable[Interval]) -> bool:
    """Whether ``a`` covers every instant of ``b``.

    Parameters
    ----------
    a
        The covering intervals.
    b
        The intervals to cover.

    Examples
    --------
    >>> covers([(0, 10)], [(2, 3), (9, 10)])
    True
    >>> covers([(0, 10)], [(9, 11)])
    False
    """
    return not subtract(b, a)


def split_by_day(intervals: Iterable[Interval]) -> Iterator[tuple[int, list[Interval]]]:
    """Group the parts of a normal interval list by the UTC day they fall in.

    Yields ``(day_start_ns, parts)`` in day order; every part lies inside its day.

    Parameters
    ----------
    intervals
        A list of intervals; it is normalized first.

    Examples
    --------
    >>> [(d // DAY_NS, p) for d, p in split_by_day([(DAY_NS - 1, DAY_NS + 1)])]
    [(0, [(86399999999999, 86400000000000)]), (1, [(86400000000000, 86400000000001)])]
    """
    by_day: dict[int, list[Interval]] = {}
    for start, end in normalize(intervals):
        day = day_of(start)
        while day < end:
            part = (max(start, day), min(end, day + DAY_NS))
            by_day.setdefault(day, []).append(part)
            day += DAY_NS
    for day in sorted(by_day):
        yield day, by_day[day]


#: ``(start, end, fetched)``: a window and when its rows were fetched (all ns).
Stamped = tuple[int, int, int]


def stamp(stamps: Iterable[Stamped], intervals: Iterable[Interval], when: int) -> list[Stamped]:
    """``stamps`` with ``intervals`` (re)fetched at ``when``: sorted, disjoint, merged.

    Parameters
    ----------
    stamps
        The fetch times held so far.
    intervals
        The windows fetched again.
    when
        Their fetch time (ns).

    Examples
    --------
    >>> stamp([(0, 10, 1)], [(5, 20)], 2)
    [(0, 5, 1), (5, 20, 2)]
    """
    holes = normalize(intervals)
    out = [(a, b, t) for s, e, t in stamps for a, b in subtract([(s, e)], holes)]
    out += [(a, b, when) for a, b in holes]
    out.sort()
    merged: list[Stamped] = []
    for a, b, t in out:
        if merged and merged[-1][1] == a and merged[-1][2] == t:
            merged[-1] = (merged[-1][0], b, t)
        else:
            merged.append((a, b, t))
    return merged


def clip(stamps: Iterable[Stamped], intervals: Iterable[Interval]) -> list[Stamped]:
    """The parts of ``stamps`` inside ``intervals``, with their times.

    Parameters
    ----------
    stamps
        Stamped windows.
    intervals
        Where to keep them.

    Examples
    --------
    >>> clip([(0, 10, 1), (10, 20, 2)], [(5, 15)])
    [(5, 10, 1), (10, 15, 2)]
    """
    keep = normalize(intervals)
    out: list[Stamped] = []
    j = 0
    # Both lists are sorted and disjoint: one sweep, never looking back.
    for start, end, when in sorted(stamps):
        while j < len(keep) and keep[j][1] <= start:
            j += 1
        k = j
        while k < len(keep) and keep[k][0] < end:
            lo, hi = max(start, keep[k][0]), min(end, keep[k][1])
            if lo < hi:
                out.append((lo, hi, when))
            k += 1
    return out


def fetched_since(stamps: Iterable[Stamped], moment: int) -> list[Interval]:
    """The windows fetched at ``moment`` or later.

    Parameters
    ----------
    stamps
        Stamped windows.
    moment
        The earliest fetch time kept (ns).

    Examples
    --------
    >>> fetched_since([(0, 5, 1), (5, 9, 3)], 2)
    [(5, 9)]
    """
    return normalize((a, b) for a, b, t in stamps if t >= moment)


def oldest(stamps: Iterable[Stamped], intervals: Iterable[Interval]) -> int | None:
    """The earliest fetch time of the parts of ``stamps`` inside ``intervals``.

    Parameters
    ----------
    stamps
        Stamped windows.
    intervals
        The part of them asked about.

    Examples
    --------
    >>> oldest([(0, 5, 1), (5, 9, 3)], [(6, 7)]), oldest([(0, 5, 1)], [(7, 8)])
    (3, None)
    """
    times = [t for _, _, t in clip(stamps, intervals)]
    return min(times) if times else None


UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def time_bounds(intervals: Iterable[Interval], type_: pa.DataType) -> list[tuple[int, int]]:
    """Intervals converted to ``[lo, hi)`` bounds in a timestamp column's own unit.

    A bound becomes the smallest value in that unit whose instant is at or after it, so
    a row is inside exactly when its instant is.

    Parameters
    ----------
    intervals
        Windows in ns.
    type_
        The column's Arrow timestamp type.

    Examples
    --------
    >>> time_bounds([(1, 2_000_001)], pa.timestamp("ms"))
    [(1, 3)]
    """
    unit_ns = UNIT_NS[type_.unit]
    return [(-((-s) // unit_ns), -((-e) // unit_ns)) for s, e in intervals]


def time_mask(column: pa.ChunkedArray | pa.Array, intervals: Sequence[Interval]) -> pa.Array:
    """A boolean mask of the rows whose instant falls in one of ``intervals``.

    Parameters
    ----------
    column
        A timestamp column.
    intervals
        Windows in ns.

    Examples
    --------
    >>> col = pa.array([0, 5, 10], pa.timestamp("ns"))
    >>> time_mask(col, [(5, 10)]).to_pylist()
    [False, True, False]
    """
    values = column.cast(pa.int64())
    mask = None
    for lo, hi in time_bounds(intervals, column.type):
        part = pc.and_(pc.greater_equal(values, lo), pc.less(values, hi))
        mask = part if mask is None else pc.or_(mask, part)
    if mask is None:
        return pa.array([False] * len(values), pa.bool_())
    return pc.fill_null(mask, False)
