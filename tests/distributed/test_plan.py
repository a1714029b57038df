"""Plans of windows: the grid over recorded time and the stream-day partitions (pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from rfcx_frames.distributed import partitions, window_grid


def seg(stream: str, start: str, end: str) -> dict[str, str]:
    return {"stream_id": stream, "start": start, "end": end}


def test_the_grid_sits_on_the_epoch_and_covers_recorded_time_once() -> None:
    segments = pd.DataFrame([
        seg("a", "2024-03-01T00:00:00Z", "2024-03-01T00:01:00Z"),
        seg("a", "2024-03-01T00:00:30Z", "2024-03-01T00:02:00Z"),  # overlaps: counted once
        seg("b", "2024-03-01T00:00:10Z", "2024-03-01T00:00:50Z"),
    ])
    grid = window_grid(segments, 30, step=15)
    a = grid[grid["stream_id"] == "a"]
    assert a["start"].dt.strftime("%M:%S").tolist() == [
        "00:00", "00:15", "00:30", "00:45", "01:00", "01:15", "01:30"]
    assert (grid["end"] - grid["start"] == pd.Timedelta(seconds=30)).all()
    b = grid[grid["stream_id"] == "b"]
    assert b["start"].dt.strftime("%M:%S").tolist() == ["00:15"]
    assert len(window_grid(segments.iloc[:0], 60)) == 0
    with pytest.raises(ValueError, match="duration"):
        window_grid(segments, 0)
    with pytest.raises(ValueError, match="missing"):
        window_grid(segments.drop(columns="end"), 60)


def test_partitions_are_stream_and_utc_day_of_the_window_start() -> None:
    plan = pd.DataFrame([
        seg("s1", "2024-03-01T23:59:30Z", "2024-03-02T00:00:30Z"),
        seg("s1", "2024-03-02T00:00:30Z", "2024-03-02T00:01:30Z"),
        seg("s2", "2024-03-01T12:00:00Z", "2024-03-01T12:01:00Z"),
    ])
    parts = partitions(plan)
    assert list(parts) == ["stream_id=s1/date=2024-03-01", "stream_id=s1/date=2024-03-02",
                           "stream_id=s2/date=2024-03-01"]
    assert sum(len(p) for p in parts.values()) == len(plan)
    with pytest.raises(ValueError, match="stream_id"):
        partitions(plan.assign(stream_id="../x"))
    with pytest.raises(ValueError, match="do not end after"):
        partitions(plan.assign(end=plan["start"]))
    with pytest.raises(TypeError, match="DataFrame"):
        partitions([1, 2])  # type: ignore[arg-type]
