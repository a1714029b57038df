"""Argument checks: bad input fails early with the argument's name and allowed values.

Examples
--------
>>> as_str_list("abc", "streams")
['abc']
>>> as_str_list(["a", {"id": "b"}], "streams")
['a', 'b']
>>> check_limit(5000)
Traceback (most recent call last):
...
ValueError: limit must be an integer between 1 and 1000, not 5000
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from . import config
from .exceptions import ConfigurationError


def as_str_list(value: Any, name: str) -> list[str] | None:
    """One value or any iterable of values as a list of strings (``None`` stays ``None``).

    A mapping with an ``"id"`` (a stream or project dict returned by the seed methods)
    stands for that id. Duplicates are dropped, first occurrence kept.

    Raises
    ------
    TypeError
        If an item is not a non-empty string (or a mapping with one under ``"id"``).

    Examples
    --------
    >>> as_str_list(("a", "a", "b"), "projects")
    ['a', 'b']
    >>> as_str_list(None, "streams") is None
    True
    """
    if value is None:
        return None
    items: Iterable[Any]
    if isinstance(value, pd.DataFrame):
        # Iterating a DataFrame yields its column names: a silently wrong filter.
        raise TypeError(f"{name} got a DataFrame; pass one of its columns, e.g. df['id']")
    if isinstance(value, (str, Mapping)):
        items = [value]
    elif isinstance(value, Iterable):
        items = value
    else:
        raise TypeError(f"{name} must be a string or an iterable of strings, "
                        f"not {type(value).__name__}")
    out: list[str] = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("id")
        if not isinstance(item, str) or not item:
            raise TypeError(f"{name} must hold non-empty strings, got {item!r}")
        if item not in out:
            out.append(item)
    return out


def as_int_list(value: Any, name: str) -> list[int] | None:
    """One integer or an iterable of integers (digit strings accepted) as a list.

    Examples
    --------
    >>> as_int_list(7, "classifiers"), as_int_list(["1", 2], "classifiers")
    ([7], [1, 2])
    """
    if value is None:
        return None
    # numpy integers (a value taken from a frame, ``df.id.iloc[0]``) are ids too.
    single = isinstance(value, (numbers.Integral, str))
    items: Iterable[Any] = [value] if single else value
    if not isinstance(items, Iterable):
        raise TypeError(f"{name} must be an integer or an iterable of integers, "
                        f"not {type(value).__name__}")
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise TypeError(f"{name} must hold integers, got {item!r}")
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        if not isinstance(item, numbers.Integral):
            raise TypeError(f"{name} must hold integers, got {item!r}")
        if int(item) not in out:
            out.append(int(item))
    return out


def review_statuses(value: Any) -> list[str] | None:
    """Validate ``review_statuses`` against the platform's four values.

    Examples
    --------
    >>> review_statuses("confirmed")
    ['confirmed']
    >>> review_statuses(["maybe"])
    Traceback (most recent call last):
    ...
    ValueError: review_statuses: unknown value 'maybe'; allowed: unreviewed, rejected, uncertain, confirmed
    """
    items = as_str_list(value, "review_statuses")
    if items is None:
        return None
    for item in items:
        if item not in config.REVIEW_STATUSES:
            raise ValueError(f"review_statuses: unknown value {item!r}; allowed: "
                             f"{', '.join(config.REVIEW_STATUSES)}")
    return items


def check_limit(limit: Any, name: str = "limit") -> int:
    """``limit`` must be an integer in 1..1000 (the platform's page maximum).

    Examples
    --------
    >>> check_limit(50)
    50
    """
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral):
        raise TypeError(f"{name} must be an integer between 1 and {config.PAGE_LIMIT_MAX}, "
                        f"not {limit!r}")
    if not 1 <= int(limit) <= config.PAGE_LIMIT_MAX:
        raise ValueError(f"{name} must be an integer between 1 and {config.PAGE_LIMIT_MAX}, "
                         f"not {limit!r}")
    return int(limit)


def check_offset(offset: Any) -> int:
    """``offset`` must be an integer >= 0.

    Examples
    --------
    >>> check_offset(0)
    0
    """
    if isinstance(offset, bool) or not isinstance(offset, numbers.Integral):
        raise TypeError(f"offset must be an integer >= 0, not {offset!r}")
    if offset < 0:
        raise ValueError(f"offset must be an integer >= 0, not {offset!r}")
    return int(offset)


def check_confidence(value: Any, name: str = "min_confidence") -> float | None:
    """A confidence threshold in 0..1 (``None`` = the platform's default of 0.95).

    Examples
    --------
    >>> check_confidence(0)
    0.0
    >>> check_confidence(1.5)
    Traceback (most recent call last):
    ...
    ValueError: min_confidence must be between 0 and 1, not 1.5
    """
    if value is None:
        return None
    return _real_number(value, name, "between 0 and 1", lambda number: 0.0 <= number <= 1.0)


def check_positive_int(value: Any, name: str) -> int:
    """An integer >= 1 (``max_workers``).

    Examples
    --------
    >>> check_positive_int(4, "max_workers")
    4
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """A real ``bool`` (a string such as ``"false"`` would be truthy).

    Examples
    --------
    >>> check_bool(True, "descending")
    True
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


#: The sample rates the audio functions produce: 1 Hz up to 384 kHz (the fastest recorders;
#: above it a resampler is asked for gigabytes).
SAMPLE_RATE_MAX = 384_000


def check_sample_rate(value: Any, name: str = "sample_rate") -> int | None:
    """An output sample rate: an integer number of Hz in 1..384000 (``None`` stays ``None``).

    Examples
    --------
    >>> check_sample_rate(24000), check_sample_rate(None)
    (24000, None)
    >>> check_sample_rate(44100.5)
    Traceback (most recent call last):
    ...
    ValueError: sample_rate must be an integer number of Hz between 1 and 384000, not 44100.5
    """
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not 1 <= int(value) <= SAMPLE_RATE_MAX):
        raise ValueError(f"{name} must be an integer number of Hz between 1 and "
                         f"{SAMPLE_RATE_MAX}, not {value!r}")
    return int(value)


def check_seconds(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """A finite number of seconds, > 0 (or >= 0 with ``allow_zero``).

    Examples
    --------
    >>> check_seconds(3, "duration"), check_seconds(0, "pad", allow_zero=True)
    (3.0, 0.0)
    >>> check_seconds(float("nan"), "duration")
    Traceback (most recent call last):
    ...
    ValueError: duration must be a finite number of seconds > 0, not nan
    """
    bound = ">= 0" if allow_zero else "> 0"
    return _real_number(value, name, f"a finite number of seconds {bound}",
                        _nonnegative if allow_zero else _positive, not_a_number=ValueError)


def check_timeout(value: Any, name: str = "timeout") -> Any:
    """``value`` if it is a valid requests timeout: seconds > 0, or a ``(connect, read)`` pair.

    Parameters
    ----------
    value
        One number of seconds for connect and read, or a ``(connect, read)`` pair.
    name
        The setting's name, for the message and the error's ``setting``.

    Raises
    ------
    ConfigurationError
        A number that is not positive and finite (naming ``name``).
    TypeError
        Anything but a number or a pair of numbers.

    Examples
    --------
    >>> check_timeout((10, 120))
    (10, 120)
    >>> check_timeout(-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rfcx_frames.exceptions.ConfigurationError: timeout must be seconds > 0 ... not -1
    """
    message = f"{name} must be seconds > 0 or a (connect, read) pair of them, not {value!r}"
    pair = isinstance(value, tuple)
    items = value if pair else (value,)
    if (pair and len(value) != 2) or not all(_is_real(item) for item in items):
        raise TypeError(message)
    if not all(_positive(float(item)) for item in items):
        raise ConfigurationError(message, setting=name)
    return value


def check_deadline(value: Any, name: str = "deadline") -> float | None:
    """``value`` as seconds > 0, or ``None`` (no overall deadline).

    Parameters
    ----------
    value
        Seconds one request may take in all, or ``None``.
    name
        The setting's name, for the message and the error's ``setting``.

    Raises
    ------
    ConfigurationError
        A number that is not positive and finite.
    TypeError
        Anything but a number or ``None``.

    Examples
    --------
    >>> check_deadline(30)
    30.0
    >>> check_deadline(0)
    Traceback (most recent call last):
    ...
    rfcx_frames.exceptions.ConfigurationError: deadline must be seconds > 0 or None, not 0
    """
    if value is None:
        return None
    return _real_number(value, name, "seconds > 0 or None", _positive,
                        out_of_range=functools.partial(ConfigurationError, setting=name))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _positive(number: float) -> bool:
    return math.isfinite(number) and number > 0


def _nonnegative(number: float) -> bool:
    return math.isfinite(number) and number >= 0


def _real_number(value: Any, name: str, wanted: str, accept: Callable[[float], bool], *,
                 not_a_number: type[Exception] = TypeError,
                 out_of_range: Callable[[str], Exception] = ValueError) -> float:
    """``value`` as a float if it is a real number (a bool is not) that ``accept`` takes.

    Both failures say ``"<name> must be <wanted>, not <value>"``: ``not_a_number`` is
    raised for anything but a number, ``out_of_range`` for a number ``accept`` refuses.
    """
    message = f"{name} must be {wanted}, not {value!r}"
    if not _is_real(value):
        raise not_a_number(message)
    number = float(value)
    if not accept(number):
        raise out_of_range(message)
    return number
