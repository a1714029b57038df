"""Platform identifiers: their format, their place in URL paths, and unknown-id messages.

Streams and projects are named by 12 characters of ``0-9a-z`` (``s684zlul9kxy``);
classifiers by integers; classifications by values such as ``panthera_onca``. An id that
goes into a URL path is checked against that alphabet *and* percent-escaped, so no
argument can change which endpoint a request reaches.

Examples
--------
>>> path_id("s684zlul9kxy", "stream")
's684zlul9kxy'
>>> path_part("nasa_1/../x")
'nasa_1%2F..%2Fx'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

#: Stream and project ids: the platform's 12 characters of lower-case letters and digits.
PLATFORM_ID = re.compile(r"[0-9a-z]{12}")

#: An id of the right form, quoted in errors.
EXAMPLE_ID = "s684zlul9kxy"


def is_platform_id(value: Any) -> bool:
    """Whether ``value`` has the form of a stream or project id.

    Examples
    --------
    >>> is_platform_id("s684zlul9kxy"), is_platform_id("typo"), is_platform_id("x/../y")
    (True, False, False)
    """
    return isinstance(value, str) and PLATFORM_ID.fullmatch(value) is not None


def path_part(value: Any) -> str:
    """``value`` escaped as one URL path segment (``/``, ``?``, ``#``, ``..`` cannot escape it).

    Examples
    --------
    >>> path_part("a b?c")
    'a%20b%3Fc'
    """
    return quote(str(value), safe="")


def path_id(value: Any, name: str) -> str:
    """A stream or project id checked against the platform's alphabet, escaped for a path.

    Raises
    ------
    ValueError
        If ``value`` is not 12 characters of ``0-9a-z``; the message names ``name``.

    Examples
    --------
    >>> path_id("x/../../projects?", "stream")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: stream='x/../../projects?' is not a platform id: ids are 12 characters of ...
    """
    if not is_platform_id(value):
        raise ValueError(f"{name}={value!r} is not a platform id: ids are 12 characters of "
                         f"0-9 and a-z, e.g. {EXAMPLE_ID!r}")
    return path_part(value)


def name_matches(listing: Mapping[str, str], value: str) -> list[str]:
    """Ids in ``listing`` (id -> name) whose name is ``value`` (exactly, else ignoring case).

    Examples
    --------
    >>> name_matches({"aaaaaaaaaaaa": "El Yunque", "bbbbbbbbbbbb": "el yunque"}, "El Yunque")
    ['aaaaaaaaaaaa']
    >>> name_matches({"aaaaaaaaaaaa": "El Yunque"}, "EL YUNQUE")
    ['aaaaaaaaaaaa']
    """
    exact = [i for i, n in listing.items() if n == value]
    if exact:
        return exact
    folded = value.casefold()
    return [i for i, n in listing.items() if isinstance(n, str) and n.casefold() == folded]


def unknown_message(kind: str, argument: str, unknown: Iterable[Any],
                    names: Mapping[str, list[str]] | None = None) -> str:
    """One line naming every unknown id of an argument, and every name given as an id.

    Examples
    --------
    >>> for part in unknown_message("stream", "streams", ["typo"],
    ...                             {"Canopy": ["s684zlul9kxy"]}).split("; "):
    ...     print(part)
    streams: unknown stream 'typo' (or not readable by you)
    'Canopy' is a stream name, not an id: the id is 's684zlul9kxy'
    """
    parts: list[str] = []
    missing = list(unknown)
    if missing:
        listed = ", ".join(repr(v) for v in missing)
        plural = "s" if len(missing) > 1 else ""
        parts.append(f"unknown {kind}{plural} {listed} (or not readable by you)")
    for name, ids in (names or {}).items():
        shown = " or ".join(repr(i) for i in ids)
        parts.append(f"{name!r} is a {kind} name, not an id: the id is {shown}")
    return f"{argument}: " + "; ".join(parts)
