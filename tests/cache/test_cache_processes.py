"""Several real processes on one cache: concurrent fills, and writers killed with SIGKILL."""

from __future__ import annotations

import multiprocessing
import random
import time
from pathlib import Path

import pandas as pd
import pytest
from cache_world import (
    DAY0,
    NOW,
    SCHEMA,
    STREAMS,
    WorldFetch,
    fill_worker,
    fresh_frame,
    signature,
    write_loop_worker,
)
from pandas.testing import assert_frame_equal

from rfcx_frames.cache import TimeRangedCache
from rfcx_frames.cache.frames import file_schema
from rfcx_frames.cache.parquet import parquet_is_readable
from rfcx_frames.files import TMP_PREFIX

SPAWN = multiprocessing.get_context("spawn")
END = DAY0 + pd.Timedelta(days=10)


def assert_consistent(root: Path) -> None:
    """Every manifest names readable files only, and no hidden temporaries remain named."""
    cache = TimeRangedCache(root)
    for path in cache.files("detections"):
        assert not path.name.startswith(TMP_PREFIX)
        assert parquet_is_readable(path, file_schema(SCHEMA)), path


@pytest.mark.slow
def test_four_processes_fill_the_same_cache(tmp_path: Path, world: pd.DataFrame) -> None:
    outs = [tmp_path / f"frame{i}.pkl" for i in range(4)]
    procs = [
        SPAWN.Process(target=fill_worker, args=(str(tmp_path / "cache"), i, str(out)))
        for i, out in enumerate(outs)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    sig = signature(min_confidence=0.5)
    expected = fresh_frame(world, sig, STREAMS, DAY0, END)
    for out in outs:
        assert_frame_equal(pd.read_pickle(out), expected)
    assert_consistent(tmp_path / "cache")
    fetch = WorldFetch(world, sig)
    frame = TimeRangedCache(tmp_path / "cache").query(
        "detections", sig, list(STREAMS), DAY0, END, fetch, SCHEMA, now=NOW
    )
    assert fetch.calls == []
    assert_frame_equal(frame, expected)


@pytest.mark.slow
def test_sigkill_while_writing_leaves_a_readable_cache(tmp_path: Path, world: pd.DataFrame) -> None:
    root = tmp_path / "cache"
    rng = random.Random(1234)
    for round_ in range(5):
        ready = tmp_path / f"ready{round_}"
        proc = SPAWN.Process(target=write_loop_worker, args=(str(root), str(ready)))
        proc.start()
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.6))
        proc.kill()  # SIGKILL: no cleanup, locks released by the kernel
        proc.join(timeout=30)
        assert proc.exitcode == -9
        assert_consistent(root)
    cache = TimeRangedCache(root)
    for sig in (signature(), signature(min_confidence=0.5)):
        frame = cache.query(
            "detections", sig, list(STREAMS), DAY0, END, WorldFetch(world, sig), SCHEMA, now=NOW
        )
        assert_frame_equal(frame, fresh_frame(world, sig, STREAMS, DAY0, END))
        fetch = WorldFetch(world, sig)
        again = cache.query("detections", sig, list(STREAMS), DAY0, END, fetch, SCHEMA, now=NOW)
        assert fetch.calls == []
        assert_frame_equal(again, frame)
    assert_consistent(root)
