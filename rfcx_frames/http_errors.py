"""Failures of a request as typed exceptions, with queries and tokens kept out of texts and logs.

An error response becomes the :mod:`rfcx_frames.exceptions` class for its status with the
server's message and request id; a local mistake (a host that does not resolve, a refused
port on this machine, a malformed URL) becomes a
:class:`~rfcx_frames.exceptions.ConfigurationError` naming the setting; a spent deadline
becomes a :class:`~rfcx_frames.exceptions.DeadlineExceededError`. Every URL in a message
is cut before its query string (pre-signed URLs carry their signature there), and the
urllib3 loggers get a filter that does the same to their lines.

Examples
--------
>>> import requests
>>> r = requests.Response()
>>> r.status_code, r._content, r.url = 503, b"<h1>Busy</h1>", "http://h/s?sig=1"
>>> str(error_from_response(r))
'HTTP 503: Busy (http://h/s)'
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from . import config
from .exceptions import (
    ConfigurationError,
    DeadlineExceededError,
    RFCxError,
    ServerError,
    error_for_status,
)
from .urls import is_loopback, setting_for, strip_query

_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")
_QUERY_RE = re.compile(r"\?[^\s\"']*")
_URL_RE = re.compile(r"https?://\S+")
_URL_FIELD_RE = re.compile(r"url: \S+")


class DeadlineReachedError(Urllib3Error):
    """The request's deadline passed, or the next attempt would start after it.

    An internal signal (a urllib3 error, so urllib3 wraps it like any other reason);
    callers see :class:`~rfcx_frames.exceptions.DeadlineExceededError`.
    """


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


def error_from_response(response: requests.Response) -> RFCxError:
    """The typed exception for an error response, with the server's message and request id.

    Parameters
    ----------
    response
        A response with status >= 400, its body read.

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


def is_local_failure(error: BaseException | None) -> bool:
    """Whether a connection failure is a local mistake that no retry can cure.

    A host name that does not exist (not a temporary resolver failure), and a refused
    connection to this machine (nothing listens on that port).

    Parameters
    ----------
    error
        The reason urllib3 gave for a failed attempt (``None``: none).

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
        return is_loopback(host)
    return False


def innermost_reason(exc: BaseException) -> BaseException:
    """The innermost cause urllib3 reported (the reason of a ``MaxRetryError``), else ``exc``.

    Parameters
    ----------
    exc
        What ``requests`` raised; urllib3 wraps the real cause in a ``MaxRetryError``.

    Examples
    --------
    >>> innermost_reason(requests.ConnectionError(MaxRetryError(None, "u", OSError("x"))))
    OSError('x')
    """
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, MaxRetryError) and arg.reason is not None:
            return arg.reason
    return exc


def describe(exc: BaseException) -> str:
    """``"<type>: <text>"`` of the innermost reason, URLs cut out, at most 200 characters.

    Exception texts from urllib3 repeat the full URL (with its query), so they never go
    into a message as they are.

    Parameters
    ----------
    exc
        The failure to name in a message.

    Examples
    --------
    >>> describe(OSError("reset by https://h/a?sig=1"))
    'OSError: reset by <url>'
    """
    reason = innermost_reason(exc)
    text = _URL_FIELD_RE.sub("url: <url>", _URL_RE.sub("<url>", str(reason)))
    return f"{type(reason).__name__}: {text[:200]}"


def local_error(method: str, url: str, reason: BaseException,
                settings: Mapping[str, str]) -> RFCxError:
    """The error for a local failure (:func:`is_local_failure`), naming the setting to fix.

    Parameters
    ----------
    method, url
        The request.
    reason
        The ``NameResolutionError`` or refused ``NewConnectionError``.
    settings
        The session's base URLs by setting name; a URL under none of them raises a
        ``ServerError`` instead (the URL came from the platform, not from a setting).

    Examples
    --------
    >>> err = local_error("GET", "http://h:1/x", OSError(), {"api_url": "http://h:1"})
    >>> err.setting, "nothing listens on h:1" in str(err)
    ('api_url', True)
    """
    target = urlsplit(url)
    host = target.hostname or ""
    if isinstance(reason, NameResolutionError):
        problem = f"the host {host!r} does not resolve (a typo, or no network?)"
    else:
        port = target.port or (443 if target.scheme == "https" else 80)
        problem = (f"connection refused, nothing listens on {host}:{port} "
                   f"(is the server or the emulator running?)")
    setting = setting_for(settings, url)
    if setting is None:
        return ServerError(f"{method} failed: {problem}", url=strip_query(url))
    base = strip_query(settings[setting])
    return ConfigurationError(f"cannot reach {setting} {base}: {problem}; check {setting}",
                              setting=setting.split(" ")[0], url=strip_query(url))


def bad_url_error(url: str, exc: BaseException,
                  settings: Mapping[str, str]) -> ConfigurationError:
    """The error for a URL ``requests`` cannot send (malformed, no or unknown scheme).

    Parameters
    ----------
    url
        The URL as given.
    exc
        The ``requests`` exception (only its type is shown).
    settings
        The session's base URLs by setting name, to name the one at fault.

    Examples
    --------
    >>> str(bad_url_error("http//x?k=1", ValueError(), {}))
    "url is not a usable http(s) URL (ValueError): 'http//x'"
    """
    setting = setting_for(settings, url) if isinstance(url, str) else None
    name = setting or "url"
    return ConfigurationError(f"{name} is not a usable http(s) URL ({type(exc).__name__}): "
                              f"{strip_query(str(url))!r}", setting=name.split(" ")[0])


def deadline_error(method: str, url: str, budget: float | None,
                   exc: BaseException) -> DeadlineExceededError:
    """The error for a request whose deadline passed, with the last problem seen if any.

    Parameters
    ----------
    method, url
        The request.
    budget
        The deadline in seconds.
    exc
        What ended the last attempt.

    Examples
    --------
    >>> err = deadline_error("GET", "http://h/x", 5.0, DeadlineReachedError("late"))
    >>> err.deadline, str(err).startswith("GET did not complete within its deadline of 5 s")
    (5.0, True)
    """
    reason = innermost_reason(exc)
    last = "" if isinstance(reason, DeadlineReachedError) else f"; last problem: {describe(exc)}"
    return DeadlineExceededError(
        f"{method} did not complete within its deadline of {budget:g} s (connect, "
        f"reads and retries; set Client(deadline=...)){last}",
        deadline=float(budget or 0.0), url=strip_query(url))
