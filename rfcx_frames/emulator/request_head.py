"""Request heads read as ``http.server`` reads them, without the ``email`` package's parser.

``BaseHTTPRequestHandler.parse_request`` hands the header block to ``email.parser``, which
costs a quarter of a small request's time in the emulator. :class:`RequestHead` reads the
request line with the same checks and answers (400, 505, 431), and the headers by the same
rules as that parser: lines up to the first one that is no header, continuation lines
joined to their header, the first value of a name returned by ``get``.

Examples
--------
>>> h = parse_headers("Host: a\\r\\nX-Long: one\\r\\n two\\r\\nhost: b\\r\\n")
>>> h.get("HOST"), h.get("x-long"), len(h.items())
('a', 'one\\r\\n two', 3)
"""

from __future__ import annotations

import http.client
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Protocol

#: ``http.client``'s limits on a header line and on the number of headers.
MAX_LINE = 65536
MAX_HEADERS = 100
#: A header line, a continuation line or a Unix "From " line (``email.feedparser``).
_HEADERISH = re.compile(r"From |[\041-\071\073-\176]*:|[\t ]")
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


class Headers:
    """Header fields in the order received; :meth:`get` gives a name's first value."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        self._first: dict[str, str] = {}
        for name, value in pairs:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (any case), else ``default``."""
        return self._first.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        """Every ``(name, value)``, repeats included, in order."""
        return list(self._pairs)


def parse_headers(text: str) -> Headers:
    """The header fields of a decoded header block (see the module's rules).

    Parameters
    ----------
    text
        The block as ISO-8859-1 text, without the empty line ending it.

    Examples
    --------
    >>> parse_headers("A: 1\\r\\nnot a header\\r\\nB: 2\\r\\n").items()
    [('A', '1')]
    """
    pairs: list[tuple[str, str]] = []
    source: list[str] = []
    lines = _LINES.findall(text)
    for line in lines:
        if not _HEADERISH.match(line):
            break  # the rest would be the message's body
        if line[0] in " \t":
            if source:
                source.append(line)
            continue
        if source:
            pairs.append(_field(source))
            source = []
        if line.startswith("From ") or line.startswith(":"):
            continue  # an envelope line or a field without a name: not a header
        source = [line]
    if source:
        pairs.append(_field(source))
    return Headers(pairs)


def _field(source: list[str]) -> tuple[str, str]:
    name, value = source[0].split(":", 1)
    return name, (value.lstrip(" \t") + "".join(source[1:])).rstrip("\r\n")


def read_headers(rfile: _Lines) -> Headers:
    """Read a request's header block from ``rfile`` up to its empty line.

    Raises
    ------
    http.client.LineTooLong
        A line longer than :data:`MAX_LINE`.
    http.client.HTTPException
        More than :data:`MAX_HEADERS` lines.
    """
    raw: list[bytes] = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            break
        raw.append(line)
        if len(raw) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
    return parse_headers(b"".join(raw).decode("iso-8859-1"))


def _version(text: str) -> tuple[int, int] | None:
    """``HTTP/x.y`` as numbers, or ``None`` when malformed."""
    if not text.startswith("HTTP/"):
        return None
    parts = text[5:].split(".")
    if len(parts) != 2 or any(not p.isdigit() or len(p) > 10 for p in parts):
        return None
    return int(parts[0]), int(parts[1])


class RequestHead(BaseHTTPRequestHandler):
    """A request handler whose :meth:`parse_request` uses :func:`read_headers`.

    Every method goes to :meth:`handle_request`, which a subclass defines.
    """

    headers: Headers  # type: ignore[assignment]
    raw_requestline: bytes  # set by handle_one_request before parse_request

    def handle_request(self) -> None:
        """Answer the request just parsed."""
        raise NotImplementedError

    def do_GET(self) -> None:
        self.handle_request()

    def do_HEAD(self) -> None:
        self.handle_request()

    def do_OPTIONS(self) -> None:
        self.handle_request()

    def do_POST(self) -> None:
        self.handle_request()

    def do_PUT(self) -> None:
        self.handle_request()

    def do_DELETE(self) -> None:
        self.handle_request()

    def do_PATCH(self) -> None:
        self.handle_request()

    def parse_request(self) -> bool:
        """Read the request line and headers; answer and return ``False`` when malformed."""
        self.command = None  # type: ignore[assignment]
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False
        if len(words) >= 3:
            number = _version(words[-1])
            if number is None:
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({words[-1]!r})")
                return False
            if number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                                f"Invalid HTTP version ({words[-1][5:]})")
                return False
            self.request_version = words[-1]
        if len(words) > 3 or len(words) < 2:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({self.requestline!r})")
            return False
        if len(words) == 2:
            self.close_connection = True
            if words[0] != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({words[0]!r})")
                return False
        self.command, self.path = words[0], words[1]
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")  # never an absolute URI without scheme
        try:
            self.headers = read_headers(self.rfile)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers",
                            str(err))
            return False
        return self._connection_options()

    def _connection_options(self) -> bool:
        connection = (self.headers.get("Connection") or "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = (self.headers.get("Expect") or "").lower()
        if (expect == "100-continue" and self.protocol_version >= "HTTP/1.1"
                and self.request_version >= "HTTP/1.1"):
            return self.handle_expect_100()
        return True
