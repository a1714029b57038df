"""Transport: typed errors, retries under injected faults, rate limiting, no token leaks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pandas as pd
import pytest

from rfcx_frames import (
    AuthenticationError,
    Client,
    ForbiddenError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.ratelimit import AUTO
from rfcx_frames.retry import PlatformRetry
from rfcx_frames.session import Session
from rfcx_frames.urls import is_platform_host


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running(world="demo", data_dir=tmp_path_factory.mktemp("faulty"), days=8) as emu:
        yield emu


def test_http_errors_are_typed_with_message_and_request_id(
        client: Client, demo_emulator: Emulator) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.stream("nosuchstream")
    assert missing.value.status == 404
    assert "Stream not found" in missing.value.message
    assert missing.value.request_id
    private = demo_emulator.store.query(
        "SELECT s.id FROM streams s JOIN projects p ON p.id = s.project_id "
        "WHERE p.is_public = 0 AND s.created_by_id != 1 AND s.project_id NOT IN "
        "(SELECT project_id FROM project_roles WHERE user_id = 1)")[0]["id"]
    with pytest.raises(ForbiddenError) as forbidden:
        client.stream(private)
    assert forbidden.value.status == 403
    with pytest.raises(ValidationError, match="start"):
        client.session.request("GET", f"{demo_emulator.api_url}/detections",
                               params={"limit": 1}, parse=lambda r: r.json())


def test_bad_token_raises_authentication_error_without_the_token(
        demo_emulator: Emulator) -> None:
    secret = "header.payload-that-is-secret.signature"
    with demo_emulator.client(token=secret, progress=False) as c, \
            pytest.raises(AuthenticationError) as err:
        c.streams_df()
    text = f"{err.value} {err.value!r} {err.value.args} {c!r} {c.session!r}"
    assert err.value.status == 401
    assert err.value.request_id
    assert "Unauthorized" in err.value.message
    assert secret not in text


def _fetch_all(c: Client) -> tuple[pd.DataFrame, pd.DataFrame]:
    streams = c.streams_df()["id"].tolist()
    # One query per stream and day: the client plans full pages from the platform's
    # counts, so a few large queries would meet the faults in a few requests only.
    days = pd.date_range("2024-03-01", "2024-03-09", tz="UTC")
    detections = pd.concat(
        [c.detections_df(a, b, streams=[s], min_confidence=0)
         for s in streams for a, b in itertools.pairwise(days)],
        ignore_index=True)
    segments = c.segments_df(streams, "2024-03-01", "2024-03-03")
    return detections, segments


@pytest.mark.parametrize(("fault_rate", "reset_rate"), [(0.10, 0.01), (0.0, 0.2)])
def test_frames_identical_under_injected_faults(
        faulty: Emulator, fault_rate: float, reset_rate: float) -> None:
    # Many small pieces, so that a few hundred requests meet the injected faults.
    with faulty.client(progress=False, backoff_factor=0.01, max_workers=24,
                       cache=False) as c:
        clean = _fetch_all(c)
        faulty.set_faults(fault_rate=fault_rate, reset_rate=reset_rate)
        faulty.reset_stats()
        try:
            noisy = _fetch_all(c)
            stats = faulty.stats()
        finally:
            faulty.set_faults(fault_rate=0.0, reset_rate=0.0)
    assert len(clean[0]) > 5000 and len(clean[1]) > 1000
    pd.testing.assert_frame_equal(noisy[0], clean[0])
    pd.testing.assert_frame_equal(noisy[1], clean[1])
    assert stats["total_requests"] > 50, stats
    if reset_rate >= 0.2:
        assert stats["faults"].get("reset", 0) > 0 and stats["faults"].get("truncate", 0) > 0
    else:
        assert sum(stats["faults"].values()) > 0, stats


def test_unrecoverable_faults_raise_server_error(faulty: Emulator) -> None:
    with faulty.client(progress=False, retries=2, backoff_factor=0.01) as c:
        faulty.set_faults(fault_rate=1.0)
        try:
            with pytest.raises(ServerError) as err:
                c.detections_df("2024-03-01", "2024-03-09", min_confidence=0)
            assert err.value.status in (500, 502, 503)
            faulty.set_faults(fault_rate=0.0, reset_rate=1.0)
            with pytest.raises(ServerError):
                c.projects_df()
        finally:
            faulty.set_faults(fault_rate=0.0, reset_rate=0.0)


def test_rate_limit_defaults_to_the_ingress_bucket_on_platform_hosts() -> None:
    # Pacing itself is tested in tests/client/test_pacing.py.
    auto = Session(rate_limit=AUTO)
    assert is_platform_host("https://api.rfcx.org/x")
    assert auto.limiter_for("https://ingest.rfcx.org/uploads") is not None
    assert auto.limiter_for("https://api.rfcx.org/x").per_minute == 300  # type: ignore[union-attr]
    # Other hosts are unpaced until they answer 429/503.
    assert auto.limiter_for("http://127.0.0.1:8000/x").per_minute is None  # type: ignore[union-attr]
    assert auto.limiter_for("https://evil-rfcx.org/x").per_minute is None  # type: ignore[union-attr]
    fixed = Session(rate_limit=60)
    assert fixed.limiter_for("http://127.0.0.1:8000/x").per_minute == 60  # type: ignore[union-attr]
    assert Session(rate_limit=None).limiter_for("https://api.rfcx.org") is None
    with pytest.raises(TypeError):
        Session(rate_limit="fast")  # type: ignore[arg-type]


def test_retry_policy_caps_retry_after() -> None:
    # Which requests are retried is tested through the real client (tests/client/test_errors.py).
    assert PlatformRetry(total=3).parse_retry_after("100000") <= 120


def test_user_agent_and_timeout_are_sent(demo_emulator: Emulator, client: Client) -> None:
    seen = client.session.request("GET", f"{demo_emulator.api_url}/projects",
                                  params={"limit": 1}, parse=lambda r: r.request.headers)
    assert seen["User-Agent"].startswith("rfcx-frames/")
    assert client.session.timeout == (10.0, 120.0)
