"""The emulated Auth0 tenant (contract §2.1) and the API's 401 (contract §2.2).

Grants follow what the official client sends: device code with polling, refresh token,
client credentials; every token they return must work on the core API and ingest.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests

from rfcx_frames.emulator import Emulator

CLIENT_ID = "LS4dJlP8J2iOBr2snzm6N8I5u7FLSUGd"  # the official client's default
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def token_request(emu: Emulator, **form: str) -> requests.Response:
    return requests.post(f"{emu.auth_url}/oauth/token", data=form, timeout=30)


def device_code(emu: Emulator) -> dict[str, Any]:
    resp = requests.post(f"{emu.auth_url}/oauth/device/code", timeout=30,
                         data={"client_id": CLIENT_ID, "audience": "https://rfcx.org",
                               "scope": "openid email profile offline_access"})
    assert resp.status_code == 200
    body: dict[str, Any] = resp.json()
    return body


def poll(emu: Emulator, code: str) -> requests.Response:
    return token_request(emu, grant_type=DEVICE_GRANT, device_code=code, client_id=CLIENT_ID)


def works(emu: Emulator, token: str) -> bool:
    """Whether ``token`` is accepted by the core API and by the ingest service."""
    headers = {"Authorization": f"Bearer {token}"}
    api = requests.get(f"{emu.api_url}/projects", headers=headers, timeout=30)
    ingest = requests.get(f"{emu.ingest_url}/{'0' * 24}", headers=headers, timeout=30)
    return api.status_code == 200 and ingest.status_code == 404


def jwt_payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment)
                                                                                % 4)))
    return data


def test_device_code_flow_then_refresh(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    start = device_code(emu)
    assert set(start) >= {"device_code", "user_code", "interval", "verification_uri",
                          "verification_uri_complete", "expires_in"}
    assert start["user_code"] in start["verification_uri_complete"]
    interval = float(start["interval"])
    first = poll(emu, start["device_code"])
    assert first.status_code == 403 and first.json()["error"] == "authorization_pending"
    answers = []
    for _ in range(5):  # the emulated user approves after a few polls at the given interval
        time.sleep(interval)
        resp = poll(emu, start["device_code"])
        answers.append(resp.json().get("error"))
        if resp.status_code == 200:
            break
    assert answers[-1] is None and set(answers[:-1]) <= {"authorization_pending"}
    grant = resp.json()
    assert set(grant) >= {"access_token", "id_token", "refresh_token", "expires_in"}
    assert int(grant["expires_in"]) > 3600
    claims = jwt_payload(grant["id_token"])
    assert claims["email"] and claims["exp"] > time.time()
    assert works(emu, grant["access_token"]) and works(emu, grant["id_token"])
    assert not works(emu, grant["refresh_token"])  # a refresh token is not a bearer token
    # the device code is spent
    again = poll(emu, start["device_code"])
    assert again.status_code in (400, 403) and again.json()["error"] == "expired_token"

    renewed = token_request(emu, grant_type="refresh_token", client_id=CLIENT_ID,
                            refresh_token=grant["refresh_token"])
    assert renewed.status_code == 200
    body = renewed.json()
    assert "refresh_token" not in body  # Auth0 keeps the old one: the client reuses it
    assert works(emu, body["access_token"]) and works(emu, body["id_token"])
    assert body["access_token"] != grant["access_token"]
    assert jwt_payload(body["id_token"])["email"] == jwt_payload(emu.token)["email"]


def test_device_code_slow_down(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    code = device_code(emu)["device_code"]
    assert poll(emu, code).json()["error"] == "authorization_pending"
    fast = poll(emu, code)
    assert fast.status_code == 429 and fast.json()["error"] == "slow_down"
    assert poll(emu, "no-such-code").json()["error"] == "expired_token"


def test_unknown_refresh_token_is_invalid_grant(fresh_emulator: Emulator) -> None:
    bad = token_request(fresh_emulator, grant_type="refresh_token", client_id=CLIENT_ID,
                        refresh_token="nope")
    assert bad.status_code == 403 and bad.json()["error"] == "invalid_grant"
    assert "error_description" in bad.json()


def test_client_credentials_grant(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    assert emu.client_secret
    ok = token_request(emu, grant_type="client_credentials", client_id="machine",
                       client_secret=emu.client_secret, audience="https://rfcx.org")
    assert ok.status_code == 200
    body = ok.json()
    assert "refresh_token" not in body and int(body["expires_in"]) > 0
    assert works(emu, body["access_token"])
    wrong = token_request(emu, grant_type="client_credentials", client_id="machine",
                          client_secret="wrong", audience="https://rfcx.org")
    assert wrong.status_code == 401 and wrong.json()["error"] == "access_denied"
    odd = token_request(emu, grant_type="password", username="a", password="b")
    assert odd.status_code == 400 and odd.json()["error"] == "unsupported_grant_type"


def test_world_tokens_identify_their_users(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    emails = {name: jwt_payload(emu.tokens[name])["email"] for name in ("demo", "other")}
    assert emails["demo"] != emails["other"]
    assert all(works(emu, emu.tokens[name]) for name in ("demo", "other", "system"))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer unknown"},
                                     {"Authorization": ""}, {"Authorization": "Bearer"}])
@pytest.mark.parametrize("path", ["/projects", "/detections?start=2024-01-01&end=2024-02-01",
                                  "/ingest/uploads/0123456789abcdef01234567",
                                  "/internal/assets/streams/x.wav"])
def test_missing_or_unknown_token_is_plain_401(demo_emulator: Emulator,
                                               headers: dict[str, str], path: str) -> None:
    resp = requests.get(demo_emulator.api_url + path, headers=headers, timeout=30)
    assert resp.status_code == 401
    assert resp.content == b"Unauthorized"
    assert "Content-Type" not in resp.headers


def test_expired_token_is_401(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    body = token_request(emu, grant_type="client_credentials", client_id="machine",
                         client_secret=emu.client_secret).json()
    assert works(emu, body["access_token"])
    with emu.store.connect() as conn:  # let the token run out, as time would
        conn.execute("UPDATE tokens SET expires_at = 1 WHERE token = ?", (body["access_token"],))
    resp = requests.get(f"{emu.api_url}/projects", timeout=30,
                        headers={"Authorization": f"Bearer {body['access_token']}"})
    assert resp.status_code == 401 and resp.content == b"Unauthorized"


def test_token_without_bearer_scheme_is_401(demo_emulator: Emulator) -> None:
    """passport-jwt reads only ``Bearer <jwt>`` (scheme case-insensitive): a bare token is none."""
    emu = demo_emulator
    token = emu.tokens["demo"]
    for value in (token, f"Token {token}"):
        resp = requests.get(f"{emu.api_url}/projects", headers={"Authorization": value},
                            timeout=30)
        assert resp.status_code == 401 and resp.content == b"Unauthorized"
    lower = requests.get(f"{emu.api_url}/projects", headers={"Authorization": f"bearer {token}"},
                         timeout=30)
    assert lower.status_code == 200
