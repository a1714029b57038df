"""The exceptions rfcx_frames raises.

Every failure of the platform raises a subclass of :class:`RFCxError` carrying the HTTP
status, the server's message and the request id, never a token. Bad arguments raise
the built-in ``ValueError``/``TypeError`` with the argument's name.

Examples
--------
>>> err = NotFoundError("Stream not found", status=404, request_id="abc")
>>> isinstance(err, RFCxError), err.status
(True, 404)
"""

from __future__ import annotations

from typing import Any


class RFCxError(Exception):
    """Base class of every platform failure.

    Parameters
    ----------
    message
        The server's message (its JSON ``message``, or the start of a non-JSON body).
    status
        The HTTP status, or ``None`` when no response arrived (connection failures).
    request_id
        The ``X-Request-Id`` the server gave the response, to quote in a support request.
    url
        The request URL without its query string.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.url = url

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.insert(0, f"HTTP {self.status}:")
        if self.url:
            parts.append(f"({self.url})")
        if self.request_id:
            parts.append(f"[request id {self.request_id}]")
        return " ".join(parts)


class AuthenticationError(RFCxError):
    """401: the token is missing, unknown or expired; or a login flow failed."""


class ForbiddenError(RFCxError):
    """403: the signed-in user may not read or change this resource."""


class NotFoundError(RFCxError):
    """404: the stream, segment or upload does not exist."""


class ValidationError(RFCxError):
    """400: the platform rejected the parameters; ``message`` is its explanation."""


class ServerError(RFCxError):
    """5xx (or a broken connection) that persisted after every retry."""


class DeadlineExceededError(ServerError):
    """The request's overall deadline passed (connect, every read and every retry).

    ``deadline`` is the budget in seconds (``Client(deadline=...)``). A server that
    answers very slowly, or keeps failing until the budget is spent, ends here instead of
    stalling the call.
    """

    def __init__(self, message: str, *, deadline: float, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.deadline = deadline


class ConfigurationError(RFCxError, ValueError):
    """A local setting is wrong: a malformed URL, a host that does not resolve, a port
    on this machine where nothing listens, a timeout that is not positive.

    Raised at once, never retried; ``setting`` names the setting to fix (``api_url``,
    ``timeout`` ...). It is also a ``ValueError``, like every other bad argument.
    """

    def __init__(self, message: str, *, setting: str, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.setting = setting


class RateLimitError(ServerError):
    """429 Too Many Requests after every retry.

    The platform's ingress answers an exceeded rate limit with a plain 503, which cannot
    be told apart from other 503s and raises :class:`ServerError`.
    """


class DownloadError(RFCxError):
    """One or more audio downloads failed; ``errors`` maps each item to its exception."""

    def __init__(self, message: str, errors: dict[str, BaseException]) -> None:
        super().__init__(message)
        self.errors = errors


class NotCachedError(RFCxError):
    """``cache="offline"`` was asked but the cache cannot answer completely.

    ``missing`` lists the ``(stream_id, start, end)`` windows that would need a fetch.
    """

    def __init__(self, message: str, missing: list[tuple[str, object, object]]) -> None:
        super().__init__(message)
        self.missing = missing


class CacheError(RFCxError):
    """The local cache folder cannot be used: read-only, full, missing and not creatable,
    or a cache file that could not be read for a reason other than damage (``EMFILE``,
    ``EIO``).

    ``path`` is the cache folder (or the audio store folder); ``cause`` the ``OSError``.
    Nothing stored is deleted because of it: retrying later reads the same files. The
    message names the folder and the two ways out: point ``RFCX_FRAMES_CACHE`` (or
    ``Client(cache_dir=...)``) at a usable folder, or pass ``cache=False``.

    Examples
    --------
    >>> err = CacheError("/tmp/c", OSError(30, "Read-only file system"))
    >>> isinstance(err, RFCxError), "RFCX_FRAMES_CACHE" in str(err), "cache=False" in str(err)
    (True, True, True)
    """

    def __init__(self, path: object, cause: BaseException | None = None, *,
                 action: str = "write to") -> None:
        reason = _reason(cause)
        super().__init__(
            f"cannot {action} the cache folder {path}{': ' + reason if reason else ''}. "
            "Nothing stored was deleted. Point RFCX_FRAMES_CACHE (or Client(cache_dir=...)) "
            "at a writable folder with free space, or pass cache=False to bypass the cache."
        )
        self.path = str(path)
        self.cause = cause


def _reason(cause: BaseException | None) -> str:
    if cause is None:
        return ""
    if isinstance(cause, OSError) and cause.strerror:
        where = f" ({cause.filename})" if cause.filename else ""
        return f"[Errno {cause.errno}] {cause.strerror}{where}"
    return f"{type(cause).__name__}: {cause}"


class CrowdedInstantWarning(UserWarning):
    """More rows share one start (millisecond) than one page holds.

    The platform orders rows by start only, so inside such an instant offset pages may
    skip or repeat rows; repeats are dropped, but a skipped row cannot be detected. Narrow
    the query (``classifiers=``, ``classifications=``, ``streams=``) to be sure.
    """


STATUS_ERRORS: dict[int, type[RFCxError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[RFCxError]:
    """The exception class for an HTTP status.

    Examples
    --------
    >>> error_for_status(404).__name__
    'NotFoundError'
    >>> error_for_status(502).__name__
    'ServerError'
    """
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    if status >= 500:
        return ServerError
    return RFCxError


class PartialWriteError(RFCxError):
    """A write of many rows (reviews, uploaded detections) that the platform took in part.

    What was applied stays applied (the cached windows it touched are already
    forgotten); retry ``failed`` after fixing what ``errors`` say.

    Attributes
    ----------
    applied
        A DataFrame of what the platform applied, as the call returns it on success.
    failed
        The input rows that failed, with an ``error`` column giving each one's reason.
    errors
        The exception of each failed request, in the order sent.
    """

    def __init__(self, message: str, *, applied: Any, failed: Any,
                 errors: list[BaseException]) -> None:
        super().__init__(message)
        self.applied = applied
        self.failed = failed
        self.errors = errors


class UnknownIdError(NotFoundError):
    """Ids passed to a query that do not exist, or that the signed-in user cannot read.

    Raised before (streams, projects) or after (classifiers, classification values) the
    query, instead of returning a frame silently missing those ids' rows.

    Attributes
    ----------
    argument
        The argument that held them (``"streams"``, ``"classifications"``...).
    unknown
        Every id of that argument not found.
    names
        Values that are names, not ids, each with the id(s) it names.
    """

    def __init__(self, message: str, *, argument: str, unknown: list[object],
                 names: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.unknown = unknown
        self.names = names or {}
