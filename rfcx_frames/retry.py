"""What is retried and when: the urllib3 retry policy and the backoff of body retries.

urllib3 retries connection errors, read timeouts, 429 and 500/502/503/504 with exponential
backoff, honouring ``Retry-After`` (capped). A POST is retried only on 429/503, which the
ingress sends before the application sees the request, and on connection failures before
anything was sent. Local mistakes are never retried, and no attempt or wait starts that
would end after the request's deadline.

A paced request (:mod:`rfcx_frames.ratelimit`) treats 429 and 503 as the ingress saying
its bucket is empty: the pacer is penalized (its pace halves) and, while it could still
slow down, the retry does not count against ``retries``, so a query does not fail on rate
limiting alone. Every retry of a paced request waits for the pacer's next token after its
backoff (a throttled answer waits for the pacer instead of the backoff).

The deadline, the POST rule and the pacer of the request running in this context reach
the policy (which runs deep inside urllib3) through :func:`attempt_scope`.

Examples
--------
>>> policy = platform_retry(retries=3, backoff_factor=0.5)
>>> policy.total, policy.is_retry("POST", 500), policy.is_retry("POST", 503)
(3, False, True)
"""

from __future__ import annotations

import contextlib
import contextvars
import random
import time
from collections.abc import Iterator
from typing import Any

from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from . import config
from .http_errors import DeadlineReachedError, is_local_failure
from .ratelimit import Pacer

#: Methods that may be sent again without acting twice.
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Statuses the platform's ingress answers before the application has seen the request,
#: so even a POST can be sent again without acting twice; also its rate limit's answers.
_PRE_APPLICATION = frozenset({429, 503})

#: ``time.monotonic()`` by which the request running in this context must be over.
_UNTIL: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "rfcx_frames_until", default=None)
#: Whether a POST running in this context may be retried on 429/503. Not when the caller
#: reads error answers itself (the OAuth endpoints: their 429 means "poll slower").
_POST_STATUS_RETRY: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "rfcx_frames_post_status_retry", default=True)
#: The pacer of the request running in this context (``None``: not paced).
_PACER: contextvars.ContextVar[Pacer | None] = contextvars.ContextVar(
    "rfcx_frames_pacer", default=None)


#: Whether the request running in this context may be sent again whatever its method: a
#: POST to a route the platform makes idempotent (a review sets the same state twice).
_REPEATABLE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "rfcx_frames_repeatable", default=False)


@contextlib.contextmanager
def attempt_scope(until: float | None, retry_post_status: bool,
                  repeatable: bool = False,
                  pacer: Pacer | None = None) -> Iterator[None]:
    """Let the retry policy see this request's deadline, POST rule and pacer while it runs.

    Parameters
    ----------
    until
        ``time.monotonic()`` by which the request must be over (``None``: no deadline).
    retry_post_status
        Whether a POST may be retried on 429/503.
    repeatable
        Whether the request is idempotent whatever its method (retried like a GET).
    pacer
        What paces the request's retries and hears of its 429/503 (``None``: not paced).

    Examples
    --------
    >>> with attempt_scope(None, retry_post_status=False):
    ...     platform_retry(1, 0.1).is_retry("POST", 503)
    False
    """
    until_token = _UNTIL.set(until)
    post_token = _POST_STATUS_RETRY.set(retry_post_status)
    repeat_token = _REPEATABLE.set(repeatable)
    pacer_token = _PACER.set(pacer)
    try:
        yield
    finally:
        _PACER.reset(pacer_token)
        _REPEATABLE.reset(repeat_token)
        _POST_STATUS_RETRY.reset(post_token)
        _UNTIL.reset(until_token)


class PlatformRetry(Retry):
    """urllib3 Retry for the platform.

    - POSTs are retried on 429/503 (the ingress answers them before the application
      acts), never on other statuses nor on read errors (the server may have acted);
    - ``Retry-After`` is capped at ``config.RETRY_AFTER_MAX``;
    - a paced request's 429/503 penalizes its pacer, and is free while the pacer could
      still slow down; its retries wait for the pacer (see the module docstring);
    - local mistakes (:func:`~rfcx_frames.http_errors.is_local_failure`) are not retried;
    - no attempt starts, and no wait begins, that would end after the request's deadline.

    Examples
    --------
    >>> PlatformRetry(total=3).parse_retry_after("100000") <= config.RETRY_AFTER_MAX
    True
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() not in _IDEMPOTENT and not _REPEATABLE.get():
            # urllib3's allowed_methods leaves POST out; the ingress's own answers are safe.
            return (_POST_STATUS_RETRY.get() and status_code in _PRE_APPLICATION
                    and status_code in (self.status_forcelist or ()))
        return super().is_retry(method, status_code, has_retry_after)

    def _is_method_retryable(self, method: str) -> bool:
        return _REPEATABLE.get() or super()._is_method_retryable(method)

    def increment(self, method: str | None = None, url: str | None = None,
                  response: Any = None, error: Exception | None = None,
                  _pool: Any = None, _stacktrace: Any = None) -> PlatformRetry:
        if is_local_failure(error):
            raise MaxRetryError(_pool, url, error)
        source = self
        pacer = _PACER.get()
        if pacer is not None and _throttled(response) and pacer.penalize():
            # The ingress's bucket was empty: the pace is lower now, and this retry is free.
            source = self.new(total=_more(self.total), status=_more(self.status))
        new = super(PlatformRetry, source).increment(method, url, response, error, _pool,
                                                     _stacktrace)
        until = _UNTIL.get()
        if until is not None:
            wait = new.get_retry_after(response) if response is not None else None
            if wait is None:
                wait = new.get_backoff_time()
            if time.monotonic() + wait >= until:
                raise MaxRetryError(_pool, url, DeadlineReachedError("deadline reached"))
        return new

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), config.RETRY_AFTER_MAX)

    def sleep(self, response: Any = None) -> None:
        pacer = _PACER.get()
        if pacer is None:
            super().sleep(response)
            return
        if _throttled(response):
            self.sleep_for_retry(response)  # a Retry-After first; the pacer spaces the rest
        else:
            super().sleep(response)
        pacer.acquire()


def _throttled(response: Any) -> bool:
    """Whether ``response`` is a rate limit's answer (429, or the ingress's 503)."""
    return response is not None and getattr(response, "status", None) in _PRE_APPLICATION


def _more(count: int | bool | None) -> int | bool | None:
    """One more attempt in a urllib3 retry counter (``None``/``bool``: not counted)."""
    return count + 1 if isinstance(count, int) and not isinstance(count, bool) else count


def platform_retry(retries: int, backoff_factor: float) -> PlatformRetry:
    """The policy a session mounts: ``retries`` attempts after the first, errors not raised.

    Statuses that stay bad after the retries come back as responses, for
    :func:`~rfcx_frames.http_errors.error_from_response` to turn into typed errors.

    Parameters
    ----------
    retries
        Attempts after the first one (connect, read and status each).
    backoff_factor
        Exponential backoff factor in seconds.

    Examples
    --------
    >>> platform_retry(0, 0.5).total
    0
    """
    return PlatformRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        backoff_factor=backoff_factor,
        backoff_max=config.BACKOFF_MAX,
        backoff_jitter=config.BACKOFF_JITTER,
        status_forcelist=config.RETRY_STATUSES,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


def body_retries(method: str, repeatable: bool = False) -> int:
    """How often a body that breaks or does not parse is fetched again (0 for a POST).

    Parameters
    ----------
    method
        The HTTP method.
    repeatable
        The request is idempotent whatever its method.

    Examples
    --------
    >>> body_retries("POST")
    0
    """
    return config.BODY_RETRIES if repeatable or method.upper() in _IDEMPOTENT else 0


def body_retry_delay(attempt: int, backoff_factor: float) -> float:
    """Seconds to wait before body retry number ``attempt`` (1-based): backoff plus jitter.

    Parameters
    ----------
    attempt
        The retry about to start, from 1.
    backoff_factor
        Exponential backoff factor in seconds.

    Examples
    --------
    >>> body_retry_delay(1, 0.0) <= config.BACKOFF_JITTER
    True
    """
    delay = min(config.BACKOFF_MAX, backoff_factor * 2 ** (attempt - 1))
    return delay + random.uniform(0, config.BACKOFF_JITTER)
