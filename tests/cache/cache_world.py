"""A synthetic detections platform for the cache tests (and their spawned workers).

``make_world`` builds a deterministic detections table; ``WorldFetch`` answers one
stream-window like the platform would (start in ``[a, b)``, the signature's filters)
and records every call. ``fresh_frame`` is the independent expectation: what a fresh
fetch of a whole query gives, built with pandas and pyarrow only (not the cache).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from rfcx_frames.cache import FilterSignature, TimeRangedCache

BASE = "https://api.example.org"
USER = "user-1a2b"
STREAMS = ("s01", "s02", "s03")
DAY0 = pd.Timestamp("2024-01-01", tz="UTC")
NOW = pd.Timestamp("2024-03-01", tz="UTC")
CLASSES = ("bird_a", "bird_b", "frog_c", "insect_d")
STATUSES = ("unreviewed", "rejected", "uncertain", "confirmed")

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("stream_id", pa.string()),
        ("start", pa.timestamp("ms", tz="UTC")),
        ("end", pa.timestamp("ms", tz="UTC")),
        ("confidence", pa.float32()),
        ("classification_value", pa.dictionary(pa.int32(), pa.string())),
        ("classifier_id", pa.int32()),
        ("review_status", pa.dictionary(pa.int8(), pa.string())),
    ]
)


def signature(**filters: object) -> FilterSignature:
    return FilterSignature.build("detections", BASE, USER, **filters)  # type: ignore[arg-type]


def make_world(days: int = 10, per_day: int = 60, seed: int = 7) -> pd.DataFrame:
    """Detections of every stream over ``days`` days, with ties on start."""
    rng = np.random.default_rng(seed)
    frames = []
    for stream in STREAMS:
        n = days * per_day
        # Whole seconds, so several detections share a start (ties to break).
        offsets = np.sort(rng.integers(0, days * 86_400 // 4, n)) * 4
        starts = DAY0 + pd.to_timedelta(offsets, unit="s")
        frames.append(
            pd.DataFrame(
                {
                    "stream_id": stream,
                    "start": starts,
                    "end": starts + pd.Timedelta(seconds=3),
                    "confidence": (rng.integers(30, 101, n) / 100).astype("float32"),
                    "classification_value": rng.choice(CLASSES, n),
                    "classifier_id": rng.integers(1, 4, n).astype("int32"),
                    "review_status": rng.choice(STATUSES, n),
                }
            )
        )
    world = pd.concat(frames, ignore_index=True)
    world["id"] = rng.permutation(len(world)).astype("int64") + 1000
    world["start"] = world["start"].astype("datetime64[ms, UTC]")
    world["end"] = world["end"].astype("datetime64[ms, UTC]")
    world["classification_value"] = world["classification_value"].astype("category")
    world["review_status"] = world["review_status"].astype("category")
    return world[list(SCHEMA.names)]


def select(
    world: pd.DataFrame,
    sig: FilterSignature,
    streams: list[str] | tuple[str, ...],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """The rows the platform returns for a query (compared in float32 like Postgres real)."""
    keep = world["stream_id"].isin(list(streams)) & (world["start"] >= start)
    keep &= world["start"] < end
    if sig.classifications is not None:
        keep &= world["classification_value"].astype(str).isin(sorted(sig.classifications))
    if sig.classifiers is not None:
        keep &= world["classifier_id"].isin(sorted(sig.classifiers))
    if sig.min_confidence is not None:
        keep &= world["confidence"] >= np.float32(sig.min_confidence)
    if sig.review_statuses is not None:
        keep &= world["review_status"].astype(str).isin(sorted(sig.review_statuses))
    return world[keep]


class WorldFetch:
    """A ``fetch`` callback over the world that records its calls."""

    def __init__(self, world: pd.DataFrame, sig: FilterSignature, delay: float = 0.0) -> None:
        self.world = world
        self.sig = sig
        self.delay = delay
        self.calls: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []
        self._lock = threading.Lock()

    def __call__(self, stream: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        with self._lock:
            self.calls.append((stream, start, end))
        if self.delay:
            time.sleep(self.delay)
        # The platform returns rows in start order only; the cache must order ties itself.
        rows = select(self.world, self.sig, [stream], start, end)
        return rows.sample(frac=1.0, random_state=len(self.calls)).sort_values(
            "start", kind="stable"
        )


def fresh_frame(
    world: pd.DataFrame,
    sig: FilterSignature,
    streams: list[str] | tuple[str, ...],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """The expected frame: selected rows, sorted, with dtypes a fresh Arrow pull gives."""
    rows = select(world, sig, streams, start, end)
    rows = rows.sort_values(
        ["start", "stream_id", "classification_value", "classifier_id", "id", "end"],
        kind="stable",
    )
    frame = pa.Table.from_pandas(rows, schema=SCHEMA, preserve_index=False).to_pandas()
    for column in ("classification_value", "review_status"):
        values = frame[column].cat.remove_unused_categories()
        frame[column] = values.cat.set_categories(pd.Index(sorted(values.cat.categories), dtype=str))
    return frame


def fill_worker(root: str, seed: int, out: str) -> None:
    """Spawned worker: run overlapping queries into a shared cache, save the last frame."""
    world = make_world()
    cache = TimeRangedCache(root)
    sig = signature(min_confidence=0.5)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        a = int(rng.integers(0, 8))
        b = int(rng.integers(a + 1, 11))
        fetch = WorldFetch(world, sig, delay=0.002)
        cache.query(
            "detections", sig, list(STREAMS), DAY0 + pd.Timedelta(days=a),
            DAY0 + pd.Timedelta(days=b), fetch, SCHEMA, now=NOW,
        )
    fetch = WorldFetch(world, sig)
    frame = cache.query(
        "detections", sig, list(STREAMS), DAY0, DAY0 + pd.Timedelta(days=10), fetch, SCHEMA,
        now=NOW,
    )
    frame.to_pickle(out)


def write_loop_worker(root: str, ready: str) -> None:
    """Spawned worker: write (use, refresh, compaction) forever until killed."""
    world = make_world()
    cache = TimeRangedCache(root, max_parts=3)
    sigs = [signature(), signature(min_confidence=0.5)]
    rng = np.random.default_rng(os.getpid())
    Path(ready).touch()
    while True:
        sig = sigs[int(rng.integers(0, 2))]
        a = int(rng.integers(0, 9 * 24))
        b = a + int(rng.integers(1, 36))
        mode = "refresh" if rng.random() < 0.3 else "use"
        cache.query(
            "detections", sig, list(STREAMS), DAY0 + pd.Timedelta(hours=a),
            DAY0 + pd.Timedelta(hours=b), WorldFetch(world, sig), SCHEMA, mode=mode, now=NOW,
        )
