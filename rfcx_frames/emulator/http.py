"""A minimal request/response model and router for the emulator's handlers.

Handlers are plain functions ``(Request) -> Response``; :mod:`.server` turns sockets into
:class:`Request` objects and writes :class:`Response` objects back, so routes stay free of
socket code and are easy to read next to the platform's own route files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .auth import User


class HTTPError(Exception):
    """Raised by a handler to answer with the platform's JSON error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class UploadedFile:
    """One file part of a multipart body."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Request:
    """An incoming request, already parsed."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    base_url: str
    client_ip: str = "127.0.0.1"
    params: dict[str, str] = field(default_factory=dict)
    user: User | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _form: tuple[dict[str, list[str]], list[UploadedFile]] | None = None

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
            self._form = parse_body(self.header("content-type") or "", self.body)
        return self._form


@dataclass
class Response:
    """An outgoing response: ``body`` is bytes, an iterator of chunks, or a file path."""

    status: int = 200
    body: bytes | Iterable[bytes] | Path = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_length: int | None = None

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


def refused_body(content_length: str | None) -> int | None:
    """The ingress's status for a request body it will not read, else ``None``.

    A ``Content-Length`` that is not a plain count of bytes is a 400, one beyond
    :data:`MAX_BODY_BYTES` a 413; both are answered before a byte of the body is read.

    Examples
    --------
    >>> [refused_body(v) for v in (None, "12", "abc", "-1", "1e12", str(2**63 - 1))]
    [None, None, 400, 400, 400, 413]
    """
    if content_length is None:
        return None
    text = content_length.strip()
    if not (text.isascii() and text.isdigit()):
        return 400
    return 413 if int(text) > MAX_BODY_BYTES else None


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
        return _parse_multipart(content_type, body)
    return parse_query(body.decode("utf-8", errors="replace")), []


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]],
                                                              list[UploadedFile]]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    fields: dict[str, list[str]] = {}
    files: list[UploadedFile] = []
    if not message.is_multipart():
        raise HTTPError(400, "Malformed multipart body")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        if name.endswith("[]"):
            name = name[:-2]
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files.append(UploadedFile(name, filename, part.get_content_type(), data))
        else:
            charset = part.get_content_charset() or "utf-8"
            fields.setdefault(name, []).append(data.decode(charset, errors="replace"))
    return fields, files


def iter_file(path: Path, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
    """Read a file in chunks, so large bodies stream instead of sitting in memory."""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            if not chunk:
                return
            yield chunk
