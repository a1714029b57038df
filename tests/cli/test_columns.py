"""Table output: a few useful columns cut to the terminal's width, ``--columns`` to choose.

In-process through :func:`rfcx_frames.cli.main`, and the narrow terminal through the
installed console script, both against the demo emulator over real HTTP.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rfcx_frames.emulator import Emulator
from tests.test_cli import DAY, SCRIPT, assert_one_error_line, conn, parquet_round_trip, run

DETECTIONS = ["detections", *DAY, "--min-confidence", "0.5"]
DEFAULT = ["stream_id", "start", "classification_value", "confidence", "review_status"]


@pytest.fixture(autouse=True)
def wide_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal wide enough for every default column, in the test's own folder."""
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("RFCX_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def detections(demo_emulator: Emulator) -> pd.DataFrame:
    return demo_emulator.client(cache=False).detections_df("2024-03-01", "2024-03-02",
                                                           min_confidence=0.5)


def header(out: str) -> list[str]:
    return out.splitlines()[0].split()


def test_terminal_shows_the_useful_columns(capsys: pytest.CaptureFixture[str],
                                          demo_emulator: Emulator,
                                          detections: pd.DataFrame) -> None:
    code, out, err = run(capsys, *DETECTIONS, *conn(demo_emulator))
    assert code == 0, err
    assert header(out) == DEFAULT
    assert len(detections.columns) > len(DEFAULT)
    first = out.splitlines()[1]
    assert str(detections["classification_value"].iloc[0]) in first
    # UTC times as the platform writes them (and --start takes them)
    start = detections["start"].iloc[0]
    assert f"{start:%Y-%m-%dT%H:%M:%S}.{start.microsecond // 1000:03d}Z" in first
    assert "(not shown" not in out

    code, out, err = run(capsys, *DETECTIONS, "--local-time", *conn(demo_emulator))
    assert code == 0, err
    assert header(out) == ["stream_id", "start", "start_local", *DEFAULT[2:]]


def test_columns_chooses_what_the_terminal_shows(capsys: pytest.CaptureFixture[str],
                                                demo_emulator: Emulator,
                                                detections: pd.DataFrame) -> None:
    code, out, err = run(capsys, *DETECTIONS, "--columns", "confidence,id",
                         *conn(demo_emulator))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["confidence", "id"]
    assert lines[1].split()[1] == str(detections["id"].iloc[0])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_columns_in_a_file(capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
                           detections: pd.DataFrame, suffix: str) -> None:
    out_file = f"d{suffix}"
    code, _, err = run(capsys, *DETECTIONS, "--columns", "id,start,classification_value",
                       "--out", out_file, *conn(demo_emulator))
    assert code == 0, err
    expected = detections[["id", "start", "classification_value"]]
    if suffix == ".parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(out_file), parquet_round_trip(expected))
    else:
        assert Path(out_file).read_text() == expected.to_csv(index=False)


@pytest.mark.parametrize(("argv", "unknown"), [
    (["--columns", "stream_id,nope"], "'nope'"),
    (["--columns", "start_local"], "'start_local'"),  # only with --local-time
])
def test_unknown_column_exits_2_before_any_request(
        capsys: pytest.CaptureFixture[str], demo_emulator: Emulator, argv: list[str],
        unknown: str) -> None:
    demo_emulator.reset_stats()
    code, out, err = run(capsys, *DETECTIONS, *argv, "--out", "d.parquet",
                         *conn(demo_emulator))
    assert (code, out) == (2, "")
    assert_one_error_line(err)
    assert f"--columns: unknown column {unknown}; allowed: id, stream_id, " in err
    assert "classification_image" in err
    assert demo_emulator.stats()["total_requests"] == 0
    assert not Path("d.parquet").exists()


def test_every_table_command_takes_columns(capsys: pytest.CaptureFixture[str],
                                           demo_emulator: Emulator) -> None:
    code, out, err = run(capsys, "projects", "--columns", "name", *conn(demo_emulator))
    assert code == 0, err
    assert out.splitlines()[0].split() == ["name"]
    assert "Puerto Rico Soundscapes" in out
    for command in ("projects", "streams", "segments", "detections", "annotations",
                    "classifications"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and "--columns" in out


def test_narrow_terminal(demo_emulator: Emulator, detections: pd.DataFrame) -> None:
    env: dict[str, Any] = {**os.environ, "COLUMNS": "60"}
    proc = subprocess.run([str(SCRIPT), *DETECTIONS, *conn(demo_emulator)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    shown = lines[0].split()
    assert shown == DEFAULT[:len(shown)] and 1 <= len(shown) < len(DEFAULT)
    table = lines[:1 + min(len(detections), 40)]
    assert all(len(line) <= 60 for line in table)
    note = next(line for line in lines if line.startswith("(not shown"))
    assert note == (f"(not shown, too wide for the terminal: {', '.join(DEFAULT[len(shown):])}; "
                    "choose with --columns)")


def test_interrupted_write_keeps_the_old_file(capsys: pytest.CaptureFixture[str],
                                              demo_emulator: Emulator,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    old = b"an earlier export"
    Path("d.parquet").write_bytes(old)

    # A real Ctrl-C cannot be timed to land mid-write; this one lands after half a file.
    def half_then_interrupt(self: pd.DataFrame, path: Any, **kwargs: Any) -> None:
        path.write(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_interrupt)
    code, _, err = run(capsys, *DETECTIONS, "--out", "d.parquet", *conn(demo_emulator))
    assert code == 130 and err.strip() == "interrupted"
    assert Path("d.parquet").read_bytes() == old
    assert sorted(p.name for p in Path().iterdir()) == ["d.parquet"]
