"""Benchmark the Parquet cache: cold fetch vs warm repeat vs a bare ``read_table``.

Builds 200,000 synthetic detections (10 streams x 20 days x 1,000), serves them
through a ``fetch`` that decodes JSON pages of 1,000 rows shaped like the platform's
``/detections`` responses (so the cold number is a lower bound of a real pull: no
network, no server), runs one cold query through :class:`TimeRangedCache`, then times
warm repeats against ``pyarrow.parquet.read_table`` of the very files the cache read.

Prints the numbers and writes them into ``BENCHMARKS.md`` between the markers
``<!-- bench:cache -->`` and ``<!-- /bench:cache -->`` (other sections untouched).

Run::

    .venv/bin/python bench/bench_cache.py [--rows 200000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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


def page_fetch(pages: dict[str, list[bytes]]) -> Callable[..., pd.DataFrame]:
    """A fetch that decodes every page of a stream and keeps the window's rows."""

    def fetch(stream: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        items = [item for body in pages[stream] for item in json.loads(body)]
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


def best_and_median(func: Callable[[], object], repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


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
    with tempfile.TemporaryDirectory() as root:
        cache = TimeRangedCache(root)

        def query() -> pd.DataFrame:
            return cache.query(
                "detections", sig, streams, DAY0, end, page_fetch(pages), SCHEMA, now=now
            )

        t0 = time.perf_counter()
        cold_frame = query()
        cold = time.perf_counter() - t0
        files = [str(p) for p in cache.files("detections")]
        warm_best, warm_median = best_and_median(query, args.repeats)
        bare_best, bare_median = best_and_median(lambda: pq.read_table(files), args.repeats)
        pandas_best, pandas_median = best_and_median(
            lambda: pq.read_table(files).to_pandas(), args.repeats
        )
        warm_frame = query()
        assert warm_frame.equals(cold_frame), "warm frame differs from the cold one"
        size = sum(Path(f).stat().st_size for f in files)

    speedup = cold / warm_median
    ratio = warm_median / bare_median
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
        f"| cold query (decode JSON pages, no network + write cache) | {cold:.3f} |",
        f"| warm repeat `TimeRangedCache.query` → DataFrame | {warm_median:.4f} ({warm_best:.4f}) |",
        f"| bare `pq.read_table(files)` → Arrow | {bare_median:.4f} ({bare_best:.4f}) |",
        f"| bare `pq.read_table(files).to_pandas()` | {pandas_median:.4f} ({pandas_best:.4f}) |",
        "",
        f"- warm vs cold: **{speedup:.0f}x faster** (target >= 50x; the cold number excludes "
        "network and server time, so a real pull widens the gap)",
        f"- warm vs bare read_table: **{ratio:.2f}x** (target <= 1.5x)",
        "",
    ]
    body = "\n".join(lines)
    print(body)
    write_section(args.output, body)


if __name__ == "__main__":
    main()
