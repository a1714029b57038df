"""Small HTTP relays for tests: a server on loopback in a thread, and answers passed on.

Tests put these between the client and the emulator to see or change what travels: a
forwarding proxy, a server that does not name itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

S = TypeVar("S", bound=ThreadingHTTPServer)

#: Headers about one connection, never passed on by a relay (it sets its own length).
HOP_BY_HOP = frozenset({"content-length", "connection", "keep-alive", "transfer-encoding",
                        "proxy-connection"})


def pass_answer(handler: BaseHTTPRequestHandler, status: int, body: bytes,
                headers: Iterable[tuple[str, str]], drop: Iterable[str] = ()) -> None:
    """Answer ``handler``'s request with ``status``, ``headers`` (less ``drop``) and ``body``."""
    skipped = HOP_BY_HOP | {name.lower() for name in drop}
    handler.send_response(status)
    for name, value in headers:
        if name.lower() not in skipped:
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextmanager
def serving(server: S) -> Iterator[S]:
    """``server`` answering on its own thread until the block ends."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
