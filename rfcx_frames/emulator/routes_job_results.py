"""Core API routes of a classifier job's results: summary, validation, best detections.

The platform keeps a per-class summary of a finished job and a table of its best
detections (ranked by confidence per stream, per day, per class); the emulator derives
both from the job's detections when asked, so a review shows at once.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from . import access
from . import classifier_jobs as jobs
from .http import HTTPError, Request, Response, json_response
from .params import Converter, iso
from .routes_jobs import readable_job
from .server import App
from .sql import limit_sql, placeholders

SUMMARY_SORTS = ("name", "unreviewed", "confirmed", "uncertain", "rejected")
_SORT_SQL = {"name": "title", "unreviewed": "unreviewed", "confirmed": "confirmed",
             "uncertain": "uncertain", "rejected": "rejected"}
REVIEW_CODES = {"unreviewed": None, "rejected": -1, "uncertain": 0, "confirmed": 1}
DETECTION_LITE = ("id", "stream_id", "start", "end", "confidence")
DETECTION_FULL = ("id", "stream_id", "classifier_id", "classification_id", "classifier_job_id",
                  "start", "end", "confidence", "review_status")
#: Which ranking ``n_per_chunk`` applies to: (by class, by date) -> column.
RANKINGS = {(False, False): "stream_ranking", (False, True): "stream_daily_ranking",
            (True, False): "stream_classification_ranking",
            (True, True): "stream_classification_daily_ranking"}


def job_summary(app: App, req: Request) -> Response:
    """``GET /classifier-jobs/{id}/summary``: ``{"classificationsSummary": [...]}``."""
    conv = Converter(req.query)
    limit = conv.integer("limit", default=25)
    offset = conv.integer("offset", default=0) or 0
    sort = conv.string("sort")
    keyword = conv.string("keyword")
    if sort is not None and any(t.lstrip("+-") not in SUMMARY_SORTS for t in sort.split(",")):
        conv.errors.append(f"Parameter 'sort' should be one of these values: "
                           f"{', '.join(SUMMARY_SORTS)}")
    conv.validate()
    assert req.user is not None
    job = readable_job(app, req.user, req.params["id"])
    rows = jobs.summary_rows(app.store, job, keyword=keyword)
    for term in reversed(sort.split(",") if sort else []):
        # Stable sorts from the last term to the first order by every term.
        rows.sort(key=itemgetter(_SORT_SQL[term.lstrip("+-")]), reverse=term.startswith("-"))
    if (limit is not None and limit < 0) or offset < 0:
        # Postgres rejects a negative page: the route's 500.
        raise HTTPError(500, "Failed getting classificatier job summary")
    page = rows[offset:offset + limit] if limit is not None else rows[offset:]
    return json_response({"classificationsSummary": page},
                         headers=[("Total-Items", str(len(rows)))])


def job_summary_class(app: App, req: Request) -> Response:
    """``GET /classifier-jobs/{id}/summary/{value}``: one class's counts."""
    assert req.user is not None
    job = readable_job(app, req.user, req.params["id"])
    rows = jobs.summary_rows(app.store, job, value=req.params["value"])
    if not rows:
        raise HTTPError(404, "Classifier job or classification value in the job cannot be found.")
    return json_response(rows[0])


def job_validation(app: App, req: Request) -> Response:
    """``GET /classifier-jobs/{id}/validation``: the review counts of every class together."""
    assert req.user is not None
    job = readable_job(app, req.user, req.params["id"])
    totals = dict.fromkeys(jobs.COUNTS, 0)
    for row in jobs.summary_rows(app.store, job):
        for key in jobs.COUNTS:
            totals[key] += row[key]
    return json_response({"reviewStatus": totals})


def _best_query(req: Request) -> dict[str, Any]:
    conv = Converter(req.query)
    q = {"streams": conv.array("streams"), "classifications": conv.array("classifications"),
         "by_date": bool(conv.boolean("by_date", default=False)),
         "start": conv.time("start"), "end": conv.time("end"),
         "review_statuses": conv.array("review_statuses"),
         "n": conv.integer("n_per_chunk", default=1, maximum=10),
         "limit": conv.integer("limit", maximum=1000), "offset": conv.integer("offset") or 0,
         "fields": conv.array("fields")}
    conv.validate()
    return q


def _window(app: App, job_id: str, q: dict[str, Any],
            failure: str) -> tuple[int, int, int, int]:
    """The job's stored window and the query's: ``(job_lo, job_hi, lo, hi)`` epoch ms."""
    rows = app.store.query("SELECT query_start, query_end FROM classifier_jobs WHERE id = ?",
                           (job_id,))
    if not rows:
        if q["start"] is None or q["end"] is None:
            # The platform reads the missing bound from a job that is not there.
            raise HTTPError(500, failure)
        return 0, 0, q["start"], q["end"]
    job_lo = jobs.day_ms(rows[0]["query_start"], 0)
    # The platform compares with the end *date*, so its last day falls outside.
    job_hi = jobs.day_ms(rows[0]["query_end"], jobs.OPEN_END)
    lo = q["start"] if q["start"] is not None else job_lo
    hi = q["end"] if q["end"] is not None else job_hi
    return job_lo, job_hi, lo, hi


def _stream_ids(app: App, req: Request, streams: list[str] | None) -> list[str] | None:
    user = req.user
    assert user is not None
    if streams is not None:
        allowed = (access.accessible_stream_ids(app.store, user)
                   | access.public_stream_ids(app.store))
        return [s for s in streams if s in allowed]
    return None if user.is_system else sorted(access.accessible_stream_ids(app.store, user))


def _best_select(app: App, req: Request, q: dict[str, Any],
                 failure: str) -> tuple[str, list[object], str]:
    """The SQL of a job's best detections under the query's filters, its arguments, ranking."""
    if (q["start"] is not None or q["end"] is not None) and not q["by_date"]:
        raise HTTPError(400, "Searching for the best detections of job does not support "
                             "date range")
    job_id = req.params["id"]
    job_lo, job_hi, lo, hi = _window(app, job_id, q, failure)
    ranking = RANKINGS[(q["classifications"] is not None, q["by_date"])]
    where = ["b.start >= ?", "b.start < ?", f"b.{ranking} <= ?"]
    args: list[object] = [job_id, job_lo, job_hi, lo, hi, q["n"]]
    streams = _stream_ids(app, req, q["streams"])
    if streams is not None:
        where.append(f"b.stream_id IN ({placeholders(streams)})")
        args += streams
    if q["classifications"] is not None:
        where.append(f"c.value IN ({placeholders(q['classifications'])})")
        args += q["classifications"]
    if q["review_statuses"] is not None:
        codes = [REVIEW_CODES.get(s) for s in q["review_statuses"]]
        known = [c for c in codes if c is not None]
        where.append("(" + " OR ".join(
            (["b.review_status IS NULL"] if None in codes else [])
            + [f"b.review_status IN ({placeholders(known)})"]) + ")")
        args += known
    sql = (f"{_ranked_sql()} SELECT b.*, c.value AS c_value, c.title AS c_title, "
           f"c.image AS c_image FROM best b JOIN classifications c "
           f"ON c.id = b.classification_id WHERE {' AND '.join(where)}")
    return sql, args, ranking


def best_detections(app: App, req: Request) -> Response:
    """``GET /classifier-jobs/{id}/best-detections``: top detections per stream (day, class)."""
    q = _best_query(req)
    failure = "Failed getting detections"
    sql, args, ranking = _best_select(app, req, q, failure)
    day = "b.start / 86400000, " if q["by_date"] else ""
    total = app.store.query(f"SELECT count(*) AS n FROM ({sql})", args)[0]["n"]
    rows = app.store.query(f"{sql} ORDER BY {day}b.stream_id, b.{ranking}, b.id"
                           f"{limit_sql(q['limit'], q['offset'], failure)}", args)
    wanted = [f for f in DETECTION_FULL if f in q["fields"]] if q["fields"] else DETECTION_LITE
    body = [{**{f: str(r[f]) if f == "id" else iso(r[f]) if f in ("start", "end") else r[f]
                for f in wanted},
             "classification": {"value": r["c_value"], "title": r["c_title"],
                                "image": r["c_image"]},
             "bestDetection": {ranking: r[ranking]}} for r in rows]
    return json_response(body, headers=[("Total-Items", str(total))])


def best_detections_summary(app: App, req: Request) -> Response:
    """``GET /classifier-jobs/{id}/best-detections/summary``: their counts by review status."""
    q = _best_query(req)
    sql, args, _ = _best_select(app, req, q, "Failed getting best detections summary")
    rows = app.store.query(f"SELECT review_status, count(*) AS n FROM ({sql}) "
                           "GROUP BY review_status", args)
    counts = {r["review_status"]: int(r["n"]) for r in rows}
    return json_response({name: counts.get(code, 0) for name, code in REVIEW_CODES.items()})


def _ranked_sql() -> str:
    """The job's best detections as the platform stores them: ranked, the top kept."""
    day = "d.start / 86400000"
    rank = "ROW_NUMBER() OVER (PARTITION BY {} ORDER BY d.confidence DESC, d.id)"
    return (
        "WITH ranked AS (SELECT d.*, "
        f"{rank.format('d.stream_id')} AS stream_ranking, "
        f"{rank.format('d.stream_id, ' + day)} AS stream_daily_ranking, "
        f"{rank.format('d.stream_id, d.classification_id')} AS stream_classification_ranking, "
        f"{rank.format('d.stream_id, d.classification_id, ' + day)} "
        "AS stream_classification_daily_ranking "
        "FROM detections d WHERE d.classifier_job_id = ? AND d.start BETWEEN ? AND ?), "
        "best AS (SELECT * FROM ranked WHERE stream_ranking < 10 OR "
        "stream_classification_ranking < 10 OR stream_daily_ranking < 10 OR "
        "stream_classification_daily_ranking < 5)")
