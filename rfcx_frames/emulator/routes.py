"""The core API's route table: every core route bound to its handler, and the health check.

The handlers live by resource: :mod:`.routes_projects`, :mod:`.routes_streams`,
:mod:`.routes_segments`, :mod:`.routes_labels` (detections, annotations, classifications),
:mod:`.routes_classifiers`, :mod:`.routes_reviews` (reviews and uploaded detections),
:mod:`.routes_jobs` and :mod:`.routes_job_results` (classifier jobs). Each follows the
contract (``shared/api_contract.md`` §3-§5).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from . import routes_classifiers as classifiers
from . import routes_counts as counts
from . import routes_job_results as job_results
from . import routes_jobs as jobs
from . import routes_labels as labels
from . import routes_projects as projects
from . import routes_reviews as reviews
from . import routes_segments as segments
from . import routes_streams as streams
from .http import Request, Response, Router, json_response
from .server import App


def health(app: App, req: Request) -> Response:
    """``GET /health-check``: the only core route that needs no token.

    Like the platform, it times a round trip to the database and, with ``headers=1``, echoes
    the request headers (lower-cased names, as Node gives them).
    """
    started = time.monotonic()
    try:
        app.store.query("SELECT 1")
        db_ok = True
    except sqlite3.Error:
        db_ok = False
    body: dict[str, Any] = {"status": db_ok,
                            "timescaledb": {"status": db_ok,
                                            "time": int((time.monotonic() - started) * 1000)}}
    if req.query.get("headers", [""])[0] == "1":
        body["http_headers"] = dict(req.headers)
    return json_response(body)


def register(app: App) -> None:
    """Add the core API routes to ``app.core``."""
    r: Router = app.core

    def bind(fn: Any) -> Any:
        return lambda req: fn(app, req)

    r.add("GET", "/health-check", bind(health))
    r.add("GET", "/projects", bind(projects.list_projects))
    r.add("GET", "/projects/{id}", bind(projects.get_project))
    r.add("GET", "/streams", bind(streams.list_streams))
    r.add("GET", "/streams/{id}", bind(streams.get_stream))
    r.add("GET", "/streams/{id}/permissions", bind(streams.stream_permissions))
    r.add("GET", "/streams/{id}/segments", bind(segments.list_segments))
    r.add("GET", "/streams/{id}/segments/{start}", bind(segments.get_segment))
    r.add("GET", "/streams/{id}/segments/{start}/file", bind(segments.segment_file))
    r.add("POST", "/streams/{id}/detections", bind(reviews.create_detections))
    r.add("POST", "/streams/{id}/detections/{start}/review", bind(reviews.review_detection))
    r.add("GET", "/detections", bind(labels.list_detections))
    r.add("GET", "/detections/summary", bind(counts.detections_summary))
    r.add("GET", "/clustered-detections", bind(counts.clustered_detections))
    r.add("GET", "/annotations", bind(labels.list_annotations))
    r.add("GET", "/classifications", bind(labels.list_classifications))
    r.add("GET", "/classifications/{value}", bind(labels.get_classification))
    r.add("GET", "/classifiers", bind(classifiers.list_classifiers))
    r.add("POST", "/classifiers", bind(classifiers.create_classifier))
    r.add("GET", "/classifiers/{id}", bind(classifiers.get_classifier))
    r.add("GET", "/classifier-jobs", bind(jobs.list_jobs))
    r.add("POST", "/classifier-jobs", bind(jobs.create_job))
    r.add("GET", "/classifier-jobs/{id}", bind(jobs.get_job))
    r.add("PATCH", "/classifier-jobs/{id}", bind(jobs.update_job))
    r.add("GET", "/classifier-jobs/{id}/summary", bind(job_results.job_summary))
    r.add("GET", "/classifier-jobs/{id}/summary/{value}", bind(job_results.job_summary_class))
    r.add("GET", "/classifier-jobs/{id}/validation", bind(job_results.job_validation))
    r.add("GET", "/classifier-jobs/{id}/best-detections", bind(job_results.best_detections))
    r.add("GET", "/classifier-jobs/{id}/best-detections/summary",
          bind(job_results.best_detections_summary))
