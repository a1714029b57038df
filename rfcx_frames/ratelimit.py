"""The client-side rate limit: a thread-safe token bucket, and which hosts it applies to.

``rate_limit=AUTO`` (the default) keeps to the ingress's 300 requests a minute on the
platform's own hosts (``*.rfcx.org``) and sets no limit elsewhere (the emulator, storage
buckets); a number limits every host; ``None`` limits none.

Examples
--------
>>> limiter = RateLimiter(600)
>>> limiter.acquire()  # the first call never waits
0.0
"""

from __future__ import annotations

import threading
import time

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


#: ``rate_limit=AUTO``: 300/min on the platform's hosts, unlimited elsewhere.
AUTO = AutoRateLimit()

#: What ``rate_limit=`` takes: requests per minute, :data:`AUTO` or ``None``.
RateLimitSetting = float | AutoRateLimit | None


class RateLimiter:
    """Thread-safe token bucket: at most ``per_minute`` acquisitions per minute.

    The bucket holds one second's worth of tokens, so bursts stay short. A caller that
    finds it empty reserves the next token and sleeps outside the lock.

    Parameters
    ----------
    per_minute
        Acquisitions allowed per minute, > 0.

    Examples
    --------
    >>> RateLimiter(60).acquire()
    0.0
    """

    def __init__(self, per_minute: float) -> None:
        if per_minute <= 0:
            raise ValueError(f"rate_limit must be a positive number of requests per minute, "
                             f"not {per_minute!r}")
        self.per_minute = float(per_minute)
        self._rate = self.per_minute / 60.0
        self._capacity = max(1.0, self._rate)
        self._tokens = self._capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping if needed; returns the seconds waited."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self._rate
        if wait > 0:
            time.sleep(wait)
        return wait

    def __repr__(self) -> str:
        return f"RateLimiter(per_minute={self.per_minute:g})"


def limiter_from(rate_limit: RateLimitSetting) -> RateLimiter | None:
    """The bucket a session shares between all its threads for ``rate_limit``.

    Parameters
    ----------
    rate_limit
        Requests per minute, :data:`AUTO` (the platform's 300/min) or ``None``.

    Raises
    ------
    TypeError
        Anything else.

    Examples
    --------
    >>> limiter_from(AUTO), limiter_from(None)
    (RateLimiter(per_minute=300), None)
    """
    if isinstance(rate_limit, (int, float)) and not isinstance(rate_limit, bool):
        return RateLimiter(rate_limit)
    if isinstance(rate_limit, AutoRateLimit):
        return RateLimiter(config.PLATFORM_RATE_LIMIT)
    if rate_limit is not None:
        raise TypeError(f"rate_limit must be a number, None or AUTO, not {rate_limit!r}")
    return None


def is_limited(rate_limit: RateLimitSetting, url: str) -> bool:
    """Whether a request to ``url`` waits for the bucket under ``rate_limit``.

    Parameters
    ----------
    rate_limit
        The session's setting.
    url
        The request's URL.

    Examples
    --------
    >>> is_limited(AUTO, "https://api.rfcx.org/x"), is_limited(AUTO, "http://127.0.0.1/x")
    (True, False)
    """
    if rate_limit is None:
        return False
    return not isinstance(rate_limit, AutoRateLimit) or is_platform_host(url)
