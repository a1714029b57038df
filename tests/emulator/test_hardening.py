"""The emulator under malformed input: answered at once, as the platform's ingress does."""

from __future__ import annotations

import http.client
import os
import socket
import threading
from urllib.parse import urlsplit

import pytest

from rfcx_frames.emulator import Emulator


def raw_request(emu: Emulator, head: str) -> tuple[str, bytes]:
    """Send a request head (no body) and read the answer until the server closes."""
    url = urlsplit(emu.api_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1"))
        answer = b""
        while chunk := sock.recv(65536):  # a kept-open connection would time out here
            answer += chunk
    status = answer.split(b"\r\n", 1)[0].decode()
    return status, answer


@pytest.mark.parametrize("length, status", [
    ("abc", 400), ("-1", 400), ("1e12", 400), ("4e9", 400),
    (str(2**63 - 1), 413), ("4000000000", 413),
])
def test_a_bad_or_huge_content_length_is_refused_before_the_body(
        demo_emulator: Emulator, length: str, status: int) -> None:
    head = (f"POST /classifiers HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
            "Connection: keep-alive\r\n\r\n")
    line, answer = raw_request(demo_emulator, head)
    assert line.startswith(f"HTTP/1.1 {status} ")
    assert b"Connection: close" in answer and b"nginx" in answer


def test_a_plain_request_still_keeps_its_connection(demo_emulator: Emulator) -> None:
    url = urlsplit(demo_emulator.api_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"GET /health-check HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 ") and b"Connection: keep-alive" in answer


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_file_descriptors_stay_flat_over_many_connections(fresh_emulator: Emulator) -> None:
    # The emulator runs in this process: every client connection gets a server thread
    # with its own SQLite connection, which must be closed when the thread ends.
    emu = fresh_emulator
    url = urlsplit(emu.api_url)

    def one_connection() -> int:
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
        conn.request("GET", "/projects?limit=1", headers={"Authorization": f"Bearer {emu.token}"})
        status = conn.getresponse().status
        conn.close()
        return status

    assert one_connection() == 200
    before = open_files()
    statuses = [one_connection() for _ in range(300)]
    deadline = 100  # server threads finish just after answering: let the last ones end
    while open_files() > before + 20 and deadline:
        threading.Event().wait(0.05)
        deadline -= 1
    assert set(statuses) == {200}
    assert open_files() <= before + 20
