"""Edges of the cached DataFrames found in review: bounds finer than a millisecond,
damage that checksums miss, offline local times, and what refresh asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rfcx_frames.cache import TimeRangedCache
from rfcx_frames.cache.manifest import MANIFEST
from rfcx_frames.cache.parquet import write_parquet_atomic
from rfcx_frames.emulator import Emulator
from rfcx_frames.exceptions import NotCachedError

DAY, NEXT = pd.Timestamp("2024-03-02", tz="UTC"), pd.Timestamp("2024-03-03", tz="UTC")


def _subset(frame: pd.DataFrame, keep: pd.Series) -> pd.DataFrame:
    """Rows of ``frame``, with categories limited to the values present (as a query has)."""
    out = frame[keep.to_numpy()].reset_index(drop=True)
    for column in out.columns:
        if isinstance(out[column].dtype, pd.CategoricalDtype) and column != "review_status":
            out[column] = out[column].cat.remove_unused_categories()
    return out


def _streams(emu: Emulator) -> list[str]:
    with emu.client(progress=False, cache=False) as c:
        return [str(s) for s in c.streams_df()["id"]]


@pytest.mark.parametrize("cache", [False, "use"])
def test_bounds_finer_than_a_millisecond_keep_every_row(demo_emulator: Emulator, tmp_path: Path,
                                                       cache: bool | str) -> None:
    streams = _streams(demo_emulator)
    with demo_emulator.client(progress=False, cache=False) as c:
        day = c.detections_df(DAY, NEXT, streams=streams, min_confidence=0.5)
    t = day["start"].iloc[len(day) // 2]
    with demo_emulator.client(progress=False, cache_dir=tmp_path, cache=cache) as c:
        # [DAY, t + 0.5 ms) holds the rows at t; (t - 0.5 ms) as a start keeps them too.
        upto = c.detections_df(DAY, t + pd.Timedelta(microseconds=500), streams=streams,
                               min_confidence=0.5)
        since = c.detections_df(t - pd.Timedelta(microseconds=500), NEXT, streams=streams,
                                min_confidence=0.5)
        whole = c.detections_df(DAY, NEXT, streams=streams, min_confidence=0.5)
    assert (upto["start"] == t).any() and (since["start"] == t).any()
    pd.testing.assert_frame_equal(upto, _subset(day, day["start"] <= t))
    pd.testing.assert_frame_equal(since, _subset(day, day["start"] >= t))
    # Nothing the cache marked complete on the way is short.
    pd.testing.assert_frame_equal(whole, day)


def test_a_file_with_fewer_rows_than_its_manifest_says_is_refetched(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    streams = _streams(demo_emulator)[:3]
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        first = c.detections_df(DAY, NEXT, streams=streams, min_confidence=0.3)
        # Damage a checksum cannot see: a valid Parquet file missing rows.
        victim = max(TimeRangedCache(c.cache_root).files("detections"),
                     key=lambda p: p.stat().st_size)
        stored = pq.read_table(victim)
        assert stored.num_rows > 2
        write_parquet_atomic(victim, stored.slice(0, stored.num_rows - 2))
        demo_emulator.reset_stats()
        again = c.detections_df(DAY, NEXT, streams=streams, min_confidence=0.3)
        refetched = demo_emulator.stats()["total_requests"]
    pd.testing.assert_frame_equal(again, first)
    assert refetched > 0  # the damaged stream-day came from the platform again


def test_offline_local_time_makes_no_request(demo_emulator: Emulator, tmp_path: Path) -> None:
    streams = _streams(demo_emulator)[:2]
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        online = c.detections_df(DAY, NEXT, streams=streams, min_confidence=0.5, local_time=True)
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        demo_emulator.reset_stats()
        offline = c.detections_df(DAY, NEXT, streams=streams, min_confidence=0.5,
                                  local_time=True, cache="offline")
        assert demo_emulator.stats()["total_requests"] == 0
    pd.testing.assert_frame_equal(offline, online)


def test_offline_local_time_without_cached_timezones_raises(demo_emulator: Emulator,
                                                            tmp_path: Path) -> None:
    streams = _streams(demo_emulator)[:2]
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        c.detections_df(DAY, NEXT, streams=streams, min_confidence=0.5)
    for sidecar in (Path(tmp_path) / "v2" / "whole" / "streams").glob("*.json"):
        sidecar.unlink()  # forget the stream listings, keep the detections
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        demo_emulator.reset_stats()
        with pytest.raises(NotCachedError, match="timezone"):
            c.detections_df(DAY, NEXT, streams=streams, min_confidence=0.5, local_time=True,
                            cache="offline")
        assert demo_emulator.stats()["total_requests"] == 0


def test_refresh_fetches_each_window_once_and_lists_streams_anew(demo_emulator: Emulator,
                                                                 tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache=False) as c:
        demo_emulator.reset_stats()
        fresh = c.detections_df(DAY, NEXT, min_confidence=0.5)
        plain = demo_emulator.stats()["requests"]
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        c.detections_df(DAY, NEXT, min_confidence=0.5)
        demo_emulator.reset_stats()
        refreshed = c.detections_df(DAY, NEXT, min_confidence=0.5, cache="refresh")
        counts = demo_emulator.stats()["requests"]
    pd.testing.assert_frame_equal(refreshed, fresh)
    detection_routes = {k: v for k, v in counts.items() if "detections" in k}
    assert detection_routes == {k: v for k, v in plain.items() if "detections" in k}
    assert any("streams" in k for k in counts)  # the stream listing was asked again
    manifest = next((Path(tmp_path) / "v2" / "detections").glob(f"*/{MANIFEST}"))
    assert json.loads(manifest.read_text())["order"][:2] == ["start", "stream_id"]
