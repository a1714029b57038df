"""Fault injection and request statistics of the emulator.

What a client meets on the real path (contract §1, §7): 5xx from the app (JSON) or the
nginx ingress (HTML), connections reset or bodies cut short, latency, and the ingress's
requests-per-minute limit answered with 503.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from rfcx_frames.emulator import Emulator, running

STATS = "/_emulator/stats"


def projects(emu: Emulator) -> requests.Response:
    return requests.get(f"{emu.api_url}/projects", timeout=30,
                        headers={"Authorization": f"Bearer {emu.token}"})


def stats(emu: Emulator) -> dict[str, object]:
    resp = requests.get(emu.api_url + STATS, timeout=30)
    assert resp.status_code == 200
    data: dict[str, object] = resp.json()
    return data


def test_fault_rate_one_gives_app_and_proxy_errors(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    assert projects(emu).status_code == 200
    emu.reset_stats()
    emu.set_faults(fault_rate=1.0)
    statuses: Counter[int] = Counter()
    for _ in range(30):
        resp = projects(emu)
        statuses[resp.status_code] += 1
        if resp.status_code == 500:
            assert resp.json() == {"message": "Internal Server Error", "error": {"status": 500}}
        else:
            assert resp.headers["Content-Type"].startswith("text/html")
            assert "<center>nginx</center>" in resp.text
            assert f"<title>{resp.status_code} " in resp.text
        assert resp.headers["X-Request-Id"]
    assert set(statuses) == {500, 502, 503}
    # statistics are served (and counted) apart from the faulty routes
    snapshot = stats(emu)
    assert snapshot["total_requests"] == 30
    assert snapshot["requests"] == {"GET /projects": 30}
    assert snapshot["faults"] == {str(code): n for code, n in statuses.items()}
    assert snapshot["config"]["fault_rate"] == 1.0  # type: ignore[index]
    emu.set_faults(fault_rate=0.0)
    assert projects(emu).status_code == 200


def test_reset_rate_one_breaks_connections(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    emu.set_faults(reset_rate=1.0)
    for _ in range(12):
        with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            projects(emu)
    faults = stats(emu)["faults"]
    assert isinstance(faults, dict)
    assert faults.get("reset", 0) + faults.get("truncate", 0) == 12
    assert faults.get("reset", 0) > 0 and faults.get("truncate", 0) > 0
    emu.set_faults(reset_rate=0.0)
    assert projects(emu).status_code == 200


def test_latency_is_added_to_every_request(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    emu.set_faults(latency_ms=400)
    began = time.perf_counter()
    for _ in range(2):
        assert projects(emu).status_code == 200
    assert time.perf_counter() - began >= 0.8
    emu.set_faults(latency_ms=0)
    began = time.perf_counter()
    assert projects(emu).status_code == 200
    assert time.perf_counter() - began < 0.4


def test_rate_limit_answers_503_after_n_requests(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    emu.reset_stats()
    emu.set_faults(rate_limit=5, rate_burst=4)  # nginx: burst + 1 pass at once
    codes = [projects(emu).status_code for _ in range(8)]
    assert codes == [200] * 5 + [503] * 3
    limited = projects(emu)
    assert "<center>nginx</center>" in limited.text and "Retry-After" not in limited.headers
    for _ in range(3):  # the statistics route is never limited
        assert requests.get(emu.api_url + STATS, timeout=30).status_code == 200
    faults = stats(emu)["faults"]
    assert isinstance(faults, dict) and faults["rate_limited"] == 4
    emu.set_faults(rate_limit=None, rate_burst=None)
    assert projects(emu).status_code == 200


def test_faults_change_over_http(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    url = emu.api_url + "/_emulator/faults"
    resp = requests.post(url, json={"fault_rate": 1.0}, timeout=30)
    assert resp.status_code == 200 and resp.json()["fault_rate"] == 1.0
    assert projects(emu).status_code in (500, 502, 503)
    bad = requests.post(url, json={"fault_rate": 2}, timeout=30)
    assert bad.status_code == 400
    assert requests.post(url, json={"fault_rate": 0}, timeout=30).ok
    assert projects(emu).status_code == 200
    with pytest.raises(ValueError, match="reset_rate"):
        emu.set_faults(reset_rate=-0.5)
    reset = requests.post(emu.api_url + "/_emulator/stats/reset", json={}, timeout=30)
    assert reset.status_code == 200 and stats(emu)["total_requests"] == 0


def test_faults_from_start_and_per_route_counts(tmp_path: Path) -> None:
    with running(world="demo", data_dir=tmp_path / "w", days=1, fault_rate=1.0,
                 seed=3) as emu:
        assert projects(emu).status_code in (500, 502, 503)
        emu.set_faults(fault_rate=0.0)
        headers = {"Authorization": f"Bearer {emu.token}"}
        for path in ("/streams", "/streams", "/no/such/path"):
            requests.get(emu.api_url + path, headers=headers, timeout=30)
        requests.get(emu.api_url + "/streams", timeout=30)  # unauthenticated still counts
        counts = emu.stats()["requests"]
        assert counts["GET /projects"] == 1 and counts["GET /streams"] == 3
        assert counts["GET (unmatched)"] == 1


def test_a_web_page_cannot_switch_faults_on(fresh_emulator: Emulator) -> None:
    # What a cross-origin form or fetch without a preflight can send: text/plain, a form.
    emu = fresh_emulator
    url = emu.api_url + "/_emulator/faults"
    for headers in ({"Content-Type": "text/plain"},
                    {"Content-Type": "application/x-www-form-urlencoded"}, {}):
        resp = requests.post(url, data=json.dumps({"fault_rate": 1.0}), headers=headers,
                             timeout=30)
        assert resp.status_code == 415, headers
    assert requests.post(emu.api_url + "/_emulator/stats/reset", data=b"{}",
                         headers={"Content-Type": "text/plain"}, timeout=30).status_code == 415
    assert projects(emu).status_code == 200
