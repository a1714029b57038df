"""The hardening and tie-order decisions side by side with the platform's own server.

Runs only where the platform's server is up on loopback with the demo world loaded
(``../shared/realserver``): set ``RFCX_REALSERVER_URL`` to its API URL and
``RFCX_REALSERVER_WORLD`` to the world folder holding ``realserver_tokens.json`` (or
``RFCX_REALSERVER_TOKENS`` to that file). It only reads: the one
upload it sends is refused (an unknown classification value).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import requests

from rfcx_frames.emulator import Emulator

REAL = os.environ.get("RFCX_REALSERVER_URL", "")
pytestmark = pytest.mark.skipif(not REAL, reason="RFCX_REALSERVER_URL is not set: the "
                                "platform's own server is not running here")
PREFLIGHT = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type"}


def _real_token() -> str:
    # The tokens file world.sh writes into the world folder (tests/realserver's setting),
    # or one named on its own.
    world = os.environ.get("RFCX_REALSERVER_WORLD")
    named = os.environ.get("RFCX_REALSERVER_TOKENS")
    path = Path(named) if named else Path(world or ".") / "realserver_tokens.json"
    return str(json.loads(path.read_text())["demo"]["real"])


def _cors(resp: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()
            if k.lower().startswith("access-control-") or k.lower() == "vary"}


@pytest.mark.parametrize("path", ["/projects", "/no/such/route"])
def test_options_answers_as_the_platform(demo_emulator: Emulator, path: str) -> None:
    emu = requests.options(f"{demo_emulator.api_url}{path}", headers=PREFLIGHT, timeout=10)
    real = requests.options(f"{REAL}{path}", headers=PREFLIGHT, timeout=10)
    assert (emu.status_code, emu.content, _cors(emu)) == (real.status_code, real.content,
                                                          _cors(real))


def test_head_answers_as_the_platform(demo_emulator: Emulator) -> None:
    emu = requests.head(f"{demo_emulator.api_url}/projects", timeout=10,
                        headers={"Authorization": f"Bearer {demo_emulator.token}"})
    real = requests.head(f"{REAL}/projects", timeout=10,
                         headers={"Authorization": f"Bearer {_real_token()}"})
    assert (emu.status_code, emu.content) == (real.status_code, real.content) == (200, b"")
    for name in ("Content-Type", "Total-Items"):
        assert emu.headers[name] == real.headers[name]


def test_head_without_a_token_answers_as_the_platform(demo_emulator: Emulator) -> None:
    emu = requests.head(f"{demo_emulator.api_url}/projects", timeout=10)
    real = requests.head(f"{REAL}/projects", timeout=10)
    assert (emu.status_code, emu.content) == (real.status_code, real.content) == (401, b"")
    assert "Content-Length" not in emu.headers and "Content-Length" not in real.headers


@pytest.mark.parametrize("path", ["/projects", "/streams"])
def test_the_platform_sorts_by_id(path: str) -> None:
    resp = requests.get(f"{REAL}{path}", params={"sort": "id", "limit": 100}, timeout=10,
                        headers={"Authorization": f"Bearer {_real_token()}"})
    ids = [item["id"] for item in resp.json()]
    assert resp.status_code == 200 and ids == sorted(ids)


def test_the_platform_survives_one_classification_value_sent_as_a_list() -> None:
    # The request logger runs on every answer, so an upload refused for an unknown value
    # exercises it as well, and leaves no classifier behind on the shared server.
    auth = {"Authorization": f"Bearer {_real_token()}"}
    value = "no_such_classification_value"  # longer than the logger's cut-off of 10
    resp = requests.post(f"{REAL}/classifiers", headers=auth, timeout=60,
                         data={"name": "emuhard-check", "version": "1",
                               "classification_values[]": [value]},  # upload_classifier's form
                         files={"file": ("model.tar.gz", io.BytesIO(b"\x1f\x8b"), "text/plain")},
                         allow_redirects=False)
    assert resp.status_code == 400 and value in resp.json()["message"]
    assert requests.get(f"{REAL}/health-check", timeout=10).status_code == 200
