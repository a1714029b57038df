"""One rate limit for a whole Dask cluster: a token bucket kept by the scheduler.

Every worker's session asks the same :class:`ClusterRateLimiter` before each request, so
the platform's 300 requests a minute hold for the cluster, not per process. The bucket
is a GCRA schedule: the scheduler keeps, in a ``distributed.Variable``, the instant the
next request may go (the "theoretical arrival time"), and a worker takes a slot under a
``distributed.Lock``, moves that instant one interval on and sleeps until its slot
outside the lock. A burst of at most ``burst`` requests may go at once.

The limiter has the interface of :class:`rfcx_frames.ratelimit.RateLimiter`
(``acquire()``, and ``penalize()`` to push everyone back after the platform answered
429/503), so it plugs into a session where a local bucket would.

Examples
--------
>>> ClusterRateLimiter(300, name="doc")
ClusterRateLimiter(per_minute=300, name='doc')
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("rfcx_frames.distributed needs dask.distributed: "
                          "pip install 'rfcx-frames[dask]'") from exc
    return distributed


class ClusterRateLimiter:
    """At most ``per_minute`` acquisitions a minute across every worker of a cluster.

    Parameters
    ----------
    per_minute
        Acquisitions allowed per minute, > 0 (the platform's ingress allows 300).
    burst
        Acquisitions that may go at once after a pause (>= 1).
    name
        The name of the scheduler-side lock and variables (default: a fresh one, so two
        runs never share a bucket by accident).
    clock, sleep
        The wall clock (seconds; the same on every machine of the cluster) and how to
        wait. Tests inject both.
    client
        The ``distributed.Client`` to reach the scheduler through (default: the
        worker's or the current one).

    Examples
    --------
    >>> limiter = ClusterRateLimiter(60, burst=2, name="example")
    >>> limiter.interval
    1.0
    """

    def __init__(self, per_minute: float, *, burst: int = 1, name: str | None = None,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, client: Any = None) -> None:
        if isinstance(per_minute, bool) or not isinstance(per_minute, (int, float)) \
                or not per_minute > 0:
            raise ValueError(f"per_minute must be a positive number of requests per minute, "
                             f"not {per_minute!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an integer >= 1, not {burst!r}")
        self.per_minute = float(per_minute)
        self.interval = 60.0 / self.per_minute
        self.burst = burst
        self.name = name or f"rfcx-frames-limit-{uuid.uuid4().hex}"
        self._clock, self._sleep, self._client = clock, sleep, client
        self._shared: tuple[Any, Any, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # A Client does not travel to workers; each worker reaches the scheduler its own way.
        return {**self.__dict__, "_client": None, "_shared": None}

    def __repr__(self) -> str:
        return f"ClusterRateLimiter(per_minute={self.per_minute:g}, name={self.name!r})"

    def bound(self) -> ClusterRateLimiter:
        """This limiter tied to the current worker's (or driver's) ``distributed.Client``.

        Call it in a task: the session's download threads are not tasks and cannot find
        the worker's client themselves.

        Raises
        ------
        RuntimeError
            With no ``distributed.Client`` to reach the scheduler through.

        Examples
        --------
        >>> limiter.bound()  # doctest: +SKIP
        """
        distributed = _distributed()
        try:
            client = self._client if self._client is not None else distributed.get_client()
        except ValueError as exc:
            raise RuntimeError("ClusterRateLimiter needs a running distributed.Client") from exc
        out = ClusterRateLimiter(self.per_minute, burst=self.burst, name=self.name,
                                 clock=self._clock, sleep=self._sleep, client=client)
        out._shared = (distributed.Lock(f"{self.name}-lock"),
                       distributed.Variable(f"{self.name}-next", client=client),
                       distributed.Variable(f"{self.name}-granted", client=client))
        return out

    def start(self, client: Any) -> None:
        """Open the schedule on the scheduler of ``client``: the first slot is now, none taken.

        ``map_windows`` calls it before the tasks start, so no worker waits for a value
        that was never set.

        Examples
        --------
        >>> limiter.start(dask_client)  # doctest: +SKIP
        """
        distributed = _distributed()
        distributed.Variable(f"{self.name}-next", client=client).set(self._clock())
        distributed.Variable(f"{self.name}-granted", client=client).set(0)

    def _parts(self) -> tuple[Any, Any, Any]:
        if self._shared is None:
            self._shared = self.bound()._shared
        assert self._shared is not None
        return self._shared

    @staticmethod
    def _read(variable: Any, default: Any) -> Any:
        try:
            return variable.get(timeout=0)
        except (TimeoutError, asyncio.TimeoutError):
            return default  # never set: the first slot, the first grant

    def acquire(self) -> float:
        """Take the next slot of the cluster's schedule, sleeping until it; the seconds waited.

        Examples
        --------
        >>> limiter.acquire()  # doctest: +SKIP
        0.0
        """
        lock, variable, granted = self._parts()
        with lock:
            now = self._clock()
            # Up to `burst` slots may be taken at once after a pause, never more.
            slot = max(float(self._read(variable, now)), now - (self.burst - 1) * self.interval)
            variable.set(slot + self.interval)
            granted.set(int(self._read(granted, 0)) + 1)
        wait = max(0.0, slot - now)
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalize(self, seconds: float) -> None:
        """Hold every worker back ``seconds`` from now (the platform answered 429 or 503).

        Examples
        --------
        >>> limiter.penalize(5.0)  # doctest: +SKIP
        """
        lock, variable, _ = self._parts()
        with lock:
            now = self._clock()
            variable.set(max(float(self._read(variable, now)), now + float(seconds)))

    def granted(self) -> int:
        """How many slots the cluster has taken so far.

        Examples
        --------
        >>> limiter.granted()  # doctest: +SKIP
        42
        """
        return int(self._read(self._parts()[2], 0))

    def next_slot(self) -> float | None:
        """The clock reading from which the next slot is free (``None`` before the first).

        Examples
        --------
        >>> limiter.next_slot()  # doctest: +SKIP
        1700000000.2
        """
        value = self._read(self._parts()[1], None)
        return None if value is None else float(value)
