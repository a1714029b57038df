"""The emulator's ``--rate-limit``: nginx ``limit_req rate=N r/m burst=B nodelay`` per address.

Every test steps the bucket's clock itself (``Emulator(rate_clock=...)``): no wall-clock
waits, no timed assertions.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
import requests

from rfcx_frames.emulator import Emulator, running
from rfcx_frames.emulator.__main__ import add_arguments
from rfcx_frames.emulator.limit_req import AdmissionLog, LimitReq
from tests.emulator.helpers import sql, utc


class StepClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock() -> StepClock:
    return StepClock()


@pytest.fixture()
def limited(tmp_path_factory: pytest.TempPathFactory, clock: StepClock) -> Iterator[Emulator]:
    # 60 requests a minute (one a second) and a burst of 3.
    with running(world="demo", data_dir=tmp_path_factory.mktemp("limited"), days=1,
                 rate_limit=60, rate_burst=3, rate_clock=clock) as emu:
        yield emu


def codes(emu: Emulator, n: int) -> list[int]:
    headers = {"Authorization": f"Bearer {emu.token}"}
    return [requests.get(f"{emu.api_url}/projects", params={"limit": 1}, headers=headers,
                         timeout=30).status_code for _ in range(n)]


def test_a_new_address_gets_burst_plus_one_at_once_then_503(limited: Emulator) -> None:
    assert codes(limited, 6) == [200, 200, 200, 200, 503, 503]
    headers = {"Authorization": f"Bearer {limited.token}"}
    refused = requests.get(f"{limited.api_url}/projects", headers=headers, timeout=30)
    # nginx's own error page: HTML, no Retry-After, nothing from the application.
    assert refused.status_code == 503
    assert refused.headers["Content-Type"] == "text/html"
    assert "Retry-After" not in refused.headers
    assert "<title>503 Service Temporarily Unavailable</title>" in refused.text
    assert "<hr><center>nginx</center>" in refused.text
    faults = limited.stats()["faults"]
    assert faults == {"rate_limited": 3}


def test_the_bucket_refills_at_the_rate(limited: Emulator, clock: StepClock) -> None:
    assert codes(limited, 5) == [200] * 4 + [503]
    clock.advance(0.5)
    assert codes(limited, 1) == [503]  # half a request drained: still full
    clock.advance(0.5)
    assert codes(limited, 2) == [200, 503]  # one a second
    clock.advance(3.0)
    assert codes(limited, 4) == [200, 200, 200, 503]
    # nginx lowers the excess by what drained *before* adding the request, clamped at 0:
    # after a long enough pause the address is as good as new, ``burst + 1`` pass again.
    clock.advance(600.0)
    assert codes(limited, 5) == [200, 200, 200, 200, 503]


def test_refused_requests_do_not_fill_the_bucket(limited: Emulator, clock: StepClock) -> None:
    assert codes(limited, 4) == [200] * 4
    assert codes(limited, 20) == [503] * 20
    clock.advance(1.0)
    assert codes(limited, 2) == [200, 503]


def test_control_routes_are_never_limited(limited: Emulator) -> None:
    codes(limited, 5)
    for _ in range(5):
        assert requests.get(f"{limited.api_url}/_emulator/stats", timeout=30).status_code == 200


def test_changing_the_limit_starts_fresh_buckets(limited: Emulator, clock: StepClock) -> None:
    assert codes(limited, 5)[-1] == 503
    limited.set_faults(rate_burst=0)  # the default clock stays the injected one
    assert codes(limited, 2) == [200, 503]
    clock.advance(1.0)
    assert codes(limited, 2) == [200, 503]
    limited.set_faults(rate_limit=None)
    assert codes(limited, 10) == [200] * 10
    assert limited.stats()["config"]["rate_burst"] == 0


def test_stats_show_when_requests_were_admitted_and_the_most_in_any_minute(
        limited: Emulator, clock: StepClock, demo_emulator: Emulator) -> None:
    assert codes(limited, 6) == [200] * 4 + [503] * 2
    clock.advance(1.0)
    assert codes(limited, 1) == [200]
    clock.advance(60.0)
    assert codes(limited, 2) == [200, 200]  # 61 s on: the bucket drained to 2 free
    stats = limited.stats()
    assert stats["rate_limit"] == {
        "per_minute": 60, "burst": 3, "admitted": 7, "refused": 2, "max_per_minute": 5,
        "admitted_at": [0.0, 0.0, 0.0, 0.0, 1.0, 61.0, 61.0]}
    assert stats["faults"]["rate_limited"] == 2
    limited.reset_stats()
    assert limited.stats()["rate_limit"]["admitted_at"] == []
    assert demo_emulator.stats()["rate_limit"] is None  # no limit, nothing to report


def test_a_minute_is_any_sixty_seconds_ending_at_an_admission() -> None:
    log = AdmissionLog()
    for ms in [0, 0, 0, 59_999]:
        log.add(ms)
    assert log.max_per_minute == 4
    for ms in [60_000, 60_000, 60_000, 60_001, 119_999]:
        log.add(ms)
    # (0 s, 60 s] holds 59.999 and three at 60 s; (59.999 s, 119.999 s] holds five.
    assert (log.max_per_minute, log.count) == (5, 9)


def test_storage_and_auth_are_not_behind_the_ingress_limit(limited: Emulator) -> None:
    # The platform's ingress fronts api.rfcx.org only: S3 and Auth0 have limits of their own.
    seg = sql(limited, "SELECT stream_id, start FROM segments ORDER BY start LIMIT 1")[0]
    stamp = utc(seg["start"]).strftime("%Y%m%dT%H%M%S") + f"{seg['start'] % 1000:03d}Z"
    signed = requests.get(f"{limited.api_url}/streams/{seg['stream_id']}/segments/{stamp}/file",
                          headers={"Authorization": f"Bearer {limited.token}"},
                          allow_redirects=False, timeout=30)
    assert signed.status_code == 302
    assert codes(limited, 4) == [200, 200, 200, 503]  # the API's bucket is empty now
    for _ in range(3):
        blob = requests.get(signed.headers["Location"], timeout=30)
        assert blob.status_code == 200 and len(blob.content) > 1000
        login = requests.post(f"{limited.auth_url}/oauth/token", timeout=30, data={
            "grant_type": "client_credentials", "client_id": "me",
            "client_secret": limited.client_secret})
        assert login.status_code == 200
    assert limited.stats()["rate_limit"]["refused"] == 1


def test_addresses_have_buckets_of_their_own() -> None:
    limit = LimitReq(per_minute=300, burst=1, clock=lambda: 0.0)
    assert [limit.admit("10.0.0.1") for _ in range(3)] == [True, True, False]
    assert [limit.admit("10.0.0.2") for _ in range(3)] == [True, True, False]


def test_platform_figures_admit_1501_at_once_then_five_a_second() -> None:
    t = [0.0]
    limit = LimitReq(per_minute=300, burst=1500, clock=lambda: t[0])
    assert sum(limit.admit("a") for _ in range(1600)) == 1501
    t[0] += 1.0
    assert sum(limit.admit("a") for _ in range(100)) == 5
    t[0] += 0.2
    assert sum(limit.admit("a") for _ in range(100)) == 1


def test_burst_defaults_to_five_times_the_rate(fresh_emulator: Emulator) -> None:
    fresh_emulator.set_faults(rate_limit=2)
    try:
        assert codes(fresh_emulator, 12) == [200] * 11 + [503]
    finally:
        fresh_emulator.set_faults(rate_limit=None)


def test_command_line_takes_rate_and_burst() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--rate-limit", "300"])
    assert (args.rate_limit, args.rate_burst) == (300, None)
    args = parser.parse_args(["--rate-limit", "120", "--rate-burst", "10"])
    assert (args.rate_limit, args.rate_burst) == (120, 10)


@pytest.mark.parametrize("options, message", [
    ({"rate_limit": 0}, "rate_limit must be a positive number"),
    ({"rate_limit": 60, "rate_burst": -1}, "rate_burst must be >= 0"),
])
def test_bad_limits_are_refused_naming_the_argument(
        fresh_emulator: Emulator, options: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fresh_emulator.set_faults(**options)
    with pytest.raises(ValueError, match=message):
        Emulator(data_dir=None, days=1, **options)
