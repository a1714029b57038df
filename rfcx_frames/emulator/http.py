"""A minimal request/response model and router for the emulator's handlers.

Handlers are plain functions ``(Request) -> Response``; :mod:`.server` turns sockets into
:class:`Request` objects and writes :class:`Response` objects back, so routes stay free of
socket code and are easy to read next to the platform's own route files.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

from .auth import User
from .bodies import BodyError, UploadedFile, parse_multipart


class HTTPError(Exception):
    """Raised by a handler to answer with the platform's JSON error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    """An incoming request, already parsed; its body is read only when a route asks."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    base_url: str
    client_ip: str = "127.0.0.1"
    params: dict[str, str] = field(default_factory=dict)
    user: User | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: The body as it arrived (spooled: memory when small, disk when large), if any.
    stream: IO[bytes] | None = None
    #: Where large multipart file parts are written.
    spool_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    #: The form's field names as sent (``x`` a string, ``x[]`` a list), after :meth:`form`.
    form_names: list[str] = field(default_factory=list)
    _body: bytes | None = None
    _form: tuple[dict[str, list[str]], list[UploadedFile]] | None = None

    @property
    def body(self) -> bytes:
        """The whole body (routes with small bodies; uploads read :attr:`stream`)."""
        if self._body is None:
            if self.stream is None:
                self._body = b""
            else:
                self.stream.seek(0)
                self._body = self.stream.read()
        return self._body

    def close(self) -> None:
        """Drop the spooled body and file parts (their disk files go with them)."""
        for upload in self._form[1] if self._form else []:
            upload.file.close()
        if self.stream is not None:
            self.stream.close()

    def header(self, name: str) -> str | None:
        """A header value, case-insensitively."""
        return self.headers.get(name.lower())

    def bearer(self) -> str | None:
        """The bearer token, or ``None``.

        Parsed as passport-jwt's ``fromAuthHeaderAsBearerToken`` does: a scheme, white
        space, a value, the scheme compared case-insensitively to ``bearer``; a bare token
        (no scheme) is no token, so the platform answers 401.
        """
        match = re.search(r"(\S+)\s+(\S+)", self.header("authorization") or "")
        if match is None or match.group(1).lower() != "bearer":
            return None
        return match.group(2)

    def form(self) -> tuple[dict[str, list[str]], list[UploadedFile]]:
        """Form fields (urlencoded, multipart or JSON object) and uploaded files."""
        if self._form is None:
            content_type = self.header("content-type") or ""
            if content_type.split(";")[0].strip().lower() == "multipart/form-data":
                try:
                    fields, files, self.form_names = parse_multipart(
                        content_type, self.stream or io.BytesIO(), self.spool_dir)
                except BodyError as exc:
                    raise HTTPError(exc.status, str(exc)) from exc
                self._form = fields, files
            else:
                self._form = parse_body(content_type, self.body)
                self.form_names = _shaped_names(content_type, self.body, self._form[0])
        return self._form


def _shaped_names(content_type: str, body: bytes, fields: dict[str, list[str]]) -> list[str]:
    # Express sees a JSON list, or a repeated form field, as an array: name it "x[]".
    if content_type.split(";")[0].strip().lower() == "application/json":
        obj = json.loads(body or b"{}")
        if isinstance(obj, dict):
            return [f"{k}[]" if isinstance(v, list) else k for k, v in obj.items()]
    return [name if len(values) == 1 else f"{name}[]" for name, values in fields.items()]


@dataclass
class Response:
    """An outgoing response: ``body`` is bytes, an iterator of chunks, or a file path."""

    status: int = 200
    body: bytes | Iterable[bytes] | Path = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_length: int | None = None
    #: Drop the connection once this answer is sent (a server that dies after answering).
    crash_after: bool = False
    #: Written with a bare ``res.end(body)`` upstream: no ``Content-Length`` on ``HEAD``.
    implicit_length: bool = False

    def header(self, name: str, value: str) -> Response:
        """Add a header and return self, for chaining."""
        self.headers.append((name, value))
        return self


def etag(body: bytes) -> str:
    """A weak ETag of the form Express produces (length and a sha1 digest)."""
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode("ascii")[:27]
    return f'W/"{len(body):x}-{digest}"'


def json_response(obj: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A JSON body serialised compactly, as ``JSON.stringify`` does."""
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return encoded_json_response(body, status, headers)


def encoded_json_response(body: bytes, status: int = 200,
                          headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A JSON body already encoded (by SQLite, :mod:`~rfcx_frames.emulator.json_sql`)."""
    resp = Response(status=status, body=body, headers=list(headers))
    resp.header("Content-Type", "application/json; charset=utf-8")
    resp.header("ETag", etag(body))
    return resp


def error_response(status: int, message: str) -> Response:
    """The platform's error body ``{"message": ..., "error": {"status": ...}}``."""
    return json_response({"message": message, "error": {"status": status}}, status=status)


def text_response(text: str, status: int = 200, content_type: str | None = "text/plain; "
                  "charset=utf-8") -> Response:
    """A plain-text body (``content_type=None`` sends none, like the platform's 401)."""
    resp = Response(status=status, body=text.encode("utf-8"))
    if content_type:
        resp.header("Content-Type", content_type)
    return resp


def s3_error(status: int, code: str, message: str) -> Response:
    """The XML error an S3 object store answers with (blob downloads, upload PUTs).

    Parameters
    ----------
    status
        The HTTP status.
    code, message
        S3's error code (``NoSuchKey``) and its sentence.

    Examples
    --------
    >>> s3_error(404, "NoSuchKey", "The specified key does not exist.").status
    404
    """
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
           f"<Message>{message}</Message></Error>")
    resp = Response(status=status, body=xml.encode())
    return resp.header("Content-Type", "application/xml")


def signature_mismatch() -> Response:
    """The object store's 403 for a missing, wrong or tampered pre-signed URL signature.

    Examples
    --------
    >>> b"SignatureDoesNotMatch" in signature_mismatch().body
    True
    """
    return s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does "
                    "not match the signature you provided.")


NGINX_PAGES = {
    400: "400 Bad Request",
    413: "413 Request Entity Too Large",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


#: The largest request body the platform's ingress passes on (its ``proxy-body-size``).
MAX_BODY_BYTES = 100 * 1024 * 1024


def refused_body(content_length: str | None, limit: int | None = MAX_BODY_BYTES) -> int | None:
    """The status for a request body that will not be read, else ``None``.

    A ``Content-Length`` that is not a plain count of bytes is a 400, one beyond
    ``limit`` (the ingress's :data:`MAX_BODY_BYTES`; ``None`` where no ingress stands in
    front, as for object storage) a 413; both are answered before a byte of the body is
    read.

    Examples
    --------
    >>> [refused_body(v) for v in (None, "12", "abc", "-1", "1e12", str(2**63 - 1))]
    [None, None, 400, 400, 400, 413]
    >>> refused_body(str(300 * 2**20), limit=None) is None
    True
    """
    if content_length is None:
        return None
    text = content_length.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return 400
    return 413 if limit is not None and int(text) > limit else None


def nginx_response(status: int) -> Response:
    """The HTML body an nginx ingress answers with when it, not the app, fails."""
    title = NGINX_PAGES[status]
    html = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n")
    return text_response(html, status=status, content_type="text/html")


Handler = Callable[[Request], Response]


@dataclass
class Route:
    """One route: method, path pattern and handler; ``name`` labels it in statistics."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str


class Router:
    """Routes matched in order; path patterns use ``{name}`` placeholders (no slashes)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, path: str, handler: Handler, *, pattern: str | None = None) -> None:
        """Register ``handler`` for ``method`` and ``path`` (or a raw regex ``pattern``)."""
        regex = pattern or "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$"
        self.routes.append(Route(method, re.compile(regex), handler, f"{method} {path}"))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route for a request, its path parameters, and whether the path exists at all."""
        path_known = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m:
                path_known = True
                if route.method == method:
                    return route, m.groupdict(), True
        return None, {}, path_known


def parse_query(raw: str) -> dict[str, list[str]]:
    """Parse a query string the way Express's "extended" parser does for flat arrays.

    ``x[]=a&x[]=b``, ``x=a&x=b`` and ``x[]=a`` all give ``{"x": ["a", "b"]}``-style lists.

    Examples
    --------
    >>> parse_query("streams%5B%5D=a&streams%5B%5D=b&limit=10")
    {'streams': ['a', 'b'], 'limit': ['10']}
    """
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key.endswith("[]"):
            key = key[:-2]
        out.setdefault(key, []).append(value)
    return out


def parse_body(content_type: str, body: bytes) -> tuple[dict[str, list[str]], list[UploadedFile]]:
    """Fields and files of a urlencoded, multipart or JSON body.

    Examples
    --------
    >>> parse_body("application/x-www-form-urlencoded", b"a=1&b=2&b=3")[0]
    {'a': ['1'], 'b': ['2', '3']}
    """
    ctype = content_type.split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            obj = json.loads(body or b"{}")
        except ValueError as exc:
            raise HTTPError(400, "Invalid JSON body") from exc
        fields: dict[str, list[str]] = {}
        if isinstance(obj, dict):
            for key, value in obj.items():
                values = value if isinstance(value, list) else [value]
                fields[key] = [v if isinstance(v, str) else json.dumps(v) for v in values]
        return fields, []
    if ctype == "multipart/form-data":
        fields, files, _ = parse_multipart(content_type, io.BytesIO(body),
                                           Path(tempfile.gettempdir()))
        return fields, files
    return parse_query(body.decode("utf-8", errors="replace")), []


def iter_file(path: Path, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """Read a file in chunks, so large bodies stream instead of sitting in memory."""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            if not chunk:
                return
            yield chunk
