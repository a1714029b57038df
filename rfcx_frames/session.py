"""HTTP transport: retries, timeouts, a client-side rate limit and typed errors.

One :class:`Session` owns the ``requests.Session`` that every call of a
:class:`~rfcx_frames.Client` goes through:

- urllib3 ``Retry`` with exponential backoff on connection errors, read timeouts, 429 and
  500/502/503/504, honouring ``Retry-After`` (capped). Non-idempotent requests (POST) are
  retried only on 429/503, which the ingress sends before the application sees them, and
  on connection failures before anything was sent.
- an outer retry for what urllib3 cannot see: a reset while the body streams, a body cut
  short, a body that does not parse;
- a ``(connect, read)`` timeout on every request, and an overall deadline per request
  (connect, every read of the body and every retry): a server that trickles its answer
  raises :class:`~rfcx_frames.exceptions.DeadlineExceededError` instead of stalling;
- local mistakes are never retried: a malformed URL, a host that does not resolve, a
  refused port on this machine and a timeout that is not positive raise
  :class:`~rfcx_frames.exceptions.ConfigurationError` naming the setting at once;
- a thread-safe token bucket (requests per minute), by default the ingress's 300/min on the
  platform's own hosts (``*.rfcx.org``) and no limit elsewhere;
- failures mapped to :mod:`rfcx_frames.exceptions` with status, message and request id.

The bearer token is fetched from a callable at send time and is never logged, stored in a
repr, or put into an exception. Query strings (pre-signed URLs carry their signature there)
are cut from every log line, urllib3's own debug lines included.

Examples
--------
>>> limiter = RateLimiter(600)
>>> limiter.acquire()  # the first call never waits
0.0
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import math
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    DecodeError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from . import config
from .exceptions import (
    ConfigurationError,
    DeadlineExceededError,
    RFCxError,
    ServerError,
    error_for_status,
)

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
#: Statuses the platform's ingress answers before the application has seen the request,
#: so even a POST can be sent again without acting twice.
_PRE_APPLICATION = frozenset({429, 503})
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")
_QUERY_RE = re.compile(r"\?[^\s\"']*")
#: Bytes asked of the socket per read of a body; each read returns what has arrived.
_READ_CHUNK = 1 << 20

#: ``time.monotonic()`` by which the request running in this context must be over; the
#: retry policy, which runs inside urllib3, reads it.
_UNTIL: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "rfcx_frames_until", default=None)
#: Whether a POST running in this context may be retried on 429/503. Not when the caller
#: reads error answers itself (the OAuth endpoints: their 429 means "poll slower").
_POST_STATUS_RETRY: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "rfcx_frames_post_status_retry", default=True)


class _RedactQueries(logging.Filter):
    """Cuts query strings out of log lines: pre-signed URLs carry their signature there."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is logging's problem, not ours to hide
            return True
        if "?" in text:
            record.msg, record.args = _QUERY_RE.sub("?<query removed>", text), ()
        return True


# urllib3 logs every request line (path and query) and every retry at DEBUG; a filter on
# the loggers that emit them keeps pre-signed URLs out of any handler the user attaches.
_REDACT = _RedactQueries()
for _name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.poolmanager",
              "urllib3.util.retry", "urllib3.response"):
    logging.getLogger(_name).addFilter(_REDACT)


class _DeadlineReachedError(Urllib3Error):
    """The request's deadline passed, or the next attempt would start after it."""


def check_timeout(value: Any, name: str = "timeout") -> Any:
    """``value`` if it is a valid requests timeout: seconds > 0, or a ``(connect, read)`` pair.

    Raises
    ------
    ConfigurationError
        A number that is not positive and finite (naming ``name``).
    TypeError
        Anything but a number or a pair of numbers.

    Examples
    --------
    >>> check_timeout((10, 120))
    (10, 120)
    >>> check_timeout(-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rfcx_frames.exceptions.ConfigurationError: timeout must be seconds > 0 ... got -1
    """
    items = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and len(value) != 2:
        raise TypeError(f"{name} must be seconds or a (connect, read) pair, got {value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise TypeError(f"{name} must be seconds or a (connect, read) pair, got {value!r}")
        if not math.isfinite(item) or item <= 0:
            raise ConfigurationError(f"{name} must be seconds > 0 (or a (connect, read) pair "
                                     f"of them), got {value!r}", setting=name)
    return value


def check_deadline(value: Any, name: str = "deadline") -> float | None:
    """``value`` as seconds > 0, or ``None`` (no overall deadline).

    Examples
    --------
    >>> check_deadline(30)
    30.0
    >>> check_deadline(0)
    Traceback (most recent call last):
    ...
    rfcx_frames.exceptions.ConfigurationError: deadline must be seconds > 0 or None, got 0
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be seconds (a number) or None, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be seconds > 0 or None, got {value!r}",
                                 setting=name)
    return float(value)


def check_url(value: str, name: str) -> str:
    """``value`` if it is an absolute http(s) URL with a host.

    ``name`` names the setting in the message (e.g. ``"api_url (from RFCX_API_URL)"``);
    the error's ``setting`` is its first word.

    Examples
    --------
    >>> check_url("http://127.0.0.1:8080", "api_url")
    'http://127.0.0.1:8080'
    >>> check_url("api.rfcx.org", "api_url")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rfcx_frames.exceptions.ConfigurationError: api_url must be an http(s) URL ... got 'api.rfcx.org'
    """
    problem = not isinstance(value, str) or any(c.isspace() for c in value)
    if not problem:
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            problem = True
        problem = problem or parts.scheme not in ("http", "https") or not parts.hostname
    if problem:
        raise ConfigurationError(f"{name} must be an http(s) URL such as "
                                 f"{config.DEFAULT_API_URL}, got {value!r}",
                                 setting=name.split(" ")[0])
    return value


def is_local_failure(error: BaseException | None) -> bool:
    """Whether a connection failure is a local mistake that no retry can cure.

    A host name that does not exist (not a temporary resolver failure), and a refused
    connection to this machine (nothing listens on that port).

    Examples
    --------
    >>> is_local_failure(ConnectionResetError())
    False
    """
    if isinstance(error, NameResolutionError):
        cause = error.__cause__
        return not (isinstance(cause, socket.gaierror) and cause.errno == socket.EAI_AGAIN)
    if isinstance(error, NewConnectionError) and isinstance(error.__cause__,
                                                            ConnectionRefusedError):
        host = str(getattr(getattr(error, "conn", None), "host", "") or "")
        return _is_loopback(host)
    return False


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    """urllib3 Retry for the platform.

    - POSTs are retried on 429/503 (the ingress answers them before the application
      acts), never on other statuses nor on read errors (the server may have acted);
    - ``Retry-After`` is capped;
    - local mistakes (:func:`is_local_failure`) are not retried;
    - no attempt starts, and no wait begins, that would end after the request's deadline.
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if method.upper() not in _IDEMPOTENT:
            # urllib3's allowed_methods leaves POST out; the ingress's own answers are safe.
            return (_POST_STATUS_RETRY.get() and status_code in _PRE_APPLICATION
                    and status_code in (self.status_forcelist or ()))
        return super().is_retry(method, status_code, has_retry_after)

    def increment(self, method: str | None = None, url: str | None = None,
                  response: Any = None, error: Exception | None = None,
                  _pool: Any = None, _stacktrace: Any = None) -> _PlatformRetry:
        if is_local_failure(error):
            raise MaxRetryError(_pool, url, error)
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        until = _UNTIL.get()
        if until is not None:
            wait = new.get_retry_after(response) if response is not None else None
            if wait is None:
                wait = new.get_backoff_time()
            if time.monotonic() + wait >= until:
                raise MaxRetryError(_pool, url, _DeadlineReachedError("deadline reached"))
        return new

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
    deadline
        Overall seconds one request may take: connect, every read of the body and every
        retry (``None``: no limit beyond the timeouts). When it passes, the request raises
        :class:`~rfcx_frames.exceptions.DeadlineExceededError`.
    retries
        Attempts after the first one for transient failures.
    backoff_factor
        Exponential backoff factor in seconds.
    rate_limit
        Requests per minute; :data:`AUTO` (300/min on ``*.rfcx.org`` only) or ``None``
        (no limit).
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
        rate_limit: float | _Auto | None = AUTO,
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
        return (f"Session(timeout={self.timeout!r}, deadline={self.deadline!r}, "
                f"retries={self.retries}, rate_limit={self.rate_limit!r})")

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
        deadline: float | None = None,
    ) -> T:
        """Send a request and return ``parse(response)`` of a successful (< 400) response.

        ``parse`` runs inside the retry loop, so a body that is cut short or does not
        decode is fetched again (for idempotent methods). With ``raise_for_status=False``
        ``parse`` also receives error responses (the OAuth endpoints answer 4xx JSON).
        ``timeout`` and ``deadline`` replace the session's for this request. A POST is
        retried on 429/503 only with ``raise_for_status=True``: a caller that reads error
        answers itself (OAuth's 429 ``slow_down``) sees every one.

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
        send_headers: dict[str, str] = dict(headers or {})
        if auth:
            token = self._token()
            if token:
                send_headers["Authorization"] = f"Bearer {token}"
        wait = self.timeout if timeout is None else check_timeout(timeout)
        budget = self.deadline if deadline is None else check_deadline(deadline)
        body_retries = config.BODY_RETRIES if method.upper() in _IDEMPOTENT else 0
        attempt = 0
        # The clock starts with the first attempt: waits for the rate limiter or for a
        # free connection are the client's own queue, not the server's slowness.
        until: float | None = None
        while True:
            limiter = self.limiter_for(url)
            if limiter is not None:
                limiter.acquire()
            with self._lock:
                self.requests_sent += 1
            response: requests.Response | None = None
            try:
                with self._in_flight:
                    if until is None and budget is not None:
                        until = time.monotonic() + budget
                    response = self._send(method, url, until, params=params, data=data,
                                          files=files, headers=send_headers, timeout=wait,
                                          allow_redirects=allow_redirects,
                                          retry_post_status=raise_for_status)
                if raise_for_status and response.status_code >= 400:
                    raise error_from_response(response)
                return parse(response)
            except RFCxError:
                raise
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                    requests.exceptions.InvalidSchema) as exc:
                raise self._bad_url(url, exc) from None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError, ValueError,
                    _DeadlineReachedError) as exc:
                if response is not None:
                    response.close()  # never hand a half-read connection back to the pool
                reason = _reason(exc)
                if isinstance(reason, _DeadlineReachedError) or _passed(until):
                    raise self._deadline_error(method, url, budget, exc) from exc
                if is_local_failure(reason):
                    raise self._local_error(method, url, reason) from exc
                exhausted = isinstance(exc, requests.ConnectionError) and any(
                    isinstance(a, MaxRetryError) for a in exc.args)
                if exhausted or attempt >= body_retries:
                    raise ServerError(
                        f"{method} failed after retries: {_describe(exc)}",
                        url=strip_query(url),
                    ) from exc
                attempt += 1
                delay = min(config.BACKOFF_MAX, self.backoff_factor * 2 ** (attempt - 1))
                delay += random.uniform(0, config.BACKOFF_JITTER)
                if until is not None and time.monotonic() + delay >= until:
                    raise self._deadline_error(method, url, budget, exc) from exc
                log.debug("retrying %s %s after %s", method, strip_query(url), _describe(exc))
                time.sleep(delay)
            except requests.RequestException as exc:
                if response is not None:
                    response.close()
                if _passed(until):
                    raise self._deadline_error(method, url, budget, exc) from exc
                raise ServerError(f"{method} failed: {_describe(exc)}",
                                  url=strip_query(url)) from exc

    def _send(self, method: str, url: str, until: float | None, *,
              timeout: float | tuple[float, float], retry_post_status: bool,
              **options: Any) -> requests.Response:
        """One attempt (with urllib3's retries inside it), the body read before ``until``."""
        remaining = None if until is None else until - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise _DeadlineReachedError("deadline reached")
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        if remaining is not None:
            connect, read = min(connect, remaining), min(read, remaining)
        context = _UNTIL.set(until)
        post_context = _POST_STATUS_RETRY.set(retry_post_status)
        try:
            response = self.http.request(method, url, timeout=(connect, read), stream=True,
                                         **options)
            log.debug("%s %s -> %s", method, strip_query(url), response.status_code)
            try:
                _read_body(response, until, read)
            except BaseException:
                response.close()
                raise
        finally:
            _POST_STATUS_RETRY.reset(post_context)
            _UNTIL.reset(context)
        return response

    def _setting_for(self, url: str) -> str | None:
        """The name of the setting whose base URL ``url`` lies under (longest match)."""
        target = urlsplit(url)
        best: tuple[int, str] | None = None
        for name, base in self.settings.items():
            parts = urlsplit(base)
            same = (parts.scheme, parts.hostname, parts.port) == (
                target.scheme, target.hostname, target.port)
            if not same:
                continue
            score = len(parts.path) if target.path.startswith(parts.path) else -1
            if best is None or score > best[0]:
                best = (score, name)
        return None if best is None else best[1]

    def _local_error(self, method: str, url: str, reason: BaseException) -> RFCxError:
        target = urlsplit(url)
        host = target.hostname or ""
        if isinstance(reason, NameResolutionError):
            problem = f"the host {host!r} does not resolve (a typo, or no network?)"
        else:
            port = target.port or (443 if target.scheme == "https" else 80)
            problem = (f"connection refused, nothing listens on {host}:{port} "
                       f"(is the server or the emulator running?)")
        setting = self._setting_for(url)
        if setting is None:
            return ServerError(f"{method} failed: {problem}", url=strip_query(url))
        base = strip_query(self.settings[setting])
        return ConfigurationError(f"cannot reach {setting} {base}: {problem}; check {setting}",
                                  setting=setting.split(" ")[0], url=strip_query(url))

    def _bad_url(self, url: str, exc: BaseException) -> ConfigurationError:
        setting = self._setting_for(url) if isinstance(url, str) else None
        name = setting or "url"
        return ConfigurationError(f"{name} is not a usable http(s) URL ({type(exc).__name__}): "
                                  f"{strip_query(str(url))!r}", setting=name.split(" ")[0])

    def _deadline_error(self, method: str, url: str, budget: float | None,
                        exc: BaseException) -> DeadlineExceededError:
        reason = _reason(exc)
        last = "" if isinstance(reason, _DeadlineReachedError) else f"; last problem: {_describe(exc)}"
        return DeadlineExceededError(
            f"{method} did not complete within its deadline of {budget:g} s (connect, "
            f"reads and retries; set Client(deadline=...)){last}",
            deadline=float(budget or 0.0), url=strip_query(url))


def _passed(until: float | None) -> bool:
    return until is not None and time.monotonic() >= until


def _reason(exc: BaseException) -> BaseException:
    """The innermost cause urllib3 reported (the reason of a ``MaxRetryError``)."""
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, MaxRetryError) and arg.reason is not None:
            return arg.reason
    return exc


def _read_body(response: requests.Response, until: float | None, read_timeout: float) -> None:
    """Read the whole body into ``response`` (as ``stream=False`` would), before ``until``.

    Each read returns what has arrived, so a server that trickles bytes cannot hold the
    request past its deadline; the socket's timeout shrinks to the time left.
    """
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    chunks: list[bytes] = []
    try:
        while True:
            if until is not None:
                remaining = until - time.monotonic()
                if remaining <= 0:
                    raise _DeadlineReachedError("deadline reached while reading the body")
                if sock is not None:
                    sock.settimeout(max(0.001, min(read_timeout, remaining)))
            chunk = raw.read1(_READ_CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except (ReadTimeoutError, OSError) as exc:
        raise requests.ConnectionError(exc) from exc
    response._content = b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]


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
