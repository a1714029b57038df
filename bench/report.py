"""Shared helpers of the benchmark scripts: timing, machine description, BENCHMARKS.md sections."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
HEADER = ("# Benchmarks\n\nWritten by `make bench` (each script under `bench/` rewrites its own "
          "section). Figures are medians of several runs; ratios compare against a baseline "
          "measured in the same run. Every section names the command that produced it, the "
          "machine and its load: the machine may be shared, so compare ratios rather than "
          "absolute times across runs.\n")

T = TypeVar("T")


def machine() -> str:
    """One line describing where the numbers were measured."""
    return (f"{platform.node() or 'unknown host'}: {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
            f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")


def median_time(fn: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    """Median wall time of ``repeat`` calls of ``fn`` and the last result."""
    times = []
    result: T | None = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    assert result is not None or repeat > 0
    return statistics.median(times), result  # type: ignore[return-value]


def interleaved(funcs: list[Callable[[], object]], repeat: int) -> list[list[float]]:
    """Wall times of each function over ``repeat`` rounds, run in turns.

    Taking turns makes a change of load on a shared machine hit every contender alike,
    so their ratio stays meaningful even when the absolute times drift.

    Examples
    --------
    >>> [len(t) for t in interleaved([lambda: 1, lambda: 2], repeat=3)]
    [3, 3]
    """
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(repeat):
        for slot, fn in zip(times, funcs, strict=True):
            t0 = time.perf_counter()
            fn()
            slot.append(time.perf_counter() - t0)
    return times


def load_note(before: tuple[float, float, float], cores: int | None = None) -> str:
    """A sentence on machine load during a benchmark (1-minute load averages).

    ``before`` is ``os.getloadavg()`` taken when the benchmark started; the current
    value is read now. Load above the core count means other work competed for the
    CPUs, so the figures are noisier (and slower) than on an idle machine.

    Examples
    --------
    >>> load_note((0.1, 0.1, 0.1), cores=64).startswith("Load average")
    True
    """
    after = os.getloadavg()
    cores = cores or os.cpu_count() or 1
    peak = max(before[0], after[0])
    text = (f"Load average (1 min) {before[0]:.1f} at start, {after[0]:.1f} at end "
            f"on {cores} cores")
    if peak > cores:
        return text + ": the machine was shared and busy, so figures are noisy."
    return text + "."


def set_faults(api_url: str, **changes: float | int | None) -> None:
    """Change fault injection of a running emulator over HTTP (``/_emulator/faults``).

    Examples
    --------
    >>> set_faults("http://127.0.0.1:9", latency_ms=50)  # doctest: +SKIP
    """
    data = json.dumps(changes).encode()
    req = urllib.request.Request(f"{api_url}/_emulator/faults", data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of BENCHMARKS.md, leaving the others alone."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else (
        text.rstrip() + "\n\n" + block + "\n")
    BENCHMARKS.write_text(text)
    print(f"wrote section '{name}' of {BENCHMARKS}")


def reset(started: str | None = None) -> None:
    """Start a fresh BENCHMARKS.md holding only the header (``make bench`` calls this first).

    Examples
    --------
    >>> reset()  # doctest: +SKIP
    """
    line = f"\nRun of `make bench` started on {started or machine()}.\n"
    BENCHMARKS.write_text(HEADER + line)
    print(f"reset {BENCHMARKS}")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--reset"]:
        raise SystemExit("usage: python bench/report.py --reset")
    reset()
