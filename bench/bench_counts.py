"""Benchmark: counting on the platform, and detections paged from the platform's counts.

(a) A month of the ``large`` world counted per day and classification: ``detection_counts``
(the platform counts) against ``detections_df(...).groupby(...)`` (every row paged), in
requests, loopback time, and the time those requests take under the platform's ingress
limit (300 requests/minute per address, ingress-nginx burst 1,500 refilled at 5 per second:
issue 16), computed from the request counts. The two frames must be equal.

(b) ``detections_df`` requests against the minimum ``ceil(rows / 1000)`` at about 1k, 44k
and 200k rows of the demo world scaled like ``bench_detections.py`` (26 streams, 31 days).

Run from the project root (never part of ``make test``)::

    .venv/bin/python bench/bench_counts.py            # writes the "counts" section of BENCHMARKS.md
    .venv/bin/python bench/bench_counts.py --no-write
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_detections import MIN_CONFIDENCE, QUERY_START, emulator, query_end  # noqa: E402
from report import load_note, machine, write_section  # noqa: E402

from rfcx_frames import Client  # noqa: E402

MONTH = ("2024-03-01", "2024-04-01")
RATE_PER_S, BURST = 5.0, 1500  # 300/minute, ingress-nginx's default burst multiplier of 5
SIZES = (1_000, 44_158, 200_000)


def limited_seconds(requests: int, burst: int) -> float:
    """Seconds ``requests`` wait under the ingress bucket, with ``burst`` tokens to start.

    Examples
    --------
    >>> limited_seconds(10, 1500), limited_seconds(310, 0)
    (0.0, 62.0)
    """
    return max(0, requests - burst) / RATE_PER_S


def timed(client: Client, call: Any) -> tuple[Any, int, float]:
    """The call's result, the requests it sent and its wall time."""
    before = client.session.requests_sent
    started = time.perf_counter()
    result = call()
    return result, client.session.requests_sent - before, time.perf_counter() - started


def grouped(df: pd.DataFrame) -> pd.DataFrame:
    """The daily groupby ``detection_counts`` equals (its docstring's recipe)."""
    origin = pd.Timestamp("2000-01-03", tz="UTC").as_unit("ms")
    step = pd.Timedelta(days=1).as_unit("ms")
    df = df.assign(time_bucket=origin + (df["start"] - origin) // step * step)
    return (df.groupby(["time_bucket", "classification_value"], observed=True).size()
            .rename("count").reset_index())


def month_of_counts(data_dir: Path) -> dict[str, Any]:
    """(a): a month of daily counts of the large world, both ways."""
    with emulator(data_dir, 0, None, None, world="large") as info, \
            Client(api_url=info["api_url"], token=info["token"], progress=False,
                   cache=False) as client:
        counts, n_counts, t_counts = timed(client, lambda: client.detection_counts(
            *MONTH, min_confidence=MIN_CONFIDENCE))
        rows, n_rows, t_rows = timed(client, lambda: client.detections_df(
            *MONTH, min_confidence=MIN_CONFIDENCE))
    pd.testing.assert_frame_equal(counts, grouped(rows))
    return {"detections": len(rows), "cells": len(counts), "counts_requests": n_counts,
            "counts_s": t_counts, "rows_requests": n_rows, "rows_s": t_rows}


def requests_vs_minimum(data_dir: Path) -> list[dict[str, Any]]:
    """(b): detections_df at several sizes, cache off and on (cold)."""
    out = []
    with emulator(data_dir, 0, 26, 31) as info:
        for rows in SIZES:
            end = query_end(data_dir, rows)
            for cache in (False, "use"):
                os.environ["RFCX_FRAMES_CACHE"] = tempfile.mkdtemp(prefix="bench-counts-cache-")
                with Client(api_url=info["api_url"], token=info["token"], progress=False,
                            cache=cache) as client:
                    frame, sent, seconds = timed(client, lambda e=end, c=client: c.detections_df(
                        QUERY_START, e, min_confidence=MIN_CONFIDENCE))
                if len(frame) != rows:
                    raise RuntimeError(f"expected {rows} rows, got {len(frame)}")
                out.append({"rows": rows, "cache": cache, "requests": sent,
                            "minimum": math.ceil(rows / 1000), "seconds": seconds})
    return out


def report(a: dict[str, Any], b: list[dict[str, Any]], command: str, load: str) -> str:
    lines = [
        "## Counting on the platform (`bench/bench_counts.py`)", "",
        f"Command: `{command}`. Machine: {machine()}. {load}", "",
        f"### A month of daily counts, world `large` ({MONTH[0]} to {MONTH[1]}, "
        f"`min_confidence={MIN_CONFIDENCE}`)", "",
        f"{a['detections']:,} detections in {a['cells']:,} (day, classification) cells; the two "
        "frames are equal (`pd.testing.assert_frame_equal`). Time under the limit is computed "
        f"from the requests: the ingress admits a burst of {BURST:,} and then "
        f"{RATE_PER_S:g} requests per second; *sustained* is a client whose burst is already "
        "spent (a long session, or a notebook run twice).", "",
        "| call | requests | loopback time | under the limit, fresh burst | under the limit, "
        "sustained |", "|---|---|---|---|---|",
    ]
    for name, n, s in (("`detection_counts(interval=\"1d\")`", a["counts_requests"],
                        a["counts_s"]),
                       ("`detections_df(...).groupby(...)`", a["rows_requests"], a["rows_s"])):
        lines.append(f"| {name} | {n} | {s:.2f} s | {limited_seconds(n, BURST):.1f} s | "
                     f"{limited_seconds(n, 0):.1f} s |")
    lines += ["", "### Requests of `detections_df` against the minimum", "",
              "Demo world scaled to 26 streams and 31 days, query from "
              f"{QUERY_START} holding exactly the rows shown, `min_confidence="
              f"{MIN_CONFIDENCE}`. Minimum = `ceil(rows / 1000)`. With the cache on (cold), two "
              "requests are not pages: the listing of the streams the query covers and the "
              "platform's identity the cache is keyed by. Before counts planned the pieces: "
              "63 requests for 44,158 rows.", "",
              "| rows | cache | requests | minimum | ratio | loopback time |",
              "|---|---|---|---|---|---|"]
    for r in b:
        lines.append(f"| {r['rows']:,} | {'on' if r['cache'] else 'off'} | {r['requests']} | "
                     f"{r['minimum']} | {r['requests'] / r['minimum']:.3f} | "
                     f"{r['seconds']:.2f} s |")
    lines += ["", "A full first page is followed by one `/clustered-detections` request that "
              "counts the rest of the window (per bucket and classification); the rest is cut "
              "at bucket edges where each piece's rows fill its pages, and the pieces run "
              "concurrently. At 1,000 rows the first page is full, so a second (empty) page is "
              "needed to know it was the last."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-counts-") as tmp:
        a = month_of_counts(Path(tmp) / "large")
        print(a, flush=True)
        b = requests_vs_minimum(Path(tmp) / "demo26")
        print(b, flush=True)
    command = "python bench/bench_counts.py " + " ".join(argv if argv is not None
                                                         else sys.argv[1:])
    section = report(a, b, command.strip(), load_note(load))
    print(section)
    if not args.no_write:
        write_section("counts", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
