"""Parameter parsing and validation with the platform's own rules and messages.

The platform validates every query with one converter (contract §3): errors are collected
and answered together as ``400 Validation errors: Parameter 'x' ...; Parameter 'y' ....``.
Times are parsed like its ``toMomentUtc`` (digits = epoch ms, otherwise lenient ISO 8601,
offset-less = UTC) and always written back as ``YYYY-MM-DDTHH:MM:SS.sssZ``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from ..timeutil import epoch_ms_datetime, to_compact, to_wire
from .http import HTTPError

_INT = re.compile(r"^\s*([+-]?\d+)")
_FLOAT = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_ISO = re.compile(
    r"^(?P<y>\d{4})-?(?P<mo>\d{2})-?(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2}):?(?P<mi>\d{2})(?::?(?P<s>\d{2})(?:[.,]?(?P<frac>\d{1,9}))?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_time(value: str) -> int | None:
    """Epoch milliseconds of a platform time string, or ``None`` if unparseable.

    Examples
    --------
    >>> parse_time("2024-03-01T00:00:00.000Z")
    1709251200000
    >>> parse_time("20240301T000000000Z") == parse_time("2024-03-01") == parse_time("1709251200000")
    True
    >>> parse_time("2024-03-01T02:00:00+02:00")
    1709251200000
    >>> parse_time("yesterday") is None
    True
    """
    text = value.strip()
    if text.isdigit():
        return int(text)
    m = _ISO.match(text)
    if not m:
        return None
    try:
        frac = (m.group("frac") or "0")[:3].ljust(3, "0")
        moment = datetime(int(m.group("y")), int(m.group("mo")), int(m.group("d")),
                          int(m.group("h") or 0), int(m.group("mi") or 0), int(m.group("s") or 0),
                          int(frac) * 1000, tzinfo=timezone.utc)
    except ValueError:
        return None
    tz = m.group("tz")
    if tz and tz.upper() != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        moment -= sign * offset
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso(ms: int | None) -> str | None:
    """Format epoch ms as the platform does (``Date.toJSON``); ``None`` stays ``None``.

    Examples
    --------
    >>> iso(1709251200123)
    '2024-03-01T00:00:00.123Z'
    """
    return None if ms is None else to_wire(epoch_ms_datetime(ms))


def compact(ms: int) -> str:
    """The compact ``YYYYMMDDTHHmmssSSSZ`` form used in segment and asset paths.

    Examples
    --------
    >>> compact(1709251200123)
    '20240301T000000123Z'
    """
    return to_compact(epoch_ms_datetime(ms))


def js_date_string(ms: int) -> str:
    """JavaScript's ``Date.toString()`` in UTC, as it leaks into ``RFCx-Stream-Gaps``.

    Examples
    --------
    >>> js_date_string(1590312180000)
    'Sun May 24 2020 09:23:00 GMT+0000 (Coordinated Universal Time)'
    """
    return epoch_ms_datetime(ms).strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


def pg_integer(text: str) -> int | None:
    """``text`` read as Postgres reads an integer literal (``None`` where it fails).

    Surrounding blanks, a sign and leading zeros pass; anything else (``1abc``, ``1.5``)
    makes Postgres reject the whole query.

    Examples
    --------
    >>> pg_integer(" 01"), pg_integer("1abc"), pg_integer("-3")
    (1, None, -3)
    """
    match = re.fullmatch(r"\s*([-+]?\d+)\s*", text)
    return int(match.group(1)) if match else None


class Converter:
    """Collects typed parameters from a query and the platform's validation errors.

    Examples
    --------
    >>> c = Converter({"limit": ["10abc"]})
    >>> c.integer("limit"), c.time("start", required=True)
    (10, None)
    >>> c.errors
    ["Parameter 'start' the parameter is required but was not provided"]
    """

    def __init__(self, source: dict[str, list[str]]) -> None:
        self.source = source
        self.errors: list[str] = []

    def _raw(self, name: str, required: bool) -> str | None:
        values = self.source.get(name)
        if not values or values[-1] == "":
            if required:
                self.errors.append(
                    f"Parameter '{name}' the parameter is required but was not provided")
            return None
        return values[-1]

    def _leading_number(self, name: str, required: bool, pattern: re.Pattern[str],
                        kind: str) -> str | None:
        # JavaScript's parseInt/parseFloat read the number a value starts with.
        raw = self._raw(name, required)
        if raw is None:
            return None
        m = pattern.match(raw)
        if not m:
            self.errors.append(f"Parameter '{name}' should be {kind}")
            return None
        return m.group(1)

    def string(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        """A string parameter."""
        raw = self._raw(name, required)
        return default if raw is None else raw

    def integer(self, name: str, *, required: bool = False, default: int | None = None,
                maximum: int | None = None, minimum: int | None = None) -> int | None:
        """An integer, parsed like JavaScript's ``parseInt`` (``"10abc"`` is 10)."""
        text = self._leading_number(name, required, _INT, "an integer")
        if text is None:
            return default
        value = int(text)
        if maximum is not None and value > maximum:
            self.errors.append(f"Parameter '{name}' is larger than the max {maximum}")
        if minimum is not None and value < minimum:
            self.errors.append(f"Parameter '{name}' is less than the min {minimum}")
        return value

    def float(self, name: str, *, required: bool = False,
              default: float | None = None) -> float | None:
        """A float, parsed like JavaScript's ``parseFloat``."""
        text = self._leading_number(name, required, _FLOAT, "a float")
        return default if text is None else float(text)

    def boolean(self, name: str, *, default: bool | None = None) -> bool | None:
        """``'true'`` or ``'1'`` is true, anything else false; absent gives ``default``."""
        raw = self._raw(name, False)
        if raw is None:
            return default
        return raw.lower() in ("true", "1")

    def time(self, name: str, *, required: bool = False) -> int | None:
        """A time as epoch ms (ISO 8601 or epoch-ms digits)."""
        raw = self._raw(name, required)
        if raw is None:
            return None
        value = parse_time(raw)
        if value is None:
            self.errors.append(f"Parameter '{name}' should be an ISO8601 timestamp or an UNIX "
                               "epoch (ms)")
        return value

    def window(self) -> tuple[int, int]:
        """The required ``start`` and ``end`` times, as epoch ms.

        A missing or unparseable bound is recorded as an error and stands as 0 here, so
        :meth:`validate` must run before the window is used.

        Examples
        --------
        >>> Converter({"start": ["2024-03-01"], "end": ["1709251200001"]}).window()
        (1709251200000, 1709251200001)
        """
        start = self.time("start", required=True)
        end = self.time("end", required=True)
        return start or 0, end or 0

    def array(self, name: str, *, allowed: Sequence[str] | None = None,
              integers: bool = False) -> list[str] | None:
        """A list parameter (``x[]=..`` or repeated ``x``); ``None`` when absent."""
        values = [v for v in self.source.get(name, []) if v != ""]
        if not values:
            return None
        if allowed is not None:
            bad = [v for v in values if v not in allowed]
            if bad:
                self.errors.append(
                    f"Parameter '{name}' should be one of these values: {', '.join(allowed)}")
        if integers and not all(_INT.match(v) for v in values):
            self.errors.append(f"Parameter '{name}' should be an integer")
        return values

    def one_of(self, name: str, allowed: Sequence[str], *,
               default: str | None = None) -> str | None:
        """A string restricted to ``allowed``."""
        raw = self._raw(name, False)
        if raw is None:
            return default
        if raw not in allowed:
            self.errors.append(
                f"Parameter '{name}' should be one of these values: {', '.join(allowed)}")
        return raw

    def validate(self) -> None:
        """Raise the platform's 400 if any parameter was invalid."""
        if self.errors:
            raise HTTPError(400, "Validation errors: " + "; ".join(self.errors) + ".")
