"""Classifiers and classifier jobs read as frames: outputs, jobs, a job, its summary, its best detections.

None of these is cached: a job's status and counts change while it runs and as its
detections are reviewed, and a classifier list is one small request. Every read of one
job starts with ``GET /classifier-jobs/{id}``, so an unknown id is a
:class:`~rfcx_frames.exceptions.NotFoundError` (the platform answers some of the job's
other routes with a 500 instead).

Examples
--------
>>> jobs = client.classifier_jobs_df(status="done")  # doctest: +SKIP
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .. import convert, paginate, validate, wire
from ..schemas.entity import Entity
from ..schemas.jobs import BEST_DETECTION, CLASSIFIER, CLASSIFIER_JOB, JOB_STATUSES, JOB_SUMMARY
from .context import Context

#: ``fields`` asking the job list for every attribute and both includes.
JOB_FIELDS = ("id", "classifier_id", "project_id", "query_streams", "query_start", "query_end",
              "query_hours", "minutes_total", "minutes_completed", "status", "created_by_id",
              "created_at", "updated_at", "started_at", "completed_at", "classifier", "streams")
DETECTION_FIELDS = ("id", "stream_id", "classifier_id", "classification_id", "classifier_job_id",
                    "start", "end", "confidence", "review_status")


@dataclass(frozen=True)
class ClassifierJob:
    """One classifier job as the platform reports it.

    ``status`` is a name (``waiting``, ``running``, ``done``, ``error``, ``cancelled``,
    ``awaiting_cancellation``); the query covers the days ``query_start`` to
    ``query_end`` (UTC dates, both included) and ``query_hours`` of each day.

    Examples
    --------
    >>> job = ClassifierJob(7, 1, "frog-cnn", "p1", "running", 30, 120, "2024-03-01",
    ...                     "2024-03-02", "5-7", ("s1",), 1, None, None, None)
    >>> job.progress, job.finished
    (0.25, False)
    """

    id: int
    classifier_id: int
    classifier_name: str | None
    project_id: str
    status: str
    minutes_completed: int
    minutes_total: int | None
    query_start: str | None
    query_end: str | None
    query_hours: str | None
    streams: tuple[str, ...]
    created_by_id: int | None
    created_at: pd.Timestamp | None
    started_at: pd.Timestamp | None
    completed_at: pd.Timestamp | None

    @property
    def progress(self) -> float | None:
        """Share of the minutes done (``None`` before the job knows its total)."""
        if not self.minutes_total:
            return None
        return self.minutes_completed / self.minutes_total

    @property
    def finished(self) -> bool:
        """Whether the job will not change any more (done, error or cancelled)."""
        return self.status in ("done", "error", "cancelled")


def status_code(status: Any, name: str = "status") -> int:
    """The platform's code of a job status given by name (``"done"``) or code (``30``).

    Examples
    --------
    >>> status_code("running"), status_code(50)
    (20, 50)
    """
    codes = {v: k for k, v in JOB_STATUSES.items()}
    if isinstance(status, str) and status in codes:
        return codes[status]
    if (isinstance(status, numbers.Integral) and not isinstance(status, bool)
            and int(status) in JOB_STATUSES):
        return int(status)
    raise ValueError(f"{name} must be one of {', '.join(JOB_STATUSES.values())} (or their "
                     f"codes {', '.join(map(str, JOB_STATUSES))}), got {status!r}")


def _time(value: Any) -> str | None:
    # Job dates come as YYYY-MM-DD, other times as ISO 8601 with a zone.
    return None if value is None else (f"{value}T00:00:00.000Z" if len(str(value)) == 10
                                       else str(value))


def flat_job(item: Mapping[str, Any]) -> dict[str, Any]:
    """A job as the platform answers it (camelCase, nested) -> the flat keys of the table.

    Examples
    --------
    >>> flat_job({"id": 3, "status": 30, "classifier": {"name": "n", "version": 1},
    ...           "streams": [{"id": "a"}, {"id": "b"}]})["stream_ids"]
    'a,b'
    """
    classifier = item.get("classifier") or {}
    streams = item.get("streams")
    return {
        "id": item.get("id"), "classifier_id": item.get("classifierId"),
        "classifier_name": classifier.get("name"), "classifier_version": classifier.get("version"),
        "project_id": item.get("projectId"),
        "status": JOB_STATUSES.get(item.get("status"), str(item.get("status"))),  # type: ignore[arg-type]
        "minutes_completed": item.get("minutesCompleted"), "minutes_total": item.get("minutesTotal"),
        "query_start": _time(item.get("queryStart")), "query_end": _time(item.get("queryEnd")),
        "query_hours": item.get("queryHours"),
        "stream_ids": None if streams is None else ",".join(s["id"] for s in streams),
        "created_by_id": item.get("createdById"), "created_at": item.get("createdAt"),
        "updated_at": item.get("updatedAt"), "started_at": item.get("startedAt"),
        "completed_at": item.get("completedAt"),
    }


def frame(entity: Entity, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The entity's typed frame of flat rows, in the entity's order."""
    table = wire.to_table(entity, [wire.rows_to_struct(entity, list(rows))])
    table = convert.sort_table(table, entity.order_by)
    return convert.entity_frame(entity, table)


def _pages(ctx: Context, path: str, params: Mapping[str, Any],
           items: Callable[[Any], list[Any]] = list) -> list[Any]:
    """Every item of a limit/offset listing (``Total-Items`` when the route gives it).

    ``items`` takes a page's decoded body to its list of items (the job summary nests
    them in an object).
    """
    url = f"{ctx.api_url}{path}"

    def fetch(offset: int, limit: int) -> tuple[list[Any], int | None]:
        return ctx.session.request(
            "GET", url, params={**params, "limit": limit, "offset": offset},
            parse=lambda r: (items(r.json()), paginate.parse_total(r.headers.get("Total-Items"))))

    return [item for page in paginate.iter_pages(fetch) for item in page]


def classifiers_df(ctx: Context) -> pd.DataFrame:
    """Every classifier you can use, one row per output class (public ones and your own).

    One row per (classifier, class) so that ``groupby("classifier_id")`` lists a model's
    classes and ``groupby("classification_value")`` the models that find a class. The
    platform's list cannot include outputs (it fails), so this is one request for the list
    and one per classifier.

    Returns
    -------
    pandas.DataFrame
        See :data:`rfcx_frames.schemas.jobs.CLASSIFIER`; ordered by name, version, class.

    Examples
    --------
    >>> df = client.classifiers_df()  # doctest: +SKIP
    >>> df.groupby("name")["classification_value"].nunique()  # doctest: +SKIP
    """
    fields = ["id", "name", "version", "external_id", "is_public", "last_executed_at",
              "outputs"]
    listed = _pages(ctx, "/classifiers", {"fields[]": ["id"]})
    rows = []
    for summary in listed:
        c = ctx.get_json(f"/classifiers/{int(summary['id'])}", {"fields[]": fields})
        rows += [{"classifier_id": c["id"], "name": c.get("name"), "version": c.get("version"),
                  "external_id": c.get("externalId"), "is_public": c.get("isPublic"),
                  "last_executed_at": c.get("lastExecutedAt"),
                  "classification_value": (o.get("classification") or {}).get("value"),
                  "classification_title": (o.get("classification") or {}).get("title"),
                  "output_class_name": o.get("outputClassName"),
                  "threshold": o.get("ignoreThreshold")} for o in c.get("outputs") or []]
    return ctx.attach_query(frame(CLASSIFIER, rows), "/classifiers/{id}", {"fields[]": fields})


def classifier_jobs_df(ctx: Context, projects: Any = None, status: Any = None,
                       created_by: str | None = None) -> pd.DataFrame:
    """Classifier jobs of the projects you can read, oldest first.

    Parameters
    ----------
    projects
        Project id(s); default: every project you can read.
    status
        One status by name (``"waiting"``, ``"running"``, ``"done"``, ``"error"``,
        ``"cancelled"``, ``"awaiting_cancellation"``) or code.
    created_by
        ``"me"`` for your own jobs (the only value the platform takes).

    Returns
    -------
    pandas.DataFrame
        See :data:`rfcx_frames.schemas.jobs.CLASSIFIER_JOB`.

    Raises
    ------
    ValueError
        An unknown status or a ``created_by`` other than ``"me"``.

    Examples
    --------
    >>> running = client.classifier_jobs_df(status="running")  # doctest: +SKIP
    """
    params: dict[str, Any] = {"fields[]": list(JOB_FIELDS)}
    project_ids = validate.as_str_list(projects, "projects")
    if project_ids:
        params["projects[]"] = project_ids
    if status is not None:
        params["status"] = status_code(status)
    if created_by is not None:
        if created_by != "me":
            raise ValueError(f"created_by must be 'me' (the only value the platform takes), "
                             f"got {created_by!r}")
        params["created_by"] = "me"
    items = _pages(ctx, "/classifier-jobs", params)
    return ctx.attach_query(frame(CLASSIFIER_JOB, map(flat_job, items)), "/classifier-jobs",
                            params)


def check_job_id(value: Any) -> int:
    """A job id as an ``int``, or a clear error.

    Examples
    --------
    >>> import numpy as np
    >>> check_job_id("12"), check_job_id(np.int64(7))
    (12, 7)
    """
    # numpy integers too: a job id is usually taken from classifier_jobs_df()["id"].
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, str)):
        raise TypeError(f"job_id must be an integer id, got {type(value).__name__}")
    text = str(value).strip()
    if not text.isdigit() or not text.isascii() or int(text) < 1:
        raise ValueError(f"job_id must be a positive integer id, got {value!r}")
    return int(text)


def classifier_job(ctx: Context, job_id: Any) -> ClassifierJob:
    """One classifier job: its streams, query window and hours, progress and status.

    Parameters
    ----------
    job_id
        The job's id.

    Returns
    -------
    ClassifierJob

    Raises
    ------
    NotFoundError
        No such job.
    ForbiddenError
        A job of a project you cannot read.

    Examples
    --------
    >>> job = client.classifier_job(308)  # doctest: +SKIP
    >>> job.status, job.progress  # doctest: +SKIP
    ('running', 0.4)
    """
    jid = check_job_id(job_id)
    item = ctx.get_json(f"/classifier-jobs/{jid}", {"fields[]": list(JOB_FIELDS)})
    row = flat_job(item)

    def ts(key: str) -> pd.Timestamp | None:
        return None if row[key] is None else pd.Timestamp(row[key])

    return ClassifierJob(
        id=int(row["id"]), classifier_id=int(row["classifier_id"]),
        classifier_name=row["classifier_name"], project_id=row["project_id"],
        status=row["status"], minutes_completed=int(row["minutes_completed"] or 0),
        minutes_total=row["minutes_total"], query_start=item.get("queryStart"),
        query_end=item.get("queryEnd"), query_hours=row["query_hours"],
        streams=tuple(s["id"] for s in item.get("streams") or []),
        created_by_id=row["created_by_id"], created_at=ts("created_at"),
        started_at=ts("started_at"), completed_at=ts("completed_at"))


def classifier_job_summary(ctx: Context, job_id: Any) -> pd.DataFrame:
    """Per class of a finished job: detections in total and by review status.

    A job that is not done has no summary yet (an empty frame with the columns).

    Parameters
    ----------
    job_id
        The job's id.

    Returns
    -------
    pandas.DataFrame
        ``classification_value, classification_title, total, unreviewed, confirmed,
        rejected, uncertain``; ``frame.attrs["validation"]`` holds the job's totals.

    Examples
    --------
    >>> client.classifier_job_summary(101).sort_values("total")  # doctest: +SKIP
    """
    jid = check_job_id(job_id)
    items = _pages(ctx, f"/classifier-jobs/{jid}/summary", {},
                   lambda body: list(body.get("classificationsSummary", [])))
    rows = [{"classification_value": s.get("value"), "classification_title": s.get("title"),
             **{k: s.get(k) for k in ("total", "unreviewed", "confirmed", "rejected",
                                      "uncertain")}} for s in items]
    result = frame(JOB_SUMMARY, rows)
    result.attrs["validation"] = dict(
        ctx.get_json(f"/classifier-jobs/{jid}/validation").get("reviewStatus", {}))
    return ctx.attach_query(result, f"/classifier-jobs/{jid}/summary", {})


def best_detections_df(ctx: Context, job_id: Any, n_per_chunk: int = 1, by_date: bool = False,
                       *, streams: Any = None, classifications: Any = None,
                       review_statuses: Any = None) -> pd.DataFrame:
    """The most confident detections of a job: per stream (and per day, and per class).

    The platform ranks a job's detections from its first day up to (not including) its
    last day, so a one-day job has none: give a job one day more to rank them all.

    Parameters
    ----------
    job_id
        The job's id.
    n_per_chunk
        How many per stream (per day with ``by_date``, per class with
        ``classifications``), 1 to 10.
    by_date
        Rank within each UTC day instead of the job's whole window.
    streams, classifications, review_statuses
        Limit to these stream ids, class values, review statuses.

    Returns
    -------
    pandas.DataFrame
        The detection columns plus ``rank`` (1 for the best of its chunk).

    Examples
    --------
    >>> best = client.best_detections_df(101, n_per_chunk=3, by_date=True)  # doctest: +SKIP
    """
    jid = check_job_id(job_id)
    n = validate.check_positive_int(n_per_chunk, "n_per_chunk")
    if n > 10:
        raise ValueError(f"n_per_chunk must be between 1 and 10, got {n_per_chunk!r}")
    params: dict[str, Any] = {"n_per_chunk": n,
                              "by_date": str(validate.check_bool(by_date, "by_date")).lower(),
                              "fields[]": list(DETECTION_FIELDS)}
    for name, value in (("streams", validate.as_str_list(streams, "streams")),
                        ("classifications", validate.as_str_list(classifications,
                                                                  "classifications")),
                        ("review_statuses", validate.review_statuses(review_statuses))):
        if value:
            params[f"{name}[]"] = value
    classifier_job(ctx, jid)  # an unknown job is a 404 here, not the route's 500
    items = _pages(ctx, f"/classifier-jobs/{jid}/best-detections", params)
    rows = [_flat_best(d) for d in items]
    return ctx.attach_query(frame(BEST_DETECTION, rows),
                            f"/classifier-jobs/{jid}/best-detections", params)


def _flat_best(item: Mapping[str, Any]) -> dict[str, Any]:
    # The ranking's key names the chunking asked for (stream_ranking, ...): take its value.
    rank = next(iter((item.get("bestDetection") or {}).values()), None)
    classification = item.get("classification") or {}
    return {**{k: item.get(k) for k in DETECTION_FIELDS}, "id": int(item["id"]),
            "classification_value": classification.get("value"),
            "classification_title": classification.get("title"), "rank": rank}
