"""Core API routes of what is heard: detections, annotations and classifications.

Same conventions as the other route modules (contract §4.6-§4.9): validation messages, ``[start, end)``
on the item's start, order by start then id, string detection ids. Classifiers are in
:mod:`.routes_classifiers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import access
from . import detection_pages as pages
from .auth import User
from .http import HTTPError, Request, Response, encoded_json_response, json_response
from .params import Converter, iso, pg_integer
from .server import App
from .sql import Where, limit_sql, page_params, placeholders

DETECTION_FIELDS = ("id", "stream_id", "classifier_id", "classification_id", "classifier_job_id",
                    "start", "end", "confidence", "review_status")
DETECTION_DEFAULT = ("id", "stream_id", "start", "end", "confidence")
REVIEW_STATUSES = {"unreviewed": None, "rejected": -1, "uncertain": 0, "confirmed": 1}
LEVELS = ("section", "kingdom", "phylum", "class", "order", "family", "genus", "species",
          "subspecies", "characteristic")


def _classification_ids(app: App, values: list[str]) -> list[int]:
    rows = app.store.query(f"SELECT id FROM classifications WHERE value IN ({placeholders(values)})",
                           values)
    return [int(r["id"]) for r in rows]


def _classification_ref(row: Any) -> dict[str, Any]:
    """The ``classification`` nested in a detection or annotation (joined as ``c_*``)."""
    return {"value": row["c_value"], "title": row["c_title"], "image": row["c_image"]}


@dataclass(frozen=True)
class DetectionQuery:
    """The parameters of ``GET /detections``, validated with the platform's messages."""

    start: int
    end: int
    streams: list[str] | None
    projects: list[str] | None
    classifications: list[str] | None
    classifiers: list[str] | None
    classifier_jobs: list[str] | None
    review_statuses: list[str] | None
    min_confidence: float | None
    limit: int | None
    offset: int
    descending: bool
    fields: list[str] | None

    @classmethod
    def parse(cls, query: dict[str, list[str]]) -> DetectionQuery:
        """Read and check every parameter (all errors answered together as one 400).

        Examples
        --------
        >>> q = DetectionQuery.parse({"start": ["2024-03-01"], "end": ["2024-03-02"]})
        >>> q.min_confidence, q.limit, q.descending
        (0.95, None, False)
        """
        conv = Converter(query)
        start, end = conv.window()
        # Keyword arguments are evaluated in order, so errors keep the platform's order.
        parsed = cls(
            start=start, end=end, streams=conv.array("streams"),
            projects=conv.array("projects"), classifications=conv.array("classifications"),
            classifiers=conv.array("classifiers"),
            classifier_jobs=conv.array("classifier_jobs"),
            review_statuses=conv.array("review_statuses", allowed=tuple(REVIEW_STATUSES)),
            min_confidence=conv.float("min_confidence", default=0.95),
            limit=conv.integer("limit", maximum=1000),
            offset=conv.integer("offset", default=0) or 0,
            descending=bool(conv.boolean("descending", default=False)),
            fields=conv.array("fields"))
        conv.validate()
        return parsed


def _readable_streams(app: App, user: User, streams: list[str] | None) -> list[str] | None:
    """The streams a detection query may cover; ``None`` for every stream (system users)."""
    if user.is_system:
        return streams
    readable = access.accessible_stream_ids(app.store, user)
    if streams is None:
        return sorted(readable)
    # Requested streams the caller cannot read are dropped silently, as upstream.
    allowed = readable | access.public_stream_ids(app.store)
    return sorted(s for s in streams if s in allowed)


def _review_clause(statuses: list[str]) -> tuple[str, list[int]]:
    """The condition of ``review_statuses`` (unreviewed is a NULL status) and its arguments."""
    codes = [REVIEW_STATUSES[s] for s in statuses]
    numeric = [c for c in codes if c is not None]
    parts = ["d.review_status IS NULL"] if None in codes else []
    if numeric:
        parts.append(f"d.review_status IN ({placeholders(numeric)})")
    return "(" + " OR ".join(parts) + ")", numeric


def _sql_integers(values: list[str]) -> list[int]:
    """Ids the platform passes to SQL unchecked: one Postgres rejects fails the route."""
    parsed = [pg_integer(v) for v in values]
    if any(p is None for p in parsed):
        raise HTTPError(500, "Failed getting detections")
    return [p for p in parsed if p is not None]


def _detection_where(app: App, user: User, q: DetectionQuery) -> Where:
    # The window comes first: bookmarks (list_detections) move its bounds.
    where = Where(["d.start >= ?", "d.start < ?"], [q.start, q.end])
    streams = _readable_streams(app, user, q.streams)
    if streams is not None:
        where.within("d.stream_id", streams)
    if q.projects is not None:
        where.add(f"d.stream_id IN (SELECT id FROM streams WHERE project_id IN "
                  f"({placeholders(q.projects)}))", *q.projects)
    if q.classifications is not None:
        where.within("d.classification_id", _classification_ids(app, q.classifications))
    if q.classifiers is not None:
        where.within("d.classifier_id", _sql_integers(q.classifiers))
    if q.classifier_jobs is not None:
        where.within("d.classifier_job_id", _sql_integers(q.classifier_jobs))
    if q.review_statuses is not None:
        clause, codes = _review_clause(q.review_statuses)
        where.add(clause, *codes)
    if q.min_confidence is not None:
        where.add("d.confidence >= ?", q.min_confidence)
    return where


def _wanted(q: DetectionQuery) -> tuple[str, ...]:
    """The detection columns of the answer, in the order asked, each once."""
    return tuple(dict.fromkeys(f for f in (q.fields or DETECTION_DEFAULT)
                               if f in DETECTION_FIELDS))


def list_detections(app: App, req: Request) -> Response:
    """``GET /detections``: detections with start in ``[start, end)``, filters of §4.6.

    Pages are written by SQLite (:mod:`.detection_pages`), with the bytes the platform's
    rendering of each row gives.
    """
    q = DetectionQuery.parse(req.query)
    user = req.user
    assert user is not None
    if q.fields and "reviews" in q.fields:
        # The platform offers this include, but its Detection model has no association
        # with reviews, so the database layer fails: docs/emulator.md, "Reviews and
        # uploaded detections".
        raise HTTPError(500, "Failed getting detections")
    direction = "DESC" if q.descending else "ASC"
    page = pages.Page(
        fields=_wanted(q),
        # Filtering by project joins the stream include into every row, asked for or not.
        stream=bool(q.fields and "stream" in q.fields) or q.projects is not None,
        classifier=bool(q.fields and "classifier" in q.fields),
        descending=q.descending, tie=app.tie_break("d.id", direction), limit=q.limit)

    where = _detection_where(app, user, q)

    def after(mark: pages.Mark) -> Where:
        # The rows after a bookmarked one: the window starts (or ends) at its start, so
        # the start index is entered there, and rows sharing that start follow by id.
        start, row_id = mark
        args = list(where.args)
        if q.descending:
            args[1] = start + 1  # the window's end, "d.start < ?"
            narrowed = Where(list(where.clauses), args)
            narrowed.add("(d.start < ? OR d.id < ?)", start, row_id)
        else:
            args[0] = start  # the window's start, "d.start >= ?"
            narrowed = Where(list(where.clauses), args)
            narrowed.add("(d.start > ? OR d.id > ?)", start, row_id)
        return narrowed

    marks = app.bookmarks if app.tie_order == "id" else None
    return encoded_json_response(pages.encoded_page(app.store, marks, page, where, q.offset,
                                                    after))


# ---------------------------------------------------------------------------------------
# annotations


def list_annotations(app: App, req: Request) -> Response:
    """``GET /annotations``: annotations with start in ``[start, end)``."""
    conv = Converter(req.query)
    start, end = conv.window()
    stream_id = conv.string("stream_id")
    classifications = conv.array("classifications")
    limit, offset = page_params(conv, None)
    conv.validate()
    user = req.user
    assert user is not None
    where = Where(["a.start >= ?", "a.start < ?"], [start, end])
    if stream_id:
        access.require_stream(app.store, user, stream_id, missing=access.NO_SUCH_STREAM,
                              forbidden="You do not have permission to access this stream.")
        where.add("a.stream_id = ?", stream_id)
    else:
        where.within("a.stream_id", sorted(access.member_stream_ids(app.store, user)))
    if classifications is not None:
        where.within("a.classification_id", _classification_ids(app, classifications))
    rows = app.store.query(
        f'SELECT a.*, c.value AS c_value, c.title AS c_title, c.image AS c_image '
        f'FROM annotations a JOIN classifications c ON c.id = a.classification_id '
        f'WHERE {where.sql} ORDER BY a.start ASC, {app.tie_break("a.id")}'
        f'{limit_sql(limit, offset, "Failed getting annotations")}', where.args)
    body = [{"id": r["id"], "stream_id": r["stream_id"], "start": iso(r["start"]),
             "end": iso(r["end"]), "frequency_min": r["frequency_min"],
             "frequency_max": r["frequency_max"],
             "classification": _classification_ref(r)} for r in rows]
    return json_response(body)


# ---------------------------------------------------------------------------------------
# classifications


def list_classifications(app: App, req: Request) -> Response:
    """``GET /classifications``: keyword over titles and alternative names."""
    conv = Converter(req.query)
    keyword = conv.string("keyword")
    levels = conv.array("levels")
    classifiers = conv.array("classifiers")
    limit, offset = page_params(conv, 100)
    conv.validate()
    where: list[str] = []
    args: list[object] = []
    if keyword:
        # Upstream filters the joined rows: a classification whose title does not match
        # keeps only its matching names, and limit/offset count what is left.
        where.append("(c.title LIKE ? OR n.name LIKE ?)")
        args.extend([f"%{keyword}%", f"%{keyword}%"])
    if levels:
        where.append(f"c.type IN ({placeholders(levels)})")
        args.extend(levels)
    if classifiers:
        if "*" in classifiers:
            where.append("c.id IN (SELECT classification_id FROM classifier_outputs)")
        else:
            where.append(f"c.id IN (SELECT classification_id FROM classifier_outputs WHERE "
                         f"classifier_id IN ({placeholders(classifiers)}))")
            args.extend(classifiers)
    sql_where = ("WHERE " + " AND ".join(where)) if where else ""
    # limit/offset count classification x alternative-name rows, exactly like upstream.
    rows = app.store.query(
        f"SELECT c.id, c.value, c.title, c.image, c.type, n.name AS alt_name, n.language_id "
        f"FROM classifications c LEFT JOIN classification_alternative_names n "
        f"ON n.classification_id = c.id {sql_where} ORDER BY {_classification_order(app)}"
        f"{limit_sql(limit, offset, 'Failed searching for classifications')}", args)
    # Rows of one classification join into one item wherever they fall in the page.
    items: dict[int, dict[str, Any]] = {}
    for r in rows:
        item = items.setdefault(r["id"], {"value": r["value"], "title": r["title"],
                                          "image": r["image"], "type": {"value": r["type"]},
                                          "alternative_names": []})
        if r["alt_name"] is not None:
            item["alternative_names"].append({"name": r["alt_name"],
                                              "language_id": r["language_id"]})
    return json_response(list(items.values()))


def _classification_order(app: App) -> str:
    # The platform orders by title and name rank only; in "id" mode ties go by id.
    if app.tie_order != "random":
        return "c.title ASC, c.id ASC, n.rank ASC, n.id ASC"
    return f"c.title ASC, n.rank ASC, {app.tie_break('c.id')}, {app.tie_break('n.id')}"


def get_classification(app: App, req: Request) -> Response:
    """``GET /classifications/{value}``: one classification by value or id."""
    key = req.params["value"]
    rows = app.store.query("SELECT * FROM classifications WHERE value = ? OR CAST(id AS TEXT) = ?",
                           (key, key))
    if not rows:
        raise HTTPError(404, "Classification with given value not found.")
    r = rows[0]
    names = app.store.query("SELECT name, language_id FROM classification_alternative_names "
                            "WHERE classification_id = ? ORDER BY rank, id", (r["id"],))
    refs = app.store.query("SELECT stream_id, start, \"end\", frequency_min, frequency_max "
                           "FROM annotations WHERE classification_id = ? ORDER BY start LIMIT 0",
                           (r["id"],))
    return json_response({"id": r["id"], "value": r["value"], "title": r["title"],
                          "image": r["image"], "description": r["description"],
                          "frequency_min": r["frequency_min"], "frequency_max": r["frequency_max"],
                          "type": {"value": r["type"]},
                          "alternative_names": [dict(n) for n in names],
                          "reference_annotations": [dict(x) for x in refs]})
