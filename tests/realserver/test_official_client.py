"""The official ``rfcx`` 0.3.1 client gets the same answers from the platform and the emulator."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import rfcx  # type: ignore[import-untyped]
import rfcx._api_rfcx  # type: ignore[import-untyped]

from tests.realserver.servers import Servers

# httplib2, under the official client, never closes its sockets: that is upstream's leak
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

DAY = (dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2))

CALLS: dict[str, Callable[[Any, dict[str, str]], Any]] = {
    "projects": lambda c, ids: c.projects(),
    "streams": lambda c, ids: c.streams(limit=100),
    # stream() is left out: rfcx 0.3.1 sends its Credentials object as the token there
    # and fails before any request, on either server.
    "stream_segments": lambda c, ids: c.stream_segments(ids["own_stream"], *DAY, limit=100),
    "detections": lambda c, ids: c.detections(min_date=DAY[0], max_date=DAY[1],
                                              streams=[ids["own_stream"]], limit=200),
    # ISO text: the official client's annotations() only accepts strings
    "annotations": lambda c, ids: c.annotations("2024-03-01T00:00:00.000Z",
                                                "2024-03-10T00:00:00.000Z",
                                                stream=ids["own_stream"], limit=100),
    "classifications": lambda c, ids: c.classifications(keyword="frog"),
}


@pytest.fixture()
def in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTH0_CLIENT_SECRET", raising=False)
    yield
    gc.collect()


def _answer(url: str, token: str, call: Callable[[Any, dict[str, str]], Any],
            ids: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(rfcx._api_rfcx, "base_url", url)
    # five lines, microseconds required, empty id token so the access token is sent
    Path(".rfcx_credentials").write_text(f"version 1\n{token}\n\n2100-01-01T00:00:00.000000Z\n\n",
                                         encoding="utf-8")
    client = rfcx.Client()
    client.authenticate()
    return call(client, ids)


@pytest.mark.usefixtures("in_tmp")
@pytest.mark.parametrize("name", sorted(CALLS))
def test_official_client_same_answer(servers: Servers, name: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = servers.tokens["demo"]
    real = _answer(servers.real_url, tokens["real"], CALLS[name], servers.ids, monkeypatch)
    emulated = _answer(servers.emulator.api_url, tokens["emulator"], CALLS[name], servers.ids,
                       monkeypatch)
    assert real == emulated
    assert real
