"""info / clear / windows_frame over a real cache."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
from cache_world import DAY0, NOW, SCHEMA, WorldFetch, signature

from rfcx_frames.cache import TimeRangedCache, WholeResultCache, clear, info, windows_frame


def day(n: float) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=n)


def fill(root: Path, world: pd.DataFrame) -> None:
    cache = TimeRangedCache(root)
    for sig in (signature(min_confidence=0.8), signature()):  # strict first: both stored
        cache.query("detections", sig, ["s01", "s02"], day(0), day(2), WorldFetch(world, sig),
                    SCHEMA, now=NOW)
    cache.query("detections", signature(), ["s01"], day(5), day(6),
                WorldFetch(world, signature()), SCHEMA, now=NOW)
    schema = pa.schema([("id", pa.string())])
    WholeResultCache(root).get("projects", {}, "http://x", "u",
                               lambda: pd.DataFrame({"id": ["a"]}), schema, now=NOW)


def test_info_reports_sizes_entries_and_windows(tmp_path: Path, world: pd.DataFrame) -> None:
    fill(tmp_path, world)
    report = info(tmp_path)
    assert report["entries"] == 3 and report["path"] == str(tmp_path)
    assert report["size_bytes"] > sum(e["size_bytes"] for e in report["ranged"]) > 0
    loose = next(e for e in report["ranged"] if e["key"] == signature().key)
    assert loose["signature"]["min_confidence"] is None
    assert [len(loose["streams"][s]["windows"]) for s in ("s01", "s02")] == [2, 1]
    assert loose["rows"] == sum(s["rows"] for s in loose["streams"].values()) > 0
    frame = windows_frame(tmp_path)
    assert len(frame) == 5
    assert str(frame["start"].dtype).startswith("datetime64") and frame["start"].dt.tz is not None
    s01 = frame[(frame["key"] == signature().key) & (frame["stream_id"] == "s01")]
    assert list(zip(s01["start"], s01["end"], strict=True)) == [(day(0), day(2)), (day(5), day(6))]


def test_clear_older_than_keeps_recent_entries(tmp_path: Path, world: pd.DataFrame) -> None:
    fill(tmp_path, world)  # every entry written at NOW
    # Twenty days later one entry gains a window: it was updated then.
    sig = signature(min_confidence=0.8)
    TimeRangedCache(tmp_path).query("detections", sig, ["s02"], day(5), day(6),
                                    WorldFetch(world, sig), SCHEMA,
                                    now=NOW + pd.Timedelta(days=20))
    assert info(tmp_path)["entries"] == 3
    later = NOW + pd.Timedelta(days=28)
    assert clear(tmp_path, older_than="30d", now=later)["entries"] == 0
    # Older than 10 days at NOW + 28 days: the two entries of NOW, not the updated one.
    result = clear(tmp_path, older_than="10d", now=later)
    assert result["entries"] == 2 and result["bytes"] > 0
    assert info(tmp_path)["entries"] == 1
    assert clear(tmp_path, older_than="7d", now=later)["entries"] == 1
    assert info(tmp_path)["entries"] == 0
    assert TimeRangedCache(tmp_path).files("detections") == []


def test_clear_one_entity_then_all(tmp_path: Path, world: pd.DataFrame) -> None:
    fill(tmp_path, world)
    assert clear(tmp_path, entity="projects")["entries"] == 1
    assert {e["entity"] for e in info(tmp_path)["ranged"]} == {"detections"}
    assert clear(tmp_path)["entries"] == 2
    fetch = WorldFetch(world, signature())
    TimeRangedCache(tmp_path).query("detections", signature(), ["s01"], day(0), day(1), fetch,
                                    SCHEMA, now=NOW)
    assert len(fetch.calls) == 1  # nothing left to answer from
