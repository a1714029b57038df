"""Benchmark: how long the test suite takes (``make test`` without lint and type checks).

Runs the two pytest steps of ``make test`` (``make unit unit-future-clock``: the whole suite on
``PYTEST_WORKERS`` processes, then ``tests/client`` and ``tests/cache`` with the clock moved
ten years ahead) in this checkout's venv and times each. Issue 16 asks for ``make test`` under
8 minutes on 2 cores; CI also installs the venv first, which this does not time. Run from the
project root (part of ``make bench``, about 6 minutes)::

    .venv/bin/python bench/bench_test_suite.py
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

from report import ROOT, load_note, machine, write_section

GOAL_S = 8 * 60
STEPS = ("unit", "unit-future-clock")


def run_step(target: str) -> tuple[float, str]:
    """Wall seconds of ``make TARGET`` and pytest's summary line; raises if it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(["make", target], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - t0
    summary = next((line for line in reversed(done.stdout.splitlines())
                    if re.search(r"\d+ passed", line)), "no summary")
    if done.returncode != 0:
        raise RuntimeError(f"make {target} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds, summary.strip("= ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    load0 = os.getloadavg()
    results = {target: run_step(target) for target in STEPS}
    total = sum(seconds for seconds, _ in results.values())
    lines = [
        "## The test suite (`bench/bench_test_suite.py`)",
        "",
        "Command: `python bench/bench_test_suite.py`",
        "",
        f"Machine: {machine()}. {load_note(load0)}",
        "",
        "The pytest steps of `make test` in an installed venv (lint and type checks and the "
        "venv install not timed):",
        "",
        "| step | wall time | pytest |",
        "|---|---:|---|",
    ]
    lines += [f"| `make {target}` | {seconds:.0f} s | {summary} |"
              for target, (seconds, summary) in results.items()]
    verdict = "met" if total <= GOAL_S else "missed"
    lines += ["", f"Both steps: **{total / 60:.1f} min**; goal (issue 16): `make test` under "
              f"{GOAL_S // 60} minutes on 2 cores: **{verdict}**."]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("test_suite", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
