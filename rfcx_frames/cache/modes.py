"""Cache modes (use, refresh, offline, off) and durations (ttl, horizon, max age): parsing.

A caller's ``cache=``, ``max_age=`` and duration arguments (per call, client default,
environment) are validated here, so the storage modules receive plain validated values;
the names and defaults themselves live in :mod:`rfcx_frames.config`.

Examples
--------
>>> resolve_mode("offline")
'offline'
>>> parse_duration("12h")
Timedelta('0 days 12:00:00')
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pandas as pd

from rfcx_frames.config import ENV_CACHE_MODE, env

Mode = Literal["use", "refresh", "offline", "off"]
CacheArg = str | bool | None

MODES: tuple[str, ...] = ("use", "refresh", "offline", "off")
NEVER = "never"

_OFF_WORDS = {"off", "false", "0", "no", "none", "disabled"}
_USE_WORDS = {"use", "on", "true", "1", "yes"}


def _parse_mode(value: str, source: str) -> Mode:
    word = value.strip().lower()
    if word in _OFF_WORDS:
        return "off"
    if word in _USE_WORDS:
        return "use"
    if word in ("refresh", "offline"):
        return "refresh" if word == "refresh" else "offline"
    raise ValueError(
        f"{source} must be one of 'use', 'refresh', 'offline', False (or 'off'), "
        f"True or None; got {value!r}"
    )


def resolve_mode(value: CacheArg = None, default: CacheArg = "use") -> Mode:
    """The effective cache mode of one call.

    Precedence: an explicit per-call value (a mode name or ``False``) wins; otherwise
    (``None`` or ``True``) the environment variable ``RFCX_FRAMES_CACHE_MODE`` if set;
    otherwise the client-wide ``default`` (itself ``None``/``True`` meaning ``"use"``).

    Parameters
    ----------
    value
        The per-call ``cache`` argument: ``"use"``, ``"refresh"``, ``"offline"``,
        ``False``/``"off"`` (no cache at all), or ``True``/``None`` (no preference).
    default
        The client-wide default, same values.

    Returns
    -------
    str
        One of ``"use"``, ``"refresh"``, ``"offline"``, ``"off"``.

    Raises
    ------
    ValueError
        Naming ``cache`` and the allowed values, for anything else (also for a bad
        environment value, naming the variable).

    Examples
    --------
    >>> resolve_mode(False)
    'off'
    >>> resolve_mode(None, default="refresh")
    'refresh'
    """
    if value is False:
        return "off"
    if isinstance(value, str):
        return _parse_mode(value, "cache")
    if value is not None and value is not True:
        raise ValueError(
            "cache must be one of 'use', 'refresh', 'offline', False (or 'off'), True or "
            f"None; got {value!r}"
        )
    from_env = (env(ENV_CACHE_MODE) or "").strip()
    if from_env:
        return _parse_mode(from_env, ENV_CACHE_MODE)
    if default is None or default is True:
        return "use"
    if default is False:
        return "off"
    if isinstance(default, str):
        return _parse_mode(default, "cache")
    raise ValueError(f"cache default must be a mode name, a bool or None; got {default!r}")


_DURATION = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(w|d|h|m|min|s)?\s*$", re.IGNORECASE)
_UNITS: dict[str, Any] = {"w": "W", "d": "D", "h": "h", "m": "min", "min": "min", "s": "s"}


def parse_duration(text: str | pd.Timedelta) -> pd.Timedelta:
    """Parse a duration such as ``"7d"``, ``"12h"``, ``"30m"``, ``"2w"`` or ``"90s"``.

    A bare number means days. Anything pandas' ``Timedelta`` understands
    (``"1 days 02:00:00"``) is accepted too.

    Parameters
    ----------
    text
        The duration, or a ``Timedelta`` (checked and returned).

    Raises
    ------
    ValueError
        For text that is not a non-negative duration.

    Examples
    --------
    >>> parse_duration("7d")
    Timedelta('7 days 00:00:00')
    >>> parse_duration("90s")
    Timedelta('0 days 00:01:30')
    """
    if isinstance(text, pd.Timedelta):
        result = text
    else:
        match = _DURATION.match(str(text))
        if match:
            unit = _UNITS[(match.group(2) or "d").lower()]
            result = pd.Timedelta(float(match.group(1)), unit=unit)
        else:
            try:
                result = pd.Timedelta(str(text))
            except ValueError:
                raise ValueError(
                    f"duration must look like '7d', '12h', '30m', '2w' or '90s'; got {text!r}"
                ) from None
    if pd.isna(result) or result < pd.Timedelta(0):
        raise ValueError(f"duration must be non-negative; got {text!r}")
    return result


def parse_max_age(value: Any, name: str = "max_age") -> pd.Timedelta | None:
    """A maximum age: a duration (``"12h"``, ``"7d"``, a ``Timedelta``) or ``"never"``.

    Returns ``None`` for ``"never"`` (cached windows never expire).

    Parameters
    ----------
    value
        The duration, or ``"never"``.
    name
        The argument's name, quoted in errors.

    Raises
    ------
    ValueError
        Naming ``name``, for anything else (negative durations included).

    Examples
    --------
    >>> parse_max_age("12h"), parse_max_age("never")
    (Timedelta('0 days 12:00:00'), None)
    """
    if isinstance(value, str) and value.strip().lower() == NEVER:
        return None
    try:
        if isinstance(value, str):
            return parse_duration(value)
        if isinstance(value, (bool, int, float)) or value is None:
            raise ValueError  # a bare number has no unit
        result = pd.Timedelta(value)
        if pd.isna(result) or result < pd.Timedelta(0):
            raise ValueError
        return result
    except (ValueError, TypeError):
        raise ValueError(
            f"{name} must be a non-negative duration ('12h', '7d', a Timedelta) or "
            f"'never'; got {value!r}"
        ) from None
