"""Fixtures shared by every test package: emulators over real HTTP on loopback.

``--clock-years-ahead N`` runs the session with the whole process's clock moved N years
ahead (``time-machine``), so a test that depends on today's date fails now rather than
when that date passes. ``make test`` runs the client and cache tests that way too.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rfcx_frames.config import ENV_EMULATOR_AUDIO_CACHE
from rfcx_frames.emulator import Emulator, running


@pytest.fixture(scope="session")
def demo_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The demo world, running for the whole session (read-only use: do not ingest here)."""
    data_dir = tmp_path_factory.mktemp("demo-world")
    with running(world="demo", data_dir=data_dir) as emu:
        yield emu


@pytest.fixture()
def fresh_emulator(tmp_path: Path) -> Iterator[Emulator]:
    """A demo world of one day in its own data directory, for tests that change state."""
    with running(world="demo", data_dir=tmp_path / "world", days=1) as emu:
        yield emu


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache folder; nothing touches the user's real cache."""
    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("RFCX_FRAMES_CACHE", str(root))
    monkeypatch.delenv("RFCX_FRAMES_CACHE_MODE", raising=False)
    return root


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--clock-years-ahead", type=int, default=0,
                     help="run with the process clock moved this many years ahead")


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and not os.environ.get(ENV_EMULATOR_AUDIO_CACHE):
        # One folder of rendered emulator audio for this run, shared by the xdist workers
        # (they inherit the environment): never the user's, never an earlier run's.
        folder = tempfile.mkdtemp(prefix="rfcx-frames-test-audio-")
        os.environ[ENV_EMULATOR_AUDIO_CACHE] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    years = config.getoption("--clock-years-ahead")
    if years:
        import time_machine

        # The one deliberate read of the wall clock: the shift is relative to it.
        ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=round(365.25 * years))  # clock-ok
        traveller = time_machine.travel(ahead, tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_report_header(config: pytest.Config) -> str | None:
    years = config.getoption("--clock-years-ahead")
    return f"clock moved {years} years ahead" if years else None
