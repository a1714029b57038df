"""Reviews and uploaded detections: the emulator answers as rfcx-api's ``core/detections/``.

``POST /streams/{id}/detections/{start}/review`` and ``POST /streams/{id}/detections``:
statuses, messages, permissions, the majority rule of a detection's status; ``fields=reviews``
on ``GET /detections`` fails as the platform's does. Expectations come from SQL on the
emulator's own database. The last tests send the same requests to the platform's own server
when ``RFCX_REALSERVER_URL`` and ``RFCX_REALSERVER_WORLD`` name it (skipped otherwise, as in
``tests/realserver``).
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
from rfcx_frames.emulator.reviews import review_status
from tests.emulator.helpers import iso, sql

VALIDATION_ALL = ("Validation errors: Parameter 'status' the parameter is required but was not "
                  "provided; Parameter 'classification' the parameter is required but was not "
                  "provided; Parameter 'classifier' the parameter is required but was not "
                  "provided.")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One writable one-day world for the module (each test touches its own detections)."""
    with running(world="demo", data_dir=tmp_path_factory.mktemp("reviews"), days=1) as emu:
        yield emu


def post(emu: Emulator, path: str, body: Any, token: str = "demo") -> requests.Response:
    return requests.post(emu.api_url + path, json=body, timeout=30,
                         headers={"Authorization": f"Bearer {emu.tokens[token]}"})


def detection(emu: Emulator, where: str, args: tuple[object, ...] = ()) -> dict[str, Any]:
    """One detection (with its classification value and project) matching a SQL condition."""
    rows = sql(emu, "SELECT d.*, c.value, s.project_id FROM detections d "
                    "JOIN classifications c ON c.id = d.classification_id "
                    f"JOIN streams s ON s.id = d.stream_id WHERE {where} ORDER BY d.id LIMIT 1",
               args)
    assert rows, where
    return rows[0]


def own_project(emu: Emulator) -> str:
    """The project the demo user owns and the other user is a guest of."""
    return str(sql(emu, "SELECT project_id FROM project_roles WHERE role_id = 3")[0]["project_id"])


def review(emu: Emulator, d: dict[str, Any], status: str, token: str = "demo") -> requests.Response:
    body = {"status": status, "classification": d["value"], "classifier": d["classifier_id"]}
    return post(emu, f"/streams/{d['stream_id']}/detections/{iso(d['start'])}/review", body, token)


def test_seeded_reviews_agree_with_every_review_status(world: Emulator) -> None:
    rows = sql(world, "SELECT d.id, d.review_status, group_concat(r.status) AS statuses, "
                      "count(DISTINCT r.user_id) AS reviewers FROM detections d "
                      "LEFT JOIN detection_reviews r ON r.detection_id = d.id GROUP BY d.id")
    reviewed = [r for r in rows if r["statuses"] is not None]
    assert reviewed and max(r["reviewers"] for r in rows) == 3
    for r in rows:
        statuses = [int(s) for s in r["statuses"].split(",")] if r["statuses"] else []
        assert review_status(statuses) == r["review_status"], r


def test_review_sets_the_callers_review_and_the_majority_status(world: Emulator) -> None:
    d = detection(world, "d.id IN (SELECT detection_id FROM detection_reviews GROUP BY "
                         "detection_id HAVING count(*) = 2 AND min(status) = 1) "
                         "AND s.project_id = ?", (own_project(world),))
    resp = review(world, d, "rejected")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    # one confirmation (the other user) against one rejection: a tie is uncertain
    assert resp.json() == [{"id": str(d["id"]), "status": "uncertain"}]
    assert sql(world, "SELECT review_status FROM detections WHERE id = ?",
               (d["id"],)) == [{"review_status": 0}]
    again = review(world, d, "rejected")
    assert again.json() == resp.json()  # the same review twice changes nothing
    assert len(sql(world, "SELECT id FROM detection_reviews WHERE detection_id = ?",
                   (d["id"],))) == 2
    cleared = review(world, d, "unreviewed")
    assert cleared.json() == [{"id": str(d["id"]), "status": "confirmed"}]
    assert len(sql(world, "SELECT id FROM detection_reviews WHERE detection_id = ?",
                   (d["id"],))) == 1


def test_unreviewed_without_any_review_stays_unreviewed(world: Emulator) -> None:
    d = detection(world, "d.review_status IS NULL AND s.project_id = ? AND d.id NOT IN "
                         "(SELECT detection_id FROM detection_reviews)", (own_project(world),))
    resp = review(world, d, "unreviewed")
    assert resp.status_code == 200
    assert resp.json() == [{"id": str(d["id"]), "status": "unreviewed"}]


def test_review_covers_every_detection_at_that_start_whatever_its_confidence(
        world: Emulator) -> None:
    d = detection(world, "d.review_status IS NULL AND d.confidence < 0.5 AND s.project_id = ?",
                  (own_project(world),))
    resp = review(world, d, "confirmed")
    same = sql(world, "SELECT d.id FROM detections d JOIN classifications c ON "
                      "c.id = d.classification_id WHERE d.stream_id = ? AND d.start = ? AND "
                      "c.value = ? AND d.classifier_id = ? ORDER BY d.id",
               (d["stream_id"], d["start"], d["value"], d["classifier_id"]))
    assert resp.json() == [{"id": str(r["id"]), "status": "confirmed"} for r in same]


def test_review_validation_messages(world: Emulator) -> None:
    d = detection(world, "s.project_id = ?", (own_project(world),))
    path = f"/streams/{d['stream_id']}/detections/{iso(d['start'])}/review"
    resp = post(world, path, {})
    assert resp.status_code == 400
    assert resp.json() == {"message": VALIDATION_ALL, "error": {"status": 400}}
    bad = post(world, path, {"status": "bad", "classification": "x", "classifier": "abc"})
    assert bad.json()["message"] == (
        "Validation errors: Parameter 'status' should be one of these values: unreviewed, "
        "rejected, uncertain, confirmed; Parameter 'classifier' should be an integer.")


def test_review_permissions_and_missing_things(world: Emulator) -> None:
    d = detection(world, "s.project_id = ?", (own_project(world),))
    guest = review(world, d, "confirmed", token="other")
    assert guest.status_code == 403
    assert guest.json()["message"] == "You do not have permission to review detections in this stream."
    # the system role reads everything, but reviewing needs a role on the stream
    assert review(world, d, "confirmed", token="system").status_code == 403
    gone = post(world, "/streams/zzzzzzzzzzzz/detections/2024-01-01T00:00:00.000Z/review",
                {"status": "confirmed", "classification": "x", "classifier": 1})
    assert (gone.status_code, gone.json()["message"]) == (404, "stream with given id doesn't exist.")
    missing = review(world, {**d, "value": "no_such_class"}, "confirmed")
    assert (missing.status_code, missing.json()["message"]) == (
        404, "Detection with given parameters not found")
    for start in ("notatime", str(d["start"]), iso(d["start"]).replace("-", "").replace(":", "")):
        # only ISO forms with separators reach a detection (Postgres reads the path text)
        bad_time = post(world, f"/streams/{d['stream_id']}/detections/{start}/review",
                        {"status": "confirmed", "classification": d["value"], "classifier": 1})
        assert (bad_time.status_code, bad_time.json()["message"]) == (
            500, "Failed reviewing the detection")


def _outputs(emu: Emulator) -> dict[str, Any]:
    return sql(emu, "SELECT o.classifier_id, o.output_class_name, o.ignore_threshold, "
                    "o.classification_id FROM classifier_outputs o ORDER BY o.classifier_id "
                    "LIMIT 1")[0]


def test_create_detections_stores_what_passes_the_outputs_thresholds(world: Emulator) -> None:
    out = _outputs(world)
    stream = sql(world, "SELECT id FROM streams WHERE project_id = ?",
                 (own_project(world),))[0]["id"]
    start = "2031-05-01T00:00:00.000Z"
    base = {"start": start, "end": "2031-05-01T00:00:05.000Z", "classifier": out["classifier_id"],
            "classification": out["output_class_name"]}
    body = [{**base, "confidence": 0.99, "classifier_job_id": 7},
            {**base, "confidence": out["ignore_threshold"]},  # not above the threshold
            {**base, "classification": "no_such_output", "confidence": 0.99},
            {**base, "classifier": 99999, "confidence": 0.99}]
    resp = post(world, f"/streams/{stream}/detections", body)
    assert (resp.status_code, resp.text) == (201, "Created")
    stored = sql(world, "SELECT classifier_id, classification_id, classifier_job_id, confidence, "
                        "review_status FROM detections WHERE stream_id = ? AND start >= ?",
                 (stream, 1935360000000))  # 2031-05-01
    assert stored == [{"classifier_id": out["classifier_id"],
                       "classification_id": out["classification_id"], "classifier_job_id": 7,
                       "confidence": 0.99, "review_status": None}]
    listed = requests.get(world.api_url + "/detections", timeout=30, params={
        "start": start, "end": "2031-05-02", "streams": stream,
        "fields": ["id", "start", "classifier_job_id"]},
        headers={"Authorization": f"Bearer {world.tokens['demo']}"}).json()
    assert [(x["start"], x["classifier_job_id"]) for x in listed] == [(start, 7)]


def test_create_detections_validation_and_permissions(world: Emulator) -> None:
    stream = sql(world, "SELECT id FROM streams WHERE project_id = ?",
                 (own_project(world),))[0]["id"]
    bad = post(world, f"/streams/{stream}/detections",
               [{"start": "2031-01-01T00:00:00Z"}, {"end": "x"}])
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        "Validation errors: Parameter 'end' the parameter is required but was not provided; "
        "Parameter 'classification' the parameter is required but was not provided; "
        "Parameter 'classifier' the parameter is required but was not provided; "
        "Parameter 'confidence' the parameter is required but was not provided; "
        "Parameter 'start' the parameter is required but was not provided; "
        "Parameter 'end' should be an ISO8601 timestamp or an UNIX epoch (ms).")
    guest = post(world, f"/streams/{stream}/detections", [], token="other")
    assert (guest.status_code, guest.json()["message"]) == (
        403, "You do not have permission to update this stream")
    assert post(world, f"/streams/{stream}/detections", [], token="system").status_code == 201
    for token, message in (("system", "Stream not found"),
                           ("demo", "stream with given id doesn't exist.")):
        gone = post(world, "/streams/zzzzzzzzzzzz/detections", [], token=token)
        assert (gone.status_code, gone.json()["message"]) == (404, message)


def test_fields_reviews_fails_like_the_platform(demo_emulator: Emulator) -> None:
    resp = requests.get(demo_emulator.api_url + "/detections", timeout=30, params={
        "start": "2000-01-01", "end": "2100-01-01", "limit": 1, "fields": ["id", "reviews"]},
        headers={"Authorization": f"Bearer {demo_emulator.tokens['demo']}"})
    assert resp.status_code == 500
    assert resp.json() == {"message": "Failed getting detections", "error": {"status": 500}}


# -- the same requests against the platform's own server (read-only or refused writes) ----

REAL_URL = os.environ.get("RFCX_REALSERVER_URL")
REAL_WORLD = os.environ.get("RFCX_REALSERVER_WORLD")
real = pytest.mark.skipif(
    not (REAL_URL and REAL_WORLD),
    reason="the platform's own server is not running here: set RFCX_REALSERVER_URL and "
           "RFCX_REALSERVER_WORLD (docs/emulator.md, 'Differential against the platform's "
           "server') to compare with it")

REFUSED = [  # (token, path, body): each is refused before anything is written
    ("demo", "/streams/{own}/detections/2001-01-01T00:00:00.000Z/review", {}),
    ("demo", "/streams/{own}/detections/2001-01-01T00:00:00.000Z/review",
     {"status": "bad", "classification": "x", "classifier": "abc"}),
    ("other", "/streams/{own}/detections/2001-01-01T00:00:00.000Z/review",
     {"status": "confirmed", "classification": "x", "classifier": 1}),
    ("system", "/streams/{own}/detections/2001-01-01T00:00:00.000Z/review",
     {"status": "confirmed", "classification": "x", "classifier": 1}),
    ("demo", "/streams/zzzzzzzzzzzz/detections/2001-01-01T00:00:00.000Z/review",
     {"status": "confirmed", "classification": "x", "classifier": 1}),
    ("demo", "/streams/{own}/detections/2001-01-01T00:00:00.000Z/review",
     {"status": "confirmed", "classification": "x", "classifier": 1}),
    ("demo", "/streams/{own}/detections/notatime/review",
     {"status": "confirmed", "classification": "x", "classifier": 1}),
    ("demo", "/streams/{own}/detections/978307200000/review",
     {"status": "confirmed", "classification": "x", "classifier": 1}),
    ("demo", "/streams/{own}/detections", [{"start": "2001-01-01T00:00:00Z"}, {"end": "x"}]),
    ("other", "/streams/{own}/detections", []),
    ("system", "/streams/zzzzzzzzzzzz/detections", []),
    ("demo", "/streams/zzzzzzzzzzzz/detections", []),
]


@real
@pytest.mark.parametrize(("token", "path", "body"), REFUSED)
def test_refusals_match_the_real_server(demo_emulator: Emulator, token: str, path: str,
                                        body: Any) -> None:
    assert REAL_URL is not None and REAL_WORLD is not None
    tokens = json.loads((Path(REAL_WORLD) / "realserver_tokens.json").read_text())
    own = sql(demo_emulator, "SELECT id FROM streams WHERE project_id = ?",
              (own_project(demo_emulator),))[0]["id"]
    answers = []
    for url, bearer in ((demo_emulator.api_url, demo_emulator.tokens[token]),
                        (REAL_URL, tokens[token]["real"])):
        resp = requests.post(url + path.format(own=own), json=body, timeout=30,
                             headers={"Authorization": f"Bearer {bearer}"})
        answers.append((resp.status_code, resp.json()))
    assert answers[0] == answers[1]
