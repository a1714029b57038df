"""Fixtures shared by every test package: emulators over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
