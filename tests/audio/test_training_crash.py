"""Rewriting a training set in place, killed with SIGKILL at random moments: every outcome
is the whole old set or the whole new one, as ``read_training_set`` reads it."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rfcx_frames.audio import TrainingSetError, read_training_set
from rfcx_frames.emulator import Emulator

NOW = pd.Timestamp("2024-06-01", tz="UTC")
RATE = 8000

# One process imports everything once, then forks a writer per round (it has no threads,
# so fork is safe); the test kills each writer with SIGKILL by its pid.
_ZYGOTE = textwrap.dedent("""
    import json, os, sys, traceback
    import pandas as pd
    from rfcx_frames import Client
    from rfcx_frames.audio.training_set import with_audio
    import rfcx_frames.audio.atomic_dir as atomic_dir
    api, token, cache = sys.argv[1:4]
    swap = atomic_dir._exchange
    for line in sys.stdin:
        table, out, fallback = json.loads(line)
        frame = pd.read_pickle(table)
        pid = os.fork()
        if pid == 0:
            try:
                if fallback:  # the two-rename switch of platforms without an atomic swap
                    atomic_dir._exchange = lambda a, b: False
                with Client(api_url=api, token=token, cache_dir=cache, progress=False) as c:
                    ts = with_audio(frame, c.audio_source(), {rate})
                    c.write_training_set(ts, out, shard_size=4, progress=False)
                os._exit(0)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
        print(pid, flush=True)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
""").format(rate=RATE)


def _load(out: Path) -> tuple[pd.DataFrame, np.ndarray]:
    ts = read_training_set(out)
    return ts.labels, np.asarray(ts.audio)


def _same(got: tuple[pd.DataFrame, np.ndarray], want: tuple[pd.DataFrame, np.ndarray]) -> bool:
    return got[0].equals(want[0]) and got[1].shape == want[1].shape and bool(
        np.array_equal(got[1], want[1]))


@pytest.mark.slow
def test_sigkill_during_rewrite_leaves_the_whole_old_or_new_set(demo_emulator: Emulator,
                                                                tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with demo_emulator.client(progress=False, cache_dir=cache, clock=lambda: NOW) as c:
        stream = str(c.streams_df()["id"].iloc[0])
        annotations = c.annotations_df("2024-03-01", "2024-03-03", streams=[stream])
        # Neighbouring windows: few segments to download, enough files to kill midway.
        ts = c.training_set(annotations, clip_duration=2.0, sample_rate=RATE, negatives=0)
        # Same rows in the opposite order: old labels over new audio would show.
        ts_a, ts_b = ts.subset(np.arange(24)), ts.subset(np.arange(24)[::-1])
        sets = {}
        for name, one in (("a", ts_a), ("b", ts_b)):
            one.labels.to_pickle(tmp_path / f"{name}.pkl")
            c.write_training_set(one, tmp_path / f"ref-{name}", shard_size=4, progress=False)
            sets[name] = _load(tmp_path / f"ref-{name}")
    assert len(ts_a) == 24 and not _same(sets["a"], sets["b"])
    out = tmp_path / "train"
    shutil.copytree(tmp_path / "ref-a", out)
    current, killed, rounds, span = "a", 0, 0, 0.0
    outcomes: list[tuple[int, bool]] = []
    rng = random.Random(20240601)
    zygote = subprocess.Popen(
        [sys.executable, "-c", _ZYGOTE, demo_emulator.api_url, demo_emulator.token, str(cache)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert zygote.stdin is not None and zygote.stdout is not None
    try:
        while killed < 10:
            rounds += 1
            assert rounds <= 40, f"only {killed} writers were killed while writing"
            target = "b" if current == "a" else "a"
            zygote.stdin.write(json.dumps([str(tmp_path / f"{target}.pkl"), str(out),
                                           rounds % 2]) + "\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            began = time.monotonic()
            if rounds > 1:  # the first write runs to the end, to time one
                time.sleep(rng.uniform(0.0, 1.1 * span))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            code = int(zygote.stdout.readline())
            if rounds == 1:
                span = time.monotonic() - began
            assert code in (0, -9)
            killed += code == -9
            got = _load(out)
            outcome = [name for name in (current, target) if _same(got, sets[name])]
            assert outcome, f"round {rounds}: neither the old nor the new set"
            current = outcome[0]
            outcomes.append((code, target == current))
            # Leftovers of a switch are gone; a killed build keeps its shards to resume.
            assert sorted(p.name for p in tmp_path.glob(".train.*-*")
                          if ".partial-" not in p.name) == []
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=60)
        zygote.stdout.close()
    # Both outcomes were seen: the rounds rewrote the set back and forth.
    assert {new for _, new in outcomes} == {False, True}, outcomes


def test_tampered_or_incomplete_set_raises(demo_emulator: Emulator, tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "c", clock=lambda: NOW) as c:
        stream = str(c.streams_df()["id"].iloc[0])
        annotations = c.annotations_df("2024-03-01", "2024-03-03", streams=[stream])
        ts = c.training_set(annotations.head(4), clip_duration=1.0, sample_rate=RATE)
        out = c.write_training_set(ts, tmp_path / "set", shard_size=1, progress=False)
    back = read_training_set(out)
    labels = back.labels
    assert len(labels) == len(back.audio) >= 2
    first, second = (out / str(f) for f in labels["file"][:2])
    original = first.read_bytes()
    first.write_bytes(second.read_bytes())  # another clip's audio under this row
    with pytest.raises(TrainingSetError, match="does not match the manifest"):
        np.asarray(read_training_set(out).audio)
    first.write_bytes(original)
    first.unlink()
    with pytest.raises(TrainingSetError, match="missing"):
        read_training_set(out).audio[0]
    first.write_bytes(original)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["files"][labels["file"].iloc[0]]
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TrainingSetError, match="lists no file"):
        read_training_set(out).audio[0]
    (out / "manifest.json").unlink()
    with pytest.raises(TrainingSetError, match=r"no manifest\.json"):
        read_training_set(out)


def test_out_dir_holding_something_else_is_refused(demo_emulator: Emulator,
                                                   tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "c", clock=lambda: NOW) as c:
        stream = str(c.streams_df()["id"].iloc[0])
        annotations = c.annotations_df("2024-03-01", "2024-03-03", streams=[stream])
        ts = c.training_set(annotations.head(2), clip_duration=1.0)
        with pytest.raises(ValueError, match="not empty and holds no training set"):
            c.write_training_set(ts, tmp_path / "mine", progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
