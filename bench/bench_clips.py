"""Benchmark: iter_clips over local FLAC vs a bare soundfile.read(start, frames) loop.

Builds a store of 60 s FLAC segments, draws random fixed-length windows inside them and
times (a) ``iter_clips`` through a ``LocalSource`` (index lookups, planning, threaded
decoding) and (b) the bare loop ``soundfile.read(path, start=..., frames=...)`` over the
same windows, with the path and frame offset precomputed. Reports clips/s, the ratio (goal
>= 0.7) and the peak traced memory of (a) against the size of one batch, then writes a
section between ``<!-- bench:clips -->`` and ``<!-- /bench:clips -->`` in BENCHMARKS.md.

Run: ``.venv/bin/python bench/bench_clips.py [--windows 10000] [--segments 20]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from rfcx_frames.audio import AudioStore, LocalSource, iter_clips
from rfcx_frames.audio.sample_time import samples_between, series_ns
from rfcx_frames.audio.windows import default_workers

START = pd.Timestamp("2023-01-01T00:00:00Z")
BEGIN, END = "<!-- bench:clips -->", "<!-- /bench:clips -->"


def build_store(root: Path, segments: int, rate: int, seconds: int) -> AudioStore:
    store = AudioStore(root / "store")
    rng = np.random.default_rng(0)
    t = np.arange(seconds * rate) / rate
    for k in range(segments):
        # Quiet noise plus a chirp: realistic FLAC decoding cost without huge files.
        audio = 0.02 * rng.standard_normal(len(t)) + 0.2 * np.sin(2 * np.pi * (500 + 30 * k) * t)
        start = START + pd.Timedelta(seconds=k * seconds)
        tmp = root / "tmp.flac"
        sf.write(tmp, audio.astype(np.float32), rate, subtype="PCM_16")
        store.add(
            {"stream_id": "bench", "id": f"seg{k:04d}", "start": start,
             "end": start + pd.Timedelta(seconds=seconds), "file_extension": ".flac"},
            tmp,
        )
    return store


def windows(n: int, segments: int, seconds: int, clip: float, seed: int = 1) -> pd.DataFrame:
    """Events whose centred clip lies inside one segment (so the bare loop is well defined)."""
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, segments, n)
    length = rng.uniform(0.5, clip, n)
    centre = rng.uniform(clip / 2 + 0.01, seconds - clip / 2 - 0.01, n)
    base = START + pd.to_timedelta(seg * seconds, unit="s")
    start = base + pd.to_timedelta(np.round((centre - length / 2) * 1000), unit="ms")
    end = base + pd.to_timedelta(np.round((centre + length / 2) * 1000), unit="ms")
    return pd.DataFrame(
        {"stream_id": "bench", "start": pd.to_datetime(start, utc=True),
         "end": pd.to_datetime(end, utc=True), "classification_value": "x"}
    )


def bare_jobs(store: AudioStore, meta: pd.DataFrame) -> list[tuple[str, int, int]]:
    """(path, first frame, frames) of every clip, precomputed outside the timing."""
    found = store.find("bench", START, START + pd.Timedelta(days=30))
    paths = found["path"].tolist()
    seg_start = series_ns(found["start"])
    clip_start = series_ns(meta["clip_start"])
    jobs = []
    for cs, rate, n in zip(clip_start, meta["sample_rate"], meta["n_samples"], strict=True):
        k = int(np.searchsorted(seg_start, cs, side="right")) - 1
        offset = samples_between(int(seg_start[k]), int(cs), int(rate))
        jobs.append((paths[k], offset, int(n)))
    return jobs


def bare_loop(jobs: list[tuple[str, int, int]]) -> float:
    t0 = time.perf_counter()
    for path, offset, frames in jobs:
        data, _ = sf.read(path, start=offset, frames=frames, dtype="float32")
        assert len(data) == frames
    return time.perf_counter() - t0


def ours(source: LocalSource, frame: pd.DataFrame, clip: float, batch: int,
         workers: int | None) -> tuple[float, pd.DataFrame]:
    metas = []
    t0 = time.perf_counter()
    for _, meta in iter_clips(source, frame, duration=clip, batch_size=batch, progress=False,
                              workers=workers):
        metas.append(meta[["clip_start", "sample_rate", "n_samples"]])
    return time.perf_counter() - t0, pd.concat(metas)


def peak_memory(source: LocalSource, frame: pd.DataFrame, clip: float, batch: int,
                workers: int | None) -> int:
    tracemalloc.start()
    for _ in iter_clips(source, frame, duration=clip, batch_size=batch, progress=False,
                        workers=workers):
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return int(peak)


def interleaved(source: LocalSource, store: AudioStore, frame: pd.DataFrame, clip: float,
                batch: int, workers: int | None, chunks: int = 10) -> tuple[float, float, pd.DataFrame]:
    """Alternate the two contenders chunk by chunk so load changes hit both alike."""
    ours_s = bare_s = 0.0
    metas = []
    for part in np.array_split(np.arange(len(frame)), chunks):
        elapsed, meta = ours(source, frame.iloc[part], clip, batch, workers)
        ours_s += elapsed
        bare_s += bare_loop(bare_jobs(store, meta))
        metas.append(meta)
    return ours_s, bare_s, pd.concat(metas)


def write_section(path: Path, text: str) -> None:
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    if path.exists():
        current = path.read_text()
        if BEGIN in current and END in current:
            pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
            current = pattern.sub(lambda _: block, current)
        else:
            current = current.rstrip() + "\n\n" + block + "\n"
    else:
        current = "# Benchmarks\n\n" + block + "\n"
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--rate", type=int, default=48_000)
    parser.add_argument("--clip", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--output", type=Path, default=Path(__file__).parents[1] / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    seconds = 60
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        store = build_store(root, args.segments, args.rate, seconds)
        build = time.perf_counter() - t0
        frame = windows(args.windows, args.segments, seconds, args.clip)
        source = LocalSource(store)
        # Warm the OS page cache for both contenders alike.
        _, warm = ours(source, frame.iloc[:50], args.clip, args.batch_size, args.workers)
        bare_loop(bare_jobs(store, warm))
        ours_s, bare_s, meta = interleaved(
            source, store, frame, args.clip, args.batch_size, args.workers
        )
        peak = peak_memory(source, frame.iloc[: 4 * args.batch_size], args.clip,
                           args.batch_size, args.workers)
    n = len(frame)
    ratio = bare_s / ours_s
    batch_bytes = args.batch_size * int(meta["n_samples"].iloc[0]) * 4
    lines = [
        "## Clips from local FLAC (`bench/bench_clips.py`)",
        "",
        f"{n} clips of {args.clip:g} s at {args.rate} Hz from {args.segments} local 60 s FLAC "
        f"segments; batch {args.batch_size}, {args.workers or default_workers()} decoding "
        f"threads; {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"libsndfile {sf.__libsndfile_version__}. Store built in {build:.1f} s. The two "
        "contenders alternate in 10 chunks so load changes on the machine hit both alike.",
        "",
        "| method | seconds | clips/s |",
        "|---|---:|---:|",
        f"| `iter_clips` (LocalSource: index + planning + threads) | {ours_s:.2f} | {n / ours_s:,.0f} |",
        f"| bare `soundfile.read(start=, frames=)` loop | {bare_s:.2f} | {n / bare_s:,.0f} |",
        "",
        f"Throughput ratio iter_clips / bare loop: **{ratio:.2f}x** (goal >= 0.7x: "
        f"{'met' if ratio >= 0.7 else 'NOT met'}).",
        f"Peak traced memory of `iter_clips` over 4 batches: {peak / 2**20:.0f} MiB; one batch "
        f"array is {batch_bytes / 2**20:.0f} MiB (bounded by the batch, not by the "
        f"{n} clips = {n * batch_bytes / args.batch_size / 2**30:.1f} GiB).",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(args.output, text)
        print(f"\nwrote section to {args.output}")


if __name__ == "__main__":
    main()
