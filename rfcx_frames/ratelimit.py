"""Client-side pacing: the ingress's bucket, lowered on 429/503 and shared by the process.

The platform's ingress admits, per client address, a burst of 1,500 requests and then 300
a minute (nginx ``limit_req rate=300r/m burst=1500 nodelay``), answering the excess 503.
The client keeps the same bucket (:class:`RateLimiter`): on ``*.rfcx.org`` it starts at
that rate and burst. A 429 or 503 means the host's bucket is empty whatever ours says, so
:meth:`RateLimiter.penalize` halves the pace (never below
:data:`~rfcx_frames.config.PACE_FLOOR_PER_MINUTE`) and empties our bucket, and each
request after it adds back a tenth of the cut (additive increase, multiplicative
decrease). A host the client has no figure for starts unpaced and is paced from its first
429/503 on, at half the rate it was being sent.

One bucket per host and setting is shared by every :class:`~rfcx_frames.Client` of the
process and all their threads (:func:`pacer_for`). Anything with ``acquire()`` and
``penalize()`` (:class:`Pacer`) can stand in for the bucket, e.g. one shared by a cluster.

``rate_limit=`` takes :data:`AUTO` (the default: the platform's bucket on ``*.rfcx.org``,
adaptive elsewhere), requests per minute (burst 5x, as the ingress), a :class:`RateLimit`,
a :class:`Pacer`, or ``None`` (no pacing, and 429/503 are retried with plain backoff).

Examples
--------
>>> limiter = RateLimiter(600, burst=0)
>>> limiter.acquire()  # the first call never waits
0.0
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from . import config
from .urls import is_platform_host


class AutoRateLimit:
    """Type of the :data:`AUTO` sentinel (one instance).

    Examples
    --------
    >>> AutoRateLimit() is AUTO
    True
    """

    _instance: AutoRateLimit | None = None

    def __new__(cls) -> AutoRateLimit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AUTO"


#: ``rate_limit=AUTO``: the ingress's bucket on the platform's hosts, adaptive elsewhere.
AUTO = AutoRateLimit()


@runtime_checkable
class Pacer(Protocol):
    """What paces requests: :class:`RateLimiter`, or a stand-in shared further.

    Examples
    --------
    >>> isinstance(RateLimiter(60), Pacer)
    True
    """

    def acquire(self) -> float:
        """Wait for the turn of one request; return the seconds waited."""
        ...

    def penalize(self) -> bool:
        """Record a 429/503; ``False`` when the pace cannot be lowered any more."""
        ...


@dataclass(frozen=True)
class RateLimit:
    """A host's limit as the ingress states it: requests per minute and a burst.

    Parameters
    ----------
    per_minute
        Requests per minute, > 0 (``limit-rpm``).
    burst
        Requests that may go at once; ``None`` is 5x ``per_minute``, ingress-nginx's
        default multiplier.

    Examples
    --------
    >>> RateLimit(300).burst_size
    1500
    """

    per_minute: float
    burst: int | None = None

    def __post_init__(self) -> None:
        if (isinstance(self.per_minute, bool) or not isinstance(self.per_minute, (int, float))
                or not self.per_minute > 0 or math.isinf(self.per_minute)):
            raise ValueError(f"rate_limit must be a positive number of requests per minute, "
                             f"not {self.per_minute!r}")
        if self.burst is not None and (isinstance(self.burst, bool)
                                       or not isinstance(self.burst, int) or self.burst < 0):
            raise ValueError(f"burst must be a whole number >= 0 or None, not {self.burst!r}")

    @property
    def burst_size(self) -> int:
        """The burst, with ``None`` resolved to 5x the rate."""
        if self.burst is None:
            return int(5 * self.per_minute)
        return self.burst


#: What ``rate_limit=`` takes.
RateLimitSetting = float | RateLimit | Pacer | AutoRateLimit | None

#: The platform's ingress: ``limit-rpm: 300`` with the default burst multiplier.
PLATFORM = RateLimit(config.PLATFORM_RATE_LIMIT, config.PLATFORM_RATE_BURST)


class RateLimiter:
    """Thread-safe token bucket paced like the ingress, lowered by 429/503 (AIMD).

    The bucket holds ``burst`` tokens (at least one) and refills at ``per_minute / 60``
    a second. A caller that finds it empty reserves the next token and sleeps outside
    the lock, so concurrent callers queue in order.

    Parameters
    ----------
    per_minute
        The host's rate, > 0; ``None``: unknown, so unpaced until the first 429/503.
    burst
        Tokens the bucket holds when full (``None``: 5x ``per_minute``).
    clock, sleep
        A monotonic clock in seconds and the function that waits; tests pass their own.

    Examples
    --------
    >>> t = [0.0]
    >>> limiter = RateLimiter(60, burst=1, clock=lambda: t[0], sleep=lambda s: None)
    >>> limiter.acquire(), limiter.acquire(), limiter.acquire()
    (0.0, 1.0, 2.0)
    """

    def __init__(self, per_minute: float | None, burst: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        limit = None if per_minute is None else RateLimit(per_minute, burst)
        self.per_minute = None if limit is None else float(limit.per_minute)
        self._clock, self._sleep = clock, sleep
        self._ceiling = math.inf if limit is None else limit.per_minute / 60.0
        self._burst = 0 if limit is None else limit.burst_size
        self._floor = config.PACE_FLOOR_PER_MINUTE / 60.0
        self._rate = self._ceiling
        self._step = 0.0  # added to the rate per request while it climbs back
        self._tokens = self._capacity()
        self._last = clock()
        # Turns are numbered; each thread remembers its last one, so an answer can tell
        # whether its request went out before the last cut.
        self._issued, self._cut_ticket = 0, 0
        self._local = threading.local()
        self._recent: deque[float] = deque(maxlen=32)  # when unpaced: to measure the pace
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        per_minute = "None" if self.per_minute is None else f"{self.per_minute:g}"
        return f"RateLimiter(per_minute={per_minute}, burst={self._burst})"

    @property
    def rate(self) -> float:
        """The current pace in requests per minute (``inf`` while unpaced).

        Examples
        --------
        >>> RateLimiter(300).rate
        300.0
        """
        return self._rate * 60.0

    def acquire(self) -> float:
        """Take one token, sleeping if needed; returns the seconds waited.

        Examples
        --------
        >>> RateLimiter(None).acquire()
        0.0
        """
        with self._lock:
            now = self._clock()
            self._issued += 1
            self._local.ticket = self._issued
            if math.isinf(self._rate):
                self._recent.append(now)
                return 0.0
            self._refill(now)
            if self._step:
                self._rate = min(self._ceiling, self._rate + self._step)
                self._step = 0.0 if self._rate >= self._ceiling else self._step
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self._rate
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalize(self) -> bool:
        """Halve the pace after a 429/503 and empty the bucket.

        A refused request that took its turn before the last cut (it was in flight when
        the pace was lowered) empties the bucket but does not cut again: one cut per
        round of requests, as TCP lowers its window once per round trip. Returns
        ``False`` when the pace is already at its floor.

        Examples
        --------
        >>> limiter = RateLimiter(300, clock=lambda: 0.0)
        >>> limiter.penalize(), limiter.rate
        (True, 150.0)
        """
        ticket = getattr(self._local, "ticket", None)
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens = min(self._tokens, 0.0)
            if ticket is not None and ticket <= self._cut_ticket:
                return self._rate > self._floor
            if self._rate <= self._floor:
                return False
            half = (self._measured() if math.isinf(self._rate) else self._rate) / 2
            self._rate = max(self._floor, half)
            self._step = self._rate / config.PACE_RECOVERY_REQUESTS
            self._cut_ticket = self._issued
            return True

    def _capacity(self) -> float:
        """Tokens the bucket holds at the current pace: the burst, scaled down with it."""
        if math.isinf(self._ceiling):
            return 1.0
        return max(1.0, self._burst * min(1.0, self._rate / self._ceiling))

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        if not math.isinf(self._rate):
            self._tokens = min(self._capacity(), self._tokens + elapsed * self._rate)
        self._last = now

    def _measured(self) -> float:
        """Requests a second sent lately (while unpaced), at least one."""
        if len(self._recent) < 2:
            return 1.0
        span = self._recent[-1] - self._recent[0]
        return max(1.0, len(self._recent) / max(span, 1.0))


_SHARED: dict[tuple[str, RateLimit | None], RateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def check_setting(rate_limit: RateLimitSetting) -> RateLimit | Pacer | AutoRateLimit | None:
    """Validate a ``rate_limit=`` value; a number becomes a :class:`RateLimit`.

    Parameters
    ----------
    rate_limit
        Requests per minute, :class:`RateLimit`, :class:`Pacer`, :data:`AUTO` or ``None``.

    Raises
    ------
    ValueError
        A number that is not positive.
    TypeError
        Anything else.

    Examples
    --------
    >>> check_setting(120)
    RateLimit(per_minute=120, burst=None)
    """
    if isinstance(rate_limit, (int, float)) and not isinstance(rate_limit, bool):
        return RateLimit(rate_limit)
    if rate_limit is None or isinstance(rate_limit, (AutoRateLimit, RateLimit, Pacer)):
        return rate_limit
    raise TypeError(f"rate_limit must be a number of requests per minute, a RateLimit, "
                    f"a Pacer, None or AUTO, not {rate_limit!r}")


def pacer_for(rate_limit: RateLimitSetting, url: str) -> Pacer | None:
    """The pacer a request to ``url`` waits for under ``rate_limit`` (``None``: none).

    Limits are per host: every session of the process with the same setting shares one
    bucket for it.

    Parameters
    ----------
    rate_limit
        A value :func:`check_setting` accepts.
    url
        The request's URL.

    Examples
    --------
    >>> pacer_for(AUTO, "https://api.rfcx.org/projects")
    RateLimiter(per_minute=300, burst=1500)
    >>> pacer_for(AUTO, "http://127.0.0.1:8000/x")  # paced from its first 429/503 on
    RateLimiter(per_minute=None, burst=0)
    >>> pacer_for(AUTO, "https://api.rfcx.org/a") is pacer_for(AUTO, "https://api.rfcx.org/b")
    True
    """
    setting = check_setting(rate_limit)
    if setting is None or isinstance(setting, Pacer):
        return setting
    auto_limit = PLATFORM if is_platform_host(url) else None
    limit = auto_limit if isinstance(setting, AutoRateLimit) else setting
    key = (urlsplit(url).netloc.lower().rpartition("@")[2], limit)
    with _SHARED_LOCK:
        pacer = _SHARED.get(key)
        if pacer is None:
            pacer = _SHARED[key] = (RateLimiter(None) if limit is None
                                    else RateLimiter(limit.per_minute, limit.burst_size))
        return pacer
