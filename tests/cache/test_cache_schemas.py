"""The cache with the project's real detection schema and the client's own converters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.testing import assert_frame_equal

from rfcx_frames import convert, wire
from rfcx_frames.cache import FilterSignature, TimeRangedCache
from rfcx_frames.schemas import DETECTION, arrow_schema, pandas_dtypes

DAY0 = pd.Timestamp("2024-01-01", tz="UTC")
NOW = pd.Timestamp("2024-06-01", tz="UTC")


def wire_items(n: int = 600) -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    items = []
    for i in range(n):
        start = DAY0 + pd.Timedelta(seconds=int(rng.integers(0, 3 * 86_400 // 10)) * 10)
        value = ["bird_a", "bird_b", "frog_c"][int(rng.integers(0, 3))]
        items.append(
            {
                "id": str(10_000 + i),
                "stream_id": ["aaaaaaaaaaaa", "bbbbbbbbbbbb"][int(rng.integers(0, 2))],
                "classifier_id": int(rng.integers(1, 3)),
                "classification_id": 7,
                "start": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "end": (start + pd.Timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "confidence": round(float(rng.random()), 3),
                "review_status": [None, -1, 0, 1][int(rng.integers(0, 4))],
                "classification": {"value": value, "title": value.title(), "image": None},
            }
        )
    return items


def client_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    return convert.entity_frame(DETECTION, wire.to_table(DETECTION, [wire.rows_to_struct(DETECTION, items)]))


def fresh_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    """What the client returns for these rows without the cache: ordered, each once."""
    table = wire.to_table(DETECTION, [wire.rows_to_struct(DETECTION, items)])
    return convert.entity_frame(DETECTION, convert.ordered(DETECTION, table))


def pick(items: list[dict[str, Any]], streams: list[str], a: pd.Timestamp,
         b: pd.Timestamp) -> list[dict[str, Any]]:
    return [i for i in items
            if i["stream_id"] in streams and a <= pd.Timestamp(i["start"]) < b]


def test_cached_frame_equals_the_clients_fresh_frame(tmp_path: Path) -> None:
    items = wire_items()
    streams = ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    calls: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []

    def fetch(stream: str, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
        calls.append((stream, a, b))
        return client_frame(pick(items, [stream], a, b))

    cache = TimeRangedCache(tmp_path)
    sig = FilterSignature("detections", "https://api.example.org", "u")
    kwargs: dict[str, Any] = {
        "dtypes": pandas_dtypes(DETECTION), "order_by": DETECTION.order_by, "now": NOW,
    }
    schema = arrow_schema(DETECTION)
    a, b = DAY0, DAY0 + pd.Timedelta(days=3)
    cold = cache.query("detections", sig, streams, a, b, fetch, schema, **kwargs)
    warm = cache.query("detections", sig, streams, a, b, fetch, schema, **kwargs)
    assert len(calls) == 2
    fresh = fresh_frame(pick(items, streams, a, b))
    assert_frame_equal(cold, fresh)
    assert_frame_equal(warm, fresh)
    inner = (DAY0 + pd.Timedelta(hours=30), DAY0 + pd.Timedelta(hours=50))
    part = cache.query("detections", sig, streams[:1], *inner, fetch, schema, **kwargs)
    assert len(calls) == 2
    assert_frame_equal(part, fresh_frame(pick(items, streams[:1], *inner)))
    assert list(warm["review_status"].cat.categories) == [
        "unreviewed", "rejected", "uncertain", "confirmed"]
