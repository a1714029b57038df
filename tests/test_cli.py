"""The ``rfcx-frames`` command line, driven through its entry point.

Most tests call :func:`rfcx_frames.cli.main` in-process (fast) against the demo emulator
over real HTTP; a few run the installed console script in a subprocess to prove the
packaging, the exit codes and the stderr contract hold for a real shell.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from rfcx_frames import Client, cli
from rfcx_frames.cli import output
from rfcx_frames.cli.tables import BRIEF
from rfcx_frames.emulator import Emulator

DAY = ["--start", "2024-03-01", "--end", "2024-03-02"]
SUBCOMMANDS = ["emulator", "login", "projects", "streams", "segments", "detections",
               "annotations", "classifications", "counts", "effort", "classifiers", "jobs",
               "best-detections", "download", "clips", "training-set",
               "ingest", "cache", "demo"]
SCRIPT = Path(sys.executable).with_name("rfcx-frames")


# ------------------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def clean_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in its own folder with no connection settings from the environment.

    The folder matters: the CLI reads and writes ``.rfcx_credentials`` in the working
    directory by default.
    """
    for name in ("RFCX_TOKEN", "RFCX_API_URL", "RFCX_INGEST_URL", "RFCX_AUTH_URL",
                 "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RFCX_FRAMES_PROGRESS", "0")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``rfcx-frames ARGV`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def conn(emu: Emulator) -> list[str]:
    return ["--api-url", emu.api_url, "--token", emu.token, "--no-progress"]


def assert_one_error_line(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err


def parquet_round_trip(frame: pd.DataFrame) -> pd.DataFrame:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return pd.read_parquet(buffer)


def script(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *argv], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module")
def one_stream(demo_emulator: Emulator) -> str:
    """A stream of the demo user (El Yunque, 12 kHz opus)."""
    streams = demo_emulator.client(cache=False).streams_df()
    return str(streams.loc[streams["name"] == "El Yunque Canopy", "id"].iloc[0])


@pytest.fixture(scope="module")
def forbidden_stream(demo_emulator: Emulator) -> str:
    """A private stream another user can read and the demo user cannot."""
    mine = set(demo_emulator.client(cache=False).streams_df()["id"])
    theirs = demo_emulator.client(token=demo_emulator.tokens["other"], cache=False).streams_df()
    hidden = theirs[~theirs["id"].isin(mine) & ~theirs["is_public"].astype(bool)]
    assert not hidden.empty
    return str(hidden["id"].iloc[0])


# ------------------------------------------------------------------------------ help


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--help")
    assert code == 0 and err == ""
    for name in SUBCOMMANDS:
        assert name in out
    assert "Exit codes" in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, _ = run(capsys, name, "--help")
    assert code == 0
    assert out.startswith(f"usage: rfcx-frames {name}")
    assert "--debug" in out


def test_module_docstring_documents_exit_codes() -> None:
    doc = cli.__doc__ or ""
    for code in ("**0**", "**1**", "**2**", "**130**"):
        assert code in doc
    assert (cli.EXIT_OK, cli.EXIT_ERROR, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED) == (0, 1, 2, 130)


# ------------------------------------------------------------------------------ tables

# command line (after the connection options) and the same query through the library
TABLES = {
    "projects": (["projects"], lambda c, s: c.projects_df(cache=False)),
    "streams": (["streams", "--keyword", "o"], lambda c, s: c.streams_df(keyword="o",
                                                                          cache=False)),
    "segments": (["segments", "--stream", "{stream}", *DAY],
                 lambda c, s: c.segments_df(s, "2024-03-01", "2024-03-02", cache=False)),
    "detections": (["detections", *DAY, "--min-confidence", "0.5", "--local-time"],
                   lambda c, s: c.detections_df("2024-03-01", "2024-03-02", min_confidence=0.5,
                                                local_time=True, cache=False)),
    "annotations": (["annotations", "--start", "2024-03-01", "--end", "2024-04-01",
                     "--stream", "{stream}"],
                    lambda c, s: c.annotations_df("2024-03-01", "2024-04-01", streams=[s],
                                                  cache=False)),
    "classifications": (["classifications", "--keyword", "a", "--level", "species"],
                        lambda c, s: c.classifications_df(keyword="a", levels=["species"],
                                                          cache=False)),
}


def _argv(name: str, stream: str) -> list[str]:
    return [a.format(stream=stream) for a in TABLES[name][0]]


@pytest.mark.parametrize("name", sorted(TABLES))
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_table_to_file_equals_library_frame(capsys: pytest.CaptureFixture[str],
                                            demo_emulator: Emulator, one_stream: str,
                                            name: str, suffix: str) -> None:
    out_file = Path(f"{name}{suffix}")
    code, out, err = run(capsys, *_argv(name, one_stream), *conn(demo_emulator),
                         "--out", str(out_file))
    assert code == 0, err
    expected = TABLES[name][1](demo_emulator.client(cache=False), one_stream)
    assert not expected.empty
    assert out == ""
    assert err.strip() == f"wrote {len(expected)} rows to {out_file}"
    if suffix == ".parquet":
        got = pd.read_parquet(out_file)
        assert list(got.columns) == list(expected.columns)
        # pandas 3 reads an all-null categorical back with object (not str) categories,
        # so compare with the library frame after the same Parquet round trip.
        pd.testing.assert_frame_equal(got, parquet_round_trip(expected))
    else:
        assert out_file.read_text() == output.csv_ready(expected).to_csv(index=False)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_on_terminal(capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
                           one_stream: str, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough for every default column
    code, out, err = run(capsys, *_argv(name, one_stream), *conn(demo_emulator))
    assert code == 0, err
    expected = TABLES[name][1](demo_emulator.client(cache=False), one_stream)
    brief = [c for c in BRIEF[name] if c in expected.columns]
    lines = out.splitlines()
    assert lines[0].split() == brief
    shown = min(len(expected), output.TABLE_ROWS)
    assert len(lines) == 1 + shown + (len(expected) > output.TABLE_ROWS)
    # the first row's first shown text value is printed on its own line
    text = next(c for c in brief if not isinstance(expected[c].dtype, pd.DatetimeTZDtype))
    assert str(expected[text].iloc[0]) in lines[1]
    if len(expected) > output.TABLE_ROWS:
        assert lines[-1].startswith(f"... {len(expected) - output.TABLE_ROWS} more rows "
                                    f"({len(expected)} in all)")


def test_csv_nested_cells_are_json(capsys: pytest.CaptureFixture[str],
                                   demo_emulator: Emulator) -> None:
    argv = ["classifications", "--keyword", "amazona", *conn(demo_emulator)]
    # once fresh, once from the cache: the CSV must not depend on where the rows came from
    for name in ("fresh.csv", "cached.csv"):
        assert run(capsys, *argv, "--out", name)[0] == 0
    assert Path("fresh.csv").read_text() == Path("cached.csv").read_text()
    got = pd.read_csv("cached.csv")
    expected = demo_emulator.client(cache=False).classifications_df(keyword="amazona")
    assert list(got["value"]) == list(expected["value"])
    names = [json.loads(cell) for cell in got["alternative_names"]]
    assert names == [list(v) for v in expected["alternative_names"]]
    assert any({"name": "Puerto Rican Amazon", "language_id": "en_US"} in n for n in names)


def test_empty_table_says_so(capsys: pytest.CaptureFixture[str],
                             demo_emulator: Emulator) -> None:
    code, out, _ = run(capsys, "projects", "--keyword", "no-such-project-anywhere",
                       *conn(demo_emulator))
    assert code == 0
    assert out.startswith("(no rows; columns: id, name")


def test_detections_filters_reach_the_library(capsys: pytest.CaptureFixture[str],
                                              demo_emulator: Emulator, one_stream: str) -> None:
    client = demo_emulator.client(cache=False)
    week = client.detections_df("2024-03-01", "2024-03-08", streams=[one_stream],
                                min_confidence=0)
    value = str(week["classification_value"].iloc[0])
    classifier = int(week["classifier_id"].iloc[0])
    code, _, err = run(capsys, "detections", "--start", "2024-03-01", "--end", "2024-03-08",
                       "--stream", one_stream, "--classification", value,
                       "--classifier", str(classifier), "--min-confidence", "0",
                       "--review-status", "unreviewed,confirmed", "--cache", "off",
                       *conn(demo_emulator), "--out", "d.parquet")
    assert code == 0, err
    expected = client.detections_df("2024-03-01", "2024-03-08", streams=[one_stream],
                                    classifications=[value], classifiers=[classifier],
                                    min_confidence=0,
                                    review_statuses=["unreviewed", "confirmed"])
    got = pd.read_parquet("d.parquet")
    assert 0 < len(got) < len(week)
    pd.testing.assert_frame_equal(got, parquet_round_trip(expected))


def test_streams_of_a_project(capsys: pytest.CaptureFixture[str],
                              demo_emulator: Emulator) -> None:
    client = demo_emulator.client(cache=False)
    project = client.projects_df()
    pid = str(project.loc[project["name"] == "Puerto Rico Soundscapes", "id"].iloc[0])
    code, _, err = run(capsys, "streams", "--project", pid, *conn(demo_emulator),
                       "--out", "s.parquet")
    assert code == 0, err
    got = pd.read_parquet("s.parquet")
    assert set(got["project_id"]) == {pid}
    pd.testing.assert_frame_equal(got, parquet_round_trip(client.streams_df(projects=[pid])))


# ------------------------------------------------------------------------------ cache


def test_cache_modes_and_management(capsys: pytest.CaptureFixture[str],
                                    demo_emulator: Emulator, isolated_cache: Path) -> None:
    query = ["detections", *DAY, *conn(demo_emulator)]
    code, _, err = run(capsys, *query, "--cache", "offline")
    assert code == 1
    assert_one_error_line(err)
    assert "offline" in err

    code, out, _ = run(capsys, "cache", "path")
    assert code == 0 and out.strip() == str(isolated_cache)
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and json.loads(out)["entries"] == 0

    assert run(capsys, *query, "--out", "first.parquet")[0] == 0
    code, out, _ = run(capsys, "cache", "info")
    info = json.loads(out)
    assert info["entries"] >= 1 and info["path"] == str(isolated_cache)

    demo_emulator.reset_stats()
    code, _, err = run(capsys, *query, "--cache", "offline", "--out", "again.parquet")
    assert code == 0, err
    assert demo_emulator.stats()["total_requests"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet("again.parquet"),
                                  pd.read_parquet("first.parquet"))
    code, _, err = run(capsys, *query, "--cache", "off", "--out", "off.parquet")
    assert code == 0, err
    assert demo_emulator.stats()["total_requests"] > 0

    code, out, _ = run(capsys, "cache", "clear", "--older-than", "7d")
    assert code == 0 and json.loads(out)["entries"] == 0
    code, out, _ = run(capsys, "cache", "clear")
    removed = json.loads(out)
    assert code == 0 and removed["entries"] == info["entries"] and removed["bytes"] > 0
    code, out, _ = run(capsys, "cache", "info")
    assert json.loads(out)["entries"] == 0


def test_cache_dir_option(capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
                          tmp_path: Path) -> None:
    folder = tmp_path / "my-cache"
    code, _, err = run(capsys, "projects", *conn(demo_emulator), "--cache-dir", str(folder))
    assert code == 0, err
    code, out, _ = run(capsys, "cache", "info", "--cache-dir", str(folder))
    assert json.loads(out)["entries"] == 1
    code, out, _ = run(capsys, "cache", "path", "--cache-dir", str(folder))
    assert out.strip() == str(folder)


# ------------------------------------------------------------------------------ login


def test_login_device_code_then_query_with_saved_credentials(
        capsys: pytest.CaptureFixture[str], demo_emulator: Emulator, tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    code, out, err = run(capsys, "login", "--auth-url", demo_emulator.auth_url,
                         "--credentials", str(creds), "--no-browser")
    assert code == 0, err
    assert "Go to this URL in a browser: " + demo_emulator.auth_url in out
    assert "Your code is: " in out
    assert err.strip() == f"logged in; credentials saved to {creds}"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert creds.read_text().splitlines()[0] == "version 1"

    code, out, err = run(capsys, "projects", "--api-url", demo_emulator.api_url,
                         "--credentials", str(creds))
    assert code == 0, err
    assert "Puerto Rico Soundscapes" in out


def test_login_with_client_credentials_saves_nothing(
        capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUTH0_CLIENT_ID", "machine")
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", demo_emulator.client_secret)
    code, out, err = run(capsys, "login", "--auth-url", demo_emulator.auth_url)
    assert code == 0, err
    assert "nothing saved" in err and out == ""
    assert not (tmp_path / ".rfcx_credentials").exists()
    # data commands log in the same way on their own
    code, out, err = run(capsys, "projects", "--api-url", demo_emulator.api_url,
                         "--auth-url", demo_emulator.auth_url)
    assert code == 0, err
    assert "Puerto Rico Soundscapes" in out


def test_login_rejected_secret_exits_1(capsys: pytest.CaptureFixture[str],
                                       demo_emulator: Emulator,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH0_CLIENT_ID", "machine")
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", "wrong")
    code, _, err = run(capsys, "login", "--auth-url", demo_emulator.auth_url)
    assert code == 1
    assert_one_error_line(err)


# ------------------------------------------------------------------------------ audio


def test_download(capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
                  one_stream: str, tmp_path: Path) -> None:
    window = ["--start", "2024-03-01T08:00", "--end", "2024-03-01T08:02"]
    argv = ["download", "--stream", one_stream, *window, "--dest", "audio",
            *conn(demo_emulator)]
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    segments = demo_emulator.client(cache=False).segments_df(one_stream, "2024-03-01T08:00",
                                                             "2024-03-01T08:02")
    files = sorted((tmp_path / "audio" / one_stream).iterdir())
    assert len(files) == len(segments) == 2
    assert all(f.suffix == ".opus" and f.stat().st_size > 0 for f in files)
    assert err.strip() == "2 downloaded, 0 already present, in audio"
    code, _, err = run(capsys, *argv)
    assert code == 0 and err.strip() == "0 downloaded, 2 already present, in audio"


@pytest.fixture(scope="module")
def few_detections(demo_emulator: Emulator, one_stream: str) -> pd.DataFrame:
    frame = demo_emulator.client(cache=False).detections_df("2024-03-01", "2024-03-02",
                                                            streams=[one_stream])
    return frame.head(3).reset_index(drop=True)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_clips_from_a_table(capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
                            few_detections: pd.DataFrame, suffix: str) -> None:
    table = Path(f"detections{suffix}")
    if suffix == ".parquet":
        few_detections.to_parquet(table)
    else:
        few_detections.to_csv(table, index=False)
    code, _, err = run(capsys, "clips", str(table), "--out", "out/clips.npz",
                       "--duration", "2", "--sample-rate", "8000", *conn(demo_emulator))
    assert code == 0, err
    with np.load("out/clips.npz") as data:
        audio = data["audio"]
    assert audio.shape == (3, 16000)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
    meta = pd.read_parquet("out/clips.parquet")
    assert len(meta) == 3
    assert list(meta["stream_id"]) == list(few_detections["stream_id"])


def test_clips_of_mixed_rates_fail_before_any_download(
        capsys: pytest.CaptureFixture[str], demo_emulator: Emulator) -> None:
    client = demo_emulator.client(cache=False)
    streams = client.streams_df().head(2)
    rows = client.detections_df("2024-03-01", "2024-03-02",
                                streams=streams["id"].astype(str).tolist())
    rows.groupby("stream_id", observed=True).head(1).to_parquet("mixed.parquet")
    demo_emulator.reset_stats()
    code, _, err = run(capsys, "clips", "mixed.parquet", "--out", "mixed.npz", "--duration", "1",
                       *conn(demo_emulator))
    assert code == 2 and "different native sample rates" in err
    assert_one_error_line(err)
    requests = demo_emulator.stats()["requests"]
    assert all(key.startswith("GET /streams") for key in requests), requests
    assert not Path("mixed.npz").exists() and not Path("mixed.npz.parts").exists()


def test_training_set(capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
                      few_detections: pd.DataFrame) -> None:
    # Detections have what training_set reads from annotations (stream_id, start, end,
    # classification_value); reusing the clips' rows keeps the audio to fetch small.
    few_detections.to_parquet("events.parquet")
    code, _, err = run(capsys, "training-set", "events.parquet", "--out", "ts",
                       "--clip-duration", "2", "--negatives", "0", "--format", "flac",
                       *conn(demo_emulator))
    assert code == 0, err
    labels = pd.read_parquet("ts/labels.parquet")
    assert len(labels) >= len(few_detections)
    assert err.strip() == f"wrote {len(labels)} clips to ts"
    for name in labels["file"]:
        path = Path("ts") / name
        assert path.suffix == ".flac"
        assert sf.info(path).duration == pytest.approx(2.0, abs=1e-3)
    for value in set(few_detections["classification_value"]):
        assert labels[f"label_{value}"].sum() >= 1


# ------------------------------------------------------------------------------ ingest


def _wav(path: Path, seed: int) -> Path:
    noise = np.random.default_rng(seed).standard_normal(16000 * 3) * 0.1
    sf.write(path, noise.astype("float32"), 16000)
    return path


def test_ingest_wait_then_duplicate(capsys: pytest.CaptureFixture[str],
                                    fresh_emulator: Emulator, tmp_path: Path) -> None:
    stream = str(fresh_emulator.client(cache=False).streams_df()["id"].iloc[0])
    connection = ["--api-url", fresh_emulator.api_url, "--token", fresh_emulator.token,
                  "--ingest-url", fresh_emulator.ingest_url]
    wait = ["--wait", "--poll-interval", "0.1", "--timeout", "30"]
    first = ["ingest", "--stream", stream, "--file", str(_wav(tmp_path / "a.wav", 1)),
             "--timestamp", "2024-03-02T01:00:00Z", *connection]
    code, out, err = run(capsys, *first, *wait)
    assert code == 0, err
    result = json.loads(out)
    assert (result["status"], result["status_name"], result["failure_message"]) == \
        (20, "INGESTED", None)
    segments = fresh_emulator.client(cache=False).segments_df(stream, "2024-03-02T01:00",
                                                              "2024-03-02T01:01")
    assert len(segments) == 1

    code, out, err = run(capsys, *first, *wait)
    assert code == 1
    assert json.loads(out)["status_name"] == "DUPLICATE"
    assert_one_error_line(err)
    assert "DUPLICATE" in err

    # without --wait: the status right after the upload, whatever it is yet
    code, out, err = run(capsys, "ingest", "--stream", stream, "--file",
                         str(_wav(tmp_path / "b.wav", 2)), "--timestamp", "2024-03-02T02:00",
                         *connection)
    assert code == 0, err
    assert json.loads(out)["status"] in (0, 10, 20)


# ------------------------------------------------------------------------------ errors

# (arguments after the subcommand's connection options, exit code, part of the message)
BAD = {
    "no subcommand": ([], 2, "required: COMMAND"),
    "unknown subcommand": (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
    "missing options": (["segments"], 2, "required: --stream, --start, --end"),
    "bad start": (["detections", "--start", "last tuesday", "--end", "2024-03-02"], 2,
                  "--start: 'last tuesday' is refused: not an ISO 8601 time"),
    "start after end": (["detections", "--start", "2024-03-02", "--end", "2024-03-01"], 2,
                        "is after end"),
    "out suffix": (["detections", *DAY, "--out", "x.xlsx"], 2,
                   "--out: must end in .parquet or .csv"),
    "bad cache": (["detections", *DAY, "--cache", "sometimes"], 2, "--cache: invalid choice"),
    "min confidence": (["detections", *DAY, "--min-confidence", "2.0"], 2,
                       "must be between 0 and 1"),
    "classifier id": (["detections", *DAY, "--classifier", "abc"], 2,
                      "--classifier takes integer ids"),
    "review status": (["detections", *DAY, "--review-status", "maybe"], 2, "maybe"),
    "workers": (["download", "--stream", "x", *DAY, "--workers", "0"], 2, "must be > 0"),
    "file ext": (["download", "--stream", "x", *DAY, "--file-ext", "mp3"], 2,
                 "--file-ext: invalid choice"),
    "clips input": (["clips", "missing.parquet", "--out", "c.npz"], 2, "no such file"),
    "clips out": (["clips", "t.parquet", "--out", "c.zip"], 2, "must end in .npz"),
    "ingest file": (["ingest", "--stream", "x", "--file", "nope.wav", "--timestamp",
                     "2024-03-01"], 2, "no such file: 'nope.wav'"),
    "unknown stream segments": (["segments", "--stream", "nosuchstream", *DAY], 1,
                                "unknown stream 'nosuchstream'"),
    "unknown stream detections": (["detections", "--stream", "nosuchstream", *DAY], 1,
                                  "unknown stream 'nosuchstream'"),
    "unknown stream annotations": (["annotations", "--stream", "nosuchstream", *DAY], 1,
                                   "unknown stream 'nosuchstream'"),
    "unknown stream download": (["download", "--stream", "nosuchstream", *DAY], 1,
                                "unknown stream 'nosuchstream'"),
    "unknown stream ingest": (["ingest", "--stream", "nosuchstream", "--file", "a.wav",
                               "--timestamp", "2024-03-01"], 1, "HTTP 404"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments(capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
                       case: str) -> None:
    argv, expected_code, fragment = BAD[case]
    Path("a.wav").write_bytes(b"RIFF")
    Path("t.parquet").write_bytes(b"")
    extra = [*conn(demo_emulator), "--ingest-url", demo_emulator.ingest_url] if argv else []
    code, out, err = run(capsys, *argv, *extra)
    assert code == expected_code, err
    assert out == ""
    assert_one_error_line(err)
    assert fragment in err
    assert not Path("x.xlsx").exists()


def test_forbidden_stream_exits_1(capsys: pytest.CaptureFixture[str],
                                  demo_emulator: Emulator, forbidden_stream: str) -> None:
    code, _, err = run(capsys, "segments", "--stream", forbidden_stream, *DAY,
                       *conn(demo_emulator))
    assert code == 1
    assert_one_error_line(err)
    assert f"unknown stream {forbidden_stream!r} (or not readable by you)" in err


def test_bad_token_and_no_token_exit_1(capsys: pytest.CaptureFixture[str],
                                       demo_emulator: Emulator) -> None:
    code, _, err = run(capsys, "projects", "--api-url", demo_emulator.api_url,
                       "--token", "not-a-token")
    assert code == 1
    assert_one_error_line(err)
    assert "HTTP 401" in err
    code, _, err = run(capsys, "projects", "--api-url", demo_emulator.api_url)
    assert code == 1
    assert err.strip() == ("error: not logged in: set RFCX_TOKEN, pass --token-file PATH "
                           "('-' reads standard input), or run 'rfcx-frames login' first")


def test_token_from_env_file_or_stdin_never_the_command_line(
        capsys: pytest.CaptureFixture[str], demo_emulator: Emulator, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["projects", "--api-url", demo_emulator.api_url, "--no-progress", "--cache", "off"]
    expected = run(capsys, *base, "--token", demo_emulator.token)[1]
    token_file = tmp_path / "token"
    token_file.write_text(demo_emulator.token + "\n", encoding="utf-8")
    assert run(capsys, *base, "--token-file", str(token_file)) == (0, expected, "")
    monkeypatch.setattr(sys, "stdin", io.StringIO(demo_emulator.token + "\n"))
    assert run(capsys, *base, "--token-file", "-") == (0, expected, "")
    monkeypatch.setenv("RFCX_TOKEN", demo_emulator.token)
    assert run(capsys, *base) == (0, expected, "")


@pytest.mark.parametrize("content", [None, "", "two tokens"])
def test_bad_token_file_exits_2_without_echoing_it(
        capsys: pytest.CaptureFixture[str], demo_emulator: Emulator, tmp_path: Path,
        content: str | None) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "projects", "--api-url", demo_emulator.api_url,
                         "--token-file", str(token_file))
    assert code == 2 and out == ""
    assert_one_error_line(err)
    assert "--token-file" in err
    assert "two tokens" not in err


def test_token_and_token_file_exclude_each_other_and_help_warns(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "projects", "--token", "a", "--token-file", "b")
    assert code == 2
    assert_one_error_line(err)
    for command in ("projects", "demo"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0
        assert "--token-file PATH" in out
        assert "last resort" in " ".join(out.split())


@pytest.mark.parametrize("argv", [["cache", "clear", "--older-than", "soon"],
                                  ["cache", "info", "--older-than", "7d"],
                                  ["cache", "wipe"]])
def test_bad_cache_arguments(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert_one_error_line(err)


@pytest.mark.parametrize("argv", [["--port", "x"], ["--fault-rate", "5"],
                                  ["--world", "mars"], ["--no-such-flag"]])
def test_emulator_bad_flags(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, "emulator", *argv)
    assert code == 2
    assert out == ""
    assert_one_error_line(err)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_raises_the_real_exception(capsys: pytest.CaptureFixture[str],
                                         demo_emulator: Emulator, where: str) -> None:
    from rfcx_frames.exceptions import NotFoundError

    argv: Sequence[str] = ["segments", "--stream", "nosuchstream", *DAY, *conn(demo_emulator)]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(NotFoundError):
        cli.main(argv)


def test_interrupt_exits_130(capsys: pytest.CaptureFixture[str], demo_emulator: Emulator,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A real Ctrl-C cannot be timed reliably against an in-process call.
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "projects_df", interrupted)
    code, _, err = run(capsys, "projects", *conn(demo_emulator))
    assert code == 130
    assert err.strip() == "interrupted"


def test_one_line_joins_multi_line_messages() -> None:
    assert cli.one_line(ValueError("first\n\n  second ")) == "first; second"
    assert cli.one_line(OSError("disk full")) == "OSError: disk full"
    assert cli.one_line(RuntimeError()) == "RuntimeError"


# ------------------------------------------------------------------------------ console script


def test_script_help() -> None:
    assert SCRIPT.is_file()
    proc = script("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: rfcx-frames")
    assert proc.stderr == ""


def test_script_bad_argument_is_one_line_exit_2() -> None:
    proc = script("detections", "--start", "2024-03-01", "--end", "2024-03-02",
                  "--min-confidence", "2.0")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_error_line(proc.stderr)


def test_script_platform_error_exit_1(demo_emulator: Emulator) -> None:
    argv = ["segments", "--stream", "nosuchstream", *DAY, *conn(demo_emulator)]
    proc = script(*argv)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert_one_error_line(proc.stderr)
    assert "unknown stream 'nosuchstream'" in proc.stderr


def test_script_detections_to_parquet(demo_emulator: Emulator, tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    proc = script("detections", *DAY, *conn(demo_emulator), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    expected = demo_emulator.client(cache=False).detections_df("2024-03-01", "2024-03-02")
    assert proc.stderr.strip() == f"wrote {len(expected)} rows to {out}"
    pd.testing.assert_frame_equal(pd.read_parquet(out), parquet_round_trip(expected))
    assert os.environ["RFCX_FRAMES_CACHE"]  # the subprocess used the test's own cache


def test_script_closed_pipe_is_not_an_error(demo_emulator: Emulator) -> None:
    # `rfcx-frames projects | head -0`: the reader is gone before the table is written.
    proc = subprocess.Popen([str(SCRIPT), "projects", *conn(demo_emulator)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert err == ""
