"""The Session: pooled requests under a timeout, an overall deadline, retries and a rate limit.

One :class:`Session` owns the ``requests.Session`` that every call of a
:class:`~rfcx_frames.Client` goes through:

- urllib3 retries connection errors, read timeouts, 429 and 500/502/503/504 with
  backoff (what is retried, and when: :mod:`rfcx_frames.retry`);
- an outer retry for what urllib3 cannot see: a reset while the body streams, a body cut
  short, a body that does not parse;
- a ``(connect, read)`` timeout on every request, and an overall deadline per request
  (connect, every read of the body and every retry): a server that trickles its answer
  raises :class:`~rfcx_frames.exceptions.DeadlineExceededError` instead of stalling;
- local mistakes are never retried: a malformed URL, a host that does not resolve, a
  refused port on this machine and a timeout that is not positive raise
  :class:`~rfcx_frames.exceptions.ConfigurationError` naming the setting at once;
- pacing (:mod:`rfcx_frames.ratelimit`): by default the ingress's own bucket on the
  platform's hosts (``*.rfcx.org``: 300/min, burst 1,500), lowered on every 429/503, and
  on other hosts a pace found from their first 429/503; shared by the whole process;
- failures mapped to :mod:`rfcx_frames.exceptions` with status, message and request id
  (:mod:`rfcx_frames.http_errors`).

The bearer token is fetched from a callable at send time and is never logged, stored in a
repr, or put into an exception. Query strings (pre-signed URLs carry their signature there)
are cut from every log line, urllib3's own debug lines included.

Examples
--------
>>> Session(rate_limit=None, timeout=(5, 60), deadline=None, retries=2)
Session(timeout=(5, 60), deadline=None, retries=2, rate_limit=None)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import DecodeError, MaxRetryError, ProtocolError, ReadTimeoutError

from . import config
from .exceptions import RFCxError, ServerError
from .http_errors import (
    DeadlineReachedError,
    bad_url_error,
    deadline_error,
    describe,
    error_from_response,
    innermost_reason,
    is_local_failure,
    local_error,
)
from .proxy_env import EnvOnceSession
from .ratelimit import AUTO, Pacer, RateLimitSetting, check_setting, pacer_for
from .retry import attempt_scope, body_retries, body_retry_delay, platform_retry
from .urls import is_loopback, strip_query
from .validate import check_deadline, check_timeout

log = logging.getLogger("rfcx_frames")

T = TypeVar("T")

#: Bytes asked of the socket per read of a body, kept or written into a file; each read
#: returns what has arrived. Fewer, larger reads cost less CPU under many threads than
#: 64 KiB ones (``bench/bench_downloads.py``: a third less CPU over 500 files).
_READ_CHUNK = 1 << 20
#: URLs ``requests`` cannot send: a local mistake, never retried.
_BAD_URL = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema)
#: Failures of one attempt that ``_before_retry`` sorts into another attempt or a typed
#: error: a broken connection or body, a body that does not parse (``ValueError`` from
#: ``parse``), the deadline reached.
_TRANSIENT = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
              requests.exceptions.ContentDecodingError, ValueError, DeadlineReachedError)


@dataclass
class _Call:
    """One request across its attempts: what to send and the clock it runs against."""

    method: str
    url: str
    timeout: float | tuple[float, float]
    budget: float | None
    #: Whether an error status raises (else ``parse`` reads it, and a POST is not
    #: retried on 429/503: the OAuth endpoints' 429 means "poll slower").
    raise_for_status: bool
    options: dict[str, Any] = field(default_factory=dict, repr=False)  # holds the token
    #: Whether the platform's route is idempotent, so even a POST may be sent again.
    idempotent: bool = False
    #: ``time.monotonic()`` by which the request must be over; set when the first
    #: attempt starts, so waits in the client's own queue do not count.
    until: float | None = None
    attempt: int = 0
    #: Where a successful answer's body goes instead of ``response.content``.
    into: IO[bytes] | None = field(default=None, repr=False)

    def start_clock(self) -> None:
        if self.until is None and self.budget is not None:
            self.until = time.monotonic() + self.budget

    def passed(self, wait: float = 0.0) -> bool:
        """Whether the deadline has passed, or would have after ``wait`` more seconds."""
        return self.until is not None and time.monotonic() + wait >= self.until


class Session:
    """The client's transport (see the module docstring).

    Parameters
    ----------
    token
        Callable returning the bearer token at send time (or ``None`` for none).
    timeout
        ``(connect, read)`` seconds, or one number for both.
    deadline
        Overall seconds one request may take: connect, every read of the body and every
        retry (``None``: no limit beyond the timeouts). When it passes, the request raises
        :class:`~rfcx_frames.exceptions.DeadlineExceededError`.
    retries
        Attempts after the first one for transient failures.
    backoff_factor
        Exponential backoff factor in seconds.
    rate_limit
        :data:`~rfcx_frames.ratelimit.AUTO` (the ingress's bucket on ``*.rfcx.org``,
        adaptive elsewhere), requests per minute, a
        :class:`~rfcx_frames.ratelimit.RateLimit`, a :class:`~rfcx_frames.ratelimit.Pacer`,
        or ``None`` (no pacing).
    pool_size
        Connections kept per host, and the most requests in flight at once.
    settings
        The base URLs this session was configured with, by the name of their setting
        (``{"api_url": "https://api.rfcx.org", ...}``): a local failure on one of them
        (a host that does not resolve, a refused port on this machine) names it.

    Examples
    --------
    >>> s = Session(token=lambda: "secret", rate_limit=None)
    >>> "secret" in repr(s)
    False
    """

    def __init__(
        self,
        *,
        token: Callable[[], str | None] | None = None,
        timeout: float | tuple[float, float] = config.DEFAULT_TIMEOUT,
        retries: int = config.RETRIES,
        backoff_factor: float = config.BACKOFF_FACTOR,
        rate_limit: RateLimitSetting = AUTO,
        pool_size: int = config.DEFAULT_MAX_WORKERS,
        user_agent: str = config.USER_AGENT,
        deadline: float | None = config.DEFAULT_DEADLINE,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries!r}")
        self._token = token or (lambda: None)
        self.timeout = check_timeout(timeout)
        self.deadline = check_deadline(deadline)
        self.settings = dict(settings or {})
        self.retries = retries
        self.backoff_factor = backoff_factor
        check_setting(rate_limit)
        self.rate_limit = rate_limit
        loopback_size = max(pool_size, config.LOOPBACK_WORKERS)
        adapter = HTTPAdapter(max_retries=platform_retry(retries, backoff_factor),
                              pool_connections=4, pool_maxsize=loopback_size + 2)
        self.http = EnvOnceSession()
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.http.headers["User-Agent"] = user_agent
        self._lock = threading.Lock()
        # Pools nest (cache windows over query pieces): cap requests in flight, not threads.
        self._in_flight = threading.BoundedSemaphore(max(pool_size, 1))
        self._loopback_in_flight = threading.BoundedSemaphore(loopback_size)
        self.requests_sent = 0

    def __repr__(self) -> str:
        return (f"Session(timeout={self.timeout!r}, deadline={self.deadline!r}, "
                f"retries={self.retries}, rate_limit={self.rate_limit!r})")

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()

    def limiter_for(self, url: str) -> Pacer | None:
        """The pacer requests to ``url`` wait for (``None``: not paced).

        Examples
        --------
        >>> Session(rate_limit=AUTO).limiter_for("https://api.rfcx.org/x")
        RateLimiter(per_minute=300, burst=1500)
        """
        return pacer_for(self.rate_limit, url)

    def request(
        self,
        method: str,
        url: str,
        *,
        parse: Callable[[requests.Response], T],
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
        timeout: float | tuple[float, float] | None = None,
        allow_redirects: bool = True,
        raise_for_status: bool = True,
        deadline: float | None = None,
        idempotent: bool = False,
        into: IO[bytes] | None = None,
    ) -> T:
        """Send a request and return ``parse(response)`` of a successful (< 400) response.

        ``parse`` runs inside the retry loop, so a body that is cut short or does not
        decode is fetched again (for idempotent methods). With ``raise_for_status=False``
        ``parse`` also receives error responses (the OAuth endpoints answer 4xx JSON).
        ``timeout`` and ``deadline`` replace the session's for this request. A POST is
        retried on 429/503 only with ``raise_for_status=True``: a caller that reads error
        answers itself (OAuth's 429 ``slow_down``) sees every one. ``idempotent=True``
        retries any method like a GET (a POST to a route that sets a state, not adds one).
        ``into`` (a file open for writing and seekable) receives the body of a successful
        answer instead of ``response.content``, a few KiB at a time; it is emptied before
        each attempt, so it holds exactly one whole body when ``parse`` runs.

        Raises
        ------
        RFCxError
            The subclass for the final status (``ValidationError`` for 400, ``ServerError``
            for 5xx ...) or ``ServerError`` with ``status=None`` when no usable response
            arrived after every retry.
        DeadlineExceededError
            The deadline passed before a complete answer arrived.
        ConfigurationError
            A malformed URL, a host that does not resolve, a refused port on this
            machine: raised at once, naming the setting the URL came from.

        Examples
        --------
        >>> s = Session(rate_limit=None, settings={"api_url": "http://127.0.0.1:9"})
        >>> s.request("GET", "http://127.0.0.1:9/projects", parse=lambda r: r)
        Traceback (most recent call last):
        ...
        rfcx_frames.exceptions.ConfigurationError: cannot reach api_url http://127.0.0.1:9: ...
        """
        call = _Call(method, url,
                     timeout=self.timeout if timeout is None else check_timeout(timeout),
                     budget=self.deadline if deadline is None else check_deadline(deadline),
                     raise_for_status=raise_for_status,
                     options={"params": params, "data": data, "files": files,
                              "headers": self._headers(headers, auth),
                              "allow_redirects": allow_redirects},
                     idempotent=idempotent, into=into)
        return self._run(call, parse)

    def _run(self, call: _Call, parse: Callable[[requests.Response], T]) -> T:
        """Attempts until one is parsed, or the outcome is a typed error."""
        while True:
            self._wait_turn(call.url)
            response: requests.Response | None = None
            try:
                response = self._send_in_flight(call)
                if call.raise_for_status and response.status_code >= 400:
                    raise error_from_response(response)
                return parse(response)
            except RFCxError:
                raise
            except _BAD_URL as exc:
                raise bad_url_error(call.url, exc, self.settings) from None
            except _TRANSIENT as exc:
                _close(response)  # never hand a half-read connection back to the pool
                self._before_retry(call, exc)
            except requests.RequestException as exc:
                _close(response)
                if call.passed():
                    raise deadline_error(call.method, call.url, call.budget, exc) from exc
                raise ServerError(f"{call.method} failed: {describe(exc)}",
                                  url=strip_query(call.url)) from exc

    def _headers(self, headers: Mapping[str, str] | None, auth: bool) -> dict[str, str]:
        """The request's headers, with the bearer token fetched now if ``auth``."""
        send = dict(headers or {})
        token = self._token() if auth else None
        if token:
            send["Authorization"] = f"Bearer {token}"
        return send

    def _wait_turn(self, url: str) -> None:
        """Wait for the pacer (if ``url`` is paced) and count the attempt."""
        limiter = self.limiter_for(url)
        if limiter is not None:
            limiter.acquire()
        with self._lock:
            self.requests_sent += 1

    def _send_in_flight(self, call: _Call) -> requests.Response:
        """One attempt, once a slot among the requests in flight is free."""
        local = is_loopback(urlsplit(call.url).hostname or "")
        with self._loopback_in_flight if local else self._in_flight:
            call.start_clock()
            return self._send(call)

    def _send(self, call: _Call) -> requests.Response:
        """One attempt (with urllib3's retries inside it), the body read before the deadline."""
        connect, read = _attempt_timeouts(call)
        with attempt_scope(call.until, retry_post_status=call.raise_for_status,
                           repeatable=call.idempotent,
                           pacer=self.limiter_for(call.url)):
            response = self.http.request(call.method, call.url, timeout=(connect, read),
                                         stream=True, **call.options)
            log.debug("%s %s -> %s", call.method, strip_query(call.url), response.status_code)
            try:
                _read_body(response, call.until, read,
                           call.into if response.status_code < 400 else None)
            except BaseException:
                response.close()
                raise
        return response

    def _before_retry(self, call: _Call, exc: BaseException) -> None:
        """Raise the typed error for a failed attempt, or wait for the next one."""
        method, url = call.method, call.url
        reason = innermost_reason(exc)
        if isinstance(reason, DeadlineReachedError) or call.passed():
            raise deadline_error(method, url, call.budget, exc) from exc
        if is_local_failure(reason):
            raise local_error(method, url, reason, self.settings) from exc
        exhausted = isinstance(exc, requests.ConnectionError) and any(
            isinstance(a, MaxRetryError) for a in exc.args)
        if exhausted or call.attempt >= body_retries(method, call.idempotent):
            raise ServerError(f"{method} failed after retries: {describe(exc)}",
                              url=strip_query(url)) from exc
        call.attempt += 1
        delay = body_retry_delay(call.attempt, self.backoff_factor)
        if call.passed(delay):
            raise deadline_error(method, url, call.budget, exc) from exc
        log.debug("retrying %s %s after %s", method, strip_query(url), describe(exc))
        time.sleep(delay)


def _close(response: requests.Response | None) -> None:
    if response is not None:
        response.close()


def _attempt_timeouts(call: _Call) -> tuple[float, float]:
    """``(connect, read)`` of the next attempt, none longer than the time left."""
    remaining = None if call.until is None else call.until - time.monotonic()
    if remaining is not None and remaining <= 0:
        raise DeadlineReachedError("deadline reached")
    timeout = call.timeout
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    if remaining is not None:
        connect, read = min(connect, remaining), min(read, remaining)
    return connect, read


def _read_body(response: requests.Response, until: float | None, read_timeout: float,
               into: IO[bytes] | None = None) -> None:
    """Read the whole body into ``response`` (as ``stream=False`` would), or write it into
    ``into`` (emptied first), before ``until``.

    Each read returns what has arrived, so a server that trickles bytes cannot hold the
    request past its deadline; the socket's timeout shrinks to the time left. A failed
    write into ``into`` (a full disk) is raised as it is, never taken for a network fault.
    """
    chunks: list[bytes] = []
    if into is not None:
        into.seek(0)
        into.truncate()
    keep = chunks.append if into is None else into.write
    while chunk := _read_chunk(response.raw, until, read_timeout, _READ_CHUNK):
        keep(chunk)
    response._content = b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]


def _read_chunk(raw: Any, until: float | None, read_timeout: float, size: int) -> bytes:
    """The next bytes of a body (``b""`` at its end), with failures as ``requests`` raises them."""
    try:
        if until is not None:
            remaining = until - time.monotonic()
            if remaining <= 0:
                raise DeadlineReachedError("deadline reached while reading the body")
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(max(0.001, min(read_timeout, remaining)))
        chunk: bytes = raw.read1(size, decode_content=True)
        return chunk
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except (ReadTimeoutError, OSError) as exc:
        raise requests.ConnectionError(exc) from exc
