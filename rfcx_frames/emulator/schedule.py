"""When the world's recorders were recording: sessions, 60 s segments, gaps and runs.

A recorder follows a daily schedule in its local time zone (dawn and dusk sessions, or long
continuous blocks). Each session is cut into 60 s segments; the last one may be shorter,
single minutes go missing and some days are lost entirely. Everything is vectorised with
numpy so large worlds stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ..timeutil import to_epoch_ms

SEGMENT_MS = 60_000
MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Schedule:
    """A recorder's daily duty cycle and its imperfections."""

    sessions: tuple[tuple[int, int], ...]  # (local start minute of day, length in minutes)
    drop_rate: float = 0.01  # probability that a single minute is missing
    short_rate: float = 0.4  # probability that a session ends with a 20-59 s segment
    lost_day_rate: float = 0.03  # probability that a whole day is missing
    outage_days: int = 0  # one block of consecutive days without any recording
    jitter_ms: int = 0  # sessions start up to this late (clock drift, boot time)


@dataclass(frozen=True)
class Segments:
    """Segments of one stream, sorted by start (epoch ms)."""

    start: np.ndarray
    end: np.ndarray

    @property
    def runs(self) -> tuple[np.ndarray, np.ndarray]:
        """Start and end of each maximal run of contiguous segments."""
        return contiguous_runs(self.start, self.end)


def session_starts(schedule: Schedule, tz: str, period_start_ms: int,
                   period_end_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """UTC start (ms) and length (minutes) of every session fully inside the period.

    Examples
    --------
    >>> s, n = session_starts(Schedule(sessions=((300, 60),)), "UTC", 0, 2 * DAY_MS)
    >>> s.tolist(), n.tolist()
    ([18000000, 104400000], [60, 60])
    """
    zone = ZoneInfo(tz)
    first = datetime.fromtimestamp(period_start_ms / 1000, timezone.utc).date() - timedelta(1)
    last = datetime.fromtimestamp(period_end_ms / 1000, timezone.utc).date() + timedelta(1)
    starts: list[int] = []
    lengths: list[int] = []
    day: date = first
    while day <= last:
        for minute, length in schedule.sessions:
            local = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minute)
            start = to_epoch_ms(pd.Timestamp(local))
            if start >= period_start_ms and start + length * MINUTE_MS <= period_end_ms:
                starts.append(start)
                lengths.append(length)
        day += timedelta(1)
    order = np.argsort(np.asarray(starts, dtype=np.int64), kind="stable")
    return (np.asarray(starts, dtype=np.int64)[order], np.asarray(lengths, dtype=np.int64)[order])


def recording_segments(rng: np.random.Generator, schedule: Schedule, tz: str,
                       period_start_ms: int, period_end_ms: int) -> Segments:
    """Segments a recorder following ``schedule`` produced during the period.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> seg = recording_segments(rng, Schedule(sessions=((0, 10),), drop_rate=0.0,
    ...                          short_rate=0.0, lost_day_rate=0.0), "UTC", 0, DAY_MS)
    >>> len(seg.start), int(seg.end[-1] - seg.start[0])
    (10, 600000)
    """
    starts, lengths = session_starts(schedule, tz, period_start_ms, period_end_ms)
    n_sessions = len(starts)
    day_index = (starts - period_start_ms) // DAY_MS
    keep = rng.random(n_sessions) >= schedule.lost_day_rate
    n_days = int(day_index.max()) + 1 if n_sessions else 0
    if schedule.outage_days and n_days > schedule.outage_days + 2:
        first = int(rng.integers(1, n_days - schedule.outage_days))
        keep &= (day_index < first) | (day_index >= first + schedule.outage_days)
    if schedule.jitter_ms:
        starts = starts + rng.integers(0, schedule.jitter_ms + 1, n_sessions)
    shorten = rng.random(n_sessions) < schedule.short_rate
    short_ms = rng.integers(20_000, 59_000, n_sessions)
    starts, lengths = starts[keep], lengths[keep]
    shorten, short_ms = shorten[keep], short_ms[keep]

    session = np.repeat(np.arange(len(starts)), lengths)
    first_of_session = np.cumsum(lengths) - lengths
    minute = np.arange(len(session)) - first_of_session[session]
    seg_start = starts[session] + minute * SEGMENT_MS
    is_last = minute == lengths[session] - 1
    duration = np.where(is_last & shorten[session], short_ms[session], SEGMENT_MS)
    present = rng.random(len(session)) >= schedule.drop_rate
    # keep each session's first minute so dropped minutes are gaps *inside* a session
    present |= minute == 0
    seg_start, duration = seg_start[present], duration[present]
    return Segments(start=seg_start.astype(np.int64), end=(seg_start + duration).astype(np.int64))


def contiguous_runs(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge sorted segments into maximal runs where each starts where the previous ended.

    Examples
    --------
    >>> s, e = contiguous_runs(np.array([0, 10, 30]), np.array([10, 20, 40]))
    >>> s.tolist(), e.tolist()
    ([0, 30], [20, 40])
    """
    if len(start) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    breaks = np.flatnonzero(start[1:] != end[:-1]) + 1
    first = np.concatenate(([0], breaks))
    last = np.concatenate((breaks - 1, [len(start) - 1]))
    return start[first].astype(np.int64), end[last].astype(np.int64)


def sample_counts(start: np.ndarray, end: np.ndarray, sample_rate: int) -> np.ndarray:
    """``round((end - start) * sample_rate / 1000)`` per segment (round half to even).

    Examples
    --------
    >>> sample_counts(np.array([0]), np.array([37123]), 44100).tolist()
    [1637124]
    """
    # integer product first: the one float division then rounds exactly like Python's round()
    return np.rint(((end - start) * sample_rate) / 1000.0).astype(np.int64)
