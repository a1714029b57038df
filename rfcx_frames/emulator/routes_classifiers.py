"""Core API routes of classifiers: upload one, read one with its outputs, list them.

The ``from[:to][:threshold]`` grammar of an upload's outputs; a single classifier is
camel-cased as the platform's formatter does, the list is not (contract §4.9).
"""

from __future__ import annotations

import re
from typing import Any

from . import access
from .detection_pages import CLASSIFIER_LITE
from .http import HTTPError, Request, Response, json_response, text_response
from .params import Converter
from .render import camel_object, pick
from .server import App
from .sql import limit_sql, order_clause, page_params

CLASSIFICATION_VALUE = re.compile(
    r"^([a-zA-Z\d_]+)?(?::([a-zA-Z\d_]+))?(?::((?:0(?:\.\d{1,2})?|1(?:\.0{1,2})?)))?$")


def create_classifier(app: App, req: Request) -> Response:
    """``POST /classifiers``: multipart model upload; 201 with ``Location``."""
    fields, files = req.form()
    conv = Converter(fields)
    name = conv.string("name", required=True)
    version = conv.integer("version", required=True)
    values = conv.array("classification_values")
    if values is None:
        conv.errors.append("Parameter 'classification_values' the parameter is required but "
                           "was not provided")
    parameters = conv.string("parameters")
    external_id = conv.string("external_id")
    active_streams = conv.array("active_streams")
    if parameters is not None and len(parameters) > 255:
        conv.errors.append("Parameter 'parameters' should be less than 255 characters")
    conv.validate()
    assert name is not None and version is not None and values is not None
    if len(files) > 1:
        raise HTTPError(400, "Can upload only 1 file at a time")
    if files and not files[0].filename.endswith(".tar.gz"):
        raise HTTPError(400, "File must be .tar.gz")
    outputs = []
    for item in values:
        m = CLASSIFICATION_VALUE.match(item)
        if not m or not (m.group(1) or m.group(2)):
            raise HTTPError(400, "classification_values is invalid format")
        source, target, threshold = m.group(1), m.group(2), m.group(3)
        target = target or source
        source = source or target
        cls = app.store.query("SELECT id FROM classifications WHERE value = ?", (target,))
        if not cls:
            raise HTTPError(400, f'Classification "{target}" does not exist')
        outputs.append((int(cls[0]["id"]), source, float(threshold) if threshold else 0.5))
    assert req.user is not None
    for stream_id in active_streams or []:
        access.require_stream(app.store, req.user, stream_id)
    with app.store.connect() as conn:
        cur = conn.execute(
            "INSERT INTO classifiers (name, version, external_id, model_url, parameters, "
            "created_by_id, created_at) VALUES (?, ?, ?, '', ?, ?, strftime('%s','now') * 1000)",
            (name, version, external_id, parameters, req.user.id))
        classifier_id = int(cur.lastrowid or 0)
        model_url = ""
        if files:
            files[0].save(app.store.data_dir / "classifiers" / f"{classifier_id}.tar.gz")
            model_url = f"s3://rfcx-ai-dev/classifiers/{classifier_id}.tar.gz"
        conn.execute("UPDATE classifiers SET model_url = ? WHERE id = ?", (model_url, classifier_id))
        conn.executemany("INSERT INTO classifier_outputs (classifier_id, classification_id, "
                         "output_class_name, ignore_threshold) VALUES (?, ?, ?, ?)",
                         [(classifier_id, c, s, t) for c, s, t in outputs])
    if active_streams and app.jobs is not None:
        # The platform would schedule the model on these streams; the emulator scores
        # their ingested audio with a band-energy stand-in (see emulator/inference.py).
        app.jobs.submit(classifier_id, list(active_streams))
    resp = text_response("Created", status=201)
    resp.crash_after = app.faults.config.classifier_log_crash and _logger_crashes(req, values)
    return resp.header("Location", f"/classifiers/{classifier_id}")


def _logger_crashes(req: Request, values: list[str]) -> bool:
    """Whether the platform's request logger dies on this ``POST /classifiers``.

    It shortens a ``classification_values`` longer than 10 by slicing it and calling
    ``.push`` on the result: a list is fine, but a single part named without ``[]`` (or a
    JSON string) reaches it as a string, and a string of more than 10 characters throws
    after the answer was sent, which ends the process.
    """
    names = req.form_names
    return (names.count("classification_values") == 1 and "classification_values[]" not in names
            and len(values) == 1 and len(values[0]) > 10)


def get_classifier(app: App, req: Request) -> Response:
    """``GET /classifiers/{id}``: one classifier; ``fields`` adds attributes and ``outputs``."""
    raw = req.params["id"]
    if not re.match(r"\s*[-+]?\d", raw):
        # the platform turns an id parseInt rejects into a bare EmptyResultError
        raise HTTPError(404, "Not Found")
    if not re.fullmatch(r"-?\d+", raw):
        # parseInt accepted a prefix, then Postgres rejects the whole string as an integer
        raise HTTPError(500, "Internal Server Error")
    conv = Converter(req.query)
    fields = conv.array("fields")
    conv.validate()
    rows = app.store.query("SELECT * FROM classifiers WHERE id = ?", (req.params["id"],))
    if not rows:
        raise HTTPError(404, "Classifier with given id not found.")
    r = rows[0]
    assert req.user is not None
    if not (req.user.is_system or r["is_public"] or r["created_by_id"] == req.user.id):
        raise HTTPError(403, "Not authorized to access this resource")
    item = _classifier_item(app, r, fields)
    # The single classifier is camel-cased three levels deep; the list is not.
    return json_response(camel_object(item, 3))


def _classifier_item(app: App, row: Any, fields: list[str] | None) -> dict[str, Any]:
    """A classifier's attributes (``fields`` among them, else the short list), ``outputs``."""
    wanted = [c for c in CLASSIFIER_FULL if c in fields] if fields else list(CLASSIFIER_LITE)
    item = pick(row, wanted)
    if fields and "outputs" in fields:
        outputs = app.store.query(
            "SELECT o.classification_id, o.classifier_id, o.output_class_name, "
            "o.ignore_threshold, c.value, c.title, c.image FROM classifier_outputs o "
            "JOIN classifications c ON c.id = o.classification_id WHERE o.classifier_id = ? "
            "ORDER BY o.rowid", (row["id"],))
        item["outputs"] = [{**pick(o, CLASSIFIER_OUTPUT),
                            "classification": pick(o, ("value", "title", "image"))}
                           for o in outputs]
    return item


CLASSIFIER_FULL = ("id", "name", "version", "external_id", "model_runner", "model_url",
                   "last_executed_at", "parameters", "is_public")
CLASSIFIER_OUTPUT = ("classification_id", "classifier_id", "output_class_name",
                     "ignore_threshold")


def list_classifiers(app: App, req: Request) -> Response:
    """``GET /classifiers``: public classifiers and the caller's own (system users: all).

    ``fields`` selects among the classifier's own attributes (default ``id, name, version``,
    in the platform's attribute order); asking for ``outputs`` fails upstream (500), so
    only ``GET /classifiers/{id}`` gives them. ``sort`` defaults to ``name,-version``.
    """
    conv = Converter(req.query)
    limit, offset = page_params(conv, 100)
    sort = conv.string("sort") or "name,-version"
    fields = conv.array("fields") or ["id", "name", "version"]
    conv.validate()
    user = req.user
    assert user is not None
    where, args = "1 = 1", []
    if not user.is_system:
        where, args = "(is_public = 1 OR created_by_id = ?)", [user.id]
    order = order_clause(sort, CLASSIFIER_FULL, "name,-version", "Internal Server Error",
                         app.tie_break("id"))
    if "outputs" in fields:
        # The platform's paged query cannot join the outputs list: its SQL fails (a 500).
        raise HTTPError(500, "Internal Server Error")
    rows = app.store.query(f"SELECT * FROM classifiers WHERE {where} ORDER BY {order}"
                           f"{limit_sql(limit, offset, 'Internal Server Error')}", args)
    return json_response([_classifier_item(app, r, fields) for r in rows])
