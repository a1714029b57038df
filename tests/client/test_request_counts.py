"""Requests a query costs, counted at the server: pages, the stream listing, the identity.

A cached query needs the platform's identity (the cache's key) and, without ``streams``,
the listing of your streams; neither may cost more than it must (issue 16). The emulator
names itself in every answer, so a client learns its identity from the requests it makes
anyway and asks ``GET /_emulator/identity`` (a control route the platform never sees) only
before its first answer; a server that is not an emulator is never asked twice.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rfcx_frames import Client
from rfcx_frames.cache import platforms
from rfcx_frames.cache.platforms import IDENTITY_HEADER
from rfcx_frames.emulator import Emulator
from tests.client.conftest import Truth
from tests.relay import pass_answer, serving

T0 = pd.Timestamp("2026-01-10T00:00:00Z")
START = "2024-03-01"
CONFIDENCE = 0.001


def end_for(emu: Emulator, streams: list[str], rows: int) -> str:
    """The end of the window from ``START`` that holds exactly ``rows`` detections."""
    found = emu.store.query(
        f"SELECT start FROM detections WHERE confidence >= ? AND start >= ? AND stream_id IN "
        f"({','.join('?' * len(streams))}) ORDER BY start LIMIT 2 OFFSET ?",
        (CONFIDENCE, pd.Timestamp(START, tz="UTC").value // 10**6, *streams, rows - 1))
    assert len(found) == 2 and found[0]["start"] < found[1]["start"], "no clean cut here"
    return str(pd.Timestamp(found[0]["start"] + 1, unit="ms", tz="UTC").isoformat())


def counted(emu: Emulator, call: Any) -> tuple[Any, int, int]:
    """The call's result, and the platform requests and identity asks the emulator saw."""
    emu.reset_stats()
    result = call()
    stats = emu.stats()
    return result, stats["total_requests"], stats["identity_requests"]


def test_a_cold_then_warm_query_costs_its_pages_and_one_listing(demo_emulator: Emulator,
                                                              truth: Truth) -> None:
    emu = demo_emulator
    streams = truth.readable_streams(emu)
    end = end_for(emu, streams, 1_500)
    expected = truth.detections(emu, streams, START, end, CONFIDENCE)

    def query(c: Client, **kw: Any) -> pd.DataFrame:
        return c.detections_df(START, end, min_confidence=CONFIDENCE, **kw)

    with emu.client(progress=False, clock=lambda: T0) as c:
        cold, sent, asked = counted(emu, lambda: query(c))
        # the stream listing, a full first page and the short rest: minimum 2 pages
        assert (sent, asked) == (3, 1)
        again, sent, asked = counted(emu, lambda: query(c))
        assert (sent, asked) == (0, 0)
        # Named streams: the id check reads the listing this query cached, and so do
        # local times (never the listing of every public stream).
        _, sent, asked = counted(emu, lambda: query(c, streams=streams[:2], local_time=True))
        assert (sent, asked) == (0, 0)
    pd.testing.assert_frame_equal(cold, expected)
    pd.testing.assert_frame_equal(again, expected)
    with emu.client(progress=False, clock=lambda: T0) as c:
        warm, sent, asked = counted(emu, lambda: query(c))
    assert (sent, asked) == (0, 1)  # a new client asks which world answers at this port
    pd.testing.assert_frame_equal(warm, expected)
    with Client(api_url=emu.api_url, token=emu.token, progress=False, clock=lambda: T0,
                cache="offline") as c:
        offline, sent, asked = counted(emu, lambda: query(c))
    assert (sent, asked) == (0, 0)
    pd.testing.assert_frame_equal(offline, expected)


def test_a_full_single_page_costs_the_floor_of_two(demo_emulator: Emulator,
                                                  truth: Truth) -> None:
    # The platform caps limit at 1000: a full page needs one more request to prove it last.
    emu = demo_emulator
    streams = truth.readable_streams(emu)
    end = end_for(emu, streams, 1_000)
    with emu.client(progress=False, cache=False) as c:
        frame, sent, asked = counted(emu, lambda: c.detections_df(
            START, end, min_confidence=CONFIDENCE))
    assert len(frame) == 1_000 and (sent, asked) == (2, 0)
    with emu.client(progress=False, cache=False) as c:
        _, sent, _ = counted(emu, lambda: c.detections_df(
            START, end, min_confidence=CONFIDENCE, local_time=True))
    assert sent == 3  # and your stream listing for the timezones
    with emu.client(progress=False, clock=lambda: T0) as c:
        _, sent, asked = counted(emu, lambda: c.detections_df(
            START, end, streams=streams, min_confidence=CONFIDENCE))
    assert (sent, asked) == (3, 1)  # the listing of the id check, then the same two pages


def test_a_client_that_had_an_answer_never_asks_who_answers(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    with emu.client(progress=False, clock=lambda: T0) as c:
        c.projects_df(cache=False)
        _, sent, asked = counted(emu, lambda: c.streams_df())
        assert (sent, asked) == (1, 0)
        assert c.platform() == emu.platform_id


def test_a_write_gives_the_client_the_forked_identity(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    with emu.client(progress=False, clock=lambda: T0) as c:
        pristine = c.platform()
        frame = c.detections_df("2024-03-01", "2024-03-02", min_confidence=0.5)
        emu.reset_stats()
        c.review_detections(frame.iloc[[0]], "confirmed")
        assert emu.platform_id != pristine
        assert c.platform() == emu.platform_id
        assert emu.stats()["identity_requests"] == 0


@contextmanager
def anonymous_proxy(emu: Emulator) -> Iterator[dict[str, int]]:
    """The emulator behind a server that does not name itself (as the platform does not).

    Every answer loses the identity header and ``/_emulator/`` routes answer 404. Yields
    the proxy's counts of ``"identity"`` asks and ``"other"`` requests; its URL is
    ``counts["port"]``.
    """
    counts = {"identity": 0, "other": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/_emulator/"):
                counts["identity"] += 1
                self._answer(404, b'{"message":"Route not found"}', [])
                return
            counts["other"] += 1
            request = urllib.request.Request(emu.api_url + self.path, headers={
                k: v for k, v in self.headers.items() if k.lower() in ("authorization",)})
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:
                    self._answer(resp.status, resp.read(), resp.headers.items())
            except urllib.error.HTTPError as exc:
                self._answer(exc.code, exc.read(), exc.headers.items())

        def _answer(self, status: int, body: bytes, headers: Any) -> None:
            pass_answer(self, status, body, headers, drop=[IDENTITY_HEADER])

        def log_message(self, *args: Any) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        counts["port"] = server.server_address[1]
        yield counts


@pytest.mark.parametrize("first_call_cached", [True, False])
def test_a_server_that_does_not_name_itself_is_asked_once_at_most(
        demo_emulator: Emulator, first_call_cached: bool) -> None:
    with anonymous_proxy(demo_emulator) as counts:
        url = f"http://127.0.0.1:{counts['port']}"

        def client() -> Client:
            return Client(api_url=url, token=demo_emulator.token, progress=False,
                          clock=lambda: T0, rate_limit=None)

        with client() as c:
            if not first_call_cached:
                c.projects_df(cache=False)  # an answer without the header: not an emulator
            c.streams_df()
            assert c.platform() == url
        assert counts["identity"] == (1 if first_call_cached else 0)
        for _ in range(2):
            with client() as c:
                listed = c.streams_df()
            assert listed.attrs["query"]["from_cache"] is True
        assert counts["identity"] == (1 if first_call_cached else 0)


def test_every_answer_of_the_emulator_names_its_world(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    for path, token in (("/projects", emu.token), ("/projects", None), ("/nowhere", emu.token),
                        ("/_emulator/stats", None)):
        request = urllib.request.Request(emu.api_url + path, headers=(
            {"Authorization": f"Bearer {token}"} if token else {}))
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                named = resp.headers[IDENTITY_HEADER]
        except urllib.error.HTTPError as exc:
            named = exc.headers[IDENTITY_HEADER]
            exc.close()
        assert named == emu.platform_id, path


def test_an_identity_ask_the_server_could_not_answer_is_not_remembered(tmp_path: Path) -> None:
    def busy() -> str | None:
        raise ConnectionError("HTTP 503")

    assert platforms.resolve(tmp_path, "http://127.0.0.1:9/", busy) == "http://127.0.0.1:9"
    assert platforms.remembered(tmp_path) == {}
    assert platforms.resolve(tmp_path, "http://127.0.0.1:9", lambda: None) == "http://127.0.0.1:9"
    assert platforms.remembered(tmp_path) == {"http://127.0.0.1:9": "http://127.0.0.1:9"}
