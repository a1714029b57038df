"""Core API routes that count detections: ``GET /clustered-detections`` and ``/detections/summary``.

Both filter like ``GET /detections`` (readable streams, ``[start, end)`` on the start,
``min_confidence`` 0.95 by default; see :mod:`.routes_labels`) and aggregate in the
database. ``/clustered-detections`` groups by a TimescaleDB ``time_bucket`` of the start
(UTC, buckets aligned on 2000-01-03T00:00Z) and by classification, ordered by bucket only;
``/detections/summary`` counts per review status. Decisions: ``docs/emulator.md`` "Counts".
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from . import access
from .http import HTTPError, Request, Response, json_response
from .params import _FLOAT, Converter, iso
from .routes_labels import (
    DETECTION_FIELDS,
    REVIEW_STATUSES,
    DetectionQuery,
    _classification_ref,
    _detection_where,
)
from .server import App
from .sql import limit_sql

#: TimescaleDB's default origin of ``time_bucket`` on a ``timestamptz`` (a Monday), in ms.
BUCKET_ORIGIN_MS = 946_857_600_000
AGGREGATES = ("count", "sum", "avg", "min", "max")
#: The platform's ``toTimeInterval`` check (its character class holds a literal ``|``).
INTERVAL_SHAPE = re.compile(r"^[0-9]+\w*[d|D|h|H|m|M|s|S]$")
#: Postgres interval units a value passing that check may end with, in milliseconds.
INTERVAL_UNITS = {
    **dict.fromkeys(("d", "day", "days"), 86_400_000),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3_600_000),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60_000),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1_000),
    **dict.fromkeys(("ms", "msecs", "milliseconds"), 1),
}
NUMERIC_FIELDS = ("id", "classifier_id", "classification_id", "classifier_job_id", "confidence",
                  "review_status")
FAILED_CLUSTERS = "Failed getting detections"
FAILED_SUMMARY = "Failed getting detections summary"


def interval_ms(text: str) -> int | None:
    """The length of a bucket interval that Postgres accepts, in ms; ``None`` if it fails there.

    Parameters
    ----------
    text
        The ``interval`` parameter, already past the platform's shape check.

    Examples
    --------
    >>> interval_ms("1d"), interval_ms("15m"), interval_ms("2Hours"), interval_ms("1x|")
    (86400000, 900000, 7200000, None)
    """
    m = re.fullmatch(r"(\d+)([a-zA-Z]+)", text)
    if not m or m.group(2).lower() not in INTERVAL_UNITS:
        return None
    width = int(m.group(1)) * INTERVAL_UNITS[m.group(2).lower()]
    return width or None  # time_bucket refuses a zero-length bucket


def js_float(value: Any) -> int | float | None:
    """JavaScript's ``parseFloat`` of what the database answered, as ``JSON.stringify`` writes it.

    Examples
    --------
    >>> js_float(3), js_float(0.5), js_float("12abc"), js_float("abc"), js_float(None)
    (3, 0.5, 12, None, None)
    """
    if value is None:
        return None
    if isinstance(value, str):
        m = _FLOAT.match(value)
        if not m:
            return None
        value = float(m.group(1))
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return None
    return int(number) if number.is_integer() else number


def _aggregate_sql(aggregate: str, field: str) -> tuple[str, bool]:
    """The SQL of the aggregate and whether its value is a timestamp (``null`` once parsed)."""
    column = f'd."{field}"'
    if aggregate == "count":
        return f"count({column})", False
    if field in ("start", "end"):
        if aggregate in ("sum", "avg"):
            raise HTTPError(500, FAILED_CLUSTERS)  # Postgres has no sum or avg of timestamps
        return f"{aggregate}({column})", True
    if field == "stream_id" and aggregate in ("sum", "avg"):
        raise HTTPError(500, FAILED_CLUSTERS)  # nor of text
    return f"{aggregate}({column})", False


def _clustered_query(query: dict[str, list[str]]) -> tuple[DetectionQuery, dict[str, Any]]:
    """The parameters of ``/clustered-detections``, checked in the platform's order."""
    conv = Converter(query)
    start, end = conv.window()
    streams = conv.array("streams")
    streams_public = bool(conv.boolean("streams_public", default=False))
    classifications = conv.array("classifications")
    interval = conv.string("interval", default="1d") or "1d"
    if not INTERVAL_SHAPE.match(interval):
        conv.errors.append("Parameter 'interval' should be a time interval (e.g. \"1d\" for 1 "
                           "day, \"20m\" for 20 minutes)")
    aggregate = conv.string("aggregate", default="count") or "count"
    if aggregate not in AGGREGATES:
        conv.errors.append("Parameter 'aggregate' should be count, sum, avg, min, max")
    field = conv.one_of("field", DETECTION_FIELDS, default="start") or "start"
    min_confidence = conv.float("min_confidence", default=0.95)
    descending = bool(conv.boolean("descending", default=False))
    limit = conv.integer("limit", default=100)
    offset = conv.integer("offset", default=0) or 0
    conv.validate()
    q = DetectionQuery(start=start, end=end, streams=streams, projects=None,
                       classifications=classifications, classifiers=None, classifier_jobs=None,
                       review_statuses=None, min_confidence=min_confidence, limit=limit,
                       offset=offset, descending=descending, fields=None)
    return q, {"interval": interval, "aggregate": aggregate, "field": field,
               "streams_public": streams_public}


def clustered_detections(app: App, req: Request) -> Response:
    """``GET /clustered-detections``: an aggregate per time bucket and classification."""
    q, opts = _clustered_query(req.query)
    width = interval_ms(opts["interval"])
    if width is None:
        raise HTTPError(500, FAILED_CLUSTERS)  # Postgres cannot read it as an interval
    aggregate, field = opts["aggregate"], opts["field"]
    value_sql, is_time = _aggregate_sql(aggregate, field)
    assert req.user is not None
    if q.streams is None and opts["streams_public"] and not req.user.is_system:
        # Only public streams, instead of those the caller may read.
        q = replace(q, streams=sorted(access.public_stream_ids(app.store)))
    where = _detection_where(app, req.user, q)
    bucket = f"(d.start - (((d.start - {BUCKET_ORIGIN_MS}) % {width}) + {width}) % {width})"
    direction = "DESC" if q.descending else "ASC"
    page = limit_sql(q.limit, q.offset, FAILED_CLUSTERS)
    rows = app.store.query(
        f"SELECT {bucket} AS bucket, {value_sql} AS value, min(d.start) AS first_start, "
        f"max(d.start) AS last_start, c.value AS c_value, c.title AS c_title, "
        f"c.image AS c_image FROM detections d JOIN classifications c "
        f"ON c.id = d.classification_id WHERE {where.sql} GROUP BY bucket, c.id "
        f"ORDER BY bucket {direction}, {app.tie_break('c.id')}{page}", where.args)
    # Sums of floats may differ from Postgres's in the last digit: it adds in the order
    # its plan reads rows, SQLite compensates rounding (docs/emulator.md "Counts").
    body = [{"time_bucket": iso(r["bucket"]),
             "aggregated_value": None if is_time else js_float(r["value"]),
             "first_start": iso(r["first_start"]), "last_start": iso(r["last_start"]),
             "classification": _classification_ref(r)} for r in rows]
    return json_response(body)


def detections_summary(app: App, req: Request) -> Response:
    """``GET /detections/summary``: how many detections match, per review status."""
    conv = Converter(req.query)
    start, end = conv.window()
    # Keyword arguments are evaluated in order, so errors keep the platform's order.
    q = DetectionQuery(
        start=start, end=end, streams=conv.array("streams"), projects=conv.array("projects"),
        classifications=conv.array("classifications"), classifiers=conv.array("classifiers"),
        classifier_jobs=conv.array("classifier_jobs"),
        min_confidence=conv.float("min_confidence", default=0.95),
        review_statuses=conv.array("review_statuses", allowed=tuple(REVIEW_STATUSES)),
        limit=None, offset=0, descending=False, fields=None)
    conv.validate()
    for ids in (q.classifiers, q.classifier_jobs):
        # These reach SQL as given: an id Postgres cannot read as an integer fails the query.
        if ids is not None and not all(re.fullmatch(r"\s*[-+]?\d+\s*", i) for i in ids):
            raise HTTPError(500, FAILED_SUMMARY)
    assert req.user is not None
    where = _detection_where(app, req.user, q)
    rows = app.store.query(f"SELECT d.review_status AS status, count(*) AS n FROM detections d "
                           f"WHERE {where.sql} GROUP BY d.review_status", where.args)
    found = {r["status"]: int(r["n"]) for r in rows}
    return json_response({name: found.get(code, 0) for name, code in REVIEW_STATUSES.items()})
