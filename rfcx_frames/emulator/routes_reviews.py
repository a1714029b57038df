"""Core API routes that write detections: reviewing one (``.../review``) and creating them.

``POST /streams/{id}/detections/{start}/review`` sets the caller's review of every
detection at that start with that classification and classifier (and job), then the
detections' majority status; ``POST /streams/{id}/detections`` stores a model's output.
Statuses, messages and permissions follow the platform (``docs/emulator.md``, "Reviews and
uploaded detections").
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from . import access
from .auth import User
from .http import HTTPError, Request, Response, json_response, parse_body, text_response
from .params import Converter, parse_time
from .reviews import STATUS_CODES, STATUS_NAMES, apply_review
from .server import App

REVIEW_FORBIDDEN = "You do not have permission to review detections in this stream."
CREATE_FORBIDDEN = "You do not have permission to update this stream"
NO_DETECTION = "Detection with given parameters not found"
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$")


def _may_update(app: App, user: User, stream_id: str) -> bool:
    """The roles service's UPDATE permission: a 404 for a stream that does not exist.

    No system-user bypass here: the platform asks the roles service, which only super
    users and roles (or creating the stream) satisfy.
    """
    if not app.store.query("SELECT id FROM streams WHERE id = ?", (stream_id,)):
        raise HTTPError(404, access.NO_SUCH_STREAM)
    return user.is_super or stream_id in access.member_stream_ids(app.store, user, "U")


def _review_params(fields: dict[str, list[str]]) -> tuple[str, str, int, int | None]:
    conv = Converter(fields)
    status = conv.string("status", required=True)
    if status is not None and status not in STATUS_CODES:
        conv.errors.append(
            f"Parameter 'status' should be one of these values: {', '.join(STATUS_CODES)}")
    classification = conv.string("classification", required=True)
    classifier = conv.integer("classifier", required=True)
    job = conv.integer("classifier_job")
    conv.validate()
    assert status is not None and classification is not None and classifier is not None
    return status, classification, classifier, job


def review_detection(app: App, req: Request) -> Response:
    """``POST /streams/{id}/detections/{start}/review``: the caller's review; 200 ``[{id, status}]``.

    Every matching detection (any confidence) gets the review; the answer lists each with
    its status after the majority rule.
    """
    status, classification, classifier, job = _review_params(req.form()[0])
    user = req.user
    assert user is not None
    stream_id = req.params["id"]
    if not _may_update(app, user, stream_id):
        raise HTTPError(403, REVIEW_FORBIDDEN)
    raw = req.params["start"]
    start = parse_time(raw) if ISO_TIME.match(raw) else None
    if start is None:
        # The platform hands the path text to Postgres, which reads only ISO forms:
        # compact times and epoch digits fail there.
        raise HTTPError(500, "Failed reviewing the detection")
    sql = ("SELECT d.id FROM detections d JOIN classifications c ON c.id = d.classification_id "
           "WHERE d.stream_id = ? AND d.start = ? AND c.value = ? AND d.classifier_id = ?")
    args: list[object] = [stream_id, start, classification, classifier]
    if job:
        sql += " AND d.classifier_job_id = ?"
        args.append(job)
    ids = [int(r["id"]) for r in app.store.query(sql + " ORDER BY d.id", args)]
    if not ids:
        raise HTTPError(404, NO_DETECTION)
    now = int(time.time() * 1000)  # clock-ok: the emulator stamps writes like the platform
    with app.store.connect() as conn:
        changed = [(i, apply_review(conn, i, user.id, STATUS_CODES[status], now)) for i in ids]
    return json_response([{"id": str(i), "status": STATUS_NAMES[s]} for i, s in changed])


def _detection_items(req: Request) -> list[dict[str, list[str]]]:
    """The body's detections, one field dict each (a JSON object or array, or a form)."""
    ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        return [req.form()[0]]
    try:
        body = json.loads(req.body or b"{}")
    except ValueError as exc:
        raise HTTPError(400, "Invalid JSON body") from exc
    items = body if isinstance(body, list) else [body]
    out = []
    for item in items:
        raw = json.dumps(item if isinstance(item, dict) else {}).encode()
        out.append(parse_body("application/json", raw)[0])
    return out


def _parse_detections(req: Request) -> list[dict[str, Any]]:
    """Every detection checked; messages as the platform's array converter gives them
    (each distinct message once, in the order first met)."""
    messages: list[str] = []
    parsed = []
    for fields in _detection_items(req):
        conv = Converter(fields)
        item = {"start": conv.time("start", required=True), "end": conv.time("end", required=True),
                "classification": conv.string("classification", required=True),
                "classifier": conv.string("classifier", required=True),
                "confidence": conv.float("confidence", required=True),
                "classifier_job_id": conv.integer("classifier_job_id")}
        messages += [m for m in conv.errors if m not in messages]
        parsed.append(item)
    if messages:
        raise HTTPError(400, "Validation errors: " + "; ".join(messages) + ".")
    return parsed


def _classifier_outputs(app: App, key: str) -> tuple[int, dict[str, tuple[int, float]]] | None:
    """A classifier named by id, external id or ``name-vVERSION``, and its outputs by class name."""
    rows = app.store.query("SELECT id FROM classifiers WHERE CAST(id AS TEXT) = ? "
                           "OR external_id = ? OR name || '-v' || version = ? ORDER BY "
                           "CAST(id AS TEXT) = ? DESC, external_id = ? DESC, id",
                           (key, key, key, key, key))
    if not rows:
        return None
    cid = int(rows[0]["id"])
    outputs = app.store.query("SELECT output_class_name, classification_id, ignore_threshold "
                              "FROM classifier_outputs WHERE classifier_id = ?", (cid,))
    return cid, {o["output_class_name"]: (int(o["classification_id"]),
                                          float(o["ignore_threshold"])) for o in outputs}


def create_detections(app: App, req: Request) -> Response:
    """``POST /streams/{id}/detections``: store detections; 201 ``Created``.

    Like the platform, rows whose classifier or output class is unknown, or whose
    confidence is not above the output's threshold, are dropped without an error.
    """
    items = _parse_detections(req)
    user = req.user
    assert user is not None
    stream_id = req.params["id"]
    if user.is_system:
        if not app.store.query("SELECT id FROM streams WHERE id = ?", (stream_id,)):
            raise HTTPError(404, "Stream not found")
    elif not _may_update(app, user, stream_id):
        raise HTTPError(403, CREATE_FORBIDDEN)
    rows, used = [], set()
    for item in items:
        found = _classifier_outputs(app, str(item["classifier"]))
        output = found[1].get(str(item["classification"])) if found else None
        if found is None or output is None or not item["confidence"] > output[1]:
            continue
        used.add(found[0])
        rows.append((stream_id, found[0], output[0], item["classifier_job_id"], item["start"],
                     item["end"], item["confidence"]))
    now = int(time.time() * 1000)  # clock-ok: last_executed_at is the platform's own clock
    with app.store.connect() as conn:
        conn.executemany("INSERT INTO detections (stream_id, classifier_id, classification_id, "
                         "classifier_job_id, start, \"end\", confidence) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("UPDATE classifiers SET last_executed_at = ? WHERE id = ?",
                         [(now, c) for c in sorted(used)])
    return text_response("Created", status=201)
