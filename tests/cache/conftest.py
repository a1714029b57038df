"""Fixtures of the cache tests: a synthetic world, its schema, a fresh cache folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

# The spawned workers import ``cache_world`` by name, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))

from cache_world import make_world


@pytest.fixture(scope="session")
def world() -> pd.DataFrame:
    return make_world()


@pytest.fixture(autouse=True)
def _no_cache_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's own settings must not change what the tests see.
    monkeypatch.delenv("RFCX_FRAMES_CACHE_MODE", raising=False)
    monkeypatch.delenv("RFCX_FRAMES_CACHE", raising=False)
