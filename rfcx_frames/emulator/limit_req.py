"""The ingress's rate limit: nginx ``limit_req rate=N r/m burst=B nodelay`` per client address.

The platform's ingress sets ``limit-rpm`` and keeps ingress-nginx's default burst
multiplier of 5, so nginx runs ``limit_req`` with ``rate=300r/m burst=1500 nodelay``,
keyed by the client's address. nginx keeps, per key, an *excess* in thousandths of a
request and the millisecond it was last updated. A request lowers the excess by what
the rate has drained since then (never below 0) and adds one request; if the result is
over ``burst`` the request is refused (503) and the state is left as it was, else it
passes at once (``nodelay``) and the state is kept. A fresh key starts at excess 0, so
``burst + 1`` requests pass at once, then one each ``60 / rate`` seconds.

Each bucket also keeps an :class:`AdmissionLog` of the instants it let requests through,
so a test can see from the server's side how a client (or a whole cluster) spread its
requests: the most admitted in any 60 s, and when each went.

Examples
--------
>>> clock = iter([0.0] * 4).__next__
>>> limit = LimitReq(per_minute=60, burst=2, clock=clock)
>>> [limit.admit("10.0.0.1") for _ in range(4)]
[True, True, True, False]
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

#: ingress-nginx's default ``limit-burst-multiplier``: burst = 5 x the per-minute rate.
BURST_MULTIPLIER = 5
#: Admission instants an :class:`AdmissionLog` lists (the newest); its counts cover all.
KEPT_INSTANTS = 10_000
_MINUTE_MS = 60_000


class AdmissionLog:
    """When requests were admitted (milliseconds), and the most in any sliding minute.

    A minute is any span of 60 s, ``(t - 60 s, t]``: nginx with ``rate=N r/m burst=B``
    never admits more than ``N + B`` requests in one.

    Examples
    --------
    >>> log = AdmissionLog()
    >>> for ms in (0, 0, 30_000, 59_999, 60_000, 119_999):
    ...     log.add(ms)
    >>> log.max_per_minute, log.count
    (4, 6)
    >>> log.seconds()
    [0.0, 0.0, 30.0, 59.999, 60.0, 119.999]
    """

    def __init__(self) -> None:
        self.count = 0
        self.max_per_minute = 0
        self._minute: deque[int] = deque()
        self._kept: deque[int] = deque(maxlen=KEPT_INSTANTS)
        self._first: int | None = None

    def add(self, ms: int) -> None:
        """Record one admission at ``ms`` (never earlier than the one before)."""
        if self._first is None:
            self._first = ms
        self.count += 1
        self._kept.append(ms)
        self._minute.append(ms)
        while self._minute[0] <= ms - _MINUTE_MS:
            self._minute.popleft()
        self.max_per_minute = max(self.max_per_minute, len(self._minute))

    def seconds(self) -> list[float]:
        """The kept instants, in seconds after the first admission recorded."""
        first = self._first or 0
        return [(ms - first) / 1000 for ms in self._kept]


def default_burst(per_minute: int) -> int:
    """The burst ingress-nginx pairs with ``limit-rpm: per_minute`` (5x the rate).

    Parameters
    ----------
    per_minute
        The ``limit-rpm`` value.

    Examples
    --------
    >>> default_burst(300)
    1500
    """
    return BURST_MULTIPLIER * per_minute


class LimitReq:
    """nginx's ``limit_req`` state for every client address (see the module docstring).

    Parameters
    ----------
    per_minute
        Requests per minute refilled (``rate=N r/m``), >= 1.
    burst
        Requests beyond the first that may pass at once, >= 0.
    clock
        Seconds on a monotonic clock; read once per request (tests inject their own).

    Examples
    --------
    >>> LimitReq(per_minute=300, burst=1500)
    LimitReq(per_minute=300, burst=1500)
    """

    def __init__(self, per_minute: int, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError(f"rate_limit must be a positive number of requests per minute, "
                             f"got {per_minute!r}")
        if burst < 0:
            raise ValueError(f"rate_burst must be >= 0, got {burst!r}")
        self.per_minute = per_minute
        self.burst = burst
        self.clock = clock
        # nginx's units: thousandths of a request, and a rate in thousandths per second.
        self._rate = per_minute * 1000 // 60
        self._state: dict[str, tuple[int, int]] = {}  # key -> (excess, last ms)
        self._lock = threading.Lock()
        self._log = AdmissionLog()
        self._refused = 0

    def __repr__(self) -> str:
        return f"LimitReq(per_minute={self.per_minute}, burst={self.burst})"

    def admit(self, key: str) -> bool:
        """Whether a request of client ``key`` passes now (and count it if it does).

        Parameters
        ----------
        key
            The client's address.

        Examples
        --------
        >>> LimitReq(per_minute=1, burst=0, clock=lambda: 5.0).admit("a")
        True
        """
        now = int(self.clock() * 1000)
        with self._lock:
            state = self._state.get(key)
            if state is None:
                self._state[key] = (0, now)
                self._log.add(now)
                return True
            excess, last = state
            elapsed = max(0, now - last)
            excess = max(0, excess - self._rate * elapsed // 1000 + 1000)
            if excess > self.burst * 1000:
                self._refused += 1
                return False
            # nginx moves ``last`` only when time has passed, so sub-millisecond
            # requests do not lose the fraction the rate drained.
            self._state[key] = (excess, now if elapsed else last)
            self._log.add(now)
            return True

    def report(self) -> dict[str, Any]:
        """What the bucket saw since it was made or cleared, for ``/_emulator/stats``.

        ``admitted`` and ``refused`` count requests of every address, ``max_per_minute``
        is the most admitted in any 60 s, and ``admitted_at`` the instants (seconds after
        the first, on the bucket's clock) of the last :data:`KEPT_INSTANTS` admitted.

        Examples
        --------
        >>> limit = LimitReq(per_minute=60, burst=0, clock=lambda: 1.0)
        >>> [limit.admit("a") for _ in range(2)]
        [True, False]
        >>> limit.report()
        {'per_minute': 60, 'burst': 0, 'admitted': 1, 'refused': 1, 'max_per_minute': 1, \
'admitted_at': [0.0]}
        """
        with self._lock:
            return {"per_minute": self.per_minute, "burst": self.burst,
                    "admitted": self._log.count, "refused": self._refused,
                    "max_per_minute": self._log.max_per_minute,
                    "admitted_at": self._log.seconds()}

    def clear(self) -> None:
        """Forget every client (as an ingress restart would).

        Examples
        --------
        >>> LimitReq(per_minute=60, burst=0).clear()
        """
        with self._lock:
            self._state.clear()
            self._log = AdmissionLog()
            self._refused = 0
