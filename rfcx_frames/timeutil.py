"""Times: parsing what users pass, wire and path formats, epoch ms and ns, UTC days.

Rules, applied everywhere in rfcx_frames:

- a naive ``datetime``, naive ``pandas.Timestamp`` or offset-less ISO string is **UTC**;
- an aware value is converted to UTC;
- a ``date`` means its midnight UTC;
- the platform is sent ``YYYY-MM-DDTHH:MM:SS.sssZ`` (UTC, milliseconds), and segment
  paths use the compact ``YYYYMMDDTHHmmssSSSZ`` form.

Examples
--------
>>> to_utc("2024-03-01 12:00")
Timestamp('2024-03-01 12:00:00+0000', tz='UTC')
>>> to_wire(to_utc("2024-03-01T12:00:00+02:00"))
'2024-03-01T10:00:00.000Z'
"""

from __future__ import annotations

import datetime as dt
import numbers
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

#: A source of the current time: called with no argument, returns a UTC ``Timestamp``.
#: The client takes one (``Client(clock=...)``) so that tests and replays fix "now".
Clock = Callable[[], pd.Timestamp]

#: Everything :func:`to_utc` accepts (``int`` is epoch milliseconds).
TimeLike = str | int | dt.datetime | dt.date | pd.Timestamp | np.datetime64

#: The accepted string forms: ISO 8601 extended format, a date or a date-time (``T`` or a
#: space between them) to at least the minute, optional seconds and fraction, and for a
#: date-time an optional ``Z`` or ``±HH:MM``/``±HHMM``/``±HH`` offset.
ISO_TIME = re.compile(
    r"(?P<year>\d{4})-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?")

#: The earliest and latest instants accepted: the span of a nanosecond timestamp, which
#: every time computation of rfcx_frames (and pandas' default resolution) can hold.
EARLIEST = pd.Timestamp.min.tz_localize("UTC")
LATEST = pd.Timestamp.max.tz_localize("UTC")
#: How refusals for range describe it.
SPAN = "outside 1677-09-21T00:12:43.145224193Z .. 2262-04-11T23:47:16.854775807Z"

#: Quoted in every refusal, so the fix is one copy away.
ACCEPTED_EXAMPLE = ("e.g. '2024-03-01', '2024-03-01T06:30:00Z', '2024-03-01 06:30-04:00', "
                    "a datetime, or epoch milliseconds as an int (1709274600000)")


def _refuse(name: str, value: object, why: str) -> ValueError:
    shown = repr(value) if isinstance(value, str) else f"{value!r} ({type(value).__name__})"
    return ValueError(f"{name}={shown} is refused: {why}; {ACCEPTED_EXAMPLE}")


def to_utc(value: TimeLike, name: str = "time") -> pd.Timestamp:
    """Parse a user-supplied time into a UTC ``pandas.Timestamp``, or refuse it.

    Accepted, and nothing else (see ``docs/time.md``):

    - an ISO 8601 string: ``2024-03-01``, ``2024-03-01T06:30``, ``2024-03-01 06:30:00.250``,
      optionally ending in ``Z`` or an offset (``+02:00``, ``-0400``, ``+05``);
    - epoch milliseconds as an ``int``;
    - ``datetime.datetime``, ``datetime.date`` (midnight), ``pandas.Timestamp``,
      ``numpy.datetime64``.

    Naive values (no offset, no tzinfo) are **UTC**; aware values are converted. Forms a
    reader could take two ways (``01/03/2024``, ``1 March 2024``, ``6am``, ``now``) are
    refused rather than guessed, as is a time a nanosecond timestamp cannot hold
    (before 1677-09-21 or after 2262-04-11, e.g. year 2300).

    Parameters
    ----------
    value
        The time.
    name
        The argument's name, quoted in errors.

    Raises
    ------
    ValueError
        For anything not accepted; the message names ``name`` and shows accepted forms.

    Examples
    --------
    >>> import datetime as dt
    >>> to_utc(dt.datetime(2024, 3, 1, 6, 30))
    Timestamp('2024-03-01 06:30:00+0000', tz='UTC')
    >>> to_utc(dt.date(2024, 3, 2))
    Timestamp('2024-03-02 00:00:00+0000', tz='UTC')
    >>> to_utc(1709274600000) == to_utc("2024-03-01T06:30:00Z")
    True
    >>> to_utc("01/03/2024", "start")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: start='01/03/2024' is refused: not an ISO 8601 time ...; e.g. '2024-03-01', ...
    """
    if isinstance(value, bool) or not isinstance(
        value, (str, numbers.Integral, dt.datetime, dt.date, pd.Timestamp, np.datetime64)
    ):
        raise _refuse(name, value, "not a time")
    if isinstance(value, numbers.Integral):
        return _from_epoch_ms_value(value, name)
    ts = _parse_text(value, name) if isinstance(value, str) else _parse_object(value, name)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if not EARLIEST <= ts <= LATEST:
        raise _refuse(name, value, SPAN)
    return ts


def _from_epoch_ms_value(value: numbers.Integral, name: str) -> pd.Timestamp:
    ms = int(value)
    if not ceil_epoch_ms(EARLIEST) <= ms <= to_epoch_ms(LATEST):
        raise _refuse(name, value, f"epoch milliseconds {SPAN}")
    return from_epoch_ms(ms)


def _parse_text(value: str, name: str) -> pd.Timestamp:
    """The (possibly naive) instant of an ISO 8601 string; refuses any other form."""
    text = value.strip()
    match = ISO_TIME.fullmatch(text)
    if match is None:
        raise _refuse(name, value, "not an ISO 8601 time "
                                   "(YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|+HH:MM])")
    # pandas would raise an opaque overflow for years it cannot hold.
    if not EARLIEST.year <= int(match["year"]) <= LATEST.year:
        raise _refuse(name, value, SPAN)
    try:
        return pd.Timestamp(text.replace(",", "."))
    except (ValueError, OverflowError) as exc:
        raise _refuse(name, value, "not a valid date or time of day") from exc


def _parse_object(value: dt.date | pd.Timestamp | np.datetime64, name: str) -> pd.Timestamp:
    """The (possibly naive) instant of a date, datetime, Timestamp or datetime64."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _refuse(name, value, "not a valid time") from exc
    if ts is pd.NaT or pd.isna(ts):
        raise _refuse(name, value, "missing (NaT)")
    return ts


def to_wire(ts: pd.Timestamp) -> str:
    """Format a UTC time as the platform writes it: ``YYYY-MM-DDTHH:MM:SS.sssZ``.

    Parameters
    ----------
    ts
        The instant (naive = UTC); below the millisecond it is truncated.

    Examples
    --------
    >>> to_wire(to_utc("2024-03-01T01:02:03.4567"))
    '2024-03-01T01:02:03.456Z'
    """
    return _to_ms_text(ts, "%Y-%m-%dT%H:%M:%S.")


def to_compact(ts: pd.Timestamp) -> str:
    """Format a UTC time in the compact path form ``YYYYMMDDTHHmmssSSSZ``: :func:`to_wire`
    without separators, as the platform's segment paths and clip file names use it.

    Parameters
    ----------
    ts
        As for :func:`to_wire`.

    Examples
    --------
    >>> moment = to_utc("2024-03-01T01:02:03.004Z")
    >>> to_compact(moment), to_wire(moment)
    ('20240301T010203004Z', '2024-03-01T01:02:03.004Z')
    """
    return _to_ms_text(ts, "%Y%m%dT%H%M%S")


def _to_ms_text(ts: pd.Timestamp, seconds_format: str) -> str:
    """``ts`` in UTC as ``seconds_format`` followed by three millisecond digits and ``Z``."""
    utc = _as_utc(ts)
    return utc.strftime(seconds_format) + f"{utc.microsecond // 1000:03d}Z"


def to_epoch_ms(ts: pd.Timestamp) -> int:
    """Milliseconds since the epoch (floored), as the emulator stores times.

    Parameters
    ----------
    ts
        The instant (naive = UTC).

    Examples
    --------
    >>> to_epoch_ms(to_utc("1970-01-01T00:00:01.5Z"))
    1500
    """
    return int(_as_utc(ts).value // 1_000_000)


def ceil_epoch_ms(ts: pd.Timestamp) -> int:
    """The first whole millisecond at or after ``ts``, since the epoch.

    The platform keeps times in milliseconds, so the rows at or after a bound are those
    at or after this millisecond: a request bound rounded down would ask for rows before
    the bound, and one rounded down as an *end* would leave out rows before the bound.

    Parameters
    ----------
    ts
        The instant (naive = UTC).

    Examples
    --------
    >>> ceil_epoch_ms(to_utc("1970-01-01T00:00:01.0005Z")), ceil_epoch_ms(to_utc("1970-01-01T00:00:01Z"))
    (1001, 1000)
    """
    return int(-(-_as_utc(ts).value // 1_000_000))


def from_epoch_ms(ms: int) -> pd.Timestamp:
    """The UTC time of an epoch-milliseconds value.

    Parameters
    ----------
    ms
        Milliseconds since the epoch.

    Examples
    --------
    >>> from_epoch_ms(1500)
    Timestamp('1970-01-01 00:00:01.500000+0000', tz='UTC')
    """
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def window(
    start: TimeLike, end: TimeLike, *, start_name: str = "start", end_name: str = "end"
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Parse a ``[start, end)`` window; ``start`` after ``end`` is an error.

    ``start == end`` is allowed and selects nothing.

    Parameters
    ----------
    start, end
        The bounds, in any form :func:`to_utc` accepts.
    start_name, end_name
        The arguments' names, quoted in errors.

    Raises
    ------
    ValueError
        If either time does not parse, or ``start`` is after ``end``.

    Examples
    --------
    >>> window("2024-03-01", "2024-03-02")[1]
    Timestamp('2024-03-02 00:00:00+0000', tz='UTC')
    >>> window("2024-03-02", "2024-03-01")
    Traceback (most recent call last):
    ...
    ValueError: start (2024-03-02T00:00:00.000Z) is after end (2024-03-01T00:00:00.000Z)
    """
    if start is None:
        raise TypeError(f"{start_name} is required ({ACCEPTED_EXAMPLE})")
    if end is None:
        raise TypeError(f"{end_name} is required ({ACCEPTED_EXAMPLE})")
    begin = to_utc(start, start_name)
    finish = to_utc(end, end_name)
    if begin > finish:
        raise ValueError(
            f"{start_name} ({to_wire(begin)}) is after {end_name} ({to_wire(finish)})"
        )
    return begin, finish


def to_ns(value: TimeLike) -> int:
    """Integer nanoseconds since the epoch of one instant (naive = UTC).

    Integer nanoseconds keep interval and sample arithmetic exact.

    Parameters
    ----------
    value
        Anything :func:`to_utc` accepts.

    Examples
    --------
    >>> to_ns("1970-01-01T00:00:01Z")
    1000000000
    """
    return int(to_utc(value).as_unit("ns").value)


def from_ns(ns: int) -> pd.Timestamp:
    """The UTC ``Timestamp`` of integer nanoseconds since the epoch.

    Parameters
    ----------
    ns
        Nanoseconds since the epoch.

    Examples
    --------
    >>> from_ns(0)
    Timestamp('1970-01-01 00:00:00+0000', tz='UTC')
    """
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")


def ns_to_iso(ns: int) -> str:
    """ISO text of a nanosecond instant, as cache manifests store it (full precision).

    Parameters
    ----------
    ns
        Nanoseconds since the epoch.

    Examples
    --------
    >>> ns_to_iso(0), ns_to_iso(5)
    ('1970-01-01T00:00:00+00:00', '1970-01-01T00:00:00.000000005+00:00')
    """
    return from_ns(ns).isoformat()


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def iso_to_ns(text: str) -> int:
    """Integer nanoseconds of ISO text written by :func:`ns_to_iso` (its inverse).

    Faster than :func:`to_ns` for the many instants of a manifest: the standard library
    parses the usual microsecond form; only text with nanoseconds goes through pandas.

    Parameters
    ----------
    text
        An ISO 8601 instant (naive = UTC).

    Examples
    --------
    >>> iso_to_ns(ns_to_iso(1_500)), iso_to_ns(ns_to_iso(5)), iso_to_ns(ns_to_iso(DAY_NS))
    (1500, 5, 86400000000000)
    """
    dot = text.find(".")
    if dot >= 0:
        digits = len(text[dot + 1:]) - len(text[dot + 1:].lstrip("0123456789"))
        if digits > 6:  # Python would drop the nanoseconds silently
            return to_ns(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return to_ns(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return ((moment - _EPOCH) // dt.timedelta(microseconds=1)) * 1000


#: One UTC day in nanoseconds.
DAY_NS = 86_400 * 10**9


def day_of(ns: int) -> int:
    """The start (in ns) of the UTC day containing ``ns``.

    Parameters
    ----------
    ns
        An instant in nanoseconds since the epoch; before 1970 it is negative, and its
        day starts earlier still (floor, not truncation).

    Examples
    --------
    >>> day_of(DAY_NS + 5) == DAY_NS, day_of(-1) == -DAY_NS
    (True, True)
    """
    return (ns // DAY_NS) * DAY_NS


def day_label(day_start_ns: int) -> str:
    """The ``YYYY-MM-DD`` label of a UTC day start.

    Parameters
    ----------
    day_start_ns
        The day's first nanosecond since the epoch.

    Examples
    --------
    >>> day_label(0)
    '1970-01-01'
    """
    return from_ns(day_start_ns).strftime("%Y-%m-%d")


def utc_now() -> pd.Timestamp:
    """The current time in UTC.

    Examples
    --------
    >>> utc_now().tzname()
    'UTC'
    """
    return pd.Timestamp.now(tz="UTC")


def _as_utc(ts: pd.Timestamp | dt.datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(ts)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
