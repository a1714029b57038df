"""Recording effort: pure computation against a brute-force count, and effort_df against the
emulator's own database."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

import rfcx_frames as rf
from rfcx_frames.ecology.effort import effort_from_segments, parse_freq, period_edges
from rfcx_frames.emulator import Emulator

T0 = pd.Timestamp("2024-03-01", tz="UTC")


def random_segments(rng: np.random.Generator, streams: list[str], hours: int) -> pd.DataFrame:
    """Whole-second segments that overlap, touch and cross period edges."""
    rows = []
    for stream in streams:
        for _ in range(int(rng.integers(0, 40))):
            a = int(rng.integers(-600, hours * 3600))
            b = a + int(rng.integers(1, 1800))
            rows.append((stream, T0 + pd.Timedelta(seconds=a), T0 + pd.Timedelta(seconds=b)))
    return pd.DataFrame(rows, columns=["stream_id", "start", "end"])


def brute_force(segments: pd.DataFrame, stream: str, a: pd.Timestamp, b: pd.Timestamp) -> float:
    """Seconds of [a, b) covered by a segment of the stream, one second at a time."""
    covered = np.zeros(int((b - a).total_seconds()), dtype=bool)
    for s, e in zip(segments.loc[segments["stream_id"] == stream, "start"],
                    segments.loc[segments["stream_id"] == stream, "end"], strict=True):
        lo = max(0, int((s - a).total_seconds()))
        hi = min(len(covered), int((e - a).total_seconds()))
        if hi > lo:
            covered[lo:hi] = True
    return float(covered.sum())


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("freq", ["1h", "15min", "1D"])
def test_effort_equals_a_second_by_second_count(seed: int, freq: str) -> None:
    rng = np.random.default_rng(seed)
    streams = ["a", "b", "c"]
    segments = random_segments(rng, streams[:2], hours=30)  # "c" records nothing
    start, end = T0 + pd.Timedelta(minutes=7), T0 + pd.Timedelta(hours=30, minutes=3)
    effort = effort_from_segments(segments, start, end, freq, streams=streams)
    assert list(effort["stream_id"].cat.categories) == streams
    for row in effort.itertuples():
        expected = brute_force(segments, row.stream_id, row.period_start, row.period_end)
        assert row.recorded_seconds == expected
        assert row.period_seconds == (row.period_end - row.period_start).total_seconds()
        assert row.coverage == pytest.approx(expected / row.period_seconds)
    # Whole periods tile the window, for every stream.
    step = pd.Timedelta(freq)
    for _, rows in effort.groupby("stream_id", observed=True):
        assert rows["period_start"].iloc[0] <= start < rows["period_start"].iloc[0] + step
        assert rows["period_end"].iloc[-1] - step < end <= rows["period_end"].iloc[-1]
        assert (rows["period_start"].iloc[1:].to_numpy() == rows["period_end"].iloc[:-1].to_numpy()).all()
    assert (effort.loc[effort["stream_id"] == "c", "recorded_seconds"] == 0).all()


def test_overlapping_segments_count_once_and_edges_count_their_inside() -> None:
    seg = pd.DataFrame({"stream_id": ["a"] * 3,
                        "start": [T0 - pd.Timedelta(minutes=10), T0 + pd.Timedelta(minutes=50),
                                  T0 + pd.Timedelta(minutes=55)],
                        "end": [T0 + pd.Timedelta(minutes=10), T0 + pd.Timedelta(minutes=70),
                                T0 + pd.Timedelta(minutes=65)]})
    effort = effort_from_segments(seg, T0, T0 + pd.Timedelta(hours=2), "1h")
    assert effort["recorded_seconds"].tolist() == [20 * 60.0, 10 * 60.0]
    # The hour before the window is not asked for; asked for, it holds the first 10 minutes.
    earlier = effort_from_segments(seg, T0 - pd.Timedelta(minutes=1), T0 + pd.Timedelta(hours=1))
    assert earlier["recorded_seconds"].tolist() == [10 * 60.0, 20 * 60.0]


@pytest.mark.parametrize(("tz", "day", "hours"), [
    ("Europe/Berlin", "2024-03-31", 23), ("America/New_York", "2024-11-03", 25),
    ("America/New_York", "2024-03-10", 23), ("Asia/Jakarta", "2024-03-10", 24),
])
def test_local_days_across_dst_last_23_or_25_hours(tz: str, day: str, hours: int) -> None:
    local_midnight = pd.Timestamp(day).tz_localize(tz)
    start = (local_midnight - pd.Timedelta(days=1)).tz_convert("UTC")
    end = (local_midnight + pd.Timedelta(days=2)).tz_convert("UTC")
    seg = pd.DataFrame({"stream_id": ["a"], "start": [start], "end": [end]})
    effort = effort_from_segments(seg, start, end, "1D", timezones={"a": tz})
    row = effort[effort["period_start_local"] == pd.Timestamp(day)].iloc[0]
    assert row["period_seconds"] == hours * 3600 == row["recorded_seconds"]
    assert row["coverage"] == 1.0 and row["timezone"] == tz
    hourly = effort_from_segments(seg, start, end, "1h", timezones={"a": tz})
    same_day = hourly[hourly["period_start_local"].dt.normalize() == pd.Timestamp(day)]
    assert len(same_day) == hours and (same_day["period_seconds"] == 3600).all()


def test_calendar_and_weekly_frequencies() -> None:
    seg = pd.DataFrame({"stream_id": ["a"], "start": [T0], "end": [T0 + pd.Timedelta(days=40)]})
    months = effort_from_segments(seg, "2024-02-15", "2024-04-10", "MS")
    assert [str(d.date()) for d in months["period_start"]] == ["2024-02-01", "2024-03-01",
                                                              "2024-04-01"]
    assert months["period_seconds"].tolist() == [29 * 86400.0, 31 * 86400.0, 30 * 86400.0]
    assert months["recorded_seconds"].tolist() == [0.0, 31 * 86400.0, 9 * 86400.0]
    weeks = effort_from_segments(seg, "2024-03-01 12:00", "2024-03-15", "7D")
    assert [str(d) for d in weeks["period_start"]] == [
        "2024-03-01 00:00:00+00:00", "2024-03-08 00:00:00+00:00"]
    edges = period_edges(T0, T0 + pd.Timedelta(days=1), parse_freq("6h"), "Asia/Kolkata")
    assert [e.tz_convert("Asia/Kolkata").hour for e in edges[1:-1]] == [6, 12, 18, 0]


@pytest.mark.parametrize("freq", ["fortnightly", "0h", "-1D", "10ms", 3])
def test_bad_frequencies_are_refused_by_name(freq: object) -> None:
    seg = pd.DataFrame({"stream_id": [], "start": [], "end": []})
    with pytest.raises(ValueError, match="freq"):
        effort_from_segments(seg, T0, T0 + pd.Timedelta(days=1), freq)  # type: ignore[arg-type]


def test_segments_frame_without_times_is_refused() -> None:
    with pytest.raises(ValueError, match="segments lacks"):
        effort_from_segments(pd.DataFrame({"stream_id": ["a"]}), T0, T0 + pd.Timedelta(hours=1))


# -- against the emulator -------------------------------------------------------------------

def by_hand(emu: Emulator, stream: str, edges: list[datetime]) -> list[float]:
    """Seconds recorded in each [edge, next edge), summed segment by segment from SQL."""
    rows = emu.store.query('SELECT start, "end" FROM segments WHERE stream_id = ?', (stream,))
    out = []
    for a, b in itertools.pairwise(edges):
        lo, hi = a.timestamp() * 1000, b.timestamp() * 1000
        out.append(sum(max(0.0, min(r["end"], hi) - max(r["start"], lo)) for r in rows) / 1000)
    return out


def local_marks(tz: str, first: str, days: int, hours: int) -> list[datetime]:
    """Wall-clock times every ``hours`` hours from local midnight of ``first``, in ``tz``."""
    day0 = datetime.fromisoformat(first)
    return [(day0 + timedelta(days=i)).replace(hour=h, tzinfo=ZoneInfo(tz))
            for i in range(days + 1) for h in range(0, 24, hours)]


@pytest.mark.parametrize(("freq", "local_time"), [("1D", False), ("1D", True), ("6h", False),
                                                  ("6h", True)])
def test_effort_df_equals_segment_durations_in_the_database(
        dst_world: Emulator, tmp_path: Path, freq: str, local_time: bool) -> None:
    with dst_world.client(progress=False, cache_dir=tmp_path) as client:
        streams = client.streams_df()
        start, end = "2024-03-02", "2024-03-12"
        effort = client.effort_df(start, end, freq=freq, local_time=local_time)
    zones = dict(zip(streams["id"].astype(str), streams["timezone"].astype(str), strict=True))
    assert sorted(effort["stream_id"].unique()) == sorted(zones)
    crossing = 0
    for stream, tz in zones.items():
        mine = effort[effort["stream_id"] == stream]
        zone = tz if local_time else "UTC"
        window = (datetime.fromisoformat(start).replace(tzinfo=ZoneInfo("UTC")),
                  datetime.fromisoformat(end).replace(tzinfo=ZoneInfo("UTC")))
        step = 24 if freq == "1D" else 6
        marks = local_marks(zone, "2024-02-27", 20, step)
        first = max(i for i, m in enumerate(marks) if m <= window[0])
        last = min(i for i, m in enumerate(marks) if m >= window[1])
        edges = marks[first:last + 1]
        midnights = edges[1:-1]
        assert mine["recorded_seconds"].tolist() == pytest.approx(by_hand(dst_world, stream, edges))
        assert mine["period_seconds"].tolist() == [b.timestamp() - a.timestamp()
                                                  for a, b in itertools.pairwise(edges)]
        crossing += sum(1 for r in dst_world.store.query(
            'SELECT start, "end" FROM segments WHERE stream_id = ?', (stream,))
            if any(r["start"] < e.timestamp() * 1000 < r["end"] for e in midnights))
        if local_time and freq == "1D" and tz == "America/New_York":
            dst_day = mine[mine["period_start_local"] == pd.Timestamp("2024-03-10")]
            assert dst_day["period_seconds"].tolist() == [23 * 3600]
    if freq == "6h":
        assert crossing > 0  # some segments cross a period edge and are split between two
    assert effort.attrs["query"]["endpoint"] == "effort"


def test_effort_df_gap_is_zero_not_missing_and_cached(dst_world: Emulator, tmp_path: Path) -> None:
    # The twelve-day world ends on 13 March: the days after it recorded nothing.
    with dst_world.client(progress=False, cache_dir=tmp_path) as client:
        kakadu = client.streams_df(name="Kakadu Billabong")["id"].tolist()
        effort = client.effort_df("2024-03-10", "2024-03-16", streams=kakadu, freq="1D")
        dst_world.reset_stats()
        again = client.effort_df("2024-03-10", "2024-03-16", streams=kakadu, freq="1D")
        assert dst_world.stats()["total_requests"] == 0
    pd.testing.assert_frame_equal(effort, again)
    last = dst_world.store.query('SELECT max("end") AS e FROM segments WHERE stream_id = ?',
                                 (kakadu[0],))[0]["e"]
    after = effort["period_start"] >= pd.Timestamp(last, unit="ms", tz="UTC")
    assert len(effort) == 6 and after.sum() >= 2
    assert (effort.loc[after, "recorded_seconds"] == 0).all()
    assert (effort.loc[after, "coverage"] == 0).all()


def test_effort_df_module_function_and_bad_input(dst_world: Emulator, tmp_path: Path) -> None:
    client = dst_world.client(progress=False, cache_dir=tmp_path)
    rf.set_default_client(client)
    try:
        effort = rf.effort_df("2024-03-02", "2024-03-03", freq="6h")
        assert len(effort) == 4 * len(client.streams_df())
        with pytest.raises(ValueError, match="freq"):
            rf.effort_df("2024-03-02", "2024-03-03", freq="sometimes")
        with pytest.raises(TypeError, match="local_time"):
            rf.effort_df("2024-03-02", "2024-03-03", local_time="yes")
    finally:
        rf.set_default_client(None)
        client.close()
