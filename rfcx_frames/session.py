"""HTTP transport: retries, timeouts, a client-side rate limit and typed errors.

One :class:`Session` owns the ``requests.Session`` that every call of a
:class:`~rfcx_frames.Client` goes through:

- urllib3 ``Retry`` with exponential backoff on connection errors, read timeouts, 429 and
  500/502/503/504, honouring ``Retry-After`` (capped). Non-idempotent requests (POST) are
  retried only on 429/503, which the ingress sends before the application sees them.
- an outer retry for what urllib3 cannot see: a reset while the body streams, a body cut
  short, a body that does not parse;
- a timeout on every request;
- a thread-safe token bucket (requests per minute), by default the ingress's 300/min on the
  platform's own hosts (``*.rfcx.org``) and no limit elsewhere;
- failures mapped to :mod:`rfcx_frames.exceptions` with status, message and request id.

The bearer token is fetched from a callable at send time and is never logged, stored in a
repr, or put into an exception.

Examples
--------
>>> limiter = RateLimiter(600)
>>> limiter.acquire()  # the first call never waits
0.0
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from . import config
from .exceptions import RFCxError, ServerError, error_for_status

log = logging.getLogger("rfcx_frames")

T = TypeVar("T")


class _Auto:
    """Sentinel type of :data:`AUTO`."""

    _instance: _Auto | None = None

    def __new__(cls) -> _Auto:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AUTO"


#: ``rate_limit=AUTO``: 300/min on the platform's hosts, unlimited elsewhere.
AUTO = _Auto()

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")


class RateLimiter:
    """Thread-safe token bucket: at most ``per_minute`` acquisitions per minute.

    The bucket holds one second's worth of tokens, so bursts stay short. A caller that
    finds it empty reserves the next token and sleeps outside the lock.

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


class _PlatformRetry(Retry):
    """urllib3 Retry that caps ``Retry-After`` and keeps POSTs to pre-application errors."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() not in _IDEMPOTENT and status_code not in (429, 503):
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), config.RETRY_AFTER_MAX)


def is_platform_host(url: str) -> bool:
    """Whether ``url`` points at the platform's own hosts (``rfcx.org`` and subdomains).

    Examples
    --------
    >>> is_platform_host("https://api.rfcx.org/streams"), is_platform_host("http://127.0.0.1:1")
    (True, False)
    """
    host = (urlsplit(url).hostname or "").lower()
    return host == config.PLATFORM_DOMAIN or host.endswith("." + config.PLATFORM_DOMAIN)


def strip_query(url: str) -> str:
    """``url`` without query string or fragment (presigned URLs carry secrets there).

    Examples
    --------
    >>> strip_query("https://x.org/a?sig=1#f")
    'https://x.org/a'
    """
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def error_from_response(response: requests.Response) -> RFCxError:
    """The typed exception for an error response, with the server's message and request id.

    Examples
    --------
    >>> r = requests.Response()
    >>> r.status_code, r._content, r.url = 404, b'{"message": "Stream not found"}', "http://h/s"
    >>> str(error_from_response(r))
    'HTTP 404: Stream not found (http://h/s)'
    """
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    else:
        text = response.content.decode("utf-8", errors="replace")
        text = _SPACE_RE.sub(" ", _TAG_RE.sub(" ", text)).strip()
        message = text[: config.ERROR_BODY_CHARS] or (response.reason or "")
    cls = error_for_status(response.status_code)
    return cls(
        message or f"HTTP {response.status_code}",
        status=response.status_code,
        request_id=response.headers.get("X-Request-Id"),
        url=strip_query(response.url or ""),
    )


class Session:
    """The client's transport (see the module docstring).

    Parameters
    ----------
    token
        Callable returning the bearer token at send time (or ``None`` for none).
    timeout
        ``(connect, read)`` seconds, or one number for both.
    retries
        Attempts after the first one for transient failures.
    backoff_factor
        Exponential backoff factor in seconds.
    rate_limit
        Requests per minute; :data:`AUTO` (300/min on ``*.rfcx.org`` only) or ``None``
        (no limit).
    pool_size
        Connections kept per host, and the most requests in flight at once.

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
        rate_limit: float | _Auto | None = AUTO,
        pool_size: int = config.DEFAULT_MAX_WORKERS,
        user_agent: str = config.USER_AGENT,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries!r}")
        self._token = token or (lambda: None)
        self.timeout = timeout
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.rate_limit = rate_limit
        self._limiter: RateLimiter | None = None
        if isinstance(rate_limit, (int, float)) and not isinstance(rate_limit, bool):
            self._limiter = RateLimiter(rate_limit)
        elif isinstance(rate_limit, _Auto):
            self._limiter = RateLimiter(config.PLATFORM_RATE_LIMIT)
        elif rate_limit is not None:
            raise TypeError(f"rate_limit must be a number, None or AUTO, not {rate_limit!r}")
        retry = _PlatformRetry(
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
        adapter = HTTPAdapter(max_retries=retry, pool_connections=4,
                              pool_maxsize=max(pool_size, 1) + 2)
        self.http = requests.Session()
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.http.headers["User-Agent"] = user_agent
        self._lock = threading.Lock()
        # Pools nest (cache windows over query pieces): cap requests in flight, not threads.
        self._in_flight = threading.BoundedSemaphore(max(pool_size, 1))
        self.requests_sent = 0

    def __repr__(self) -> str:
        return (f"Session(timeout={self.timeout!r}, retries={self.retries}, "
                f"rate_limit={self.rate_limit!r})")

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()

    def limiter_for(self, url: str) -> RateLimiter | None:
        """The rate limiter that applies to ``url`` (``None``: no limit).

        Examples
        --------
        >>> Session(rate_limit=AUTO).limiter_for("http://127.0.0.1:8000/x") is None
        True
        """
        if self._limiter is None:
            return None
        if isinstance(self.rate_limit, _Auto) and not is_platform_host(url):
            return None
        return self._limiter

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
    ) -> T:
        """Send a request and return ``parse(response)`` of a successful (< 400) response.

        ``parse`` runs inside the retry loop, so a body that is cut short or does not
        decode is fetched again (for idempotent methods). With ``raise_for_status=False``
        ``parse`` also receives error responses (the OAuth endpoints answer 4xx JSON).

        Raises
        ------
        RFCxError
            The subclass for the final status (``ValidationError`` for 400, ``ServerError``
            for 5xx ...) or ``ServerError`` with ``status=None`` when no usable response
            arrived after every retry.

        Examples
        --------
        >>> s = Session(rate_limit=None, retries=0)
        >>> s.request("GET", "http://127.0.0.1:9/", parse=lambda r: r)
        Traceback (most recent call last):
        ...
        rfcx_frames.exceptions.ServerError: ... (http://127.0.0.1:9/)
        """
        send_headers: dict[str, str] = dict(headers or {})
        if auth:
            token = self._token()
            if token:
                send_headers["Authorization"] = f"Bearer {token}"
        body_retries = config.BODY_RETRIES if method.upper() in _IDEMPOTENT else 0
        attempt = 0
        while True:
            limiter = self.limiter_for(url)
            if limiter is not None:
                limiter.acquire()
            with self._lock:
                self.requests_sent += 1
            try:
                with self._in_flight:
                    response = self.http.request(
                        method, url, params=params, data=data, files=files,
                        headers=send_headers,
                        timeout=timeout if timeout is not None else self.timeout,
                        allow_redirects=allow_redirects,
                    )
                log.debug("%s %s -> %s", method, strip_query(url), response.status_code)
                if raise_for_status and response.status_code >= 400:
                    raise error_from_response(response)
                return parse(response)
            except RFCxError:
                raise
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError, ValueError) as exc:
                exhausted = isinstance(exc, requests.ConnectionError) and any(
                    isinstance(a, MaxRetryError) for a in exc.args)
                if exhausted or attempt >= body_retries:
                    raise ServerError(
                        f"{method} failed after retries: {_describe(exc)}",
                        url=strip_query(url),
                    ) from exc
                attempt += 1
                delay = min(config.BACKOFF_MAX, self.backoff_factor * 2 ** (attempt - 1))
                log.debug("retrying %s %s after %s", method, strip_query(url), _describe(exc))
                time.sleep(delay + random.uniform(0, config.BACKOFF_JITTER))
            except requests.RequestException as exc:
                raise ServerError(f"{method} failed: {_describe(exc)}",
                                  url=strip_query(url)) from exc


def _describe(exc: BaseException) -> str:
    # Exception texts from urllib3 repeat the full URL (with query); keep only the type and
    # the innermost reason.
    reason: BaseException = exc
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, MaxRetryError) and arg.reason is not None:
            reason = arg.reason
    name = type(reason).__name__
    text = str(reason)
    text = re.sub(r"https?://\S+", "<url>", text)
    text = re.sub(r"url: \S+", "url: <url>", text)
    return f"{name}: {text[:200]}"
