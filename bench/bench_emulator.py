"""Emulator throughput: world build times and detection pages served per second.

Run: ``.venv/bin/python bench/bench_emulator.py`` (part of ``make bench``).
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from report import machine, write_section

from rfcx_frames.emulator import Emulator
from rfcx_frames.emulator.store import Store
from rfcx_frames.emulator.world import build_world

PAGE = 1000
SECONDS = 5.0


def build_time(world: str, **scale: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        t0 = time.perf_counter()
        build_world(store, world, **scale)
        elapsed = time.perf_counter() - t0
        n = int(store.query("SELECT count(*) AS n FROM detections")[0]["n"])
        store.close()
    return elapsed, n


def pages_per_second(emu: Emulator, workers: int) -> float:
    period = emu.store.query("SELECT min(start) AS a, max(start) AS b FROM detections")[0]
    session = requests.Session()
    headers = {"Authorization": f"Bearer {emu.token}"}
    deadline = time.perf_counter() + SECONDS

    def loop(worker: int) -> int:
        pages, offset = 0, worker * PAGE
        while time.perf_counter() < deadline:
            r = session.get(f"{emu.api_url}/detections", headers=headers, params={
                "start": period["a"], "end": period["b"] + 1, "min_confidence": 0,
                "limit": PAGE, "offset": offset})
            r.raise_for_status()
            pages += 1
            offset = (offset + workers * PAGE) % 20000
        return pages

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(loop, range(workers)))
    return total / (time.perf_counter() - t0)


def main() -> None:
    demo_s, demo_n = build_time("demo")
    large_s, large_n = build_time("large")
    print(f"demo world: {demo_s:.1f} s ({demo_n:,} detections)")
    print(f"large world: {large_s:.1f} s ({large_n:,} detections)")
    rows = []
    with Emulator("demo") as emu:
        for workers in (1, 4, 8):
            pps = pages_per_second(emu, workers)
            print(f"{workers} clients: {pps:.1f} pages of {PAGE} detections per second")
            rows.append(f"| {workers} | {pps:.1f} | {pps * PAGE:,.0f} |")
    body = "\n".join([
        "## Emulator",
        "",
        f"Machine: {machine()}. Command: `.venv/bin/python bench/bench_emulator.py`.",
        "",
        "| world | build time | detections |",
        "|---|---|---|",
        f"| demo | {demo_s:.1f} s | {demo_n:,} |",
        f"| large | {large_s:.1f} s | {large_n:,} |",
        "",
        f"Detection pages ({PAGE} rows, `min_confidence=0`) served on loopback over {SECONDS:.0f} s:",
        "",
        "| concurrent clients | pages/s | rows/s |",
        "|---|---|---|",
        *rows,
    ])
    write_section("emulator", body)


if __name__ == "__main__":
    main()
