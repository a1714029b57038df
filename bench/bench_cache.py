"""Benchmark the Parquet cache: cold fetch vs warm repeat vs a bare ``read_table``.

Builds 200,000 synthetic detections (10 streams x 20 days x 1,000) as JSON pages of
1,000 rows shaped like the platform's ``/detections`` responses, serves them from a
loopback HTTP server, and pulls them with ``requests`` page by page (a lower bound of a
real pull: no TLS, no WAN latency, no database). One cold query goes through
:class:`TimeRangedCache`; warm repeats are then timed, interleaved with
``pyarrow.parquet.read_table`` of the very files the cache holds.

Prints the numbers and writes them into ``BENCHMARKS.md`` between the markers
``<!-- bench:cache -->`` and ``<!-- /bench:cache -->`` (other sections untouched).

Run::

    .venv/bin/python bench/bench_cache.py [--rows 200000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import http.server
import json
import platform
import statistics
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import requests

from rfcx_frames.cache import FilterSignature, TimeRangedCache

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
DAY0 = pd.Timestamp("2024-01-01", tz="UTC")
MARK_OPEN, MARK_CLOSE = "<!-- bench:cache -->", "<!-- /bench:cache -->"
STATUS_CODES = {None: "unreviewed", -1: "rejected", 0: "uncertain", 1: "confirmed"}


def build_pages(rows: int, streams: int, days: int, page: int = 1000) -> dict[str, list[bytes]]:
    """JSON pages per stream, as the platform would send them (ISO times, nested class)."""
    rng = np.random.default_rng(0)
    per_stream = rows // streams
    pages: dict[str, list[bytes]] = {}
    next_id = 1
    for s in range(streams):
        stream = f"strm{s:08d}"
        offsets = np.sort(rng.integers(0, days * 86_400_000, per_stream))
        starts = (DAY0 + pd.to_timedelta(offsets, unit="ms")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        items = []
        for k in range(per_stream):
            start = starts[k][:-4] + "Z"
            items.append(
                {
                    "id": str(next_id),
                    "stream_id": stream,
                    "start": start,
                    "end": start,
                    "confidence": round(float(rng.random()), 4),
                    "classification": {"value": f"species_{int(rng.integers(0, 40))}"},
                    "classifier_id": int(rng.integers(1, 5)),
                    "review_status": [None, -1, 0, 1][int(rng.integers(0, 4))],
                }
            )
            next_id += 1
        pages[stream] = [
            json.dumps(items[i : i + page]).encode() for i in range(0, len(items), page)
        ]
    return pages


class _PageServer:
    """Serve the JSON pages over loopback HTTP (``/detections?stream=..&offset=..``)."""

    def __init__(self, pages: dict[str, list[bytes]], page: int = 1000) -> None:
        size = page

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                index = int(query["offset"][0]) // size
                stream_pages = pages.get(query["stream"][0], [])
                body = stream_pages[index] if index < len(stream_pages) else b"[]"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/detections"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def page_fetch(url: str, page: int = 1000) -> Callable[..., pd.DataFrame]:
    """A fetch that pages through the loopback server and keeps the window's rows."""
    session = requests.Session()

    def fetch(stream: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            params: dict[str, str | int] = {"stream": stream, "offset": offset}
            reply = session.get(url, params=params, timeout=30)
            reply.raise_for_status()
            batch = reply.json()
            items += batch
            if len(batch) < page:
                break
            offset += page
        frame = pd.DataFrame(
            {
                "id": [int(i["id"]) for i in items],
                "stream_id": [i["stream_id"] for i in items],
                "start": pd.to_datetime([i["start"] for i in items], utc=True),
                "end": pd.to_datetime([i["end"] for i in items], utc=True),
                "confidence": np.array([i["confidence"] for i in items], dtype="float32"),
                "classification_value": [i["classification"]["value"] for i in items],
                "classifier_id": np.array([i["classifier_id"] for i in items], dtype="int32"),
                "review_status": [STATUS_CODES[i["review_status"]] for i in items],
            }
        )
        frame["start"] = frame["start"].astype("datetime64[ms, UTC]")
        frame["end"] = frame["end"].astype("datetime64[ms, UTC]")
        keep = (frame["start"] >= start) & (frame["start"] < end)
        return frame[keep]

    return fetch


def interleaved(funcs: list[Callable[[], object]], repeats: int) -> list[tuple[float, float]]:
    """(best, median) seconds of each function, run in turns so load drift hits all alike."""
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(repeats):
        for slot, func in zip(times, funcs, strict=True):
            t0 = time.perf_counter()
            func()
            slot.append(time.perf_counter() - t0)
    return [(min(t), statistics.median(t)) for t in times]


def write_section(path: Path, body: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"{MARK_OPEN}\n{body.rstrip()}\n{MARK_CLOSE}"
    if MARK_OPEN in text and MARK_CLOSE in text:
        head, rest = text.split(MARK_OPEN, 1)
        tail = rest.split(MARK_CLOSE, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent.parent / "BENCHMARKS.md")
    args = parser.parse_args()

    pages = build_pages(args.rows, args.streams, args.days)
    streams = sorted(pages)
    end = DAY0 + pd.Timedelta(days=args.days)
    sig = FilterSignature("detections", "https://bench.invalid", "bench-user")
    now = end + pd.Timedelta(days=30)
    server = _PageServer(pages)
    try:
        with tempfile.TemporaryDirectory() as root:
            cache = TimeRangedCache(root)
            fetch = page_fetch(server.url)

            def query() -> pd.DataFrame:
                return cache.query(
                    "detections", sig, streams, DAY0, end, fetch, SCHEMA, now=now
                )

            t0 = time.perf_counter()
            cold_frame = query()
            cold = time.perf_counter() - t0
            files = [str(p) for p in cache.files("detections")]
            query()  # first warm run pays for imports and the OS page cache
            (warm_best, warm_median), (bare_best, bare_median), (pandas_best, pandas_median) = (
                interleaved(
                    [query, lambda: pq.read_table(files),
                     lambda: pq.read_table(files).to_pandas()],
                    args.repeats,
                )
            )
            warm_frame = query()
            assert warm_frame.equals(cold_frame), "warm frame differs from the cold one"
            size = sum(Path(f).stat().st_size for f in files)
    finally:
        server.close()

    speedup = cold / warm_median
    ratio = warm_median / bare_median
    ratio_best = warm_best / bare_best
    lines = [
        "## Parquet cache (`bench/bench_cache.py`)",
        "",
        f"{len(cold_frame):,} detections, {args.streams} streams x {args.days} days, "
        f"{len(files)} Parquet files ({size / 1e6:.1f} MB); {args.repeats} repeats, median "
        f"(best). Python {platform.python_version()}, pandas {pd.__version__}, "
        f"pyarrow {pa.__version__}, {platform.machine()}.",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| cold query (HTTP pages of 1,000 over loopback + JSON + write cache) | {cold:.3f} |",
        f"| warm repeat `TimeRangedCache.query` → DataFrame | {warm_median:.4f} ({warm_best:.4f}) |",
        f"| bare `pq.read_table(files)` → Arrow | {bare_median:.4f} ({bare_best:.4f}) |",
        f"| bare `pq.read_table(files).to_pandas()` | {pandas_median:.4f} ({pandas_best:.4f}) |",
        "",
        f"- warm vs cold: **{speedup:.0f}x faster** (target >= 50x; the cold pull here has no "
        "TLS, WAN latency or database, so a real pull widens the gap)",
        f"- warm vs bare read_table: **{ratio:.2f}x** median, {ratio_best:.2f}x best "
        "(target <= 1.5x)",
        "",
    ]
    body = "\n".join(lines)
    print(body)
    write_section(args.output, body)


if __name__ == "__main__":
    main()
