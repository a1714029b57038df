"""TimeRangedCache against a synthetic platform: real Parquet files, counted fetches."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from cache_world import DAY0, NOW, SCHEMA, STREAMS, WorldFetch, fresh_frame, signature
from pandas.testing import assert_frame_equal

from rfcx_frames.cache import FilterSignature, TimeRangedCache
from rfcx_frames.cache.disk import LAYOUT
from rfcx_frames.exceptions import NotCachedError


def day(n: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=n)


def run(
    cache: TimeRangedCache,
    world: pd.DataFrame,
    sig: FilterSignature,
    start: pd.Timestamp,
    end: pd.Timestamp,
    streams: Sequence[str] = STREAMS,
    mode: str | bool = "use",
    now: pd.Timestamp = NOW,
    **kw: Any,
) -> tuple[pd.DataFrame, list[tuple[str, pd.Timestamp, pd.Timestamp]]]:
    fetch = WorldFetch(world, sig)
    frame = cache.query(
        "detections", sig, list(streams), start, end, fetch, SCHEMA, mode=mode, now=now, **kw
    )
    return frame, fetch.calls


def test_cold_then_repeat_query_makes_zero_fetches(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    first, calls = run(cache, world, sig, day(1), day(3))
    assert sorted(calls) == [(s, day(1), day(3)) for s in STREAMS]
    second, calls = run(cache, world, sig, day(1), day(3))
    assert calls == []
    assert_frame_equal(first, second)
    assert_frame_equal(second, fresh_frame(world, sig, STREAMS, day(1), day(3)))


def test_overlapping_query_fetches_exactly_the_new_windows(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, world, sig, day(2), day(4))
    run(cache, world, sig, day(6), day(7), streams=["s01"])
    frame, calls = run(cache, world, sig, day(1), day(8))
    expected = [(s, day(1), day(2)) for s in STREAMS] + [(s, day(4), day(8)) for s in STREAMS]
    expected = [w for w in expected if w[0] != "s01" or w[1] != day(4)]
    expected += [("s01", day(4), day(6)), ("s01", day(7), day(8))]
    assert sorted(calls) == sorted(expected)
    assert_frame_equal(frame, fresh_frame(world, sig, STREAMS, day(1), day(8)))


def test_sub_range_of_cached_windows_is_answered_and_trimmed(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, world, sig, day(0), day(5))
    start, end = day(1.3), day(2.71)
    frame, calls = run(cache, world, sig, start, end, streams=["s02", "s03"])
    assert calls == []
    assert_frame_equal(frame, fresh_frame(world, sig, ["s02", "s03"], start, end))


def test_offline_answers_cached_and_names_missing_windows(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, world, sig, day(1), day(3))
    frame, calls = run(cache, world, sig, day(1), day(2), mode="offline")
    assert calls == []
    assert_frame_equal(frame, fresh_frame(world, sig, STREAMS, day(1), day(2)))
    fetch = WorldFetch(world, sig)
    with pytest.raises(NotCachedError) as info:
        cache.query(
            "detections", sig, ["s01", "s09"], day(2), day(4), fetch, SCHEMA,
            mode="offline", now=NOW,
        )
    assert fetch.calls == []
    assert sorted(info.value.missing) == [("s01", day(3), day(4)), ("s09", day(2), day(4))]
    assert "s09" in str(info.value)


def test_looser_min_confidence_answers_stricter_query(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    run(cache, world, signature(min_confidence=0.5), day(0), day(4))
    strict = signature(min_confidence=0.9)
    frame, calls = run(cache, world, strict, day(1), day(3))
    assert calls == []
    assert_frame_equal(frame, fresh_frame(world, strict, STREAMS, day(1), day(3)))
    assert frame["confidence"].min() >= 0.9 - 1e-6


def test_confidence_equal_to_threshold_is_kept(tmp_path: Path, world: pd.DataFrame) -> None:
    # float32(0.9) == threshold compared in the column's type, like the platform.
    cache = TimeRangedCache(tmp_path)
    run(cache, world, signature(min_confidence=0.3), day(0), day(2))
    strict = signature(min_confidence=0.9)
    frame, _ = run(cache, world, strict, day(0), day(2))
    assert (frame["confidence"] == pa.scalar(0.9, pa.float32()).as_py()).any()
    assert_frame_equal(frame, fresh_frame(world, strict, STREAMS, day(0), day(2)))


def test_all_classifications_answers_a_subset(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    run(cache, world, signature(), day(0), day(3))
    subset = signature(
        classifications=["bird_a", "frog_c"], classifiers=[1, 2],
        review_statuses=["unreviewed", "confirmed"], min_confidence=0.6,
    )
    frame, calls = run(cache, world, subset, day(0), day(3))
    assert calls == []
    assert set(frame["classification_value"].astype(str)) == {"bird_a", "frog_c"}
    assert list(frame["classification_value"].cat.categories) == ["bird_a", "frog_c"]
    assert_frame_equal(frame, fresh_frame(world, subset, STREAMS, day(0), day(3)))


def test_stricter_cache_does_not_answer_looser_query(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    run(cache, world, signature(min_confidence=0.9), day(0), day(2))
    run(cache, world, signature(classifications=["bird_a"]), day(0), day(2))
    loose = signature(min_confidence=0.5)
    frame, calls = run(cache, world, loose, day(0), day(2))
    assert sorted(calls) == [(s, day(0), day(2)) for s in STREAMS]
    assert_frame_equal(frame, fresh_frame(world, loose, STREAMS, day(0), day(2)))


def test_other_user_or_base_url_never_shares(tmp_path: Path, world: pd.DataFrame) -> None:
    from rfcx_frames.cache import FilterSignature

    cache = TimeRangedCache(tmp_path)
    run(cache, world, signature(), day(0), day(1))
    for other in (
        FilterSignature("detections", "https://api.example.org", "someone-else"),
        FilterSignature("detections", "https://staging.example.org", "user-1a2b"),
    ):
        _, calls = run(cache, world, other, day(0), day(1))
        assert len(calls) == len(STREAMS)


def test_mixed_sources_are_stitched_without_duplicates(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    run(cache, world, signature(), day(0), day(2))
    strict = signature(min_confidence=0.7)
    run(cache, world, strict, day(1.5), day(4))
    frame, calls = run(cache, world, strict, day(0), day(5))
    assert sorted(calls) == [(s, day(4), day(5)) for s in STREAMS]
    assert_frame_equal(frame, fresh_frame(world, strict, STREAMS, day(0), day(5)))


def test_horizon_windows_near_now_are_not_marked_complete(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    now = day(5) + pd.Timedelta(hours=12)
    frame, calls = run(cache, world, sig, day(4), day(6), now=now)
    assert len(calls) == len(STREAMS)
    assert_frame_equal(frame, fresh_frame(world, sig, STREAMS, day(4), day(6)))
    cutoff = now - pd.Timedelta(hours=6)
    _, calls = run(cache, world, sig, day(4), day(6), now=now)
    assert sorted(calls) == [(s, cutoff, day(6)) for s in STREAMS]
    with pytest.raises(NotCachedError):
        run(cache, world, sig, day(4), day(6), now=now, mode="offline")
    frame, calls = run(cache, world, sig, day(4), cutoff, now=now, mode="offline")
    assert calls == []


def test_custom_horizon(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    now = day(3)
    run(cache, world, sig, day(1), day(3), now=now, horizon=pd.Timedelta(days=1))
    _, calls = run(cache, world, sig, day(1), day(3), now=now, horizon=pd.Timedelta(days=1))
    assert sorted(calls) == [(s, day(2), day(3)) for s in STREAMS]


def test_empty_windows_are_cached_as_complete(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    late = (day(20), day(25))  # after the world ends: nothing there
    frame, calls = run(cache, world, sig, *late)
    assert len(calls) == len(STREAMS) and len(frame) == 0
    frame2, calls = run(cache, world, sig, *late)
    assert calls == []
    assert_frame_equal(frame, frame2)
    assert_frame_equal(frame2, fresh_frame(world, sig, STREAMS, *late))
    assert cache.files("detections") == []


def test_cached_frame_dtypes_equal_fresh(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    cold, _ = run(cache, world, sig, day(0), day(10))
    warm, _ = run(cache, world, sig, day(0), day(10))
    fresh = fresh_frame(world, sig, STREAMS, day(0), day(10))
    assert_frame_equal(cold, fresh)
    assert_frame_equal(warm, fresh)
    assert str(warm["start"].dtype) == "datetime64[ms, UTC]"
    assert str(warm["confidence"].dtype) == "float32"
    assert isinstance(warm["classification_value"].dtype, pd.CategoricalDtype)
    assert list(warm.columns) == SCHEMA.names
    assert isinstance(warm.index, pd.RangeIndex)


def test_refresh_refetches_and_replaces(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, world, sig, day(0), day(4))
    changed = world.copy()
    changed.loc[changed["start"] < day(2), "confidence"] = 0.123
    fetch = WorldFetch(changed, sig)
    frame = cache.query(
        "detections", sig, list(STREAMS), day(1), day(3), fetch, SCHEMA, mode="refresh", now=NOW
    )
    assert sorted(fetch.calls) == [(s, day(1), day(3)) for s in STREAMS]
    assert_frame_equal(frame, fresh_frame(changed, sig, STREAMS, day(1), day(3)))
    warm, calls = run(cache, world, sig, day(0), day(4))
    assert calls == []
    expected = pd.concat(
        [fresh_frame(world, sig, STREAMS, day(0), day(1)),
         fresh_frame(changed, sig, STREAMS, day(1), day(4))]
    )
    expected = fresh_frame(expected, sig, STREAMS, day(0), day(4))
    assert_frame_equal(warm, expected)


def test_mode_off_fetches_everything_and_writes_nothing(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    frame, calls = run(cache, world, sig, day(0), day(2), mode=False)
    assert len(calls) == len(STREAMS)
    assert_frame_equal(frame, fresh_frame(world, sig, STREAMS, day(0), day(2)))
    _, calls = run(cache, world, sig, day(0), day(2), mode="off")
    assert len(calls) == len(STREAMS)
    assert cache.files("detections") == []


def test_truncated_parquet_is_dropped_and_refetched(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, world, sig, day(0), day(3))
    victim = sorted(cache.files("detections"))[4]  # one stream-day file
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    frame, calls = run(cache, world, sig, day(0), day(3))
    stream = victim.parent.parent.name.split("=", 1)[1]
    date = pd.Timestamp(victim.parent.name.split("=", 1)[1], tz="UTC")
    assert calls == [(stream, date, date + pd.Timedelta(days=1))]
    assert_frame_equal(frame, fresh_frame(world, sig, STREAMS, day(0), day(3)))
    assert not victim.exists()
    _, calls = run(cache, world, sig, day(0), day(3))
    assert calls == []


def test_garbage_file_in_manifest_is_refetched_offline_raises(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, world, sig, day(0), day(1), streams=["s01"])
    (victim,) = cache.files("detections")
    victim.write_bytes(b"not parquet at all")
    with pytest.raises(NotCachedError) as info:
        run(cache, world, sig, day(0), day(1), streams=["s01"], mode="offline")
    assert info.value.missing == [("s01", day(0), day(1))]


def test_dataset_is_plain_hive_parquet(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    frame, _ = run(cache, world, sig, day(0), day(3))
    (entry,) = (tmp_path / LAYOUT / "detections").iterdir()
    assert entry.name == sig.key
    # A hive reader gets the stream column back from the folder names.
    direct = ds.dataset(entry, format="parquet", partitioning="hive").to_table()
    assert {"stream_id", "date"} <= set(direct.column_names)
    got = direct.to_pandas().sort_values("id").reset_index(drop=True)
    want = frame.sort_values("id").reset_index(drop=True)
    assert got["id"].tolist() == want["id"].tolist()
    assert got["stream_id"].astype(str).tolist() == want["stream_id"].astype(str).tolist()
    assert got["confidence"].tolist() == want["confidence"].tolist()
    names = sorted(p.relative_to(entry).as_posix() for p in cache.files("detections"))
    assert names[0].startswith("stream_id=s01/date=2024-01-01/part-")
    assert len(names) == 3 * len(STREAMS)  # one file per stream-day
    # Each file on its own is plain Parquet without the partition column.
    assert "stream_id" not in pq.read_schema(cache.files("detections")[0]).names


def test_many_small_writes_are_compacted(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path, max_parts=4)
    sig = signature()
    for hour in range(0, 24, 2):
        run(cache, world, sig, day(1) + pd.Timedelta(hours=hour),
            day(1) + pd.Timedelta(hours=hour + 2), streams=["s01"])
    files = cache.files("detections")
    assert 1 <= len(files) <= 4
    parts = list((files[0].parent).iterdir())
    assert sorted(parts) == sorted(files)  # compacted parts were deleted
    frame, calls = run(cache, world, sig, day(1), day(2), streams=["s01"])
    assert calls == []
    assert_frame_equal(frame, fresh_frame(world, sig, ["s01"], day(1), day(2)))


def test_concurrent_fetches_in_threads(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    frame, calls = run(cache, world, sig, day(0), day(2), max_workers=3)
    assert len(calls) == 3
    assert_frame_equal(frame, fresh_frame(world, sig, STREAMS, day(0), day(2)))


def test_rows_outside_the_window_are_ignored(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()

    def sloppy(stream: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        # Like segments' inclusive end: also returns the row starting exactly at `end`.
        return WorldFetch(world, sig)(stream, start - pd.Timedelta(hours=1), end)

    frame = cache.query("detections", sig, ["s01"], day(1), day(2), sloppy, SCHEMA, now=NOW)
    assert_frame_equal(frame, fresh_frame(world, sig, ["s01"], day(1), day(2)))


def test_empty_range_and_no_streams(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    frame, calls = run(cache, world, sig, day(1), day(1))
    assert calls == [] and len(frame) == 0 and list(frame.columns) == SCHEMA.names
    frame, calls = run(cache, world, sig, day(1), day(2), streams=[])
    assert calls == [] and len(frame) == 0


def test_bad_arguments(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    with pytest.raises(ValueError, match="cache"):
        run(cache, world, signature(), day(0), day(1), mode="sometimes")
    with pytest.raises(ValueError, match="entity"):
        cache.query("annotations", signature(), ["s01"], day(0), day(1),
                    WorldFetch(world, signature()), SCHEMA)
    with pytest.raises(ValueError, match="stream_id"):
        cache.query("detections", signature(), ["s01"], day(0), day(1),
                    WorldFetch(world, signature()), pa.schema([("start", pa.timestamp("ms"))]))


def test_schema_change_invalidates_entry(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, world, sig, day(0), day(1))
    narrow = pa.schema([SCHEMA.field(n) for n in ("id", "stream_id", "start", "confidence")])
    fetch = WorldFetch(world, sig)
    frame = cache.query("detections", sig, list(STREAMS), day(0), day(1), fetch, narrow, now=NOW)
    assert len(fetch.calls) == len(STREAMS)
    assert list(frame.columns) == narrow.names
    fetch = WorldFetch(world, sig)
    again = cache.query("detections", sig, list(STREAMS), day(0), day(1), fetch, narrow, now=NOW)
    assert fetch.calls == []
    assert_frame_equal(frame, again)


def test_missing_windows_lists_what_a_query_would_fetch(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, world, sig, day(1), day(2), streams=["s01"])
    missing = cache.missing_windows("detections", sig, ["s01"], day(0), day(3), SCHEMA)
    assert missing == [("s01", day(0), day(1)), ("s01", day(2), day(3))]


def test_corrupt_manifest_means_refetch_not_error(tmp_path: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, world, sig, day(0), day(2))
    manifest = tmp_path / LAYOUT / "detections" / sig.key / "_manifest.json"
    manifest.write_text('{"format": 1, "entity": "detec')
    frame, calls = run(cache, world, sig, day(0), day(2))
    assert len(calls) == len(STREAMS)
    assert_frame_equal(frame, fresh_frame(world, sig, STREAMS, day(0), day(2)))
    _, calls = run(cache, world, sig, day(0), day(2))
    assert calls == []
    named = set(cache.files("detections"))
    assert len(named) == 2 * len(STREAMS)
    assert set((tmp_path / LAYOUT).rglob("*.parquet")) == named  # old parts were collected
