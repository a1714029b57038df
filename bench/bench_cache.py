"""Benchmark the Parquet cache through the real client: cold fetch, warm repeat, bare read.

The emulator runs in its own process (demo world scaled to 26 streams x 31 days, as in
``bench_detections.py``) and the query is the demo user's 200,000 detections from
2024-03-01 at ``min_confidence=0.001``. For each run a :class:`rfcx_frames.Client` with a
fresh cache folder calls ``detections_df(..., cache="use")``:

* **cold**: empty cache, every page comes over HTTP and is written to Parquet;
* **no cache**: the same query with ``cache=False`` (what the cold path costs on top);
* **warm**: the same call again, answered from the cache without a request;
* **bare**: ``pyarrow.parquet.read_table`` of the very files the cache holds (and
  ``.to_pandas()`` of it), the floor a cache read can reach.

Cold runs are done on plain loopback and again with 50 ms added per request (a real
network); warm and bare runs take turns so load drift on a shared machine hits both alike.
Each figure is the median of several runs.

Run from the project root (part of ``make bench``)::

    .venv/bin/python bench/bench_cache.py [--cold-repeat 3] [--warm-repeat 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from bench_detections import MIN_CONFIDENCE, QUERY_START, emulator, query_end
from report import interleaved, load_note, machine, set_faults, write_section

from rfcx_frames import Client
from rfcx_frames.cache import TimeRangedCache

WARM_GOAL = 50.0  # warm must be at least this many times faster than cold
BARE_GOAL = 1.5  # warm may take at most this many times a bare read_table


def run_query(client: Client, end: str, cache: str | bool) -> tuple[float, pd.DataFrame, int]:
    """One ``detections_df`` call: (seconds, frame, HTTP requests sent)."""
    before = client.session.requests_sent
    t0 = time.perf_counter()
    frame = client.detections_df(QUERY_START, end, min_confidence=MIN_CONFIDENCE, cache=cache)
    return time.perf_counter() - t0, frame, client.session.requests_sent - before


def cold_runs(info: dict[str, str], end: str, root: Path, repeat: int,
              tag: str) -> tuple[list[float], list[float], list[int], list[int], Path]:
    """Cold (fresh cache) and no-cache fetches in turns; returns their times, their
    request counts, and the cache folder of the last cold run."""
    cold, plain, requests, plain_requests = [], [], [], []
    folder = root
    for i in range(repeat):
        folder = root / f"cache-{tag}-{i}"
        with Client(api_url=info["api_url"], token=info["token"], progress=False,
                    cache_dir=folder) as client:
            seconds, frame, sent = run_query(client, end, False)
            plain.append(seconds)
            plain_requests.append(sent)
            seconds, frame, sent = run_query(client, end, "use")
            cold.append(seconds)
            requests.append(sent)
            print(f"[{tag}] run {i + 1}: no cache {plain[-1]:.2f} s, cold {cold[-1]:.2f} s "
                  f"({sent} requests, {len(frame):,} rows)", flush=True)
    return cold, plain, requests, plain_requests, folder


def platform_like_cold(info: dict[str, str], end: str, root: Path, latency_ms: int,
                       per_minute: int) -> tuple[float, int]:
    """One cold fetch as it runs against the platform: added latency, and the client's own
    limit of ``per_minute`` requests (what it applies to ``*.rfcx.org`` automatically)."""
    folder = Path(tempfile.mkdtemp(prefix="platform-like-", dir=root))
    set_faults(info["api_url"], latency_ms=latency_ms)
    try:
        with Client(api_url=info["api_url"], token=info["token"], progress=False,
                    cache_dir=folder, rate_limit=per_minute) as client:
            seconds, frame, sent = run_query(client, end, "use")
    finally:
        set_faults(info["api_url"], latency_ms=0)
    print(f"[platform-like] cold {seconds:.1f} s ({sent} requests, {len(frame):,} rows)",
          flush=True)
    return seconds, sent


def fmt(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="detections to fetch")
    parser.add_argument("--world", default="demo", choices=["demo", "large"],
                        help="emulator world (large: ~1,300 detections per stream and day)")
    parser.add_argument("--streams", type=int, default=26, help="world scale: streams")
    parser.add_argument("--days", type=int, default=31, help="world scale: days")
    parser.add_argument("--cold-repeat", type=int, default=3, help="cold runs per latency")
    parser.add_argument("--warm-repeat", type=int, default=9, help="warm/bare rounds")
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 50],
                        help="added latency per request for the cold runs (default: 0 50)")
    parser.add_argument("--platform-like", type=int, nargs=2, default=[50, 300],
                        metavar=("LATENCY_MS", "PER_MINUTE"),
                        help="one extra cold run modelling the platform: latency and the "
                             "client's requests/minute limit (default: 50 300; 0 0 skips)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    load0 = os.getloadavg()
    cold: dict[int, tuple[list[float], list[float], list[int], list[int]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        root = Path(tmp)
        with emulator(root / "world", 0, args.streams, args.days, args.world) as info:
            end = query_end(root / "world", args.rows)
            folder = root
            for latency in args.latency_ms:
                set_faults(info["api_url"], latency_ms=latency)
                c, p, r, rp, last = cold_runs(info, end, root, args.cold_repeat,
                                              f"{latency}ms")
                cold[latency] = (c, p, r, rp)
                if latency == 0 or folder == root:
                    folder = last
            set_faults(info["api_url"], latency_ms=0)
            platform: tuple[float, int] | None = None
            if args.platform_like[1] > 0:
                platform = platform_like_cold(info, end, root, *args.platform_like)
            with Client(api_url=info["api_url"], token=info["token"], progress=False,
                        cache_dir=folder) as client:
                reference = run_query(client, end, "use")[1]  # also warms the OS page cache
                files = [str(p) for p in TimeRangedCache(client.cache_root).files("detections")]
                size = sum(Path(f).stat().st_size for f in files)
                sent: list[int] = []

                def warm() -> None:
                    _, frame, n = run_query(client, end, "use")
                    sent.append(n)
                    if not frame.equals(reference):
                        raise RuntimeError("a warm frame differs from the first one")

                warm_t, bare_t, pandas_t = interleaved(
                    [warm, lambda: pq.read_table(files),
                     lambda: pq.read_table(files).to_pandas()], args.warm_repeat)
            if len(reference) != args.rows or any(sent):
                raise RuntimeError(f"warm runs: {len(reference)} rows, requests {sent}")
    note = load_note(load0)

    warm_m, bare_m, pandas_m = (statistics.median(t) for t in (warm_t, bare_t, pandas_t))
    base = min(cold)
    cold_m = statistics.median(cold[base][0])
    speedup = cold_m / warm_m
    ratio = warm_m / bare_m
    command = "python bench/bench_cache.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    lines = [
        "## Parquet cache through the client (`bench/bench_cache.py`)",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {machine()}; pyarrow {pa.__version__}, pandas {pd.__version__}. "
        f"{note}",
        "",
        f"Query: `Client.detections_df(\"{QUERY_START}\", end, min_confidence={MIN_CONFIDENCE},"
        f" cache=...)` for the demo user, exactly {args.rows:,} detections from the "
        f"emulator in its own process (demo world, {args.streams} streams x {args.days} days). "
        f"Cold = fresh cache folder per run ({args.cold_repeat} runs per latency, median); "
        f"warm and bare reads take turns ({args.warm_repeat} rounds, median). The cache holds "
        f"{len(files):,} Parquet files ({size / 1e6:.1f} MB).",
        "",
        "| step | latency per request | median time | runs (s) | requests | ratio |",
        "|---|---|---:|---|---:|---|",
    ]
    for latency, (c, p, r, rp) in cold.items():
        cm, pm = statistics.median(c), statistics.median(p)
        lines.append(f"| cold `cache=\"use\"` (fetch + write Parquet) | {latency} ms | "
                     f"{fmt(cm)} | {', '.join(f'{x:.2f}' for x in c)} | "
                     f"{int(statistics.median(r))} | {cm / pm:.2f}x the no-cache fetch |")
        lines.append(f"| no cache, `cache=False` | {latency} ms | {fmt(pm)} | "
                     f"{', '.join(f'{x:.2f}' for x in p)} | {int(statistics.median(rp))} | "
                     "baseline of the row above |")
    lines += [
        f"| warm repeat `cache=\"use\"` → DataFrame | – | {fmt(warm_m)} | "
        f"{', '.join(f'{x:.2f}' for x in warm_t)} | 0 | {cold_m / warm_m:.1f}x faster than "
        f"cold at {base} ms; {ratio:.2f}x bare |",
        f"| bare `pq.read_table(files)` → Arrow | – | {fmt(bare_m)} | "
        f"{', '.join(f'{x:.2f}' for x in bare_t)} | 0 | baseline of warm |",
        f"| bare `pq.read_table(files).to_pandas()` | – | {fmt(pandas_m)} | "
        f"{', '.join(f'{x:.2f}' for x in pandas_t)} | 0 | warm takes {warm_m / pandas_m:.2f}x this |",
        "",
    ]
    lines.append(f"- Warm vs cold ({base} ms latency): **{speedup:.1f}x faster**; goal >= "
                 f"{WARM_GOAL:.0f}x: **{'met' if speedup >= WARM_GOAL else 'missed'}**.")
    for latency, (c, _, _, _) in cold.items():
        if latency != base:
            x = statistics.median(c) / warm_m
            lines.append(f"  With {latency} ms per request the cold fetch is {x:.1f}x the warm "
                         "repeat.")
    if platform is not None:
        x = platform[0] / warm_m
        lines.append(
            f"- Platform-like cold fetch ({args.platform_like[0]} ms per request and the "
            f"client's {args.platform_like[1]} requests/minute limit, which it applies to the "
            f"platform's hosts; one run): {platform[0]:.1f} s for {platform[1]} requests, so "
            f"the warm repeat is **{x:.0f}x faster**; goal >= {WARM_GOAL:.0f}x: "
            f"**{'met' if x >= WARM_GOAL else 'missed'}** against the platform. On unthrottled "
            "loopback (above) the emulator answers too fast for 50x: the warm read is bounded "
            "by reading one Parquet file per stream and day.")
    lines.append(f"- Warm vs bare `read_table`: **{ratio:.2f}x**; goal <= {BARE_GOAL}x: "
                 f"**{'met' if ratio <= BARE_GOAL else 'missed'}**.")
    if speedup < WARM_GOAL:
        r0, rp0 = cold[base][2], cold[base][3]
        lines.append(
            f"- Why the warm/cold goal is missed: a warm repeat cannot beat reading its "
            f"{len(files):,} files (bare `read_table` alone takes {fmt(bare_m)}), so "
            f"{WARM_GOAL:.0f}x would need a cold fetch of {fmt(WARM_GOAL * warm_m)} or more. "
            f"On loopback the cold fetch is short: the emulator answers a page in "
            f"milliseconds, with no TLS, WAN or Postgres. The cold path makes the same "
            f"requests with and without the cache ({int(statistics.median(r0))} against "
            f"{int(statistics.median(rp0))}) and adds writing one Parquet file per stream and "
            f"day; reading those files back bounds the warm repeat.")
    lines.append("")
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("cache", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
