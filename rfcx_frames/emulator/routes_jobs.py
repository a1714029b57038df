"""Core API routes of classifier jobs: list, get, create and update (``/classifier-jobs``).

As the platform answers them: camelCase keys, the ``classifier`` and ``streams``
includes, ``Total-Items`` on the list, a project's readers see its jobs, its creators
(role with C) start them, and only a job's creator (or a system user) changes it.
"""

from __future__ import annotations

import re
from typing import Any

from . import access
from . import classifier_jobs as jobs
from .auth import User
from .http import HTTPError, Request, Response, json_response, text_response
from .params import Converter, iso
from .render import camel
from .server import App
from .sql import Where, limit_sql, order_clause, page_params

FULL = ("id", "classifier_id", "project_id", "query_streams", "query_start", "query_end",
        "query_hours", "minutes_total", "minutes_completed", "status", "created_by_id",
        "created_at", "updated_at", "started_at", "completed_at")
LITE = ("id", "classifier_id", "project_id", "minutes_completed", "minutes_total",
        "created_by_id", "created_at", "completed_at", "status")
_TIMES = ("created_at", "updated_at", "started_at", "completed_at")
#: The list's answer when its SQL fails (a bad sort column, a negative page).
FAILURE = "Internal Server Error"


def render_job(app: App, row: Any, fields: list[str] | None) -> dict[str, Any]:
    """One job: its attributes (``fields`` among them, else the short list) and includes."""
    wanted = [f for f in FULL if f in fields] if fields else list(LITE)
    item = {camel(f): iso(row[f]) if f in _TIMES else row[f] for f in wanted}
    if not fields or "classifier" in fields:
        rows = app.store.query("SELECT id, name, version FROM classifiers WHERE id = ?",
                               (row["classifier_id"],))
        item["classifier"] = dict(rows[0]) if rows else None
    if not fields or "streams" in fields:
        streams = app.store.query(
            "SELECT s.id, s.name FROM classifier_job_streams j JOIN streams s "
            "ON s.id = j.stream_id WHERE j.classifier_job_id = ? ORDER BY j.rowid",
            (row["id"],))
        item["streams"] = [dict(s) for s in streams]
    return item


def readable_job(app: App, user: User, raw_id: str, fields: list[str] | None = None) -> Any:
    """The job row a caller may read, or the platform's 404/403 (500 for a non-integer id)."""
    if not re.fullmatch(r"-?\d+", raw_id):
        # Postgres rejects the id as an integer: the route's 500.
        raise HTTPError(500, "Internal Server Error")
    rows = app.store.query("SELECT * FROM classifier_jobs WHERE id = ?", (int(raw_id),))
    if not rows:
        raise HTTPError(404, "Not Found")
    if not user.is_system and rows[0]["project_id"] not in access.readable_project_ids(
            app.store, user):
        raise HTTPError(403, "Not authorized to access this resource")
    return rows[0]


def get_job(app: App, req: Request) -> Response:
    """``GET /classifier-jobs/{id}``: one job, with ``totalDistinctClassifications``."""
    conv = Converter(req.query)
    fields = conv.array("fields")
    conv.validate()
    assert req.user is not None
    row = readable_job(app, req.user, req.params["id"])
    # The platform always reads project_id to check the reader's role, and keeps it.
    item = render_job(app, row, [*fields, "project_id"] if fields else None)
    item["totalDistinctClassifications"] = len(jobs.summary_rows(app.store, row))
    return json_response(item)


def _list_where(app: App, user: User, conv: Converter) -> tuple[Where, str | None, bool]:
    """The list's conditions, its ``query_hours`` post-filter, and whether nothing matches."""
    status = conv.integer("status")
    projects = conv.array("projects")
    created_by = conv.string("created_by")
    where = Where(["1 = 1"])
    if not user.is_system:
        readable = access.readable_project_ids(app.store, user)
        projects = [p for p in projects if p in readable] if projects else sorted(readable)
    if projects is not None:
        where.within("project_id", projects)
    if status is not None:
        where.add("status = ?", status)
    if created_by == "me" and not user.is_system:
        # The platform resolves "me" through its read filter, so system users get every job.
        where.add("created_by_id = ?", user.id)
    streams = conv.string("query_streams")
    if streams:
        where.add("(" + " OR ".join("lower(query_streams) LIKE ?" for _ in streams.split(","))
                  + ")", *[f"%{s.lower()}%" for s in streams.split(",")])
    start, end = conv.time("query_start"), conv.time("query_end")
    if start is not None or end is not None:
        lo = start if start is not None else end
        hi = end if end is not None else start
        where.add("query_start <= ? AND query_end >= ?", _date(lo), _date(hi))
    return where, conv.string("query_hours"), projects == []


def _date(ms: int | None) -> str:
    return str(iso(ms))[:10]


def list_jobs(app: App, req: Request) -> Response:
    """``GET /classifier-jobs``: readable jobs, newest first, ``Total-Items``."""
    assert req.user is not None
    conv = Converter(req.query)
    where, hours, nothing = _list_where(app, req.user, conv)
    limit, offset = page_params(conv, 100)
    sort = conv.string("sort")
    fields = conv.array("fields")
    conv.validate()
    if nothing:
        return json_response([], headers=[("Total-Items", "0")])
    order = order_clause(sort, FULL, "-created_at", FAILURE, app.tie_break("id"))
    sorted_by = [t.strip().lstrip("+-") for t in (sort or "-created_at").split(",") if t.strip()]
    if fields and "streams" in fields and not set(sorted_by) <= set(fields):
        # Upstream the streams join pages a subquery that lacks the sort column: SQL fails.
        raise HTTPError(500, "Internal Server Error")
    if hours:
        # The platform pages first, then drops jobs whose hours do not overlap.
        rows = app.store.query(f"SELECT * FROM classifier_jobs WHERE {where.sql} ORDER BY "
                               f"{order}{limit_sql(limit, offset, FAILURE)}", where.args)
        if any(r["query_hours"] is None for r in rows):
            # Upstream splits every job's hours: a job without any fails the request.
            raise HTTPError(500, "Internal Server Error")
        wanted = jobs.hours_of(hours)
        rows = [r for r in rows if jobs.hours_of(r["query_hours"]) & wanted]
        total = len(rows)
    else:
        count = app.store.query(f"SELECT count(*) AS n FROM classifier_jobs WHERE {where.sql}",
                                where.args)
        rows = app.store.query(f"SELECT * FROM classifier_jobs WHERE {where.sql} ORDER BY "
                               f"{order}{limit_sql(limit, offset, FAILURE)}", where.args)
        total = int(count[0]["n"])
    body = [render_job(app, r, fields) for r in rows]
    return json_response(body, headers=[("Total-Items", str(total))])


def _create_params(req: Request) -> dict[str, Any]:
    fields, _ = req.form()
    conv = Converter(fields)
    classifier_id = conv.integer("classifier_id", required=True)
    project_id = conv.string("project_id", required=True)
    if project_id is not None and len(project_id) < 12:
        conv.errors.append("Parameter 'project_id' is shorter than min length of 12 symbols")
    elif project_id is not None and len(project_id) > 12:
        conv.errors.append("Parameter 'project_id' is longer than the max length of 12 symbols")
    query_streams = conv.string("query_streams")
    start, end = conv.time("query_start"), conv.time("query_end")
    hours = conv.string("query_hours")
    if hours is not None and not jobs.HOURS_FORMAT.match(hours):
        conv.errors.append("Parameter 'query_hours' invalid format")
    conv.validate()
    if start is not None and end is not None and start > end:
        raise HTTPError(400, "query_start must be before query_end")
    return {"classifier_id": classifier_id, "project_id": project_id,
            "query_streams": query_streams, "query_hours": hours,
            "query_start": _date(start) if start is not None else None,
            "query_end": _date(end) if end is not None else None}


def _job_streams(app: App, project_id: str, query_streams: str | None) -> list[str]:
    """The project's streams a job covers: those named (by id or name), else all."""
    rows = app.store.query("SELECT id, name FROM streams WHERE project_id = ? AND "
                           "deleted_at IS NULL ORDER BY name, id", (project_id,))
    names = query_streams.split(",") if query_streams else None
    found = [r["id"] for r in rows if names is None or r["id"] in names or r["name"] in names]
    if not found:
        raise HTTPError(404, "No streams found for the query")
    if names is not None and len(found) < len(names):
        raise HTTPError(404, "Some streams not found for the query")
    return found


def create_job(app: App, req: Request) -> Response:
    """``POST /classifier-jobs``: a waiting job; 201 with ``Location``."""
    job = _create_params(req)
    user = req.user
    assert user is not None
    if not user.is_system:
        exists = app.store.query("SELECT 1 FROM projects WHERE id = ?", (job["project_id"],))
        if not exists:
            raise HTTPError(404, "project with given id doesn't exist.")
        if job["project_id"] not in access.readable_project_ids(app.store, user, "C"):
            raise HTTPError(403, "Not authorized to access this resource")
    stream_ids = _job_streams(app, job["project_id"], job["query_streams"])
    if not app.store.query("SELECT 1 FROM classifiers WHERE id = ?", (job["classifier_id"],)):
        # The foreign key fails upstream, and the DAO answers with its own 400.
        raise HTTPError(400, "Cannot create classifier job with provided data")
    job_id = jobs.insert_job(app.store, {**job, "created_by_id": user.id}, stream_ids,
                             app.clock())
    if app.jobs is not None:
        app.jobs.submit_job(job_id)
    resp = text_response("Created", status=201)
    resp.header("Access-Control-Expose-Headers", "Location")
    return resp.header("Location", f"/classifier-jobs/{job_id}")


def _new_status(existing: int, target: int) -> int:
    """The status a non-system user's change lands on, or the platform's 400."""
    if target == jobs.CANCELLED:
        if existing not in jobs.CANCELLABLE:
            # The platform's message names the target status, not the job's.
            raise HTTPError(400, f"Cannot cancel jobs in status {target}")
        return jobs.AWAITING_CANCELLATION if existing == jobs.RUNNING else target
    if target not in jobs.ALLOWED_TARGETS:
        raise HTTPError(400, f"Cannot update status to {target}")
    if existing not in jobs.ALLOWED_SOURCES:
        raise HTTPError(400, f"Cannot update status of jobs in status {target}")
    return target


def update_job(app: App, req: Request) -> Response:
    """``PATCH /classifier-jobs/{id}``: status and ``minutes_total``; 200 with no body."""
    fields, _ = req.form()
    conv = Converter(fields)
    status = conv.integer("status")
    minutes_total = conv.integer("minutes_total")
    conv.validate()
    if status == jobs.RUNNING:
        raise HTTPError(400, "Use POST /classifier-jobs/dequeue to start a job")
    user = req.user
    assert user is not None
    raw = req.params["id"]
    if not re.fullmatch(r"-?\d+", raw):
        raise HTTPError(500, "Internal Server Error")
    rows = app.store.query("SELECT * FROM classifier_jobs WHERE id = ?", (int(raw),))
    if not rows:
        raise HTTPError(404, "Not Found")
    job = rows[0]
    if not user.is_system and job["created_by_id"] != user.id:
        raise HTTPError(403, "Not authorized to access this resource")
    changes: dict[str, Any] = {}
    if status is not None:
        changes["status"] = status if user.is_system else _new_status(job["status"], status)
        changes["completed_at"] = app.clock() if changes["status"] == jobs.DONE else None
    if minutes_total is not None:
        changes["minutes_total"] = minutes_total
    changes["updated_at"] = app.clock()
    with app.store.connect() as conn:
        conn.execute(f"UPDATE classifier_jobs SET {', '.join(f'{k} = ?' for k in changes)} "
                     "WHERE id = ?", (*changes.values(), job["id"]))
    return text_response("OK", status=200)

