"""The analysis commands (counts, effort, classifiers, jobs, best-detections) against the demo
emulator over real HTTP: each writes the library's frame, checks its options before any
request, and names what went wrong in one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rfcx_frames import Client
from rfcx_frames.emulator import Emulator
from tests.test_cli import DAY, assert_one_error_line, conn, parquet_round_trip, run

WEEK = ["--start", "2024-03-01", "--end", "2024-03-08"]


@pytest.fixture(autouse=True)
def own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RFCX_TOKEN", raising=False)
    monkeypatch.setenv("RFCX_FRAMES_PROGRESS", "0")
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def job_id(demo_emulator: Emulator) -> int:
    jobs = demo_emulator.client(cache=False).classifier_jobs_df(status="done")
    return int(jobs["id"].iloc[0])


# command line (after the connection options) and the same call through the library
CALLS: dict[str, tuple[list[str], Callable[[Client, int], pd.DataFrame]]] = {
    "counts": (["counts", *WEEK, "--min-confidence", "0.5", "--interval", "6h"],
               lambda c, j: c.detection_counts("2024-03-01", "2024-03-08",
                                               min_confidence=0.5, interval="6h")),
    "counts-max-by-stream": (
        ["counts", *WEEK, "--min-confidence", "0.5", "--aggregate", "max", "--by-stream"],
        lambda c, j: c.detection_counts("2024-03-01", "2024-03-08", min_confidence=0.5,
                                        aggregate="max", by_stream=True)),
    "effort": (["effort", *DAY, "--freq", "1h"],
               lambda c, j: c.effort_df("2024-03-01", "2024-03-02", freq="1h", cache=False)),
    "classifiers": (["classifiers"], lambda c, j: c.classifiers_df()),
    "jobs": (["jobs", "--status", "done"], lambda c, j: c.classifier_jobs_df(status="done")),
    "best-detections": (["best-detections", "{job}", "--n-per-chunk", "2"],
                        lambda c, j: c.best_detections_df(j, n_per_chunk=2)),
}


def _argv(name: str, job: int) -> list[str]:
    return [a.format(job=job) for a in CALLS[name][0]]


@pytest.mark.parametrize("name", sorted(CALLS))
def test_file_equals_the_library_frame(capsys: pytest.CaptureFixture[str],
                                       demo_emulator: Emulator, job_id: int, name: str) -> None:
    code, out, err = run(capsys, *_argv(name, job_id), *conn(demo_emulator),
                         "--out", "table.parquet")
    assert code == 0, err
    assert out == ""
    expected = CALLS[name][1](demo_emulator.client(cache=False), job_id)
    assert not expected.empty
    assert err.strip() == f"wrote {len(expected)} rows to table.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet("table.parquet"),
                                  parquet_round_trip(expected))


def test_counts_on_the_terminal_show_the_brief_columns(capsys: pytest.CaptureFixture[str],
                                                       demo_emulator: Emulator) -> None:
    code, out, err = run(capsys, "counts", *DAY, "--min-confidence", "0.5",
                         *conn(demo_emulator))
    assert code == 0, err
    assert out.splitlines()[0].split() == ["time_bucket", "classification_value", "count"]
    code, out, _ = run(capsys, "counts", *DAY, "--min-confidence", "0.5", "--aggregate", "avg",
                       "--columns", "classification_value,confidence_avg",
                       *conn(demo_emulator))
    assert code == 0
    assert out.splitlines()[0].split() == ["classification_value", "confidence_avg"]


@pytest.mark.parametrize(("argv", "message"), [
    (["counts", *DAY, "--columns", "confidence_max"], "confidence_max"),
    (["counts", *DAY, "--aggregate", "median"], "invalid choice: 'median'"),
    (["counts", *DAY, "--interval", "3 fortnights"], "interval"),
    (["counts", *DAY, "--classifier", "x"], "--classifier"),
    (["counts", *DAY, "--aggregate", "max", "--review-status", "confirmed"],
     "aggregate must be 'count'"),
    (["effort", *DAY, "--freq", "sometimes"], "freq"),
    (["jobs", "--status", "finished"], "invalid choice: 'finished'"),
    (["best-detections", "abc"], "invalid int value: 'abc'"),
    (["best-detections", "101", "--n-per-chunk", "11"], "n_per_chunk must be between 1 and 10"),
])
def test_bad_options_fail_before_any_request(capsys: pytest.CaptureFixture[str],
                                             demo_emulator: Emulator, argv: list[str],
                                             message: str) -> None:
    before = demo_emulator.stats()["total_requests"]
    code, out, err = run(capsys, *argv, *conn(demo_emulator))
    assert code == 2, err
    assert message in err
    assert_one_error_line(err)
    assert out == ""
    assert demo_emulator.stats()["total_requests"] == before


@pytest.mark.parametrize("argv", [
    ["best-detections", "987654"],
    ["counts", *DAY, "--stream", "zzzzzzzzzzzz"],
])
def test_unknown_ids_exit_1_with_one_line(capsys: pytest.CaptureFixture[str],
                                          demo_emulator: Emulator, argv: list[str]) -> None:
    code, out, err = run(capsys, *argv, *conn(demo_emulator))
    assert code == 1
    assert out == ""
    assert_one_error_line(err)


def test_help_of_each_command_names_its_call(capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}
    for name in ("counts", "effort", "classifiers", "jobs", "best-detections"):
        code, out, _ = run(capsys, name, "--help")
        seen[name] = out
        assert code == 0 and out.startswith(f"usage: rfcx-frames {name}")
    assert "--by-stream" in seen["counts"] and "--interval" in seen["counts"]
    assert "--freq" in seen["effort"] and "--mine" in seen["jobs"]
