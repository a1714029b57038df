"""Benchmark: counting on the platform, and detections paged from the platform's counts.

(a) A month of the ``large`` world counted per day and classification: ``detection_counts``
(the platform counts) against ``detections_df(...).groupby(...)`` (every row paged), in
requests, loopback time, and the time those requests take under the platform's ingress
limit (300 requests/minute per address, ingress-nginx burst 1,500 refilled at 5 per second:
issue 16), computed from the request counts. The two frames must be equal.

(b) ``detections_df`` requests against the minimum ``ceil(rows / 1000)`` and the floor any
client can reach, at 1k, 5.5k, 44k and 200k rows of the demo world scaled like
``bench_detections.py`` (26 streams, 31 days): cache off, cold and warm. Requests are
counted at the emulator, as the platform would see them; asks of its ``/_emulator/``
identity route, which the platform never sees, in a column of their own.

(c) The same sizes under the platform's limit (300/min, burst 1,500) with 50 ms added per
request, beside the official client (``bench_detections.run_official``): wall time,
requests, 503s.

Run from the project root (never part of ``make test``; about ten minutes)::

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_detections import MIN_CONFIDENCE, QUERY_START, emulator, query_end  # noqa: E402
from bench_pacing import (  # noqa: E402
    CLIENTS,
    LATENCY_MS,
    RATE,
    frames_runner,
    fresh_limit,
    server_stats,
)
from report import load_note, machine, set_faults, write_section  # noqa: E402

from rfcx_frames import Client  # noqa: E402
from rfcx_frames.ratelimit import RateLimiter  # noqa: E402

MONTH = ("2024-03-01", "2024-04-01")
RATE_PER_S, BURST = 5.0, 1500  # 300/minute, ingress-nginx's default burst multiplier of 5
SIZES = (1_000, 5_500, 44_158, 200_000)
PAGE = 1000  # the platform's cap on limit (maximum(1000) in core/detections/list.js)
#: Clients of table (c): what rfcx_frames does on the platform's hosts (the ingress's
#: bucket), cache off and through an empty cache; the official client's offset loop.
LIMITED = {"rfcx_frames, cache off": frames_runner(lambda: RateLimiter(RATE, 5 * RATE)),
           "rfcx_frames, cold cache": frames_runner(lambda: RateLimiter(RATE, 5 * RATE),
                                                    cached=True),
           "official `rfcx` 0.3.1": CLIENTS["official `rfcx` 0.3.1, offset loop, unpaced"]}


def floor(rows: int) -> int:
    """Fewest requests any client can spend on ``rows`` rows of pages of :data:`PAGE`.

    A page holding exactly ``PAGE`` rows does not say it is the last: one more request
    (a page or a count) proves it, so a multiple of ``PAGE`` costs one more than
    ``ceil(rows / PAGE)``.

    Examples
    --------
    >>> floor(999), floor(1000), floor(44_158)
    (1, 2, 45)
    """
    return rows // PAGE + 1 if rows % PAGE == 0 else math.ceil(rows / PAGE)


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


def requests_vs_minimum(info: dict[str, Any], ends: dict[int, str]) -> list[dict[str, Any]]:
    """(b): detections_df at several sizes: cache off, cold, then warm in a new client."""
    out = []
    for rows, end in ends.items():
        with tempfile.TemporaryDirectory(prefix="bench-counts-cache-") as folder:
            for cache in ("off", "cold", "warm"):
                with Client(api_url=info["api_url"], token=info["token"], progress=False,
                            cache=False if cache == "off" else "use",
                            cache_dir=folder) as client:
                    fresh_limit(info["api_url"], None, None)
                    started = time.perf_counter()
                    frame = client.detections_df(QUERY_START, end, min_confidence=MIN_CONFIDENCE)
                    seconds = time.perf_counter() - started
                if len(frame) != rows:
                    raise RuntimeError(f"expected {rows} rows, got {len(frame)}")
                out.append({"rows": rows, "cache": cache, **server_stats(info["api_url"]),
                            "seconds": seconds})
                print(out[-1], flush=True)
    return out


def under_the_limit(info: dict[str, Any], ends: dict[int, str]) -> list[dict[str, Any]]:
    """(c): each size under the platform's limit and 50 ms latency, each client with a
    full bucket at the emulator."""
    out = []
    set_faults(info["api_url"], latency_ms=LATENCY_MS)
    try:
        for rows, end in ends.items():
            for name, run in LIMITED.items():
                fresh_limit(info["api_url"], RATE, None)
                seconds, frame = run(info, end)
                outcome = "complete" if len(frame) == rows else f"{len(frame):,} rows"
                out.append({"rows": rows, "client": name, "seconds": seconds,
                            "outcome": outcome, **server_stats(info["api_url"])})
                print(out[-1], flush=True)
    finally:
        set_faults(info["api_url"], latency_ms=0, rate_limit=None)
    return out


def report(a: dict[str, Any], b: list[dict[str, Any]], c: list[dict[str, Any]], command: str,
           load: str) -> str:
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
    return "\n".join(lines + minimum_report(b) + limited_report(c))


def minimum_report(b: list[dict[str, Any]]) -> list[str]:
    lines = ["", "### Requests of `detections_df` against the minimum", "",
             "Demo world scaled to 26 streams and 31 days, query from "
             f"{QUERY_START} holding exactly the rows shown, `min_confidence={MIN_CONFIDENCE}`. "
             f"Minimum = `ceil(rows / {PAGE:,})`; *floor* = the fewest requests any client can "
             f"spend: the platform caps `limit` at {PAGE:,} (`maximum(1000)` in "
             "`core/detections/list.js`), so a page of exactly 1,000 rows needs a second "
             "request (a page or a count) to prove it is the last, and at 1,000 rows the "
             "minimum of 1 cannot be reached by any client. Requests are counted at the "
             "emulator as the platform would see them; *identity asks* are requests to the "
             "emulator's own `GET /_emulator/identity`, which the platform never sees (the "
             "platform's hosts are never asked). *Warm* is a new client on the cache the cold "
             "run filled. Before counts planned the pieces: 63 requests for 44,158 rows.", "",
             *markdown_table(b, {
                 "rows": lambda r: f"{r['rows']:,}", "cache": lambda r: r["cache"],
                 "requests": lambda r: r["requests"], "minimum": minimum,
                 "floor": lambda r: floor(r["rows"]), "ratio to minimum": ratio,
                 "identity asks": lambda r: r["identity"],
                 "loopback time": lambda r: f"{r['seconds']:.2f} s"})]
    return [
        *lines, "", "A full first page is followed by one `/clustered-detections` request that "
        "counts the rest of the window (per bucket and classification); the rest is cut at "
        "bucket edges where each piece's rows fill its pages, and the pieces run "
        "concurrently. That count costs one request more than paging in one piece would: "
        "made on a rest of 5 to 20 pages it is more than 5% of the requests (the unscaled "
        "demo world's 5,500 rows cost 7 for a minimum of 6); it buys concurrent pieces, and "
        "under the ingress's burst it costs no time. A rest the first page foretells at four "
        "pages or less is paged in one piece without a count (5,500 rows here). With the "
        "cache on, one "
        "request is not a page: the listing of your streams, which the cache keys its "
        "windows by (a warm query reads it from the cache). The platform's identity, which "
        "keys the cache, costs no request the platform sees: the emulator names itself in "
        "every answer, and a client that has had no answer yet asks its control route once."]


def limited_report(c: list[dict[str, Any]]) -> list[str]:
    lines = ["", "### Under the platform's limit, beside the official client", "",
             f"Same world and queries; the emulator adds {LATENCY_MS} ms per request and "
             f"limits like the platform's ingress ({RATE}/min, burst {5 * RATE:,}, 503 "
             "beyond it), with a full bucket for every run. rfcx_frames paces with the "
             "ingress's bucket (what it does on `*.rfcx.org`); the official client pages "
             "`limit=1000` by offset, unpaced.", ""]
    return lines + markdown_table(c, {
        "rows": lambda r: f"{r['rows']:,}", "client": lambda r: r["client"],
        "wall time": lambda r: f"{r['seconds']:.2f} s", "requests": lambda r: r["requests"],
        "minimum": minimum, "ratio": ratio, "503s": lambda r: r["refused"],
        "identity asks": lambda r: r["identity"], "frame": lambda r: r["outcome"]})


def minimum(r: dict[str, Any]) -> int:
    """``ceil(rows / PAGE)`` of a result."""
    return math.ceil(r["rows"] / PAGE)


def ratio(r: dict[str, Any]) -> str:
    """A result's requests over its minimum."""
    return f"{r['requests'] / minimum(r):.3f}"


def markdown_table(records: list[dict[str, Any]],
                   columns: dict[str, Callable[[dict[str, Any]], object]]) -> list[str]:
    """A Markdown table: one column per ``header -> cell of a record``."""
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(str(cell(r)) for cell in columns.values()) + " |"
              for r in records)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-counts-") as tmp:
        a = month_of_counts(Path(tmp) / "large")
        print(a, flush=True)
        data_dir = Path(tmp) / "demo26"
        with emulator(data_dir, 0, 26, 31) as info:
            ends = {rows: query_end(data_dir, rows) for rows in SIZES}
            b = requests_vs_minimum(info, ends)
            c = under_the_limit(info, ends)
    command = "python bench/bench_counts.py " + " ".join(argv if argv is not None
                                                         else sys.argv[1:])
    section = report(a, b, c, command.strip(), load_note(load))
    print(section)
    if not args.no_write:
        write_section("counts", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
