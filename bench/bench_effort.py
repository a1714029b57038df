"""Recording effort from cached segments: 50 streams x 1 year of 60 s segments.

What ``Client.effort_df`` does on a warm cache is read the segments of the window from the
Parquet cache and compute effort from them. This script fills a throw-away cache with
synthetic segments (50 streams, one 60 s segment every minute for a year, a few gaps), then
times that read plus :func:`rfcx_frames.ecology.effort.effort_from_segments` for hourly UTC
and daily local periods, beside a naive pandas loop a user might write (clip every segment
to every period of one stream, measured on a few streams and scaled to 50).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from report import load_note, machine, median_time, write_section

from rfcx_frames.cache import FilterSignature, TimeRangedCache
from rfcx_frames.ecology.effort import effort_from_segments
from rfcx_frames.schemas import SEGMENT, arrow_schema, pandas_dtypes

START = pd.Timestamp("2024-01-01", tz="UTC")
END = pd.Timestamp("2025-01-01", tz="UTC")
NOW = pd.Timestamp("2025-06-01", tz="UTC")
GOAL_S = 2.0


def stream_segments(stream: str, a: pd.Timestamp, b: pd.Timestamp, seed: int) -> pd.DataFrame:
    """One 60 s segment a minute in [a, b), with a few random gaps of hours to days."""
    starts = pd.date_range(a, b, freq="60s", inclusive="left")
    rng = np.random.default_rng(seed)
    keep = np.ones(len(starts), dtype=bool)
    for gap in rng.integers(0, max(len(starts) - 1, 1), size=4):
        keep[gap:gap + int(rng.integers(60, 3 * 1440))] = False
    starts = starts[keep]
    return pd.DataFrame({
        "id": [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, size=len(starts))],
        "stream_id": stream,
        "start": starts,
        "end": starts + pd.Timedelta(seconds=60),
        "file_extension": ".flac",
    })


def naive_effort(segments: pd.DataFrame, stream: str, freq: str) -> pd.Series:
    """What one writes by hand: for each period, clip every overlapping segment to it."""
    mine = segments[segments["stream_id"] == stream]
    periods = pd.date_range(START, END, freq=freq)
    out = {}
    for a, b in itertools.pairwise(periods):
        inside = mine[(mine["end"] > a) & (mine["start"] < b)]
        clipped = inside["end"].clip(upper=b) - inside["start"].clip(lower=a)
        out[a] = clipped.dt.total_seconds().sum()
    return pd.Series(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-streams", type=int, default=2,
                        help="streams the naive loop runs on (scaled to --streams)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    load0 = os.getloadavg()
    streams = [f"stream{i:04d}" for i in range(args.streams)]
    zones = {s: ("America/New_York", "Australia/Darwin", "Asia/Jakarta")[i % 3]
             for i, s in enumerate(streams)}
    schema = arrow_schema(SEGMENT)
    signature = FilterSignature.build("segments", "bench://synthetic", "bench")
    with tempfile.TemporaryDirectory(prefix="bench-effort-") as tmp:
        cache = TimeRangedCache(Path(tmp))
        t0 = time.perf_counter()
        seeds = {s: i for i, s in enumerate(streams)}

        def fetch(stream: str, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
            return stream_segments(stream, a, b, seeds[stream])

        cache.query("segments", signature, streams, START, END, fetch, schema, now=NOW,
                    max_workers=2, dtypes=pandas_dtypes(SEGMENT))
        fill_s = time.perf_counter() - t0

        def read() -> pd.DataFrame:
            return cache.query("segments", signature, streams, START, END, fetch, schema,
                               mode="offline", now=NOW, max_workers=os.cpu_count() or 1,
                               dtypes=pandas_dtypes(SEGMENT))

        read_s, segments = median_time(read, args.repeat)
        hourly_s, hourly = median_time(
            lambda: effort_from_segments(read(), START, END, "1h"), args.repeat)
        daily_s, daily = median_time(
            lambda: effort_from_segments(read(), START, END, "1D", timezones=zones),
            args.repeat)
        compute_only_s, _ = median_time(
            lambda: effort_from_segments(segments, START, END, "1h"), args.repeat)
        naive_one, naive = median_time(
            lambda: [naive_effort(segments, s, "1D") for s in streams[:args.naive_streams]], 1)
        naive_s = naive_one / args.naive_streams * args.streams
    check = hourly.groupby("stream_id", observed=True)["recorded_seconds"].sum()
    assert np.allclose(check.iloc[:args.naive_streams].to_numpy(),
                       [n.sum() for n in naive]), "effort disagrees with the naive loop"
    rows = len(segments)
    note = load_note(load0)
    command = "python bench/bench_effort.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    verdict = "met" if hourly_s <= GOAL_S and daily_s <= GOAL_S else "missed"
    lines = [
        "## Recording effort from the cache (`bench/bench_effort.py`)",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {machine()}. {note}",
        "",
        f"{args.streams} streams x 1 year of 60 s segments ({rows:,} segments, a few gaps "
        f"per stream) in a Parquet cache filled in {fill_s:.0f} s. A warm `effort_df` reads "
        "the segments of the window from the cache and computes effort from them; both steps "
        f"are timed together (median of {args.repeat}). The naive loop clips every segment to "
        f"every day of a stream with pandas masks, timed on {args.naive_streams} streams and "
        f"scaled to {args.streams}; it agrees with `effort_from_segments` to the second.",
        "",
        "| step | time |",
        "|---|---:|",
        f"| read {rows:,} segments from the cache | {read_s:.2f} s |",
        f"| effort, hourly UTC ({len(hourly):,} rows): read + compute | **{hourly_s:.2f} s** |",
        f"| effort, daily local time, 3 timezones ({len(daily):,} rows): read + compute "
        f"| **{daily_s:.2f} s** |",
        f"| compute only, hourly (segments in memory) | {compute_only_s:.2f} s |",
        f"| naive pandas loop, daily UTC, scaled to {args.streams} streams | {naive_s:.0f} s |",
        "",
        f"Goal: warm `effort_df` for this size in under {GOAL_S:.0f} s on 2 cores: **{verdict}**.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("effort", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
