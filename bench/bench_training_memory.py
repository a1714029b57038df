"""Peak memory of writing a 30,000-clip training set: bounded by the shard, not the set.

Builds a local store of 60 s FLAC segments at a small rate, lays ``--clips`` 1 s windows on
a 0.1 s step over them, wraps them in a TrainingSet (``with_audio``, loading
``--batch-size`` clips at a time as ``training_set`` does by default) and writes it with
:func:`rfcx_frames.audio.write_training_set` in shards of ``--shard-size`` clips.

The baseline is taken after a warm-up write of a tiny set (8 clips in shards of 4), so
the libraries the writer loads on first use (zip, Parquet, FLAC decoding) are already in
the resident set and are not counted as the writer's memory. Linux's ``VmHWM`` (peak
resident set) is then reset (``/proc/self/clear_refs``), so the peak above the resident
set at that moment is what writing the set itself added. The goal: at most two shards
of audio, far below the whole set's audio, which the earlier one-array writer held.

Run: ``.venv/bin/python bench/bench_training_memory.py [--clips 30000] [--shard-size 512]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import machine, write_section

from rfcx_frames.audio import AudioStore, LocalSource, read_training_set, write_training_set
from rfcx_frames.audio.training_set import with_audio

START = pd.Timestamp("2023-01-01T00:00:00Z")
SEGMENT_S = 60


def build_store(root: Path, segments: int, rate: int) -> AudioStore:
    store = AudioStore(root / "store")
    rng = np.random.default_rng(0)
    for k in range(segments):
        audio = 0.05 * rng.standard_normal(SEGMENT_S * rate).astype(np.float32)
        start = START + pd.Timedelta(seconds=k * SEGMENT_S)
        tmp = root / "tmp.flac"
        sf.write(tmp, audio, rate, subtype="PCM_16")
        store.add({"stream_id": "bench", "id": f"seg{k:05d}", "start": start,
                   "end": start + pd.Timedelta(seconds=SEGMENT_S), "file_extension": ".flac"},
                  tmp)
    return store


def windows(n: int) -> pd.DataFrame:
    """``n`` 1 s windows on a 0.1 s step, two made-up classes."""
    start = START + pd.to_timedelta(np.arange(n) * 100, unit="ms")
    rng = np.random.default_rng(1)
    table = pd.DataFrame({"stream_id": "bench", "start": start,
                          "end": start + pd.Timedelta(seconds=1),
                          "label_a": rng.integers(0, 2, n).astype("uint8"),
                          "reviewed_a": True})
    table.attrs.update(classes=["a"], clip_duration=1.0)
    return table


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def measure(args: argparse.Namespace, root: Path) -> dict[str, float]:
    segments = int(np.ceil(args.clips * 0.1 / SEGMENT_S)) + 1
    t0 = time.perf_counter()
    source = LocalSource(build_store(root, segments, args.rate))
    built = time.perf_counter() - t0
    ts = with_audio(windows(args.clips), source, args.rate, batch_size=args.batch_size)
    # Libraries loaded on first use (zip, Parquet, FLAC) are in place before the baseline.
    write_training_set(ts.subset(np.arange(8)), root / "warm-up", shard_size=4, progress=False)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    baseline = _status_kib("VmRSS")
    t0 = time.perf_counter()
    out = write_training_set(ts, root / "set", shard_size=args.shard_size, progress=False)
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    back = read_training_set(out)
    assert len(back) == args.clips
    np.testing.assert_array_equal(back.audio[args.clips - 1], ts.audio[args.clips - 1])
    return {"segments": segments, "built": built, "seconds": seconds,
            "above_mib": (peak - baseline) / 1024, "baseline_mib": baseline / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=30_000)
    parser.add_argument("--rate", type=int, default=8_000)
    parser.add_argument("--shard-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        got = measure(args, Path(tmp))
    clip_bytes = args.rate * 4
    shard_mib = args.shard_size * clip_bytes / 2**20
    whole_mib = args.clips * clip_bytes / 2**20
    batch_mib = min(args.batch_size, args.shard_size) * clip_bytes / 2**20
    goal = 2 * shard_mib
    body = "\n".join([
        "## Memory of writing a training set (`bench/bench_training_memory.py`)",
        "",
        f"{machine()}. {args.clips:,} clips of 1 s at {args.rate} Hz (1 s windows on a 0.1 s "
        f"step over {got['segments']:.0f} local 60 s FLAC segments, built in "
        f"{got['built']:.1f} s), written as `npz` shards of {args.shard_size} clips, "
        f"loaded {args.batch_size} at a time (`training_set`'s default `batch_size`). "
        "Baseline taken after a warm-up write of 8 clips, so libraries loaded on first "
        "use are not counted.",
        "",
        "| measure | MiB |",
        "|---|---:|",
        f"| peak RSS above the resident set before the write | {got['above_mib']:.1f} |",
        f"| one batch of audio (float32) | {batch_mib:.1f} |",
        f"| one shard of audio (float32) | {shard_mib:.1f} |",
        f"| goal: 2 shards | {goal:.1f} |",
        f"| the whole set's audio (what one array would hold) | {whole_mib:,.1f} |",
        "",
        f"Write time {got['seconds']:.1f} s ({args.clips / got['seconds']:,.0f} clips/s); "
        f"resident set before the write {got['baseline_mib']:.0f} MiB. Goal "
        f"{'met' if got['above_mib'] <= goal else 'NOT met'}.",
    ])
    print(body)
    if not args.no_write:
        write_section("training_memory", body)


if __name__ == "__main__":
    main()
