"""Recorded runs in the cache: whole months placed by month, edges by day, same effort."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rfcx_frames.cache import info
from rfcx_frames.ecology.effort import effort_from_segments
from rfcx_frames.emulator import Emulator

# The 30-day demo world covers March 2024: a window from mid-February to mid-April holds
# one whole UTC month and two partial ones.
START, END = "2024-02-20", "2024-04-10"


def direct(client: object, streams: list[str], freq: str) -> pd.DataFrame:
    segments = client.segments_df(streams, "2024-02-19 23:00", END, cache=False)  # type: ignore[attr-defined]
    return effort_from_segments(segments, START, END, freq, streams=streams)


@pytest.mark.parametrize("freq", ["1D", "1h"])
def test_monthly_and_daily_runs_give_the_effort_of_the_segments(
        demo_emulator: Emulator, tmp_path: Path, freq: str) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as client:
        streams = client.streams_df()["id"].astype(str).tolist()[:3]
        effort = client.effort_df(START, END, streams=streams, freq=freq)
        pd.testing.assert_frame_equal(effort, direct(client, streams, freq))
        demo_emulator.reset_stats()
        again = client.effort_df(START, END, streams=streams, freq=freq)
        assert demo_emulator.stats()["total_requests"] == 0
        assert again.attrs["query"]["from_cache"] is True
    pd.testing.assert_frame_equal(effort, again)
    entities = {e["entity"] for e in info(tmp_path)["ranged"]}
    assert {"recordings", "recordings-monthly"} <= entities


def test_a_month_cut_by_the_horizon_is_completed_later(demo_emulator: Emulator,
                                                       tmp_path: Path) -> None:
    streams_of = None
    # On 20 March only the first part of March may be complete; on 15 April all of it is.
    for now in (pd.Timestamp("2024-03-20 12:00", tz="UTC"),
                pd.Timestamp("2024-04-15", tz="UTC")):
        with demo_emulator.client(progress=False, cache_dir=tmp_path, clock=lambda n=now: n,
                                  cache_max_age="never") as client:
            streams_of = streams_of or client.streams_df()["id"].astype(str).tolist()[:2]
            effort = client.effort_df(START, END, streams=streams_of, freq="1D")
            expected = direct(client, streams_of, "1D")
        pd.testing.assert_frame_equal(effort, expected)
    with demo_emulator.client(progress=False, cache_dir=tmp_path,
                              clock=lambda: pd.Timestamp("2024-04-16", tz="UTC")) as client:
        demo_emulator.reset_stats()
        client.effort_df(START, END, streams=streams_of, freq="1D")
        assert demo_emulator.stats()["total_requests"] == 0
