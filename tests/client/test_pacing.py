"""Client pacing: the ingress's bucket, lowered on 429/503, shared by the whole process.

The bucket is tested with an injected clock and sleep (no wall-clock waits); workloads run
against an emulator whose ingress limit is small, and assert on frames and counts only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pandas as pd
import pytest

from rfcx_frames import AUTO, Client
from rfcx_frames.config import PACE_FLOOR_PER_MINUTE, PACE_RECOVERY_REQUESTS
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.exceptions import ServerError
from rfcx_frames.ratelimit import Pacer, RateLimit, RateLimiter, pacer_for
from rfcx_frames.session import Session


class FakeTime:
    """A clock that moves only when slept on: waits are recorded, never spent."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)


def limiter(per_minute: float | None, burst: int | None, t: FakeTime) -> RateLimiter:
    return RateLimiter(per_minute, burst, clock=t.clock, sleep=t.sleep)


# -- the bucket --------------------------------------------------------------------------

def test_burst_goes_at_once_then_one_per_interval() -> None:
    t = FakeTime()
    bucket = limiter(60, 3, t)
    assert [bucket.acquire() for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]
    t.now += 10.0  # the reserved tokens are paid back, then the bucket fills to its burst
    assert [bucket.acquire() for _ in range(4)] == [0.0, 0.0, 0.0, 1.0]


def test_platform_bucket_is_the_ingress_figures() -> None:
    t = FakeTime()
    bucket = limiter(300, 1500, t)
    waits = [bucket.acquire() for _ in range(1510)]
    assert waits[:1500] == [0.0] * 1500
    assert waits[1500:] == pytest.approx([0.2 * k for k in range(1, 11)])
    assert pacer_for(AUTO, "https://api.rfcx.org/x").per_minute == 300  # type: ignore[union-attr]
    assert repr(pacer_for(AUTO, "https://ingest.rfcx.org/uploads")) == \
        "RateLimiter(per_minute=300, burst=1500)"


def test_threads_share_one_queue_of_turns() -> None:
    t = FakeTime()
    bucket = limiter(60, 5, t)
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(10)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 40 turns: 5 from the burst, then every thread waits for a slot of its own.
    assert sorted(t.waits) == pytest.approx([float(k) for k in range(1, 36)])


def test_a_throttled_answer_halves_the_pace_then_it_climbs_back() -> None:
    t = FakeTime()
    bucket = limiter(300, 10, t)
    assert bucket.acquire() == 0.0
    assert bucket.penalize() is True
    assert bucket.rate == 150.0
    # Another answer to a request that went out before the cut: no second cut.
    assert bucket.penalize() is True and bucket.rate == 150.0
    assert bucket.acquire() == pytest.approx(60 / 165)  # bucket emptied; +15/min a request
    assert bucket.penalize() is True and bucket.rate == 82.5  # sent after the cut: cut
    t.now += 100.0
    for _ in range(3 * PACE_RECOVERY_REQUESTS):  # +8.25/min a request from 82.5
        bucket.acquire()
    assert bucket.rate == 300.0  # never above the host's own rate


def test_answers_in_flight_at_a_cut_cut_once_across_threads() -> None:
    t = FakeTime()
    bucket = limiter(None, None, t)
    barrier = threading.Barrier(8)

    def request() -> None:
        bucket.acquire()
        barrier.wait()  # all eight in flight before any answer
        bucket.penalize()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert bucket.rate == pytest.approx(60 * 8 / 2)  # 8 at once: measured 8/s, halved once


def test_the_pace_has_a_floor() -> None:
    t = FakeTime()
    bucket = limiter(300, 10, t)
    cuts = 0
    while bucket.penalize():
        cuts += 1
        t.now += 100.0
    assert bucket.rate == PACE_FLOOR_PER_MINUTE and cuts == 6
    # The floor still climbs back by a tenth of the last cut per request.
    assert bucket.acquire() == pytest.approx(60 / (PACE_FLOOR_PER_MINUTE * 1.1))


def test_an_unknown_host_is_paced_from_its_first_throttled_answer() -> None:
    t = FakeTime()
    bucket = limiter(None, None, t)
    for _ in range(20):  # 20 requests a second
        assert bucket.acquire() == 0.0
        t.now += 0.05
    assert bucket.rate == float("inf")
    assert bucket.penalize() is True
    assert bucket.rate == pytest.approx(60 * 20 / 2, rel=0.1)
    assert bucket.acquire() > 0.0


def test_bad_settings_are_refused_naming_the_argument() -> None:
    with pytest.raises(ValueError, match="rate_limit must be a positive number"):
        RateLimiter(0)
    with pytest.raises(ValueError, match="burst must be a whole number"):
        RateLimit(60, burst=-1)
    with pytest.raises(TypeError, match=r"rate_limit must be .* AUTO"):
        Session(rate_limit="fast")  # type: ignore[arg-type]


def test_one_bucket_per_host_for_the_whole_process() -> None:
    first, second = Session(rate_limit=AUTO), Session(rate_limit=AUTO)
    url = "https://api.rfcx.org/projects"
    assert first.limiter_for(url) is second.limiter_for(url)
    assert first.limiter_for("http://127.0.0.1:1/x") is not first.limiter_for(url)
    assert Session(rate_limit=120).limiter_for(url) is Session(rate_limit=120).limiter_for(url)
    assert Session(rate_limit=None).limiter_for(url) is None
    own = RateLimiter(60)
    assert Session(rate_limit=own).limiter_for("http://anywhere:1/x") is own
    assert isinstance(own, Pacer)


# -- through the client --------------------------------------------------------------------

class RecordingPacer:
    """A stand-in pacer (as a cluster-wide one would be): counts what the session asks."""

    def __init__(self, can_slow_down: bool = True) -> None:
        self.acquired = 0
        self.penalized = 0
        self.can_slow_down = can_slow_down

    def acquire(self) -> float:
        self.acquired += 1
        return 0.0

    def penalize(self) -> bool:
        self.penalized += 1
        return self.can_slow_down


def test_every_attempt_takes_a_turn_and_every_503_is_reported(
        fresh_emulator: Emulator) -> None:
    emu, pacer = fresh_emulator, RecordingPacer()
    with emu.client(progress=False, cache=False, rate_limit=pacer, retries=1,
                    backoff_factor=0.01) as c:
        emu.set_faults(fail_next=4, fail_status=503)
        try:
            frame = c.projects_df()
        finally:
            emu.set_faults(fail_next=0)
    # Four 503s with one retry allowed: the throttled answers did not use it up.
    assert len(frame) > 0 and pacer.penalized == 4 and pacer.acquired == 5


def test_a_pacer_that_cannot_slow_down_gives_up_after_the_retries(
        fresh_emulator: Emulator) -> None:
    emu, pacer = fresh_emulator, RecordingPacer(can_slow_down=False)
    with emu.client(progress=False, cache=False, rate_limit=pacer, retries=1,
                    backoff_factor=0.01) as c:
        emu.set_faults(fail_next=4, fail_status=503)
        try:
            with pytest.raises(ServerError) as err:
                c.projects_df()
        finally:
            emu.set_faults(fail_next=0)
    assert err.value.status == 503 and pacer.penalized == 2


@pytest.fixture()
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator whose ingress admits 11 requests at once, then 5 a second."""
    with running(world="demo", data_dir=tmp_path_factory.mktemp("paced"), days=1) as emu:
        yield emu


def _detections(c: Client) -> pd.DataFrame:
    return c.detections_df("2024-01-01", "2025-01-01", min_confidence=0)


def test_a_sustained_workload_completes_under_a_limit_it_was_not_told(
        limited: Emulator) -> None:
    with limited.client(progress=False, cache=False) as c:
        expected = _detections(c)
        limited.reset_stats()
        limited.set_faults(rate_limit=300, rate_burst=10)
        got = _detections(c)  # AUTO does not know this host's limit: it finds it
        stats = limited.stats()
    pd.testing.assert_frame_equal(got, expected)
    assert stats["faults"]["rate_limited"] > 0  # the limit was met, and paced through
    assert stats["total_requests"] - stats["faults"]["rate_limited"] == 33


def test_clients_in_threads_share_the_budget(limited: Emulator) -> None:
    with limited.client(progress=False, cache=False) as c:
        expected = _detections(c)
    limited.set_faults(rate_limit=300, rate_burst=10)
    results: dict[int, pd.DataFrame] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with limited.client(progress=False, cache=False,
                                rate_limit=RateLimit(300, burst=1500)) as own:
                results[n] = _detections(own)
        except BaseException as exc:
            errors.append(exc)

    limited.reset_stats()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = limited.stats()
    assert errors == [] and len(results) == 2
    for frame in results.values():
        pd.testing.assert_frame_equal(frame, expected)
    # Both clients overestimated the burst, met the limit, and paced through it.
    assert stats["faults"]["rate_limited"] > 0
    assert stats["total_requests"] - stats["faults"]["rate_limited"] == 2 * 33
