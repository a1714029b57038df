"""The client's DataFrames through the Parquet cache, counted at the emulator."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rfcx_frames.emulator import Emulator, running
from rfcx_frames.exceptions import NotCachedError

START, MID, END = "2024-03-01", "2024-03-03", "2024-03-05"


def _streams(emu: Emulator) -> list[str]:
    with emu.client(progress=False, cache=False) as c:
        return [str(s) for s in c.streams_df()["id"]]


def test_repeat_query_makes_zero_requests(demo_emulator: Emulator, tmp_path: Path) -> None:
    streams = _streams(demo_emulator)
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        cold = c.detections_df(START, END, streams=streams, min_confidence=0.5)
        demo_emulator.reset_stats()
        warm = c.detections_df(START, END, streams=streams, min_confidence=0.5)
        assert demo_emulator.stats()["total_requests"] == 0
    with demo_emulator.client(progress=False, cache=False) as c:
        fresh = c.detections_df(START, END, streams=streams, min_confidence=0.5)
    assert len(cold) > 1000
    pd.testing.assert_frame_equal(warm, cold)
    pd.testing.assert_frame_equal(warm, fresh)


def test_overlapping_query_fetches_only_the_new_window(demo_emulator: Emulator,
                                                       tmp_path: Path) -> None:
    streams = _streams(demo_emulator)[:2]
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        c.detections_df(START, MID, streams=streams, min_confidence=0.3)
        demo_emulator.reset_stats()
        both = c.detections_df(START, END, streams=streams, min_confidence=0.3)
        stats = demo_emulator.stats()
    with demo_emulator.client(progress=False, cache=False) as c:
        fresh = c.detections_df(START, END, streams=streams, min_confidence=0.3)
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "other") as c:
        demo_emulator.reset_stats()
        c.detections_df(MID, END, streams=streams, min_confidence=0.3)
        new_only = demo_emulator.stats()["total_requests"]
    pd.testing.assert_frame_equal(both, fresh)
    # The overlapping query costs exactly a cold query of the uncovered half, less the
    # stream listing that the id check reads once into a cold cache.
    assert 0 < stats["total_requests"] == new_only - 1


def test_looser_cached_pull_answers_a_stricter_query(demo_emulator: Emulator,
                                                     tmp_path: Path) -> None:
    streams = _streams(demo_emulator)
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        c.detections_df(START, END, streams=streams, min_confidence=0.5)
        demo_emulator.reset_stats()
        strict = c.detections_df(START, END, streams=streams, min_confidence=0.9,
                                 review_statuses=["confirmed", "unreviewed"])
        assert demo_emulator.stats()["total_requests"] == 0
    with demo_emulator.client(progress=False, cache=False) as c:
        fresh = c.detections_df(START, END, streams=streams, min_confidence=0.9,
                                review_statuses=["confirmed", "unreviewed"])
    assert len(strict) > 0
    pd.testing.assert_frame_equal(strict.reset_index(drop=True), fresh)


def test_offline_with_the_emulator_stopped(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    with running(world="demo", days=4, data_dir=tmp_path / "world") as emu:
        with emu.client(progress=False, cache_dir=cache_dir) as c:
            streams = [str(s) for s in c.streams_df()["id"]]
            cached = c.detections_df(START, MID, streams=streams, min_confidence=0.5)
            cached_ann = c.annotations_df(START, MID)
        url, token = emu.api_url, emu.token
    from rfcx_frames import Client

    with Client(api_url=url, token=token, cache_dir=cache_dir, progress=False,
                retries=0) as c:
        offline = c.detections_df(START, MID, streams=streams, min_confidence=0.5,
                                  cache="offline")
        pd.testing.assert_frame_equal(offline, cached)
        pd.testing.assert_frame_equal(c.annotations_df(START, MID, cache="offline"), cached_ann)
        with pytest.raises(NotCachedError) as info:
            c.detections_df(START, END, streams=streams, min_confidence=0.5, cache="offline")
    assert info.value.missing
    assert {m[0] for m in info.value.missing} <= set(streams)


def test_cache_holds_no_token_and_is_plain_parquet(demo_emulator: Emulator,
                                                  tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c:
        c.streams_df()
        c.detections_df(START, MID, min_confidence=0.5)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    for p in files:
        assert demo_emulator.token.encode() not in p.read_bytes()
    part = next(p for p in files if p.suffix == ".parquet" and "detections" in str(p))
    assert pq.read_table(part).num_rows > 0


def test_bad_cache_argument_names_the_allowed_values(demo_emulator: Emulator) -> None:
    with demo_emulator.client(progress=False) as c, pytest.raises(ValueError, match="cache"):
        c.detections_df(START, END, cache="sometimes")


def test_classifications_of_a_classifier(demo_emulator: Emulator) -> None:
    with demo_emulator.client(progress=False, cache=False) as c:
        outputs = c.classifications_df(classifiers=[1])
        every_output = c.classifications_df(classifiers="*")
        everything = c.classifications_df()
    expected = {r["value"] for r in demo_emulator.store.query(
        "SELECT DISTINCT c.value FROM classifier_outputs o JOIN classifications c "
        "ON c.id = o.classification_id WHERE o.classifier_id = 1")}
    assert set(outputs["value"]) == expected
    assert set(outputs["value"]) <= set(every_output["value"]) < set(everything["value"])


def test_offline_works_with_expired_credentials_and_no_network(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    import datetime as dt

    from rfcx_frames import Client, auth

    cache_dir = tmp_path / "cache"
    with running(world="demo", days=2, data_dir=tmp_path / "world") as emu:
        with emu.client(progress=False, cache_dir=cache_dir) as c:
            streams = [str(s) for s in c.streams_df()["id"]]
            cached = c.detections_df(START, MID, streams=streams, min_confidence=0.5)
        expired = auth.Credentials(access_token=emu.token, refresh_token="stale-refresh",
                                   expiry=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
        api_url = emu.api_url
    monkeypatch.chdir(tmp_path)
    auth.write_credentials(tmp_path / ".rfcx_credentials", expired)
    # The emulator is gone: any request (login refresh included) would fail.
    with Client(api_url="http://127.0.0.1:9", auth_url="http://127.0.0.1:9", token=None,
                cache_dir=cache_dir, progress=False, retries=0) as c:
        c.api_url = api_url  # the cache is keyed by the URL it was filled from
        offline = c.detections_df(START, MID, streams=streams, min_confidence=0.5,
                                  cache="offline")
    pd.testing.assert_frame_equal(offline, cached)


def test_a_dataframe_is_not_a_list_of_streams(demo_emulator: Emulator) -> None:
    with demo_emulator.client(progress=False) as c:
        streams = c.streams_df()
        with pytest.raises(TypeError, match="df\\['id'\\]"):
            c.detections_df(START, MID, streams=streams)


def test_explicit_client_setting_outranks_the_environment(demo_emulator: Emulator,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    streams = _streams(demo_emulator)
    monkeypatch.setenv("RFCX_FRAMES_CACHE_MODE", "offline")
    # No explicit setting: the environment rules.
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as c, \
            pytest.raises(NotCachedError):
        c.detections_df(START, MID, min_confidence=0.5, streams=streams)
    with demo_emulator.client(progress=False, cache_dir=tmp_path, cache="use") as c:
        assert len(c.detections_df(START, MID, min_confidence=0.5, streams=streams)) > 0


def test_cache_horizon_keeps_recent_windows_incomplete(demo_emulator: Emulator,
                                                      tmp_path: Path) -> None:
    streams = _streams(demo_emulator)[:1]
    mid = pd.Timestamp(MID, tz="UTC")

    def repeat_requests(now: pd.Timestamp, folder: Path) -> int:
        with demo_emulator.client(progress=False, cache_dir=folder, cache_horizon="6h",
                                  clock=lambda: now) as c:
            c.detections_df(START, MID, streams=streams, min_confidence=0.5)
            demo_emulator.reset_stats()
            c.detections_df(START, MID, streams=streams, min_confidence=0.5)
            return int(demo_emulator.stats()["total_requests"])

    # An hour after the window ends, its last 6 hours may still change: fetched again.
    assert repeat_requests(mid + pd.Timedelta(hours=1), tmp_path / "recent") > 0
    # Seven hours after, the whole window is complete: the repeat is free.
    assert repeat_requests(mid + pd.Timedelta(hours=7), tmp_path / "settled") == 0
    with pytest.raises(ValueError, match="cache_horizon"):
        demo_emulator.client(cache_horizon=pd.Timedelta(hours=-1))
