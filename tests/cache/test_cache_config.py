"""Cache modes, location, duration parsing, and where their settings live."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import platformdirs
import pytest

from rfcx_frames import cache as rf_cache
from rfcx_frames import config
from rfcx_frames.cache import cache_path, parse_duration, resolve_mode


@pytest.mark.parametrize(
    ("value", "expected"),
    [("use", "use"), ("refresh", "refresh"), ("offline", "offline"), (False, "off"),
     ("off", "off"), (True, "use"), (None, "use"), ("OFFLINE", "offline")],
)
def test_resolve_mode_values(value: object, expected: str) -> None:
    assert resolve_mode(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["sometimes", 3, 1.0, ["use"]])
def test_resolve_mode_rejects_other_values(value: object) -> None:
    with pytest.raises(ValueError, match=r"cache must be one of 'use', 'refresh', 'offline'"):
        resolve_mode(value)  # type: ignore[arg-type]


def test_default_and_environment_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_mode(None, default="refresh") == "refresh"
    assert resolve_mode(None, default=False) == "off"
    monkeypatch.setenv("RFCX_FRAMES_CACHE_MODE", "offline")
    assert resolve_mode(None, default="use") == "offline"
    assert resolve_mode(True) == "offline"
    assert resolve_mode("refresh") == "refresh"  # an explicit per-call value wins
    monkeypatch.setenv("RFCX_FRAMES_CACHE_MODE", "off")
    assert resolve_mode(None) == "off"
    monkeypatch.setenv("RFCX_FRAMES_CACHE_MODE", "bogus")
    with pytest.raises(ValueError, match="RFCX_FRAMES_CACHE_MODE"):
        resolve_mode(None)


def test_cache_path_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache_path() == Path(platformdirs.user_cache_dir("rfcx_frames"))
    monkeypatch.setenv("RFCX_FRAMES_CACHE", "   ")  # blank: as if unset
    assert cache_path() == Path(platformdirs.user_cache_dir("rfcx_frames"))
    monkeypatch.setenv("RFCX_FRAMES_CACHE", str(tmp_path / "env"))
    assert cache_path() == tmp_path / "env"
    assert cache_path(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_path("~/c") == tmp_path / "c"


def test_cache_settings_have_one_home() -> None:
    # The cache package re-exports the settings of rfcx_frames.config under its own names.
    assert rf_cache.cache_path is config.cache_path
    assert (rf_cache.ENV_DIR, rf_cache.ENV_MODE) == ("RFCX_FRAMES_CACHE", "RFCX_FRAMES_CACHE_MODE")
    assert rf_cache.DEFAULT_HORIZON == config.DEFAULT_CACHE_HORIZON == pd.Timedelta(hours=6)
    assert rf_cache.DEFAULT_TTL == config.DEFAULT_CACHE_TTL == pd.Timedelta(hours=1)
    assert rf_cache.DEFAULT_LABEL_MAX_AGE == config.DEFAULT_LABEL_MAX_AGE == pd.Timedelta(hours=12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7d", pd.Timedelta(days=7)), ("12h", pd.Timedelta(hours=12)),
     ("30m", pd.Timedelta(minutes=30)), ("2w", pd.Timedelta(weeks=2)),
     ("90s", pd.Timedelta(seconds=90)), ("1.5d", pd.Timedelta(hours=36)), ("3", pd.Timedelta(days=3)),
     ("1 days 02:00:00", pd.Timedelta(hours=26))],
)
def test_parse_duration(text: str, expected: pd.Timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "-3d", "7x", ""])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
