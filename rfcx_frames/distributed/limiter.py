"""One rate limit for a whole Dask cluster: a token bucket kept by the scheduler.

Every worker's session asks the same :class:`ClusterRateLimiter` before each request, so
the platform's 300 requests a minute hold for the cluster, not per process. The bucket
is a GCRA schedule: the scheduler keeps, in a ``distributed.Variable``, the instant the
next request may go (the "theoretical arrival time") and the pace, and a worker takes a
slot under a ``distributed.Lock``, moves that instant one interval on and sleeps until
its slot outside the lock. A burst of at most ``burst`` requests may go at once.

The limiter is a :class:`rfcx_frames.ratelimit.Pacer` (``acquire()``, and ``penalize()``
to halve the whole cluster's pace after the platform answered 429/503, climbing back a
step per request), so a worker's client takes it as ``rate_limit=``, where a local
bucket would be.

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

from rfcx_frames import config


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
        self._shared: tuple[Any, Any] | None = None

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
                       distributed.Variable(f"{self.name}-state", client=client))
        return out

    def _fresh(self, now: float) -> dict[str, float]:
        return {"next": now, "granted": 0, "rate": self.per_minute, "step": 0.0}

    def start(self, client: Any) -> None:
        """Open the schedule on the scheduler of ``client``: the first slot is now, none taken.

        ``map_windows`` calls it before the tasks start, so no worker waits for a value
        that was never set.

        Examples
        --------
        >>> limiter.start(dask_client)  # doctest: +SKIP
        """
        _distributed().Variable(f"{self.name}-state", client=client).set(
            self._fresh(self._clock()))

    def close(self, client: Any) -> None:
        """Remove the schedule from the scheduler of ``client`` (its variable and lock).

        ``map_windows`` calls it when a run that made its own limiter ends; a limiter you
        pass is yours to close (or to share with the next run).

        Examples
        --------
        >>> limiter.close(dask_client)  # doctest: +SKIP
        """
        distributed = _distributed()
        distributed.Variable(f"{self.name}-state", client=client).delete()
        distributed.Lock(f"{self.name}-lock").close()

    def _state(self) -> tuple[Any, Any]:
        if self._shared is None:
            self._shared = self.bound()._shared
        assert self._shared is not None
        return self._shared

    def _read(self, variable: Any, now: float) -> dict[str, float]:
        try:
            return dict(variable.get(timeout=0))
        except (TimeoutError, asyncio.TimeoutError):
            return self._fresh(now)  # never started: the first slot is now

    def acquire(self) -> float:
        """Take the next slot of the cluster's schedule, sleeping until it; the seconds waited.

        Examples
        --------
        >>> limiter.acquire()  # doctest: +SKIP
        0.0
        """
        lock, variable = self._state()
        with lock:
            now = self._clock()
            state = self._read(variable, now)
            interval = 60.0 / state["rate"]
            # Up to `burst` slots may be taken at once after a pause, never more.
            slot = max(state["next"], now - (self.burst - 1) * interval)
            # After a penalty the pace climbs back a step per request, as the local bucket.
            rate = min(self.per_minute, state["rate"] + state["step"])
            variable.set({"next": slot + interval, "granted": state["granted"] + 1,
                          "rate": rate, "step": 0.0 if rate >= self.per_minute else state["step"]})
        wait = max(0.0, slot - now)
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalize(self) -> bool:
        """Halve the cluster's pace and empty its burst (the platform answered 429 or 503).

        Returns ``False`` when the pace is already at its floor
        (:data:`~rfcx_frames.config.PACE_FLOOR_PER_MINUTE`).

        Examples
        --------
        >>> limiter.penalize()  # doctest: +SKIP
        True
        """
        lock, variable = self._state()
        floor = min(config.PACE_FLOOR_PER_MINUTE, self.per_minute)
        with lock:
            now = self._clock()
            state = self._read(variable, now)
            lowered = state["rate"] > floor
            rate = max(floor, state["rate"] / 2)
            variable.set({**state, "next": max(state["next"], now), "rate": rate,
                          "step": rate / config.PACE_RECOVERY_REQUESTS})
            return lowered

    def rate(self) -> float:
        """The cluster's pace now, in requests per minute (lower after a penalty).

        Examples
        --------
        >>> limiter.rate()  # doctest: +SKIP
        300.0
        """
        return float(self._read(self._state()[1], self._clock())["rate"])

    def granted(self) -> int:
        """How many slots the cluster has taken so far.

        Examples
        --------
        >>> limiter.granted()  # doctest: +SKIP
        42
        """
        return int(self._read(self._state()[1], self._clock())["granted"])

    def next_slot(self) -> float:
        """The clock reading from which the next slot is free.

        Examples
        --------
        >>> limiter.next_slot()  # doctest: +SKIP
        1700000000.2
        """
        return float(self._read(self._state()[1], self._clock())["next"])
