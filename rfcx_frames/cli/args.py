"""Argument types of the ``rfcx-frames`` subcommands: each checks one value up front.

A bad value raises ``argparse.ArgumentTypeError`` (or ``ValueError``) naming the option,
so the command line fails before any request with exit code 2.

Examples
--------
>>> unit_float("0.5")
0.5
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..timeutil import to_utc
from ..validate import SAMPLE_RATE_MAX

TABLE_SUFFIXES = (".parquet", ".csv")


def with_suffix(*suffixes: str) -> Callable[[str], str]:
    """An argument type: a path ending in one of ``suffixes`` (checked before any work).

    Examples
    --------
    >>> with_suffix(".npz")("clips.npz")
    'clips.npz'
    >>> with_suffix(".parquet", ".csv")("detections.xlsx")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must end in .parquet or .csv, got 'detections.xlsx'
    """

    def check(text: str) -> str:
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"must end in {' or '.join(suffixes)}, got {text!r}")
        return text

    return check


table_path = with_suffix(*TABLE_SUFFIXES)


def existing(*suffixes: str) -> Callable[[str], str]:
    """An argument type: a path to an existing file, ending in one of ``suffixes`` if given.

    The suffix is checked first, so a wrong kind of file is named as such even when it
    does not exist either.

    Examples
    --------
    >>> existing()("/nonexistent.wav")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: no such file: '/nonexistent.wav'
    >>> existing(*TABLE_SUFFIXES)("/nonexistent/table.xlsx")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must end in .parquet or .csv, got '/nonexistent/table.xlsx'
    """
    right_suffix = with_suffix(*suffixes) if suffixes else str

    def check(text: str) -> str:
        path = right_suffix(text)
        if not Path(path).is_file():
            raise argparse.ArgumentTypeError(f"no such file: {text!r}")
        return path

    return check


#: ``--file``: any existing file.
existing_file = existing()
#: An input table: an existing ``.parquet`` or ``.csv`` file.
input_table = existing(*TABLE_SUFFIXES)


def time_text(text: str) -> str:
    """An argument type: an ISO 8601 time, checked and passed on as given (naive = UTC).

    The library's rules (:func:`rfcx_frames.timeutil.to_utc`); the command line takes
    strings only, so epoch milliseconds are not accepted here.

    Examples
    --------
    >>> time_text("2024-03-01T06:00")
    '2024-03-01T06:00'
    >>> time_text("yesterday")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'yesterday' is refused: not an ISO 8601 time ...; e.g. 2024-03-01, ...
    """
    try:
        to_utc(text, "time")
    except ValueError as exc:
        why = str(exc).split(" is refused: ", 1)[-1].split("; e.g.", 1)[0]
        raise argparse.ArgumentTypeError(
            f"{text!r} is refused: {why}; e.g. 2024-03-01, 2024-03-01T06:30:00Z or "
            "2024-03-01T06:30:00-04:00") from None
    return text


def number(cast: Callable[[str], Any], low: float, high: float | None = None, *,
           low_open: bool = False) -> Callable[[str], Any]:
    """An argument type: ``cast(text)`` within ``[low, high]`` (``(low, ...`` if ``low_open``).

    Examples
    --------
    >>> number(float, 0, 1)("0.5")
    0.5
    >>> number(float, 0, 1)("2.0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be between 0 and 1, got '2.0'
    >>> number(int, 0, low_open=True)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be > 0, got '0'
    """

    def check(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            kind = "a whole number" if cast is int else "a number"
            raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        too_low = value <= low if low_open else value < low
        if too_low or (high is not None and value > high):
            expected = (f"between {low:g} and {high:g}" if high is not None
                        else f"> {low:g}" if low_open else f">= {low:g}")
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value

    return check


unit_float = number(float, 0.0, 1.0)
positive_float = number(float, 0.0, low_open=True)
positive_int = number(int, 0, low_open=True)
non_negative_float = number(float, 0.0)
#: ``--sample-rate``: whole Hz, 1 to 384 kHz (the library's bounds).
sample_rate = number(int, 1, SAMPLE_RATE_MAX)


def negatives_value(text: str) -> int | float:
    """``--negatives``: a count (``"200"``) or a ratio of the positives (``"1.0"``).

    Examples
    --------
    >>> negatives_value("200"), negatives_value("0.5")
    (200, 0.5)
    """
    try:
        value: int | float = int(text)
    except ValueError:
        value = number(float, 0.0)(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def id_list(values: list[str] | None) -> list[str] | None:
    """Flatten repeated and comma-separated options; ``None`` when none were given.

    Examples
    --------
    >>> id_list(["a,b", "c"])
    ['a', 'b', 'c']
    >>> id_list(None) is None
    True
    """
    if not values:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def name_list(text: str) -> list[str]:
    """An argument type: a comma list of names (``--columns a,b``), each once, in order.

    Examples
    --------
    >>> name_list("stream_id, start,stream_id")
    ['stream_id', 'start']
    >>> name_list(",")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a comma list of names, got ','
    """
    names = id_list([text])
    if not names:
        raise argparse.ArgumentTypeError(f"expected a comma list of names, got {text!r}")
    return list(dict.fromkeys(names))


def int_list(values: list[str] | None, option: str) -> list[int] | None:
    """Like :func:`id_list` for integer ids; a non-integer is a usage error.

    Examples
    --------
    >>> int_list(["1,2"], "--classifier")
    [1, 2]
    """
    items = id_list(values)
    if items is None:
        return None
    try:
        return [int(v) for v in items]
    except ValueError:
        raise ValueError(f"{option} takes integer ids, got {','.join(items)!r}") from None
