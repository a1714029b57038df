"""``python -m rfcx_frames.emulator``: one JSON line when ready, clean stop on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line of ``proc``, or fail after ``timeout`` seconds."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()  # type: ignore[union-attr]
                                                          ), daemon=True)
    reader.start()
    reader.join(timeout)
    assert lines, f"no line from the emulator within {timeout} s"
    return lines[0]


def test_module_prints_info_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "rfcx_frames.emulator", "--world", "demo", "--port", "0",
           "--days", "1", "--data-dir", str(tmp_path / "world")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "error"})
    try:
        info = json.loads(read_line(proc, timeout=60))
        assert set(info) >= {"api_url", "ingest_url", "auth_url", "token"}
        assert info["ingest_url"].startswith(info["api_url"])
        # the line is printed once the socket accepts connections: no retry needed
        resp = requests.get(f"{info['api_url']}/projects", timeout=30,
                            headers={"Authorization": f"Bearer {info['token']}"})
        assert resp.status_code == 200 and resp.json()
        status = requests.get(f"{info['ingest_url']}/{'0' * 24}", timeout=30,
                              headers={"Authorization": f"Bearer {info['token']}"})
        assert status.status_code == 404
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # the data directory is kept and holds the world
    assert (tmp_path / "world" / "platform.sqlite3").exists()


@pytest.mark.parametrize("args", [["--no-such-flag"], ["--world", "atlantis"],
                                  ["--port", "many"], ["--fault-rate", "3"]])
def test_bad_arguments_exit_non_zero(args: list[str], tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "rfcx_frames.emulator", "--days", "1", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.strip()


def test_invalid_fault_options_leave_no_temporary_world(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "rfcx_frames.emulator", "--days", "1",
                           "--fault-rate", "3"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    assert proc.returncode == 2
    assert list(tmp_path.iterdir()) == []
