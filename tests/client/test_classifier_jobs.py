"""Classifiers and classifier jobs through the public API, over HTTP, on a manual emulator."""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import rfcx_frames as rf
from rfcx_frames.emulator import Emulator, running

RATE = 24000
NOW = pd.Timestamp("2024-06-01T12:00:00Z")


class Clock:
    """A clock that moves only when told (shared by the emulator and the client)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> pd.Timestamp:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory, clock: Clock) -> Iterator[Emulator]:
    """A one-day demo world whose jobs move only on ``advance_jobs``."""
    with running(world="demo", data_dir=tmp_path_factory.mktemp("jobs-world"), days=1,
                 jobs="manual", clock=clock) as emulator:
        yield emulator


@pytest.fixture()
def client(emu: Emulator, clock: Clock) -> Iterator[rf.Client]:
    with emu.client(progress=False, cache=False, clock=clock) as c:
        yield c


def _project(emu: Emulator, name: str) -> str:
    return str(emu.store.query("SELECT id FROM projects WHERE name = ?", (name,))[0]["id"])


def _jobs(emu: Emulator, where: str, args: tuple[object, ...] = ()) -> list[int]:
    return [int(r["id"]) for r in emu.store.query(
        f"SELECT id FROM classifier_jobs WHERE {where} ORDER BY id", args)]


def test_classifiers_df_has_one_row_per_output(emu: Emulator, client: rf.Client) -> None:
    df = client.classifiers_df()
    expected = emu.store.query(
        "SELECT k.id, c.value, o.output_class_name, o.ignore_threshold FROM classifier_outputs o "
        "JOIN classifiers k ON k.id = o.classifier_id JOIN classifications c "
        "ON c.id = o.classification_id WHERE k.is_public = 1 OR k.created_by_id = 1")
    assert len(df) == len(expected)
    got = set(zip(df["classifier_id"], df["classification_value"].astype(str),
                  df["output_class_name"], df["threshold"].round(3), strict=True))
    assert got == {(r[0], r[1], r[2], round(r[3], 3)) for r in expected}
    assert str(df["last_executed_at"].dtype) == "datetime64[ms, UTC]"
    assert df.groupby("name")["classification_value"].nunique().min() >= 1


def test_classifier_jobs_df_lists_readable_jobs_with_filters(emu: Emulator,
                                                             client: rf.Client) -> None:
    pr, borneo = _project(emu, "Puerto Rico Soundscapes"), _project(emu, "Borneo Private Survey")
    everything = client.classifier_jobs_df()
    readable = _jobs(emu, "project_id IN (SELECT id FROM projects WHERE created_by_id = 1 UNION "
                          "SELECT project_id FROM project_roles WHERE user_id = 1)")
    assert sorted(everything["id"]) == readable
    assert borneo not in set(everything["project_id"])
    assert set(everything["status"].astype(str)) >= {"done", "running", "waiting", "cancelled"}
    done = client.classifier_jobs_df(projects=[pr], status="done")
    assert sorted(done["id"]) == _jobs(emu, "project_id = ? AND status = 30", (pr,))
    assert (done["minutes_completed"] == done["minutes_total"]).all()
    mine = client.classifier_jobs_df(created_by="me")
    assert set(mine["created_by_id"]) == {1}
    assert client.classifier_jobs_df(status=30)["id"].tolist() == \
        client.classifier_jobs_df(status="done")["id"].tolist()


def test_bad_input_is_refused_before_any_request(emu: Emulator, client: rf.Client) -> None:
    pr = _project(emu, "Puerto Rico Soundscapes")
    emu.reset_stats()
    with pytest.raises(ValueError, match="status must be one of waiting, running, done"):
        client.classifier_jobs_df(status="finished")
    with pytest.raises(ValueError, match="created_by must be 'me'"):
        client.classifier_jobs_df(created_by="someone")
    with pytest.raises(ValueError, match="hours must be hours 0-23"):
        client.create_classifier_job(1, pr, None, "2024-03-01", "2024-03-02", hours="5-25")
    with pytest.raises(ValueError, match="list of hours 0-23"):
        client.create_classifier_job(1, pr, None, "2024-03-01", "2024-03-02", hours=[5, 24])
    with pytest.raises(ValueError, match="start must be before end"):
        client.create_classifier_job(1, pr, None, "2024-03-02", "2024-03-02")
    with pytest.raises(ValueError, match="classifier_id must be a positive integer"):
        client.create_classifier_job(0, pr, None, "2024-03-01", "2024-03-02")
    with pytest.raises(ValueError, match="project='nope' is not a platform id"):
        client.create_classifier_job(1, "nope", None, "2024-03-01", "2024-03-02")
    with pytest.raises(ValueError, match="job_id must be a positive integer id"):
        client.classifier_job("12a")
    with pytest.raises(TypeError, match="job_id must be an integer id"):
        client.cancel_classifier_job(1.5)
    with pytest.raises(ValueError, match="n_per_chunk must be between 1 and 10"):
        client.best_detections_df(101, n_per_chunk=11)
    with pytest.raises(ValueError, match="review_statuses: unknown value 'good'"):
        client.best_detections_df(101, review_statuses="good")
    assert emu.stats()["total_requests"] == 0


def test_ids_taken_from_the_frames_are_accepted(client: rf.Client) -> None:
    # What a notebook does: pick ids out of one frame (numpy integers) to ask for another.
    jobs = client.classifier_jobs_df(status="done")
    job_id, classifier_id = jobs["id"].iloc[0], jobs["classifier_id"].iloc[0]
    assert type(job_id).__module__ == "numpy"
    assert client.classifier_job(job_id).id == int(job_id)
    assert (client.best_detections_df(job_id)["classifier_job_id"] == int(job_id)).all()
    counts = client.detection_counts("2024-03-01", "2024-03-02", classifiers=classifier_id,
                                     min_confidence=0.5)
    assert counts["count"].sum() > 0


def test_unknown_job_ids_are_errors(client: rf.Client) -> None:
    for call in (client.classifier_job, client.classifier_job_summary,
                 client.best_detections_df, client.cancel_classifier_job):
        with pytest.raises(rf.NotFoundError):
            call(987654)


def test_permissions_follow_project_roles(emu: Emulator, client: rf.Client,
                                          clock: Clock) -> None:
    pr = _project(emu, "Puerto Rico Soundscapes")
    borneo_job = _jobs(emu, "project_id = ?", (_project(emu, "Borneo Private Survey"),))[0]
    with pytest.raises(rf.ForbiddenError):
        client.classifier_job(borneo_job)  # a project the demo user has no role in
    others = _jobs(emu, "created_by_id = 2 AND status = 30 AND project_id IN "
                        "(SELECT project_id FROM project_roles WHERE user_id = 1)")
    with pytest.raises(rf.ForbiddenError):
        client.cancel_classifier_job(others[0])  # readable, but not the demo user's job
    with (emu.client(progress=False, cache=False, clock=clock,
                     token=emu.tokens["other"]) as guest,
          pytest.raises(rf.ForbiddenError)):  # a guest of the project may not create
        guest.create_classifier_job(1, pr, None, "2024-03-01", "2024-03-02")
    assert _jobs(emu, "created_by_id = 2 AND project_id = ?", (pr,)) == []


def test_cancel_follows_the_platform_rules(emu: Emulator, client: rf.Client) -> None:
    pr = _project(emu, "Puerto Rico Soundscapes")
    job_id = client.create_classifier_job(1, pr, None, "2024-03-01", "2024-03-02", hours=[5, 6])
    job = client.classifier_job(job_id)
    assert (job.status, job.query_start, job.query_end, job.query_hours) == \
        ("waiting", "2024-03-01", "2024-03-01", "5,6")
    assert job.created_at == NOW and len(job.streams) >= 1
    assert client.cancel_classifier_job(job_id).status == "cancelled"
    with pytest.raises(rf.ValidationError, match="Cannot cancel jobs in status 50"):
        client.cancel_classifier_job(job_id)
    running_job = _jobs(emu, "status = 20 AND created_by_id = 1")[0]
    assert client.cancel_classifier_job(running_job).status == "awaiting_cancellation"


def test_wait_times_out_on_the_client_clock(emu: Emulator, client: rf.Client,
                                            clock: Clock) -> None:
    pr = _project(emu, "Puerto Rico Soundscapes")
    job_id = client.create_classifier_job(1, pr, None, "2024-03-01", "2024-03-02")
    start = clock.now

    def sleep(seconds: float) -> None:  # time passes, the (manual) job does not move
        clock.now += pd.Timedelta(seconds=seconds)

    with pytest.raises(TimeoutError, match=f"classifier job {job_id} still waiting"):
        client.wait_for_classifier_job(job_id, timeout=60, poll=10, sleep=sleep)
    assert clock.now - start == pd.Timedelta(seconds=60)
    client.cancel_classifier_job(job_id)


def _model(tmp_path: Path) -> Path:
    path = tmp_path / "model.tar.gz"
    (tmp_path / "weights.bin").write_bytes(b"\0" * 64)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tmp_path / "weights.bin", arcname="weights.bin")
    return path


def _tone_file(tmp_path: Path, name: str, centre: float, calls: tuple[int, ...]) -> Path:
    t = np.arange(RATE * 30) / RATE
    audio = 0.002 * np.random.default_rng(len(name)).standard_normal(t.size)
    for second in calls:
        span = slice(second * RATE, (second + 1) * RATE)
        audio[span] += 0.3 * np.sin(2 * np.pi * centre * t[span])
    path = tmp_path / name
    sf.write(path, audio.astype(np.float32), RATE)
    return path


def test_a_job_runs_to_completion(emu: Emulator, client: rf.Client, clock: Clock,
                                  tmp_path: Path) -> None:
    cls = emu.store.query("SELECT value, frequency_min, frequency_max FROM classifications "
                          "WHERE frequency_min >= 1500 AND frequency_max <= 6000 "
                          "ORDER BY value LIMIT 1")[0]
    pr = _project(emu, "Puerto Rico Soundscapes")
    site = emu.store.query("SELECT id, timezone FROM streams WHERE project_id = ? ORDER BY id",
                           (pr,))[0]
    stream = str(site["id"])
    centre = (cls["frequency_min"] + cls["frequency_max"]) / 2
    recorded = pd.Timestamp("2024-02-10T06:00:00Z")
    for minute, calls in ((0, (5, 12)), (1, (3,))):
        wav = _tone_file(tmp_path, f"m{minute}.wav", centre, calls)
        upload = client.ingest_file(stream, wav, recorded + pd.Timedelta(minutes=minute))
        assert client.check_ingest(upload, wait_for_completion=True, timeout=60,
                                   poll_interval=0.1)[0] == 20
    classifier = client.upload_classifier(_model(tmp_path), "tone-net", 1,
                                          [f"tone:{cls['value']}:0.5"])
    local_hour = recorded.tz_convert(site["timezone"]).hour  # job hours are the site's
    # Two days: the platform's best detections leave out a job's last day.
    job_id = client.create_classifier_job(classifier, pr, [stream], "2024-02-10",
                                          "2024-02-12", hours=str(local_hour))
    seen: list[tuple[str, int, int | None]] = []
    began = clock.now

    def sleep(seconds: float) -> None:
        clock.now += pd.Timedelta(seconds=seconds)
        emu.advance_jobs(segments=1)

    job = client.wait_for_classifier_job(job_id, timeout=600, poll=30, sleep=sleep,
                                         on_poll=lambda j: seen.append(
                                             (j.status, j.minutes_completed, j.minutes_total)))
    assert seen == [("waiting", 0, None), ("running", 1, 2), ("done", 2, 2)]
    assert job.status == "done" and job.progress == 1.0
    assert job.completed_at == began + pd.Timedelta(seconds=60)  # two polls of 30 s
    found = client.detections_df(recorded, recorded + pd.Timedelta(minutes=2),
                                 classifiers=[classifier], min_confidence=0)
    assert set(found["classifier_job_id"]) == {job_id}
    assert sorted((found["start"] - recorded).dt.total_seconds().astype(int)) == [5, 12, 63]
    summary = client.classifier_job_summary(job_id)
    assert summary[["classification_value", "total", "unreviewed"]].astype(str).values.tolist() \
        == [[cls["value"], "3", "3"]]
    assert summary.attrs["validation"]["total"] == 3
    best = client.best_detections_df(job_id)
    assert best["confidence"].tolist() == [found["confidence"].max()]
    assert client.classifiers_df().query("classifier_id == @classifier")[
        "last_executed_at"].tolist() == [job.completed_at]


def test_summary_and_best_detections_of_a_finished_job(emu: Emulator,
                                                       client: rf.Client) -> None:
    job_id = _jobs(emu, "status = 30 AND project_id IN (SELECT id FROM projects WHERE "
                        "created_by_id = 1)")[0]
    summary = client.classifier_job_summary(job_id)
    truth = emu.store.query(
        "SELECT c.value, count(*) AS n, count(CASE WHEN d.review_status = 1 THEN 1 END) AS ok "
        "FROM detections d "
        "JOIN classifications c ON c.id = d.classification_id WHERE d.classifier_job_id = ? "
        "GROUP BY c.value", (job_id,))
    by_value = summary.set_index(summary["classification_value"].astype(str))
    for r in truth:
        assert by_value.loc[r["value"], "total"] == r["n"]
        assert by_value.loc[r["value"], "confirmed"] == r["ok"]
    assert summary["total"].sum() == summary.attrs["validation"]["total"]
    assert (summary[["unreviewed", "confirmed", "rejected", "uncertain"]].sum(axis=1)
            == summary["total"]).all()
    best = client.best_detections_df(job_id, n_per_chunk=2)
    assert best.groupby("stream_id", observed=True).size().max() <= 2
    assert set(best["rank"]) <= {1, 2}
    top = best[best["rank"] == 1].set_index("stream_id")["confidence"]
    for stream, confidence in top.items():
        highest = emu.store.query("SELECT max(confidence) AS c FROM detections WHERE "
                                  "classifier_job_id = ? AND stream_id = ?", (job_id, stream))
        assert confidence == pytest.approx(highest[0]["c"], rel=1e-6)
    daily = client.best_detections_df(job_id, by_date=True, review_statuses="unreviewed")
    assert (daily["review_status"].astype(str) == "unreviewed").all()


def test_writes_are_sent_once_unless_the_ingress_refused_them(emu: Emulator,
                                                              client: rf.Client) -> None:
    pr = _project(emu, "Puerto Rico Soundscapes")
    before = len(_jobs(emu, "1 = 1"))
    # a 503 from the ingress comes before the platform acted: the POST is sent again, once
    emu.set_faults(fail_next=1, fail_status=503, methods=["POST"])
    job_id = client.create_classifier_job(1, pr, None, "2024-03-01", "2024-03-02")
    assert len(_jobs(emu, "1 = 1")) == before + 1
    # a 502 may come after the platform acted: a PATCH is not sent again
    emu.set_faults(fail_next=1, fail_status=502, methods=["PATCH"])
    try:
        with pytest.raises(rf.ServerError):
            client.cancel_classifier_job(job_id)
    finally:
        emu.set_faults(fail_next=0, methods=None)
    assert client.classifier_job(job_id).status == "waiting"
    assert client.cancel_classifier_job(job_id).status == "cancelled"
