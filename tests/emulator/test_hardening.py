"""The emulator under malformed input: answered at once, as the platform's ingress does."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
import requests

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


def test_file_descriptors_stay_flat_over_2000_connections(fresh_emulator: Emulator) -> None:
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
    statuses = [one_connection() for _ in range(2000)]
    deadline = 100  # server threads finish just after answering: let the last ones end
    while open_files() > before + 20 and deadline:
        threading.Event().wait(0.05)
        deadline -= 1
    assert set(statuses) == {200}
    assert open_files() <= before + 20


# -- bodies: refused before they are read, spooled to disk when read ----------------------


def test_an_unauthenticated_upload_is_refused_before_its_body(demo_emulator: Emulator) -> None:
    # Only the head is sent: an answer proves the server did not wait for the 90 MB.
    head = ("POST /classifiers HTTP/1.1\r\nHost: x\r\nContent-Length: 90000000\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n")
    line, answer = raw_request(demo_emulator, head)
    assert line.startswith("HTTP/1.1 401 ") and b"Connection: close" in answer


def test_an_unsigned_storage_put_is_refused_before_its_body(demo_emulator: Emulator) -> None:
    head = ("PUT /_uploads/abc.wav HTTP/1.1\r\nHost: x\r\nContent-Length: 300000000\r\n"
            "Content-Type: audio/wav\r\n\r\n")
    line, answer = raw_request(demo_emulator, head)
    assert line.startswith("HTTP/1.1 403 ") and b"SignatureDoesNotMatch" in answer


def test_a_small_refused_body_keeps_the_connection(demo_emulator: Emulator) -> None:
    url = urlsplit(demo_emulator.api_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    conn.request("POST", "/classifiers", body=b"name=x", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    first = conn.getresponse()
    first.read()
    conn.request("GET", "/health-check")  # the same connection carries the next request
    assert (first.status, conn.getresponse().status) == (401, 200)
    conn.close()


def test_a_chunked_body_over_the_ingress_limit_is_413(demo_emulator: Emulator) -> None:
    url = urlsplit(demo_emulator.api_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(f"POST /classifiers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     f"{demo_emulator.token}\r\nTransfer-Encoding: chunked\r\n\r\n"
                     f"{101 * 2**20:x}\r\n".encode())
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_garbled_multipart_body_is_400(demo_emulator: Emulator) -> None:
    resp = requests.post(f"{demo_emulator.api_url}/classifiers", data=b"--x\r\nno end",
                         headers={"Authorization": f"Bearer {demo_emulator.token}",
                                  "Content-Type": "multipart/form-data; boundary=x"},
                         timeout=10)
    assert resp.status_code == 400


# -- HEAD and OPTIONS, as Express with cors() answers them ---------------------------------


def test_head_answers_a_get_route_without_its_body(demo_emulator: Emulator) -> None:
    auth = {"Authorization": f"Bearer {demo_emulator.token}"}
    url = f"{demo_emulator.api_url}/projects"
    head = requests.head(url, headers=auth, timeout=10)
    get = requests.get(url, headers=auth, timeout=10)
    assert head.status_code == 200 and head.content == b""
    for name in ("Content-Length", "Content-Type", "ETag", "Total-Items"):
        assert head.headers[name] == get.headers[name]
    refused = requests.head(url, timeout=10)
    assert refused.status_code == 401 and "Content-Length" not in refused.headers


def test_options_is_cors_preflight_granted_without_a_token(demo_emulator: Emulator) -> None:
    resp = requests.options(f"{demo_emulator.api_url}/projects", timeout=10, headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Access-Control-Allow-Methods"] == "GET,HEAD,PUT,PATCH,POST,DELETE"
    assert resp.headers["Access-Control-Allow-Headers"] == "authorization,content-type"


@pytest.mark.parametrize("path", ["/_emulator/faults", "/_emulator/stats/reset"])
def test_control_routes_grant_no_preflight(demo_emulator: Emulator, path: str) -> None:
    resp = requests.options(f"{demo_emulator.api_url}{path}", timeout=10, headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert resp.status_code == 405
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")]
    # ... and a simple cross-origin POST (no preflight) is still refused.
    simple = requests.post(f"{demo_emulator.api_url}{path}", data=b'{"fault_rate": 1}',
                           headers={"Origin": "https://example.org",
                                    "Content-Type": "text/plain"}, timeout=10)
    assert simple.status_code == 415
    assert "Access-Control-Allow-Origin" not in simple.headers
    assert demo_emulator.stats()["config"]["fault_rate"] == 0.0


# -- redirects and signed URLs name the server, not the Host header ------------------------


def test_redirects_ignore_a_forged_host(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    seg = emu.store.query("SELECT stream_id, start FROM segments ORDER BY start LIMIT 1")[0]
    start = pd.Timestamp(seg["start"], unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    resp = requests.get(f"{emu.api_url}/streams/{seg['stream_id']}/segments/{start}/file",
                        headers={"Authorization": f"Bearer {emu.token}",
                                 "Host": "evil.example"}, allow_redirects=False, timeout=10)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith(f"{emu.api_url}/_blobs/")
    ticket = requests.post(emu.ingest_url, data={"filename": "a.wav", "stream": seg["stream_id"],
                                                 "timestamp": "2024-03-01T00:00:00Z"},
                           headers={"Authorization": f"Bearer {emu.token}",
                                    "Host": "evil.example"}, timeout=10)
    assert ticket.json()["url"].startswith(f"{emu.api_url}/_uploads/")


# -- the platform's crash after a one-string classifier upload -----------------------------


def _value(emu: Emulator) -> str:
    """A classification value longer than 10 characters (the logger's cut-off)."""
    return str(emu.store.query("SELECT value FROM classifications WHERE length(value) > 10 "
                               "ORDER BY id LIMIT 1")[0]["value"])


def test_one_plain_classification_value_answers_then_drops_the_server(
        fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    emu.set_faults(classifier_log_crash=True)
    body = (b"--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nm\r\n"
            b"--b\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n1\r\n"
            b"--b\r\nContent-Disposition: form-data; name=\"classification_values\"\r\n\r\n"
            + _value(emu).encode() + b"\r\n--b--\r\n")
    head = (f"POST /classifiers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {emu.token}\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {len(body)}\r\n"
            "Connection: keep-alive\r\n\r\n")
    url = urlsplit(emu.api_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        with suppress(ConnectionResetError):  # a kept-alive connection would time out here
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 ") and b"Connection: keep-alive" in answer
    assert emu.stats()["faults"] == {"crashed_after_answer": 1}


def test_upload_classifier_never_sends_the_crashing_form(fresh_emulator: Emulator,
                                                         tmp_path: Path) -> None:
    emu = fresh_emulator
    emu.set_faults(classifier_log_crash=True)
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"\x1f\x8b model")
    stream = emu.store.query("SELECT id FROM streams WHERE created_by_id = 1 LIMIT 1")[0]["id"]
    with emu.client(progress=False) as client:
        first = client.upload_classifier(model, "one", 1, [_value(emu)])
        second = client.upload_classifier(model, "two", 1, [f"song:{_value(emu)}:0.7"],
                                          active_streams=[stream])
    assert second == first + 1
    assert emu.stats()["faults"] == {}
    outputs = emu.store.query("SELECT output_class_name, ignore_threshold FROM "
                              "classifier_outputs WHERE classifier_id = ?", (second,))
    assert [tuple(o) for o in outputs] == [("song", 0.7)]


# -- memory stays flat under large uploads (an emulator in its own process) ---------------


@pytest.fixture(scope="module")
def own_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("own-process")
    proc = subprocess.Popen([sys.executable, "-m", "rfcx_frames.emulator", "--world", "demo",
                             "--days", "1", "--port", "0", "--data-dir", str(folder / "w")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info: dict[str, Any] = json.loads(proc.stdout.readline())
        yield {**info, "pid": proc.pid}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def _rss_kb(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1))  # type: ignore[union-attr]


def _stream_request(url: str, method: str, path: str, headers: dict[str, str],
                    parts: list[bytes | int]) -> tuple[int, dict[str, str]]:
    """Send a body made of byte strings and runs of zeros (ints), 1 MiB at a time."""
    split = urlsplit(url)
    conn = http.client.HTTPConnection(split.hostname or "", split.port, timeout=120)
    try:
        size = sum(p if isinstance(p, int) else len(p) for p in parts)
        conn.putrequest(method, path)
        for name, value in {**headers, "Content-Length": str(size)}.items():
            conn.putheader(name, value)
        conn.endheaders()
        block = bytes(2**20)
        for part in parts:
            if isinstance(part, bytes):
                conn.send(part)
                continue
            for offset in range(0, part, len(block)):
                conn.send(block[: min(len(block), part - offset)])
        resp = conn.getresponse()
        resp.read()
        return resp.status, dict(resp.getheaders())
    finally:
        conn.close()


def _peak_growth_mb(pid: int, send: Callable[[], None]) -> float:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # restart the peak (VmHWM) from now
    before = _rss_kb(pid, "VmRSS")
    send()
    return (_rss_kb(pid, "VmHWM") - before) / 1024


def test_a_300_mb_upload_keeps_the_emulator_memory_flat(own_process: dict[str, Any]) -> None:
    token, size = own_process["token"], 300 * 2**20
    auth = {"Authorization": f"Bearer {token}"}
    streams = requests.get(f"{own_process['api_url']}/streams", headers=auth, timeout=30).json()
    ticket = requests.post(own_process["ingest_url"], headers=auth, timeout=30, data={
        "filename": "big.raw", "stream": streams[0]["id"], "timestamp": "2024-03-01T00:00:00Z"})
    url = urlsplit(ticket.json()["url"])
    answers: list[tuple[int, dict[str, str]]] = []

    def send() -> None:
        answers.append(_stream_request(own_process["api_url"], "PUT", f"{url.path}?{url.query}",
                                       {"Content-Type": "audio/raw"}, [size]))

    growth = _peak_growth_mb(own_process["pid"], send)
    status, headers = answers[0]
    assert status == 200
    assert headers["ETag"] == f'"{hashlib.md5(bytes(size)).hexdigest()}"'
    assert growth < 50, f"the emulator grew {growth:.0f} MB for a 300 MB upload"


def test_a_90_mb_classifier_upload_keeps_the_emulator_memory_flat(
        own_process: dict[str, Any]) -> None:
    size = 90 * 2**20  # under the ingress's 100 MB
    auth = {"Authorization": f"Bearer {own_process['token']}"}
    value = requests.get(f"{own_process['api_url']}/classifications", params={"limit": 1},
                         headers=auth, timeout=30).json()[0]["value"].encode()
    head = b"".join(b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % pair
                    for pair in ((b"name", b"big"), (b"version", b"1"),
                                 (b"classification_values[]", b"song:" + value)))
    head += (b'--b\r\nContent-Disposition: form-data; name="file"; filename="m.tar.gz"\r\n'
             b"Content-Type: application/gzip\r\n\r\n")
    answers: list[tuple[int, dict[str, str]]] = []

    def send() -> None:
        answers.append(_stream_request(own_process["api_url"], "POST", "/classifiers", {
            **auth, "Content-Type": "multipart/form-data; boundary=b"},
            [head, size, b"\r\n--b--\r\n"]))

    growth = _peak_growth_mb(own_process["pid"], send)
    status, headers = answers[0]
    assert status == 201
    model = Path(own_process["data_dir"]) / "classifiers" / (
        headers["Location"].rsplit("/", 1)[-1] + ".tar.gz")
    assert model.stat().st_size == size
    assert growth < 50, f"the emulator grew {growth:.0f} MB for a 90 MB upload"
