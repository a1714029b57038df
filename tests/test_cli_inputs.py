"""The command line reads inputs exactly or exits 2 (bad input) / 1 (unknown id), one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rfcx_frames.emulator import Emulator
from tests.test_cli import DAY, assert_one_error_line, conn, run

REFUSED_TIMES = ["01/03/2024", "13/03/2024", "1 March 2024", "6am", "now", "today",
                 "2300-01-01", "2300-01-01T00:00:00Z", "1709251200000"]


@pytest.fixture(scope="module")
def streams(demo_emulator: Emulator) -> pd.DataFrame:
    return demo_emulator.client(cache=False, progress=False).streams_df()


@pytest.mark.parametrize("text", REFUSED_TIMES)
def test_refused_times_exit_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                            demo_emulator: Emulator, streams: pd.DataFrame,
                                            text: str) -> None:
    code, out, err = run(capsys, "detections", "--start", text, "--end", "2024-03-02",
                         *conn(demo_emulator))
    assert (code, out) == (2, "")
    assert_one_error_line(err)
    assert f"argument --start: {text!r} is refused" in err
    assert "e.g. 2024-03-01" in err
    code, out, err = run(capsys, "segments", "--stream", str(streams["id"].iloc[0]),
                         "--start", "2024-03-01", "--end", text, *conn(demo_emulator))
    assert (code, out) == (2, "")
    assert_one_error_line(err)
    assert f"argument --end: {text!r} is refused" in err


def test_unknown_stream_among_good_ones_exits_1_naming_it(
        capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
        streams: pd.DataFrame) -> None:
    good = str(streams["id"].iloc[0])
    code, out, err = run(capsys, "detections", *DAY, "--stream", f"typo,{good}",
                         *conn(demo_emulator))
    assert (code, out) == (1, "")
    assert_one_error_line(err)
    assert "streams: unknown stream 'typo'" in err


def test_stream_name_exits_1_showing_the_id(capsys: pytest.CaptureFixture[str],
                                            demo_emulator: Emulator,
                                            streams: pd.DataFrame) -> None:
    name, sid = str(streams["name"].iloc[0]), str(streams["id"].iloc[0])
    code, _, err = run(capsys, "segments", "--stream", name, *DAY, *conn(demo_emulator))
    assert code == 1
    assert_one_error_line(err)
    assert f"{name!r} is a stream name, not an id: the id is {sid!r}" in err


@pytest.mark.parametrize(("option", "value", "fragment"), [
    ("--sample-rate", "44100.5", "not a whole number"),
    ("--sample-rate", "1000000000", "must be between 1 and 384000"),
    ("--sample-rate", "0", "must be between 1 and 384000"),
    ("--duration", "nan", "must be a finite number"),
    ("--duration", "inf", "must be a finite number"),
    ("--duration", "0", "must be > 0"),
    ("--pad", "-1", "must be >= 0"),
    ("--pad", "nan", "must be a finite number"),
])
def test_clip_bounds_exit_2(capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
                            streams: pd.DataFrame, tmp_path: Path, option: str, value: str,
                            fragment: str) -> None:
    table = tmp_path / "rows.parquet"
    pd.DataFrame({"stream_id": [str(streams["id"].iloc[0])],
                  "start": [pd.Timestamp("2024-03-01T06:00:00Z")],
                  "end": [pd.Timestamp("2024-03-01T06:00:01Z")]}).to_parquet(table)
    code, out, err = run(capsys, "clips", str(table), "--out", str(tmp_path / "c.npz"),
                         f"{option}={value}", *conn(demo_emulator))
    assert (code, out) == (2, "")
    assert_one_error_line(err)
    assert f"argument {option}: {fragment}" in err
    assert not (tmp_path / "c.npz").exists()
