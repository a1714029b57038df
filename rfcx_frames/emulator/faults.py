"""Fault injection and request statistics.

The decisions here imitate what a client meets on the real platform's path: the nginx
ingress rate limit (``limit-rpm``, answered with 503 and an HTML page; the bucket itself is
:mod:`rfcx_frames.emulator.limit_req`), 5xx from the app or
the proxy, connections reset before an answer, and bodies cut short. They are drawn from a
seeded generator so a test run is reproducible for a given request order.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .http import NGINX_PAGES
from .limit_req import LimitReq, default_burst


@dataclass(frozen=True)
class Decision:
    """What to do with one request: ``kind`` is ``ok``, ``status``, ``reset`` or ``truncate``."""

    kind: str
    status: int = 0


OK = Decision("ok")


@dataclass
class FaultConfig:
    """Fault settings; every field can be changed while the server runs.

    ``fail_next`` answers the next that many requests with ``fail_status`` (an ingress
    answer, sent before any route runs) and then counts down to 0. ``methods``, when set,
    limits every fault to requests of those HTTP methods (e.g. ``["POST"]``).
    ``rate_limit`` is nginx's ``rate`` in requests per minute per client address and
    ``rate_burst`` its ``burst`` (``None``: 5x the rate, ingress-nginx's default).
    """

    fault_rate: float = 0.0
    reset_rate: float = 0.0
    latency_ms: int = 0
    rate_limit: int | None = None
    rate_burst: int | None = None
    fail_next: int = 0
    fail_status: int = 503
    methods: tuple[str, ...] | None = None
    #: Reproduce the platform's crash after a ``POST /classifiers`` with one
    #: ``classification_values`` string: answered, then the connection dropped.
    classifier_log_crash: bool = False

    def __post_init__(self) -> None:
        if self.methods is not None:
            if isinstance(self.methods, str):
                raise TypeError(f"methods must be a list of HTTP methods, got {self.methods!r}")
            self.methods = tuple(str(m).upper() for m in self.methods)
        if self.fail_next < 0:
            raise ValueError(f"fail_next must be >= 0, got {self.fail_next!r}")
        if self.fail_status not in NGINX_PAGES:
            raise ValueError(f"fail_status must be one of {sorted(NGINX_PAGES)}, "
                             f"got {self.fail_status!r}")
        for name in ("fault_rate", "reset_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms!r}")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ValueError(f"rate_limit must be a positive number of requests per minute "
                             f"or None, got {self.rate_limit!r}")
        if self.rate_burst is not None and self.rate_burst < 0:
            raise ValueError(f"rate_burst must be >= 0 or None, got {self.rate_burst!r}")

    def limit_req(self, clock: Callable[[], float]) -> LimitReq | None:
        """The ingress bucket these settings make (``None`` without a rate limit)."""
        if self.rate_limit is None:
            return None
        burst = default_burst(self.rate_limit) if self.rate_burst is None else self.rate_burst
        return LimitReq(self.rate_limit, burst, clock)


@dataclass
class Faults:
    """Draws a :class:`Decision` per request and counts requests and faults.

    Examples
    --------
    >>> f = Faults(FaultConfig(fault_rate=1.0), seed=1)
    >>> f.decide("127.0.0.1").kind
    'status'
    >>> f.decide("127.0.0.1").status in (500, 502, 503)
    True
    """

    config: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0
    #: Seconds on a monotonic clock for the rate limit's bucket (tests inject their own).
    clock: Callable[[], float] = time.monotonic
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _limit: LimitReq | None = field(init=False, default=None)
    requests: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    total: int = 0
    #: ``GET /_emulator/identity`` answers, apart from ``total`` like every control route.
    identity_requests: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._limit = self.config.limit_req(self.clock)

    def configure(self, **changes: float | int | bool | None) -> None:
        """Change fault settings (same names as :class:`FaultConfig`)."""
        with self._lock:
            values = {**self.config.__dict__, **changes}
            old, self.config = self.config, FaultConfig(**values)
            # A new rate or burst is a new ingress configuration: its buckets start full.
            if (old.rate_limit, old.rate_burst) != (self.config.rate_limit,
                                                    self.config.rate_burst):
                self._limit = self.config.limit_req(self.clock)

    def count(self, route: str) -> None:
        """Record one request of ``route``."""
        with self._lock:
            self.total += 1
            self.requests[route] += 1

    def count_identity(self) -> None:
        """Record one request of the platform identity (a control route)."""
        with self._lock:
            self.identity_requests += 1

    def record(self, fault: str) -> None:
        """Record one injected fault."""
        with self._lock:
            self.faults[fault] += 1

    def decide(self, client: str, method: str = "GET", rate_limited: bool = True) -> Decision:
        """The fault (or none) for the next request of ``client`` (an HTTP ``method``).

        ``rate_limited=False`` for a request the platform's ingress never sees (object
        storage, Auth0): it skips the rate limit, and only the rate limit.
        """
        with self._lock:
            cfg = self.config
            if cfg.methods is not None and method.upper() not in cfg.methods:
                return OK
            if cfg.fail_next > 0:
                cfg.fail_next -= 1
                self.faults[str(cfg.fail_status)] += 1
                return Decision("status", cfg.fail_status)
            if rate_limited and self._limit is not None and not self._limit.admit(client):
                self.faults["rate_limited"] += 1
                return Decision("status", 503)
            draw = self._rng.random()
            if draw < cfg.reset_rate:
                kind = "reset" if self._rng.random() < 0.5 else "truncate"
                self.faults[kind] += 1
                return Decision(kind)
            if self._rng.random() < cfg.fault_rate:
                status = self._rng.choice((500, 502, 503))
                self.faults[str(status)] += 1
                return Decision("status", status)
        return OK

    def snapshot(self) -> dict[str, object]:
        """Statistics as served by ``GET /_emulator/stats``."""
        with self._lock:
            return {
                "total_requests": self.total,
                "identity_requests": self.identity_requests,
                "requests": dict(self.requests),
                "faults": dict(self.faults),
                "rate_limit": None if self._limit is None else self._limit.report(),
                "config": dict(self.config.__dict__),
            }

    def reset_counts(self) -> None:
        """Zero every counter (and refill the rate limit's buckets)."""
        with self._lock:
            self.total = 0
            self.identity_requests = 0
            self.requests.clear()
            self.faults.clear()
            if self._limit is not None:
                self._limit.clear()
