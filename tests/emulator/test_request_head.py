"""Request heads: the emulator's reader agrees with ``http.server``'s, answers included."""

from __future__ import annotations

import email.parser
import io
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rfcx_frames.emulator import Emulator
from rfcx_frames.emulator.request_head import parse_headers, read_headers

BLOCKS = [
    "Host: a\r\nAccept: */*\r\n",
    "Host: a\r\nhost: b\r\nHOST: c\r\n",
    "X-Folded: one\r\n  two\r\n\tthree\r\nNext: x\r\n",
    "  leading continuation\r\nHost: a\r\n",
    "Host: a\r\nnot a header line\r\nAfter: lost\r\n",
    "From someone\r\nHost: a\r\n",
    "Host: a\r\nFrom middle\r\nB: 2\r\n",
    ": no name\r\nHost: a\r\n",
    "Empty:\r\nSpaces:    \r\nTabbed:\tv \r\n",
    "Bare-LF: a\nOther: b\n",
    "Colon-In-Value: a: b: c\r\n",
    "Weird-\u00e9: latin\r\n",
    "Host: a\rInner: cr\r\n",
]


def _stdlib(block: str) -> list[tuple[str, str]]:
    message = email.parser.Parser().parsestr(block + "\r\n")
    return list(message.items())


@pytest.mark.parametrize("block", BLOCKS, ids=range(len(BLOCKS)))
def test_headers_read_as_the_email_parser_reads_them(block: str) -> None:
    ours = parse_headers(block)
    expected = _stdlib(block)
    assert ours.items() == expected
    for name, _ in expected:
        assert ours.get(name.upper()) == email.parser.Parser().parsestr(block + "\r\n")[name]
    assert ours.get("Missing") is None and ours.get("Missing", "d") == "d"


def test_header_block_limits() -> None:
    assert read_headers(io.BytesIO(b"A: 1\r\n\r\nbody")).items() == [("A", "1")]
    with pytest.raises(Exception, match="got more than 65536 bytes"):
        read_headers(io.BytesIO(b"A: " + b"x" * 70000 + b"\r\n\r\n"))
    with pytest.raises(Exception, match="got more than 100 headers"):
        read_headers(io.BytesIO(b"A: 1\r\n" * 101 + b"\r\n"))


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


class _Stdlib(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def stdlib_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stdlib)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _status(answer: bytes) -> bytes:
    # An error before the version is known is written HTTP/0.9-style: body only.
    if answer.startswith(b"HTTP/"):
        return answer.split(b" ", 2)[1]
    return answer.split(b"Error code: ", 1)[1][:3]


@pytest.mark.parametrize(("request_head", "status"), [
    (b"GET /health-check HTTP/1.1\r\nConnection: close\r\n\r\n", b"200"),
    (b"GET /health-check HTTP/2.0\r\n\r\n", b"505"),
    (b"GET /health-check HTTP/1.x\r\n\r\n", b"400"),
    (b"GET /health-check HTTP/1.1 extra\r\n\r\n", b"400"),
    (b"POST /health-check\r\n\r\n", b"400"),
    (b"GET /health-check HTTP/1.1\r\n" + b"A: 1\r\n" * 101 + b"\r\n", b"431"),
    (b"GET /health-check HTTP/1.1\r\nA: " + b"x" * 70000 + b"\r\n\r\n", b"431"),
])
def test_malformed_request_heads_get_the_stdlib_servers_answers(
        demo_emulator: Emulator, stdlib_port: int, request_head: bytes, status: bytes) -> None:
    ours = _raw(demo_emulator.port, request_head)
    theirs = _raw(stdlib_port, request_head)
    assert _status(ours) == _status(theirs) == status, ours[:200]
    if not theirs.startswith(b"HTTP/"):
        assert ours == theirs
