"""Errors that help: deadlines, local mistakes named at once, safe POST retries, quiet logs."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import rfcx_frames as rf
from rfcx_frames import (
    AuthenticationError,
    Client,
    ConfigurationError,
    DeadlineExceededError,
    ServerError,
)
from rfcx_frames.emulator import Emulator

# ----------------------------------------------------------------------- the deadline


class TricklingServer:
    """A loopback HTTP server that sends its headers, then one body byte per second."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100000\r\n\r\n[")
                while not self.stop.wait(1.0):
                    conn.sendall(b" ")
            except OSError:
                return  # the client gave up and closed the connection

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture()
def trickling() -> Iterator[TricklingServer]:
    server = TricklingServer()
    yield server
    server.close()


def test_a_trickling_server_raises_deadline_exceeded(trickling: TricklingServer) -> None:
    deadline = 3.0
    with Client(api_url=f"http://127.0.0.1:{trickling.port}", token="t", deadline=deadline,
                progress=False, cache=False) as c:
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as err:
            c.projects()
        elapsed = time.monotonic() - started
    assert err.value.deadline == deadline
    assert "deadline of 3 s" in str(err.value)
    assert isinstance(err.value, ServerError)  # code catching ServerError still catches it
    # Without the deadline this call would hang for as long as the server trickles.
    assert elapsed < deadline + 20


def test_deadline_is_a_documented_client_setting() -> None:
    assert Client(api_url="http://127.0.0.1:1").session.deadline == 300.0
    assert Client(api_url="http://127.0.0.1:1", deadline=None).session.deadline is None
    for bad in (0, -5, float("nan")):
        with pytest.raises(ConfigurationError, match="deadline") as err:
            Client(api_url="http://127.0.0.1:1", deadline=bad)
        assert err.value.setting == "deadline"
    with pytest.raises(TypeError, match="deadline"):
        Client(api_url="http://127.0.0.1:1", deadline="soon")  # type: ignore[arg-type]


# ------------------------------------------------------------- local mistakes, at once


def _refused_port() -> int:
    # A port that was just free: nothing listens there, so a connection is refused.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["unresolvable", "refused"])
def test_an_unreachable_api_url_is_named_at_once(kind: str) -> None:
    url = ("http://no-such-host.invalid" if kind == "unresolvable"
           else f"http://127.0.0.1:{_refused_port()}")
    # With this backoff a single retry would sleep for a minute.
    with Client(api_url=url, token="t", backoff_factor=60.0, progress=False,
                cache=False) as c:
        started = time.monotonic()
        with pytest.raises(ConfigurationError) as err:
            c.projects_df()
        elapsed = time.monotonic() - started
    assert err.value.setting == "api_url"
    assert f"api_url {url}" in str(err.value)
    assert ("does not resolve" if kind == "unresolvable" else "connection refused") in str(
        err.value)
    assert isinstance(err.value, ValueError)
    assert elapsed < 30


def test_a_malformed_url_is_named_with_where_it_came_from(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=r"^api_url must be an http\(s\) URL"):
        Client(api_url="api.rfcx.org")
    with pytest.raises(ConfigurationError, match="ingest_url"):
        Client(api_url="http://127.0.0.1:1", ingest_url="ftp://host/uploads")
    monkeypatch.setenv("RFCX_API_URL", "http://host:notaport")
    with pytest.raises(ConfigurationError, match=r"api_url \(from RFCX_API_URL\)") as err:
        Client()
    assert err.value.setting == "api_url"


def test_an_env_url_that_does_not_resolve_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RFCX_API_URL", "http://no-such-host.invalid")
    with Client(token="t", progress=False, cache=False) as c, \
            pytest.raises(ConfigurationError, match=r"api_url \(from RFCX_API_URL\)"):
        c.projects()


def test_invalid_timeouts_are_named_not_retried(demo_emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="timeout"):
        demo_emulator.client(timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        demo_emulator.client(timeout=(10, 0))
    with demo_emulator.client(progress=False) as c:
        before = c.session.requests_sent
        with pytest.raises(ConfigurationError, match="timeout") as err:
            c.session.request("GET", f"{demo_emulator.api_url}/projects", timeout=-1,
                              parse=lambda r: r.json())
        assert err.value.setting == "timeout"
        assert c.session.requests_sent == before


# ------------------------------------------------------------------ POSTs and retries


def _wav(tmp_path: Path) -> Path:
    path = tmp_path / "rec.wav"
    samples = np.random.default_rng(1).integers(-9000, 9000, 16000, dtype=np.int16)
    sf.write(path, samples, 16000, subtype="PCM_16")
    return path


def _own_stream(emu: Emulator) -> str:
    return str(emu.store.query("SELECT id FROM streams WHERE created_by_id = 1 "
                               "ORDER BY id LIMIT 1")[0]["id"])


@pytest.mark.parametrize("status", [503, 429])
def test_ingest_post_is_retried_on_the_ingress_answers(
        fresh_emulator: Emulator, tmp_path: Path, status: int) -> None:
    emu = fresh_emulator
    with emu.client(progress=False, cache=False, backoff_factor=0.01) as c:
        emu.reset_stats()
        emu.set_faults(fail_next=2, fail_status=status, methods=["POST"])
        try:
            upload = c.ingest_file(_own_stream(emu), _wav(tmp_path),
                                   pd.Timestamp("2024-02-10T06:00:00Z"))
            stats = emu.stats()
        finally:
            emu.set_faults(fail_next=0, methods=None)
    posts = {k: v for k, v in stats["requests"].items() if k.startswith("POST")}
    assert sum(posts.values()) == 3, stats  # two answered by the ingress, one served
    assert stats["faults"] == {str(status): 2}
    # The server acted once: one upload exists, the one returned.
    uploads = emu.store.query("SELECT id FROM uploads")
    assert [u["id"] for u in uploads] == [upload]


def test_classifier_upload_is_retried_on_503(fresh_emulator: Emulator, tmp_path: Path) -> None:
    emu = fresh_emulator
    value = emu.store.query("SELECT value FROM classifications WHERE type = 'species' "
                            "ORDER BY id LIMIT 1")[0]["value"]
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"\x1f\x8b\x08\x00 pretend tarball")
    with emu.client(progress=False, cache=False, backoff_factor=0.01) as c:
        emu.reset_stats()
        emu.set_faults(fail_next=1, fail_status=503, methods=["POST"])
        try:
            cid = c.upload_classifier(model, "retried", 1, [value])
            stats = emu.stats()
        finally:
            emu.set_faults(fail_next=0, methods=None)
    assert stats["faults"] == {"503": 1}
    rows = emu.store.query("SELECT id FROM classifiers WHERE name = 'retried'")
    assert [r["id"] for r in rows] == [cid]  # created once


def test_a_post_is_not_retried_where_the_server_may_have_acted(
        fresh_emulator: Emulator, tmp_path: Path) -> None:
    emu = fresh_emulator
    with emu.client(progress=False, cache=False, backoff_factor=0.01) as c:
        emu.reset_stats()
        emu.set_faults(fail_next=1, fail_status=500, methods=["POST"])
        try:
            with pytest.raises(ServerError) as err:
                c.ingest_file(_own_stream(emu), _wav(tmp_path), "2024-02-10T06:00:00Z")
            stats = emu.stats()
        finally:
            emu.set_faults(fail_next=0, methods=None)
    assert err.value.status == 500
    assert sum(v for k, v in stats["requests"].items() if k.startswith("POST")) == 1


# ------------------------------------------------------------------------------ logs


def test_presigned_urls_never_reach_a_log(demo_emulator: Emulator, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with demo_emulator.client(progress=False, cache=False) as c:
        stream = c.streams_df()["id"].iloc[0]
        segment = c.segments_df(stream, "2024-03-01", "2024-03-02").iloc[0]
        path = c.download_segment(stream, tmp_path, segment["start"])
    assert Path(path).stat().st_size > 0
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # debug logs were on
    assert "/_blobs/" in text  # the download's redirect target was logged, and so ...
    assert "X-Amz" not in text and "Signature" not in text  # ... without its query
    assert demo_emulator.token not in text


# ------------------------------------------------------------- module-level functions


def test_module_function_auth_error_says_how_to_fix(
        demo_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .rfcx_credentials here
    monkeypatch.delenv("RFCX_TOKEN", raising=False)
    monkeypatch.setenv("RFCX_API_URL", demo_emulator.api_url)
    rf.set_default_client(None)
    try:
        with pytest.raises(AuthenticationError) as missing:
            rf.projects()
        rf.set_default_client(demo_emulator.client(token="wrong-token", progress=False))
        with pytest.raises(AuthenticationError) as rejected:
            rf.streams_df()
    finally:
        rf.set_default_client(None)
    for err in (missing.value, rejected.value):
        assert "rf.set_default_client(emu.client())" in str(err)
        assert "RFCX_TOKEN" in str(err) and "rf.authenticate()" in str(err)
    assert rejected.value.status == 401 and rejected.value.request_id
    assert "wrong-token" not in str(rejected.value)
