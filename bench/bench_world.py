"""Benchmark: build the emulator's demo and large worlds and render a few segments.

Run ``python bench/bench_world.py``; it prints timings and row counts and writes nothing
outside a temporary folder (removed at the end).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from rfcx_frames.emulator.audio import ensure_blob
from rfcx_frames.emulator.store import Store
from rfcx_frames.emulator.world import build_world


def bench_build(root: Path, world: str, seed: int) -> tuple[float, dict[str, int], Store]:
    """Build ``world`` into a fresh folder; return seconds, row counts and the store."""
    store = Store(root / world)
    started = time.perf_counter()
    summary = build_world(store, world, seed=seed)
    return time.perf_counter() - started, summary["counts"], store


def bench_render(store: Store) -> list[tuple[str, int, float]]:
    """Render the first full segment of each (codec, sample rate) pair."""
    rows = store.query(
        "SELECT st.codec, st.max_sample_rate, min(s.id) AS id FROM segments s "
        'JOIN streams st ON st.id = s.stream_id WHERE s."end" - s.start = 60000 '
        "GROUP BY st.codec, st.max_sample_rate ORDER BY st.codec, st.max_sample_rate")
    out = []
    for codec, rate, seg_id in rows:
        started = time.perf_counter()
        ensure_blob(store, seg_id)
        out.append((codec, rate, time.perf_counter() - started))
    return out


def main() -> None:
    """Run the benchmark and print a small report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    print(f"# bench_world  python {platform.python_version()}  cpus {os.cpu_count()}")
    root = Path(tempfile.mkdtemp(prefix="bench_world_"))
    try:
        for world in ("demo",) if args.skip_large else ("demo", "large"):
            seconds, counts, store = bench_build(root, world, args.seed)
            size = sum(p.stat().st_size for p in (root / world).rglob("*") if p.is_file())
            print(f"build {world:<5} {seconds:7.2f} s  segments {counts['segments']:>9,}  "
                  f"calls {counts['calls']:>9,}  detections {counts['detections']:>10,}  "
                  f"annotations {counts['annotations']:>6,}  db {size / 2**20:7.1f} MiB")
            if world == "demo":
                for codec, rate, secs in bench_render(store):
                    print(f"render 60 s {codec:<4} {rate:>6} Hz  {secs:6.3f} s")
            store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
