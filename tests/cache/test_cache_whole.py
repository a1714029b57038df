"""WholeResultCache: one Parquet file per request, with an expiry."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal

from rfcx_frames.cache import WholeResultCache, frame_from_table, table_from_frame
from rfcx_frames.cache.disk import LAYOUT
from rfcx_frames.cache.whole import SIDECAR_KEYS
from rfcx_frames.exceptions import NotCachedError

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("name", pa.string()),
        ("is_public", pa.bool_()),
        ("created_at", pa.timestamp("ms", tz="UTC")),
        ("timezone", pa.dictionary(pa.int32(), pa.string())),
    ]
)
T0 = pd.Timestamp("2024-06-01T12:00", tz="UTC")
BASE = "https://api.example.org"


class Listing:
    def __init__(self, n: int = 3) -> None:
        self.calls = 0
        self.n = n

    def __call__(self) -> pd.DataFrame:
        self.calls += 1
        return pd.DataFrame(
            {
                "id": [f"p{i}" for i in range(self.n)],
                "name": [f"Project {i}" for i in range(self.n)],
                "is_public": [i % 2 == 0 for i in range(self.n)],
                "created_at": pd.date_range("2020-01-01", periods=self.n, tz="UTC", unit="ms"),
                "timezone": pd.Categorical(["UTC", "Asia/Bangkok", "UTC"][: self.n]),
            }
        )


def fresh(listing: Listing) -> pd.DataFrame:
    return frame_from_table(table_from_frame(listing(), SCHEMA), SCHEMA)


def test_repeat_within_ttl_is_served_from_disk(tmp_path: Path) -> None:
    cache = WholeResultCache(tmp_path)
    listing = Listing()
    first = cache.get("projects", {"keyword": "x"}, BASE, "u", listing, SCHEMA, now=T0)
    again = cache.get("projects", {"keyword": "x"}, BASE, "u", listing, SCHEMA,
                      now=T0 + pd.Timedelta(minutes=59))
    assert listing.calls == 1
    assert_frame_equal(first, again)
    assert_frame_equal(again, fresh(Listing()))


def test_expiry_and_distinct_keys_refetch(tmp_path: Path) -> None:
    cache = WholeResultCache(tmp_path, ttl=pd.Timedelta(minutes=10))
    listing = Listing()
    cache.get("projects", {}, BASE, "u", listing, SCHEMA, now=T0)
    cache.get("projects", {}, BASE, "u", listing, SCHEMA, now=T0 + pd.Timedelta(minutes=11))
    assert listing.calls == 2
    cache.get("projects", {"limit": 5}, BASE, "u", listing, SCHEMA, now=T0)
    cache.get("projects", {}, BASE, "someone-else", listing, SCHEMA, now=T0)
    cache.get("projects", {}, "https://staging", "u", listing, SCHEMA, now=T0)
    assert listing.calls == 5
    files = list((tmp_path / LAYOUT / "whole" / "projects").glob("*.parquet"))
    assert len(files) == 4  # the expired entry's file was replaced, not kept


def test_offline_ignores_expiry_and_raises_when_absent(tmp_path: Path) -> None:
    cache = WholeResultCache(tmp_path)
    listing = Listing()
    cache.get("streams", {"project": "p1"}, BASE, "u", listing, SCHEMA, now=T0)
    late = T0 + pd.Timedelta(days=30)
    frame = cache.get("streams", {"project": "p1"}, BASE, "u", listing, SCHEMA,
                      mode="offline", now=late)
    assert listing.calls == 1
    assert_frame_equal(frame, fresh(Listing()))
    with pytest.raises(NotCachedError, match="streams"):
        cache.get("streams", {"project": "p2"}, BASE, "u", listing, SCHEMA, mode="offline")
    assert listing.calls == 1


def test_refresh_and_off(tmp_path: Path) -> None:
    cache = WholeResultCache(tmp_path)
    listing = Listing()
    cache.get("projects", {}, BASE, "u", listing, SCHEMA, now=T0)
    cache.get("projects", {}, BASE, "u", Listing(2), SCHEMA, mode="refresh", now=T0)
    frame = cache.get("projects", {}, BASE, "u", listing, SCHEMA, now=T0)
    assert len(frame) == 2 and listing.calls == 1
    cache.get("projects", {}, BASE, "u", listing, SCHEMA, mode=False, now=T0)
    assert listing.calls == 2


def test_corrupt_file_is_refetched(tmp_path: Path) -> None:
    cache = WholeResultCache(tmp_path)
    listing = Listing()
    cache.get("projects", {}, BASE, "u", listing, SCHEMA, now=T0)
    (data,) = (tmp_path / LAYOUT / "whole" / "projects").glob("*.parquet")
    data.write_bytes(data.read_bytes()[:40])
    frame = cache.get("projects", {}, BASE, "u", listing, SCHEMA, now=T0)
    assert listing.calls == 2
    assert_frame_equal(frame, fresh(Listing()))


def test_sidecar_holds_only_documented_keys(tmp_path: Path) -> None:
    cache = WholeResultCache(tmp_path)
    cache.get("projects", {"keyword": {"b", "a"}}, BASE, "u", Listing(), SCHEMA, now=T0)
    (sidecar,) = (tmp_path / LAYOUT / "whole" / "projects").glob("*.json")
    meta = json.loads(sidecar.read_text())
    assert set(meta) == SIDECAR_KEYS
    assert meta["params"] == {"keyword": ["a", "b"]}
    assert pd.Timestamp(meta["expires"]) == T0 + pd.Timedelta(hours=1)
