"""Recording effort from cached segments: 50 streams x 1 year of 60 s segments.

What ``Client.effort_df`` does on a warm cache is read the recorded runs of the window (the
segments merged per cache window, :mod:`rfcx_frames.ecology.recordings`) from the Parquet
cache and compute effort from them. This script fills a throw-away cache with the runs of
synthetic segments (50 streams, one 60 s segment every minute for a year, a few gaps), then
times that read plus :func:`rfcx_frames.ecology.effort.effort_from_segments` for hourly UTC
and daily local periods, beside the same computation from all the segments in memory and a
naive pandas loop a user might write (clip every segment to every period of one stream,
measured on a few streams and scaled to 50).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from report import load_note, machine, median_time, write_section

from rfcx_frames.cache import FilterSignature, TimeRangedCache
from rfcx_frames.ecology import recordings
from rfcx_frames.ecology.effort import effort_from_segments

START = pd.Timestamp("2024-01-01", tz="UTC")
END = pd.Timestamp("2025-01-01", tz="UTC")
NOW = pd.Timestamp("2025-06-01", tz="UTC")
GOAL_S = 2.0


def stream_segments(stream: str, a: pd.Timestamp, b: pd.Timestamp, seed: int,
                    every: str = "60s") -> pd.DataFrame:
    """A 60 s segment starting every ``every`` in [a, b), with a few gaps of hours to days."""
    starts = pd.date_range(a, b, freq=every, inclusive="left")
    rng = np.random.default_rng(seed)
    keep = np.ones(len(starts), dtype=bool)
    for gap in rng.integers(0, max(len(starts) - 1, 1), size=4):
        keep[gap:gap + int(rng.integers(len(starts) // 2000 + 1, len(starts) // 100 + 2))] = False
    starts = starts[keep]
    return pd.DataFrame({
        "stream_id": pd.Categorical([stream] * len(starts)),
        "start": starts.as_unit("ms"),
        "end": (starts + pd.Timedelta(seconds=60)).as_unit("ms"),
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


@dataclass
class Scenario:
    """One recording schedule and what it measured."""

    name: str
    every: str
    rows: int = 0
    run_rows: int = 0
    fill_s: float = 0.0
    read_s: float = 0.0
    hourly_s: float = 0.0
    daily_s: float = 0.0
    memory_s: float = 0.0
    naive_s: float = 0.0


def measure(scenario: Scenario, streams: list[str], args: argparse.Namespace) -> Scenario:
    """Fill a cache with the runs of one schedule and time warm effort from it."""
    zones = {s: ("America/New_York", "Australia/Darwin", "Asia/Jakarta")[i % 3]
             for i, s in enumerate(streams)}
    # The window is twelve whole UTC months: effort_df keeps their runs month by month.
    signature = FilterSignature.build(recordings.MONTHLY_ENTITY, "bench://synthetic", "bench")
    seeds = {s: i for i, s in enumerate(streams)}

    def segments_of(stream: str, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
        return stream_segments(stream, a, b, seeds[stream], scenario.every)

    def fetch(stream: str, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
        runs = recordings.runs_from_segments(segments_of(stream, a, b), stream, a, b)
        return recordings.month_runs(runs, a)

    with tempfile.TemporaryDirectory(prefix="bench-effort-") as tmp:
        cache = TimeRangedCache(Path(tmp), time_column="month")
        t0 = time.perf_counter()
        cache.query(recordings.MONTHLY_ENTITY, signature, streams, START, END, fetch,
                    recordings.MONTHLY_SCHEMA, now=NOW, max_workers=2, dtypes=recordings.DTYPES)
        scenario.fill_s = time.perf_counter() - t0

        def read() -> pd.DataFrame:
            return cache.query(recordings.MONTHLY_ENTITY, signature, streams, START, END, fetch,
                               recordings.MONTHLY_SCHEMA, mode="offline", now=NOW,
                               max_workers=os.cpu_count() or 1, dtypes=recordings.DTYPES)

        scenario.read_s, runs = median_time(read, args.repeat)
        scenario.hourly_s, hourly = median_time(
            lambda: effort_from_segments(read(), START, END, "1h"), args.repeat)
        scenario.daily_s, _ = median_time(
            lambda: effort_from_segments(read(), START, END, "1D", timezones=zones),
            args.repeat)
    segments = pd.concat([segments_of(s, START, END) for s in streams], ignore_index=True)
    scenario.memory_s, from_memory = median_time(
        lambda: effort_from_segments(segments, START, END, "1h"), args.repeat)
    pd.testing.assert_frame_equal(hourly, from_memory)
    naive_one, naive = median_time(
        lambda: [naive_effort(segments, s, "1D") for s in streams[:args.naive_streams]], 1)
    scenario.naive_s = naive_one / args.naive_streams * len(streams)
    check = hourly.groupby("stream_id", observed=True)["recorded_seconds"].sum()
    assert np.allclose(check.iloc[:args.naive_streams].to_numpy(),
                       [n.sum() for n in naive]), "effort disagrees with the naive loop"
    scenario.rows, scenario.run_rows = len(segments), len(runs)
    return scenario


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
    results = [measure(Scenario("continuous: a 60 s segment every minute", "60s"), streams, args),
               measure(Scenario("duty-cycled: a 60 s segment every 10 minutes", "600s"),
                        streams, args)]
    note = load_note(load0)
    command = "python bench/bench_effort.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    lines = [
        "## Recording effort from the cache (`bench/bench_effort.py`)",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {machine()}. {note}",
        "",
        f"{args.streams} streams x 1 year of 60 s segments, each stream with a few gaps, in two "
        "schedules. The cache holds their recorded runs (segments merged per cache window and "
        "kept month by month for whole UTC months, `rfcx_frames.ecology.recordings`). A warm "
        "`effort_df` reads the runs of the window from the cache and computes effort from "
        "them; read and compute are timed together "
        f"(median of {args.repeat}), and the hourly result equals the one computed from every "
        "segment in memory. The naive loop clips every segment to every day of a stream with "
        f"pandas masks, timed on {args.naive_streams} streams and scaled to {args.streams}; it "
        "agrees with `effort_from_segments` to the second. The streams listing and timezones "
        "that `effort_df` also reads come from the cache too and are not timed.",
        "",
        "| schedule | segments | runs in the cache | warm effort, hourly UTC | warm effort, "
        "daily local (3 zones) | from all segments in memory, hourly | naive pandas loop, "
        "daily |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.name} | {r.rows:,} | {r.run_rows:,} | **{r.hourly_s:.2f} s** | "
                     f"**{r.daily_s:.2f} s** | {r.memory_s:.2f} s | {r.naive_s:.0f} s |")
    met = all(r.hourly_s <= GOAL_S and r.daily_s <= GOAL_S for r in results)
    lines += ["", f"Goal: warm `effort_df` for 50 streams x 1 year in under {GOAL_S:.0f} s on "
                  f"2 cores: **{'met' if met else 'missed'}**."]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("effort", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
