"""Contract of the classifier-job routes: shapes, validation messages, permissions, ordering.

The last tests send the same writes to the platform's own server when it runs
(``RFCX_REALSERVER_URL`` and ``RFCX_REALSERVER_WORLD``) and compare the answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from rfcx_frames.emulator import Emulator, running

from .helpers import sql


def call(emu: Emulator, method: str, path: str, token: str = "demo",
         **kwargs: Any) -> requests.Response:
    return requests.request(method, emu.api_url + path, timeout=30,
                            headers={"Authorization": f"Bearer {emu.tokens[token]}"}, **kwargs)


def error(status: int, message: str) -> dict[str, Any]:
    return {"message": message, "error": {"status": status}}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A writable one-day world whose jobs wait (``jobs="manual"``)."""
    with running(world="demo", data_dir=tmp_path_factory.mktemp("job-routes"), days=1,
                 jobs="manual") as emulator:
        yield emulator


def _project(emu: Emulator, name: str) -> str:
    return str(sql(emu, "SELECT id FROM projects WHERE name = ?", [name])[0]["id"])


def test_list_is_newest_first_with_total_items_and_includes(emu: Emulator) -> None:
    resp = call(emu, "GET", "/classifier-jobs", params={"limit": 3})
    assert resp.status_code == 200
    body = resp.json()
    readable = sql(emu, "SELECT id FROM classifier_jobs WHERE project_id IN (SELECT id FROM "
                        "projects WHERE created_by_id = 1 UNION SELECT project_id FROM "
                        "project_roles WHERE user_id = 1) ORDER BY created_at DESC, id")
    assert resp.headers["Total-Items"] == str(len(readable))
    assert [j["id"] for j in body] == [r["id"] for r in readable[:3]]
    assert list(body[0]) == ["id", "classifierId", "projectId", "minutesCompleted",
                             "minutesTotal", "createdById", "createdAt", "completedAt",
                             "status", "classifier", "streams"]
    assert set(body[0]["classifier"]) == {"id", "name", "version"}
    fields = call(emu, "GET", "/classifier-jobs",
                  params={"fields": ["id", "query_hours", "created_at"], "limit": 1}).json()
    assert list(fields[0]) == ["id", "queryHours", "createdAt"]
    # upstream, the streams join pages a subquery without the sort column
    broken = call(emu, "GET", "/classifier-jobs", params={"fields": ["id", "streams"]})
    assert broken.status_code == 500 and broken.json() == error(500, "Internal Server Error")
    bad = call(emu, "GET", "/classifier-jobs", params={"status": "abc"})
    assert bad.json() == error(400, "Validation errors: Parameter 'status' should be an integer.")


def test_list_filters(emu: Emulator) -> None:
    pr = _project(emu, "Puerto Rico Soundscapes")
    done = call(emu, "GET", "/classifier-jobs", params={"status": 30, "projects": [pr]}).json()
    assert {j["status"] for j in done} == {30} and {j["projectId"] for j in done} == {pr}
    mine = call(emu, "GET", "/classifier-jobs", params={"created_by": "me"}).json()
    assert {j["createdById"] for j in mine} == {1}
    pantropical = _project(emu, "Pantropical Forest Network")
    dusk = call(emu, "GET", "/classifier-jobs", params={"query_hours": "19",
                                                        "projects": [pantropical]}).json()
    assert [j["id"] for j in dusk] == [r["id"] for r in sql(
        emu, "SELECT id FROM classifier_jobs WHERE query_hours IN ('0-23', '18-20') AND "
             "project_id = ? ORDER BY created_at DESC, id", [pantropical])]
    # upstream splits every job's hours, and a job without hours fails the request
    assert call(emu, "GET", "/classifier-jobs", params={"query_hours": "6"}).json() == \
        error(500, "Internal Server Error")
    borneo = _project(emu, "Borneo Private Survey")
    hidden = call(emu, "GET", "/classifier-jobs", params={"projects": [borneo]})
    assert hidden.json() == [] and hidden.headers["Total-Items"] == "0"


def test_get_reads_through_project_roles(emu: Emulator) -> None:
    job = sql(emu, "SELECT id FROM classifier_jobs WHERE status = 30 ORDER BY id")[0]["id"]
    body = call(emu, "GET", f"/classifier-jobs/{job}").json()
    assert body["totalDistinctClassifications"] == len(sql(
        emu, "SELECT 1 FROM classifier_outputs WHERE classifier_id = ?", [job // 100]))
    assert body["minutesCompleted"] == body["minutesTotal"] > 0
    only = call(emu, "GET", f"/classifier-jobs/{job}", params={"fields": ["minutes_total"]})
    assert set(only.json()) == {"minutesTotal", "projectId", "totalDistinctClassifications"}
    borneo = sql(emu, "SELECT j.id FROM classifier_jobs j JOIN projects p ON p.id = j.project_id "
                      "WHERE p.name = 'Borneo Private Survey'")[0]["id"]
    assert call(emu, "GET", f"/classifier-jobs/{borneo}").json() == \
        error(403, "Not authorized to access this resource")
    assert call(emu, "GET", f"/classifier-jobs/{borneo}", token="system").status_code == 200
    assert call(emu, "GET", "/classifier-jobs/987654").json() == error(404, "Not Found")
    assert call(emu, "GET", "/classifier-jobs/abc").json() == \
        error(500, "Internal Server Error")


@pytest.mark.parametrize(("form", "status", "message"), [
    ({"classifier_id": "1"}, 400, "Validation errors: Parameter 'project_id' the parameter is "
                                  "required but was not provided."),
    ({"classifier_id": "1", "project_id": "abc", "query_hours": "25"}, 400,
     "Validation errors: Parameter 'project_id' is shorter than min length of 12 symbols; "
     "Parameter 'query_hours' invalid format."),
    ({"classifier_id": "1", "project_id": "abcdefabcdef"}, 404,
     "project with given id doesn't exist."),
    ({"classifier_id": "1", "project_id": "abcdefabcdef", "query_start": "2024-03-02",
      "query_end": "2024-03-01"}, 400, "query_start must be before query_end"),
])
def test_create_validation(emu: Emulator, form: dict[str, str], status: int,
                           message: str) -> None:
    resp = call(emu, "POST", "/classifier-jobs", data=form)
    assert resp.status_code == status and resp.json() == error(status, message)


def test_create_streams_and_permissions(emu: Emulator) -> None:
    pr = _project(emu, "Puerto Rico Soundscapes")
    form = {"classifier_id": "1", "project_id": pr, "query_start": "2024-03-01",
            "query_end": "2024-03-01", "query_hours": "5-7"}
    guest = call(emu, "POST", "/classifier-jobs", token="other", data=form)
    assert guest.json() == error(403, "Not authorized to access this resource")
    missing = call(emu, "POST", "/classifier-jobs", data={**form, "query_streams": "nostream"})
    assert missing.json() == error(404, "No streams found for the query")
    stream = sql(emu, "SELECT id, name FROM streams WHERE project_id = ? ORDER BY id", [pr])[0]
    some = call(emu, "POST", "/classifier-jobs",
                data={**form, "query_streams": f"{stream['id']},nostream"})
    assert some.json() == error(404, "Some streams not found for the query")
    created = call(emu, "POST", "/classifier-jobs", json={**form, "query_streams": stream["name"]})
    assert created.status_code == 201 and created.text == "Created"
    job = call(emu, "GET", created.headers["Location"], params={"fields": [
        "query_streams", "query_start", "query_end", "query_hours", "status", "streams"]}).json()
    assert job == {"projectId": pr, "queryStreams": stream["name"], "queryStart": "2024-03-01",
                   "queryEnd": "2024-03-01", "queryHours": "5-7", "status": 0,
                   "streams": [dict(stream)], "totalDistinctClassifications": 0}


def test_update_status_rules(emu: Emulator) -> None:
    pr = _project(emu, "Puerto Rico Soundscapes")
    created = call(emu, "POST", "/classifier-jobs", data={"classifier_id": "2", "project_id": pr})
    path = created.headers["Location"]
    start = call(emu, "PATCH", path, data={"status": "20"})
    assert start.json() == error(400, "Use POST /classifier-jobs/dequeue to start a job")
    assert call(emu, "PATCH", path, data={"status": "30"}).json() == \
        error(400, "Cannot update status to 30")
    assert call(emu, "PATCH", path, token="other", data={"status": "50"}).json() == \
        error(403, "Not authorized to access this resource")
    cancelled = call(emu, "PATCH", path, data={"status": "50"})
    assert cancelled.status_code == 200 and cancelled.text == "OK"
    assert call(emu, "GET", path).json()["status"] == 50
    assert call(emu, "PATCH", path, data={"status": "50"}).json() == \
        error(400, "Cannot cancel jobs in status 50")
    assert call(emu, "PATCH", path, data={"status": "0"}).status_code == 200  # requeued
    running_job = sql(emu, "SELECT id FROM classifier_jobs WHERE status = 20 AND "
                           "created_by_id = 1")[0]["id"]
    call(emu, "PATCH", f"/classifier-jobs/{running_job}", data={"status": "50"})
    assert call(emu, "GET", f"/classifier-jobs/{running_job}").json()["status"] == 60
    assert call(emu, "PATCH", "/classifier-jobs/987654", data={"status": "50"}).json() == \
        error(404, "Not Found")


def test_summary_validation_and_best_detections(emu: Emulator) -> None:
    job = sql(emu, "SELECT id FROM classifier_jobs WHERE status = 30 AND created_by_id = 1 "
                   "ORDER BY id")[0]["id"]
    summary = call(emu, "GET", f"/classifier-jobs/{job}/summary", params={"limit": 2,
                                                                          "sort": "-unreviewed"})
    rows = summary.json()["classificationsSummary"]
    assert len(rows) == 2 and rows[0]["unreviewed"] >= rows[1]["unreviewed"]
    assert set(rows[0]) == {"value", "title", "image", "total", "unreviewed", "confirmed",
                            "rejected", "uncertain"}
    total = int(summary.headers["Total-Items"])
    assert total == len(sql(emu, "SELECT 1 FROM classifier_outputs WHERE classifier_id = ?",
                            [job // 100]))
    one = call(emu, "GET", f"/classifier-jobs/{job}/summary/{rows[0]['value']}").json()
    assert one == rows[0]
    assert call(emu, "GET", f"/classifier-jobs/{job}/summary/nothing").json() == error(
        404, "Classifier job or classification value in the job cannot be found.")
    assert call(emu, "GET", f"/classifier-jobs/{job}/summary", params={"sort": "size"}).json() \
        == error(400, "Validation errors: Parameter 'sort' should be one of these values: "
                      "name, unreviewed, confirmed, uncertain, rejected.")
    validation = call(emu, "GET", f"/classifier-jobs/{job}/validation").json()["reviewStatus"]
    assert validation["total"] == sql(emu, "SELECT count(*) AS n FROM detections WHERE "
                                           "classifier_job_id = ?", [job])[0]["n"]
    best = call(emu, "GET", f"/classifier-jobs/{job}/best-detections", params={"n_per_chunk": 2})
    items = best.json()
    assert int(best.headers["Total-Items"]) == len(items) > 0
    assert list(items[0]) == ["id", "stream_id", "start", "end", "confidence",
                              "classification", "bestDetection"]
    assert [d["bestDetection"]["stream_ranking"] for d in items[:2]] == [1, 2]
    ranged = call(emu, "GET", f"/classifier-jobs/{job}/best-detections",
                  params={"start": "2024-03-01"})
    assert ranged.json() == error(400, "Searching for the best detections of job does not "
                                       "support date range")
    unknown = call(emu, "GET", "/classifier-jobs/987654/best-detections")
    assert unknown.json() == error(500, "Failed getting detections")
    counts = call(emu, "GET", f"/classifier-jobs/{job}/best-detections/summary",
                  params={"n_per_chunk": 2}).json()
    assert list(counts) == ["unreviewed", "rejected", "uncertain", "confirmed"]
    assert sum(counts.values()) == len(items)
    assert call(emu, "GET", "/classifier-jobs/987654/best-detections/summary").json() == \
        error(500, "Failed getting best detections summary")


def test_detections_carry_their_job(emu: Emulator) -> None:
    found = call(emu, "GET", "/detections", params={
        "start": "2024-03-01", "end": "2024-03-02", "min_confidence": 0, "limit": 5,
        "fields": ["id", "classifier_id", "classifier_job_id"]}).json()
    assert found and all(d["classifier_job_id"] == d["classifier_id"] * 100 + (
        d["classifier_job_id"] % 100) for d in found)


def test_classifier_outputs_only_one_at_a_time(emu: Emulator) -> None:
    listed = call(emu, "GET", "/classifiers", params={"fields": ["id", "outputs"]})
    assert listed.json() == error(500, "Internal Server Error")
    one = call(emu, "GET", "/classifiers/1", params={"fields": ["id", "name", "outputs"]}).json()
    assert list(one) == ["id", "name", "outputs"]
    assert list(one["outputs"][0]) == ["classificationId", "classifierId", "outputClassName",
                                       "ignoreThreshold", "classification"]
    assert call(emu, "GET", "/classifiers/1").json() == {
        "id": 1, "name": "frog-cnn", "version": 1, "lastExecutedAt": None}


# ---------------------------------------------------------------------------------------
# writes sent to both the emulator and the platform's own server, when it runs (the reads
# are cases of tests/realserver/catalogue.py)

REAL_URL = os.environ.get("RFCX_REALSERVER_URL")
REAL_WORLD = os.environ.get("RFCX_REALSERVER_WORLD")
needs_real = pytest.mark.skipif(
    not REAL_URL or not REAL_WORLD,
    reason="the platform's own server is not running here: start it with "
           "../shared/realserver (setup.sh, world.sh) and set RFCX_REALSERVER_URL and "
           "RFCX_REALSERVER_WORLD")

SAME_ANSWER = [
    ({"classifier_id": "1"}, "/classifier-jobs", "POST"),
    ({"classifier_id": "1", "project_id": "abc", "query_hours": "25"}, "/classifier-jobs",
     "POST"),
    ({"classifier_id": "1", "project_id": "abcdefabcdef"}, "/classifier-jobs", "POST"),
    ({"classifier_id": "1", "project_id": "abcdefabcdef", "query_start": "2024-03-02",
      "query_end": "2024-03-01"}, "/classifier-jobs", "POST"),
    ({"status": "20"}, "/classifier-jobs/987654", "PATCH"),
    ({"status": "50"}, "/classifier-jobs/987654", "PATCH"),
]


def _real_token(role: str) -> str:
    tokens = json.loads((Path(str(REAL_WORLD)) / "realserver_tokens.json").read_text())
    return str(tokens[role]["real"])


@needs_real
@pytest.mark.parametrize(("form", "path", "method"), SAME_ANSWER)
def test_same_answer_as_the_platform(emu: Emulator, form: dict[str, str], path: str,
                                     method: str) -> None:
    real = requests.request(method, f"{REAL_URL}{path}", data=form, timeout=30,
                            headers={"Authorization": f"Bearer {_real_token('demo')}"})
    ours = call(emu, method, path, data=form)
    assert (ours.status_code, ours.json()) == (real.status_code, real.json())


@needs_real
def test_a_job_created_on_both_reads_the_same(emu: Emulator) -> None:
    pr = _project(emu, "Puerto Rico Soundscapes")
    form = {"classifier_id": "1", "project_id": pr, "query_start": "2024-03-01",
            "query_end": "2024-03-02", "query_hours": "5-7"}
    answers = []
    for url, token in ((REAL_URL, _real_token("demo")), (emu.api_url, emu.tokens["demo"])):
        auth = {"Authorization": f"Bearer {token}"}
        guest = requests.post(f"{url}/classifier-jobs", data=form, timeout=30, headers={
            "Authorization": f"Bearer {_real_token('other') if url == REAL_URL else emu.tokens['other']}"})
        created = requests.post(f"{url}/classifier-jobs", data=form, headers=auth, timeout=30)
        assert created.status_code == 201
        path = created.headers["Location"]
        fields = {"fields": ["query_start", "query_end", "query_hours", "status", "streams"]}
        job = requests.get(f"{url}{path}", params=fields, headers=auth, timeout=30).json()
        cancel = requests.patch(f"{url}{path}", data={"status": "50"}, headers=auth, timeout=30)
        again = requests.patch(f"{url}{path}", data={"status": "50"}, headers=auth, timeout=30)
        requeue = requests.patch(f"{url}{path}", data={"status": "0"}, headers=auth, timeout=30)
        answers.append((guest.status_code, guest.json(), created.text, job, cancel.text,
                        again.json(), requeue.text))
        requests.patch(f"{url}{path}", data={"status": "50"}, headers=auth, timeout=30)
    assert answers[0] == answers[1]
