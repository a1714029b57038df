"""Benchmark: ``detections_df`` vs the official ``rfcx`` client + ``pd.DataFrame``.

Both fetch the same 200,000 detections from the same emulator, which runs in its own
process (so neither client shares a GIL with the server): once on plain loopback and once
with ``--latency-ms 50`` added per request to model a real network. The official client
pages the query as its documentation suggests (``limit=1000``, an offset loop until a short
page) and the rows become a ``pandas.DataFrame``; rfcx_frames builds its typed frame.

Run from the project root::

    .venv/bin/python bench/bench_detections.py            # writes BENCHMARKS.md
    .venv/bin/python bench/bench_detections.py --latency-ms 0 --no-write

Results go between the markers ``<!-- bench:detections -->`` and
``<!-- /bench:detections -->`` of ``BENCHMARKS.md`` (the rest of the file is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rfcx_frames import Client  # noqa: E402
from rfcx_frames.emulator.store import Store  # noqa: E402

MARK_OPEN, MARK_CLOSE = "<!-- bench:detections -->", "<!-- /bench:detections -->"
MIN_CONFIDENCE = 0.001  # the official client drops a threshold of 0; this keeps ~all rows
QUERY_START = "2024-03-01T00:00:00.000Z"


@contextmanager
def emulator(data_dir: Path, latency_ms: int, streams: int | None, days: int | None,
             world: str = "demo") -> Iterator[dict[str, Any]]:
    """Run the emulator in a subprocess; yield its info line (URLs, token, data_dir)."""
    cmd = [sys.executable, "-m", "rfcx_frames.emulator", "--world", world, "--port", "0",
           "--data-dir", str(data_dir), "--latency-ms", str(latency_ms)]
    if streams is not None:
        cmd += ["--streams", str(streams)]
    if days is not None:
        cmd += ["--days", str(days)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator did not start")
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def query_end(data_dir: Path, n_rows: int) -> str:
    """End time (exclusive) so that the demo user's query holds exactly ``n_rows`` rows."""
    store = Store(data_dir)
    rows = store.query(
        "SELECT start FROM detections WHERE confidence >= ? AND stream_id IN (SELECT id FROM "
        "streams WHERE created_by_id = 1 OR project_id IN (SELECT id FROM projects WHERE "
        "created_by_id = 1 UNION SELECT project_id FROM project_roles WHERE user_id = 1)) "
        "ORDER BY start LIMIT 2 OFFSET ?", (MIN_CONFIDENCE, n_rows - 1))
    store.close()
    if len(rows) < 2 or rows[0]["start"] == rows[1]["start"]:
        raise RuntimeError("the world is too small (or has a tie at the cut); scale it up")
    end_ms = int(rows[0]["start"]) + 1
    return pd.Timestamp(end_ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def run_official(info: dict[str, Any], end: str) -> tuple[float, pd.DataFrame, int]:
    """Page the query with the official client and build a DataFrame; (seconds, frame, requests)."""
    os.environ["RFCX_API_URL"] = info["api_url"]
    os.environ["RFCX_INGEST_URL"] = info["ingest_url"]
    import rfcx  # type: ignore[import-untyped]
    import rfcx._api_rfcx  # type: ignore[import-untyped]

    rfcx._api_rfcx.base_url = info["api_url"]
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            Path(".rfcx_credentials").write_text(
                f"version 1\n{info['token']}\n\n2099-01-01T00:00:00.000000Z\n\n")
            client = rfcx.Client()
            client.authenticate()
            started = time.perf_counter()
            rows: list[dict[str, Any]] = []
            offset, requests = 0, 0
            while True:
                page = client.detections(min_date=QUERY_START, max_date=end,
                                         min_confidence=MIN_CONFIDENCE, limit=1000,
                                         offset=offset)
                requests += 1
                if page is None:
                    raise RuntimeError("the official client returned None (an HTTP error)")
                rows.extend(page)
                offset += len(page)
                if len(page) < 1000:
                    break
            frame = pd.DataFrame(rows)
            elapsed = time.perf_counter() - started
        finally:
            os.chdir(cwd)
    return elapsed, frame, requests


def run_frames(info: dict[str, Any], end: str) -> tuple[float, pd.DataFrame, int]:
    """``detections_df`` for the same query; (seconds, frame, requests)."""
    # Cache off: a fetch like the official client's (a rerun on the same world must not be
    # answered from the cache a previous run filled).
    with Client(api_url=info["api_url"], token=info["token"], progress=False,
                cache=False) as client:
        before = client.session.requests_sent
        started = time.perf_counter()
        frame = client.detections_df(QUERY_START, end, min_confidence=MIN_CONFIDENCE)
        elapsed = time.perf_counter() - started
        return elapsed, frame, client.session.requests_sent - before


def measure(latency_ms: int, rows: int, streams: int, days: int,
            data_dir: Path) -> dict[str, Any]:
    with emulator(data_dir, latency_ms, streams, days) as info:
        end = query_end(data_dir, rows)
        t_off, df_off, n_off = run_official(info, end)
        t_new, df_new, n_new = run_frames(info, end)
    if len(df_off) != rows or len(df_new) != rows:
        raise RuntimeError(f"row counts differ: official {len(df_off)}, frames {len(df_new)}")
    if sorted(df_off["id"].astype("int64")) != sorted(df_new["id"].tolist()):
        raise RuntimeError("the two clients returned different detections")
    m_off = int(df_off.memory_usage(deep=True).sum())
    m_new = int(df_new.memory_usage(deep=True).sum())
    return {"latency_ms": latency_ms, "rows": rows, "end": end,
            "official_s": t_off, "frames_s": t_new, "official_requests": n_off,
            "frames_requests": n_new, "official_bytes": m_off, "frames_bytes": m_new,
            "speedup": t_off / t_new, "memory_ratio": m_new / m_off}


def report(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        MARK_OPEN,
        "## detections_df vs the official `rfcx` client",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"pandas {pd.__version__}, {os.cpu_count()} CPUs. Emulator in its own process "
        f"(demo world scaled), query `[{QUERY_START}, end)` with "
        f"`min_confidence={MIN_CONFIDENCE}` for the demo user, exactly "
        f"{results[0]['rows']:,} detections. Official: `rfcx` 0.3.1 `Client.detections("
        f"limit=1000, offset=…)` loop + `pd.DataFrame(rows)`. rfcx_frames: "
        f"`Client.detections_df(...)` (8 workers, typed frame).",
        "",
        "| latency per request | official time | rfcx_frames time | speed-up | official requests "
        "| rfcx_frames requests | official memory | rfcx_frames memory | memory ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['latency_ms']} ms | {r['official_s']:.2f} s | {r['frames_s']:.2f} s | "
            f"{r['speedup']:.1f}× | {r['official_requests']} | {r['frames_requests']} | "
            f"{r['official_bytes'] / 1e6:.1f} MB | {r['frames_bytes'] / 1e6:.1f} MB | "
            f"{r['memory_ratio']:.3f} |")
    speed = ", ".join(f"{r['latency_ms']} ms {'met' if r['speedup'] >= 4 else 'missed'}"
                      for r in results)
    memory = "met" if all(r["memory_ratio"] <= 0.25 for r in results) else "missed"
    lines += ["", f"Goal: ≥ 4× faster in both settings ({speed}), memory ratio ≤ 0.25 "
              f"(`df.memory_usage(deep=True).sum()`; {memory}).", "",
              "Where the time goes: the official loop is sequential, one page after the "
              "other; rfcx_frames splits the window into pieces planned from the platform's "
              "counts, fetches them on 8 threads and parses pages with pyarrow's JSON reader "
              "(no Python object per row), so latency per request is what sets them apart. "
              "On the platform a deep `offset` also makes each later page of the loop slower "
              "(Postgres walks every skipped row); the emulator does not reproduce that cost "
              "(it keeps a bookmark at each page's end, so a sequential loop's next page "
              "starts from an index seek), so with no latency the two are level here. "
              "rfcx_frames' frame is typed (int64 ids, categories, float32, "
              "`datetime64[ms, UTC]`), hence the memory ratio. Numbers vary from run "
              "to run by ±20% on this shared machine.", MARK_CLOSE]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if MARK_OPEN in text and MARK_CLOSE in text:
        head, rest = text.split(MARK_OPEN, 1)
        tail = rest.split(MARK_CLOSE, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 50],
                        help="added latency per request, one run per value (default: 0 50)")
    parser.add_argument("--rows", type=int, default=200_000, help="detections to fetch")
    parser.add_argument("--streams", type=int, default=26, help="demo-world scale: streams")
    parser.add_argument("--days", type=int, default=31, help="demo-world scale: days")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-world-") as tmp:
        data_dir = Path(tmp) / "world"
        for latency in args.latency_ms:
            result = measure(latency, args.rows, args.streams, args.days, data_dir)
            print(json.dumps(result), flush=True)
            results.append(result)
    command = "python bench/bench_detections.py " + " ".join(argv if argv is not None
                                                             else sys.argv[1:])
    section = report(results, command.strip())
    print(section)
    if not args.no_write:
        write_section(args.out, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
