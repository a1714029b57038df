"""map_windows on a LocalCluster of two worker processes, against the emulator."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from distributed import Client as DaskClient
from distributed import LocalCluster, get_task_stream
from distributed.diagnostics.plugin import SchedulerPlugin

from rfcx_frames import Client
from rfcx_frames.distributed import (
    ClusterRateLimiter,
    cluster_limiter,
    indices_fn,
    map_windows,
    model_fn,
    read_results,
    window_grid,
    written,
)
from rfcx_frames.distributed.worker import free_clients
from rfcx_frames.ecology import detection_history
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.exceptions import PartitionsFailedError
from rfcx_frames.ratelimit import RateLimit

# Workers import nothing from tests/: the fns defined here travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

RATE = 8000


@pytest.fixture(scope="module")
def dask() -> Iterator[DaskClient]:
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=":0") as cluster, DaskClient(cluster) as client:
        yield client


def small_plan(client: Any) -> pd.DataFrame:
    """Two streams x two days, two 5 s windows a day: four partitions."""
    streams = client.streams_df()["id"].tolist()[:2]
    pieces = [client.segments_df(s, day, pd.Timestamp(day) + pd.Timedelta(days=1)).head(1)
              for s in streams for day in ("2024-03-02", "2024-03-03")]
    grid = window_grid(pd.concat(pieces, ignore_index=True), 5)
    return grid.groupby(["stream_id", grid["start"].dt.floor("D")]).head(2).reset_index(drop=True)


def test_results_equal_a_single_process_run_window_for_window(
        demo_emulator: Emulator, dask: DaskClient, tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "cache") as client:
        plan = small_plan(client)
        report = map_windows(plan, indices_fn(), tmp_path / "out", client=client, cluster=dask,
                             sample_rate=RATE)
        audio, meta = client.clips(plan, sample_rate=RATE, progress=False)
    assert len(plan) == 8 and report["status"].tolist() == ["written"] * 4
    assert report["rows"].tolist() == [2] * 4
    expected = indices_fn()(audio, meta)
    got = read_results(tmp_path / "out")
    pd.testing.assert_frame_equal(
        got.sort_values(["stream_id", "start"], ignore_index=True),
        expected.astype({"stream_id": str}).sort_values(["stream_id", "start"],
                                                        ignore_index=True),
        check_dtype=False)
    # A second run finds everything written and sends no task.
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "cache") as client:
        again = map_windows(plan, indices_fn(), tmp_path / "out", client=client, cluster=dask,
                            sample_rate=RATE)
    assert again["status"].tolist() == ["skipped"] * 4


def _die_once(marker: str, audio: np.ndarray, meta: pd.DataFrame) -> pd.DataFrame:
    """Kill this worker process the first time any worker gets here, else the peak."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return pd.DataFrame({"peak": np.abs(audio).max(axis=1)})
    os.close(fd)
    os._exit(1)


def test_a_killed_worker_then_a_rerun_give_every_partition_exactly_once(
        demo_emulator: Emulator, dask: DaskClient, tmp_path: Path) -> None:
    out = tmp_path / "out"
    fn = functools.partial(_die_once, str(tmp_path / "died"))
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "cache") as client:
        plan = small_plan(client)
        try:
            first = map_windows(plan, fn, out, client=client, cluster=dask, sample_rate=RATE)
        except PartitionsFailedError as failed:  # the lost task may exhaust its attempts
            first = failed.report
        again = map_windows(plan, fn, out, client=client, cluster=dask, sample_rate=RATE)
    assert (tmp_path / "died").exists()
    assert set(first["status"]) <= {"written", "failed"}
    assert sorted(again["status"].map({"written": 1, "skipped": 1}).tolist()) == [1] * 4
    assert len(written(out)) == 4
    results = read_results(out)
    assert len(results) == len(plan)
    assert not results.duplicated(["stream_id", "start"]).any()
    leftovers = [p for p in out.rglob("*") if p.is_file()
                 and p.name not in ("part.parquet", "_SUCCESS.json")]
    assert leftovers == []
    dask.wait_for_workers(2, timeout=60)


def _fail_one_stream(bad: str, attempts: str, audio: np.ndarray,
                     meta: pd.DataFrame) -> pd.DataFrame:
    """Raise on every window of stream ``bad`` (counting attempts), else the peak."""
    if (meta["stream_id"] == bad).any():
        with open(attempts, "a") as log:
            log.write("x")
        raise RuntimeError(f"no model for {bad}")
    return pd.DataFrame({"peak": np.abs(audio).max(axis=1)})


def test_a_failing_partition_is_retried_then_named_and_half_written_files_are_never_read(
        demo_emulator: Emulator, dask: DaskClient, tmp_path: Path) -> None:
    out, attempts = tmp_path / "out", tmp_path / "attempts"
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "cache") as client:
        plan = small_plan(client)
        bad = sorted(plan["stream_id"].unique())[0]
        day = plan["start"].min().strftime("%Y-%m-%d")
        # A crash between the data file and its marker leaves a file no reader may take.
        stale = out / f"stream_id={bad}/date={day}" / "part.parquet"
        stale.parent.mkdir(parents=True)
        stale.write_bytes(b"half a file")
        assert read_results(out).empty
        fn = functools.partial(_fail_one_stream, bad, str(attempts))
        with pytest.raises(PartitionsFailedError, match=f"stream_id={bad}/date=") as failed:
            map_windows(plan, fn, out, client=client, cluster=dask, retries=1,
                        sample_rate=RATE)
    assert sorted(failed.value.errors) == [f"stream_id={bad}/date=2024-03-02",
                                           f"stream_id={bad}/date=2024-03-03"]
    assert attempts.read_text() == "x" * 4  # two partitions, each tried twice
    report = failed.value.report
    assert report.set_index("partition")["status"].value_counts().to_dict() == {
        "failed": 2, "written": 2}
    assert "no model for" in report["error"].dropna().iloc[0]
    assert set(read_results(out)["stream_id"]) == set(plan["stream_id"]) - {bad}


class GraphSpy(SchedulerPlugin):
    """Keeps, pickled, every task the scheduler is given (it runs in this process)."""

    def __init__(self) -> None:
        self.tasks: dict[str, bytes] = {}

    def update_graph(self, scheduler: Any, *, keys: Any, **kwargs: Any) -> None:
        for key, state in scheduler.tasks.items():
            self.tasks[str(key)] = cloudpickle.dumps(state.run_spec)


def test_the_token_never_reaches_a_task_key_a_task_or_a_file_and_a_model_feeds_histories(
        demo_emulator: Emulator, dask: DaskClient, tmp_path: Path) -> None:
    out, token = tmp_path / "out", demo_emulator.token
    scores = model_fn(lambda audio, meta: np.abs(audio).mean(axis=1) * 0 + 0.8, ["tone"])
    spy = GraphSpy()
    dask.cluster.scheduler.add_plugin(spy, name="graph-spy")
    try:
        with demo_emulator.client(progress=False, cache_dir=tmp_path / "cache") as client:
            plan = small_plan(client)
            with get_task_stream(client=dask) as stream:
                map_windows(plan, scores, out, client=client, cluster=dask, sample_rate=RATE)
            effort = client.effort_df("2024-03-02", "2024-03-04",
                                      streams=plan["stream_id"].unique().tolist(), freq="1D")
            assert token not in repr(client.credentials())
    finally:
        dask.cluster.scheduler.remove_plugin(name="graph-spy")
    keys = [str(task["key"]) for task in stream.data]
    assert keys and all(key.startswith("rfcx-frames-") for key in keys)
    assert not any(token in key for key in keys)
    # Every task the scheduler held, pickled: the partitions' and the scattered credentials'
    # (data, not a task: no run_spec), and not one holds the token.
    partitions = [key for key in spy.tasks if key.startswith("rfcx-frames-")]
    assert len(partitions) == 4 and any(key.startswith("Credentials-") for key in spy.tasks)
    assert not any(token.encode() in blob or token in key for key, blob in spy.tasks.items())
    # The run freed its client on every worker.
    assert list(dask.run(free_clients, "").values()) == [[], []]
    scratch = [Path(d) for d in dask.run(lambda dask_worker: dask_worker.local_directory).values()]
    for path in [*out.rglob("*"), *(tmp_path / "cache").rglob("*"),
                 *(p for folder in scratch for p in folder.rglob("*"))]:
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    detections = read_results(out)
    assert detections.columns.tolist() == ["stream_id", "start", "end",
                                           "classification_value", "confidence"]
    history = detection_history(detections, effort, min_coverage=0.0)
    assert history.species == ["tone"]
    assert int(np.nansum(history.y["tone"].to_numpy())) == 4


def test_a_failed_run_frees_its_clients_too(
        demo_emulator: Emulator, dask: DaskClient, tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "cache") as client:
        plan = small_plan(client).head(2)
        fn = functools.partial(_fail_one_stream, plan["stream_id"].iloc[0],
                               str(tmp_path / "attempts"))
        with pytest.raises(PartitionsFailedError):
            map_windows(plan, fn, tmp_path / "out", client=client, cluster=dask, retries=0,
                        sample_rate=RATE)
    assert list(dask.run(free_clients, "").values()) == [[], []]


def test_one_limiter_paces_every_request_of_the_cluster(
        demo_emulator: Emulator, dask: DaskClient, tmp_path: Path) -> None:
    # A limiter on a fixed clock that never sleeps: its schedule shows every slot taken.
    limiter = ClusterRateLimiter(120, clock=functools.partial(float, 0), sleep=float,
                                 client=dask)
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "cache",
                              rate_limit=120) as client:
        plan = small_plan(client)
        demo_emulator.reset_stats()
        map_windows(plan, indices_fn(), tmp_path / "out", client=client, cluster=dask,
                    sample_rate=RATE, limiter=limiter)
    stats = demo_emulator.stats()
    # Segment files redirect to storage, another host than the platform's rate limit covers.
    # The emulator counts identity probes apart from total_requests.
    sent = (stats["total_requests"] - stats["requests"].get("GET /_blobs/...", 0)
            + stats["identity_requests"])
    assert sent >= 4
    assert limiter.granted() == sent
    # One schedule for both workers: the n-th slot is n intervals (0.5 s) after the first.
    assert limiter.next_slot() == pytest.approx(sent * 0.5)
    # A 429/503 halves the whole cluster's pace: the next slot comes one second later.
    assert limiter.penalize() is True and limiter.rate() == 60
    limiter.acquire()
    assert limiter.next_slot() == pytest.approx(sent * 0.5 + 1.0)


def test_the_cluster_limit_follows_the_clients_rate_limit() -> None:
    platform = "https://api.rfcx.org"
    auto = cluster_limiter(Client(api_url=platform, token="t"))
    assert auto is not None and (auto.per_minute, auto.burst) == (300, 1500)
    assert cluster_limiter(Client(api_url="http://127.0.0.1:9", token="t")) is None
    assert cluster_limiter(Client(api_url=platform, token="t", rate_limit=None)) is None
    fixed = cluster_limiter(Client(api_url="http://127.0.0.1:9", token="t", rate_limit=60))
    assert fixed is not None and fixed.interval == 1.0


def test_bad_arguments_are_refused_before_any_task(
        demo_emulator: Emulator, dask: DaskClient, tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as client:
        plan = pd.DataFrame({"stream_id": ["s1"], "start": ["2024-03-02T00:00:00Z"]})
        with pytest.raises(ValueError, match="missing \\['end'\\]"):
            map_windows(plan, indices_fn(), tmp_path, client=client, cluster=dask)
        with pytest.raises(TypeError, match="fn must be a callable"):
            map_windows(plan, "indices", tmp_path, client=client, cluster=dask)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="retries"):
            map_windows(plan, indices_fn(), tmp_path, client=client, cluster=dask, retries=-1)
    with pytest.raises(ValueError, match="per_minute"):
        ClusterRateLimiter(0)


#: The emulator's ingress and the cluster's limiter: 60 requests a minute, a burst of 2.
PER_MINUTE, BURST = 60, 2


def cheap_plan(client: Any) -> pd.DataFrame:
    """Three streams' first three FLAC segments in 20 s windows: three partitions that
    need a listing and three downloads each, well over the burst."""
    streams = client.streams_df()["id"].tolist()
    segments = client.segments_df(streams, "2024-03-01", "2024-03-02")
    flac = segments[segments["file_extension"] == ".flac"]
    first = flac.groupby("stream_id", observed=True).head(3)
    chosen = first["stream_id"].drop_duplicates().head(3)
    return window_grid(first[first["stream_id"].isin(chosen)], 20)


def most_in_any(times: list[float], seconds: float) -> int:
    """The most instants in any span of ``seconds``, ``(t - seconds, t]``."""
    return max(sum(1 for u in times if t - seconds < u <= t) for t in times)


def test_the_cluster_stays_within_the_emulators_rate_limit_counted_at_the_emulator(
        dask: DaskClient, tmp_path: Path) -> None:
    with running(world="demo", days=1, data_dir=tmp_path / "world") as emu:
        with emu.client(progress=False, cache_dir=tmp_path / "alone", rate_limit=None) as alone:
            plan = cheap_plan(alone)
            audio, meta = alone.clips(plan, sample_rate=RATE, progress=False)
        emu.set_faults(rate_limit=PER_MINUTE, rate_burst=BURST)
        emu.reset_stats()
        locks = dask.cluster.scheduler.extensions["semaphores"].leases
        held_before = set(locks)
        with emu.client(progress=False, cache_dir=tmp_path / "cache",
                        rate_limit=RateLimit(PER_MINUTE, burst=BURST)) as client:
            report = map_windows(plan, indices_fn(), tmp_path / "out", client=client,
                                 cluster=dask, sample_rate=RATE)
        stats = emu.stats()
    limit = stats["rate_limit"]
    assert report["status"].tolist() == ["written"] * 3
    assert set(locks) == held_before  # the run's own limiter left nothing on the scheduler
    # Nothing refused, by the rate or otherwise, and the plan needed well over the burst.
    assert limit["refused"] == 0 and stats["faults"] == {}
    assert limit["admitted"] >= 4 * (BURST + 1)
    assert limit["max_per_minute"] <= PER_MINUTE + BURST
    # Finer than a minute, on the emulator's clock: nginx's own bound for any span.
    times = limit["admitted_at"]
    assert len(times) == limit["admitted"]
    for seconds in (3, 5, 10):
        assert most_in_any(times, seconds) <= BURST + 1 + seconds * PER_MINUTE / 60
    assert times[-1] - times[0] >= (limit["admitted"] - BURST - 1) * 60 / PER_MINUTE - 0.5
    expected = indices_fn()(audio, meta).astype({"stream_id": str})
    pd.testing.assert_frame_equal(
        read_results(tmp_path / "out").sort_values(["stream_id", "start"], ignore_index=True),
        expected.sort_values(["stream_id", "start"], ignore_index=True), check_dtype=False)
