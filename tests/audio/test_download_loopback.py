"""Downloads from a server on this machine: more requests in flight than the client's pool.

The emulator cannot tell how many requests it holds at once, so a small server here does:
each request waits at a barrier that opens only when ``LOOPBACK_WORKERS`` requests are
inside together. A session that kept to its pool of 2 would never fill it (the barrier
breaks after its timeout and every waiting request gets a 409).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rfcx_frames import config
from rfcx_frames.session import Session


@pytest.fixture()
def barrier_server() -> Iterator[str]:
    barrier = threading.Barrier(config.LOOPBACK_WORKERS, timeout=60)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                barrier.wait()
                status, body = 200, b"{}"
            except threading.BrokenBarrierError:
                status, body = 409, b'{"message": "not enough requests in flight"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        barrier.abort()
        server.shutdown()
        server.server_close()
        thread.join()


def test_loopback_requests_are_not_held_to_the_pool_size(barrier_server: str) -> None:
    session = Session(rate_limit=None, pool_size=2, retries=0)
    n = config.LOOPBACK_WORKERS
    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(
            lambda i: session.request("GET", f"{barrier_server}/x{i}", parse=lambda r: r.json()),
            range(n)))
    session.close()
    assert answers == [{}] * n
