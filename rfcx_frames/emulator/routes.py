"""Core API routes: projects, streams, segments, detections, annotations, classifications.

Each handler follows the contract (``shared/api_contract.md`` §3-§5): parameter names and
defaults, validation messages, interval semantics, ordering, ``Total-Items`` headers and
response shapes. Ties in the platform's ``ORDER BY start`` are broken by id here, so offset
pagination over the emulator is stable (documented in docs/emulator.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from . import access
from .http import HTTPError, Request, Response, Router, json_response, text_response
from .params import Converter, iso, parse_time
from .server import App

USER_FIELDS = ("firstname", "lastname", "email", "picture")
PROJECT_LITE = ("id", "name", "is_public", "external_id")
PROJECT_COLUMNS = ("id", "name", "is_public", "created_by_id", "organization_id", "external_id",
                   "is_partner", "created_at", "updated_at", "min_latitude", "min_longitude",
                   "max_latitude", "max_longitude", "preferred_platform")
STREAM_FULL = ("id", "name", "description", "start", "end", "project_id", "is_public", "hidden",
               "latitude", "longitude", "altitude", "timezone", "timezone_locked",
               "max_sample_rate", "external_id", "created_by_id", "country_code", "created_at",
               "updated_at", "created_by", "project")
STREAM_LITE = ("id", "name", "start", "end", "latitude", "longitude", "altitude", "is_public",
               "hidden")
BOOL_COLUMNS = {"is_public", "hidden", "timezone_locked", "is_partner"}
TIME_COLUMNS = {"start", "end", "created_at", "updated_at", "last_executed_at"}
DETECTION_FIELDS = ("id", "stream_id", "classifier_id", "classification_id", "classifier_job_id",
                    "start", "end", "confidence", "review_status")
DETECTION_DEFAULT = ("id", "stream_id", "start", "end", "confidence")
REVIEW_STATUSES = {"unreviewed": None, "rejected": -1, "uncertain": 0, "confirmed": 1}
LEVELS = ("section", "kingdom", "phylum", "class", "order", "family", "genus", "species",
          "subspecies", "characteristic")
SEGMENT_FIELDS = ("id", "start", "end", "path", "sample_count", "stream_id",
                  "stream_source_file_id", "file_extension_id", "availability", "created_at",
                  "updated_at")
CLASSIFICATION_VALUE = re.compile(
    r"^([a-zA-Z\d_]+)?(?::([a-zA-Z\d_]+))?(?::((?:0(?:\.\d{1,2})?|1(?:\.0{1,2})?)))?$")


def _value(column: str, value: Any) -> Any:
    if column in BOOL_COLUMNS and value is not None:
        return bool(value)
    if column in TIME_COLUMNS and isinstance(value, int):
        return iso(value)
    return value


def _leading_int(text: str) -> int:
    m = re.match(r"\s*([+-]?\d+)", text)
    return int(m.group(1)) if m else 0


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values)) or "NULL"


def _order_clause(sort: str | None, allowed: Sequence[str], default: str) -> str:
    terms = []
    for raw in (sort or default).split(","):
        term = raw.strip()
        if not term:
            continue
        desc = term.startswith("-")
        column = term.lstrip("+-")
        if column not in allowed:
            # The platform passes unknown sort columns to SQL and fails with a 500.
            raise HTTPError(500, "Failed getting items")
        terms.append(f'"{column}" {"DESC" if desc else "ASC"}')
    return ", ".join([*terms, "id ASC"])


def _user_object(app: App, user_id: int) -> dict[str, Any] | None:
    rows = app.store.query("SELECT firstname, lastname, email, picture FROM users WHERE id = ?",
                           (user_id,))
    return dict(rows[0]) if rows else None


def _page(conv: Converter, default_limit: int | None) -> tuple[int | None, int]:
    limit = conv.integer("limit", default=default_limit)
    offset = conv.integer("offset", default=0) or 0
    return limit, offset


def _limit_sql(limit: int | None, offset: int) -> str:
    if limit is None and not offset:
        return ""
    return f" LIMIT {int(limit) if limit is not None else -1} OFFSET {int(offset)}"


# ---------------------------------------------------------------------------------------
# projects


def _project_object(app: App, row: dict[str, Any], fields: list[str] | None,
                    permissions: str = "") -> dict[str, Any]:
    wanted = fields or list(PROJECT_LITE)
    out = {c: _value(c, row[c]) for c in wanted if c in PROJECT_COLUMNS}
    if fields and "created_by" in fields:
        out["created_by"] = _user_object(app, row["created_by_id"])
    if fields and "organization" in fields:
        org = app.store.query("SELECT id, name, is_public FROM organizations WHERE id = ?",
                              (row["organization_id"],))
        out["organization"] = ({"id": org[0]["id"], "name": org[0]["name"],
                                "is_public": bool(org[0]["is_public"])} if org else None)
    if fields and "permissions" in fields:
        out["permissions"] = list(permissions)
    return out


def list_projects(app: App, req: Request) -> Response:
    conv = Converter(req.query)
    keyword = conv.string("keyword")
    created_by = conv.string("created_by")
    only_public = conv.boolean("only_public", default=False)
    only_deleted = conv.boolean("only_deleted", default=False)
    limit, offset = _page(conv, 100)
    sort = conv.string("sort")
    fields = conv.array("fields")
    conv.validate()
    assert req.user is not None
    where: list[str] = []
    args: list[object] = []
    where.append("deleted_at IS NOT NULL" if only_deleted else "deleted_at IS NULL")
    if only_public:
        where.append("is_public = 1")
    elif not req.user.is_system:
        ids = sorted(_project_ids_any(app, req.user.id))
        where.append(f"id IN ({_marks(ids)})")
        args.extend(ids)
    if keyword:
        where.append("name LIKE ?")
        args.append(f"%{keyword}%")
    if created_by:
        owner = req.user.id if created_by == "me" else _user_id_for_guid(app, created_by)
        where.append("created_by_id = ?")
        args.append(owner if owner is not None else -1)
    sql_where = " AND ".join(where)
    total = app.store.query(f"SELECT count(*) AS n FROM projects WHERE {sql_where}", args)[0]["n"]
    order = _order_clause(sort, PROJECT_COLUMNS, "-updated_at")
    rows = app.store.query(f"SELECT * FROM projects WHERE {sql_where} ORDER BY {order}"
                           f"{_limit_sql(limit, offset)}", args)
    body = [_project_object(app, dict(r), fields, "CRUD") for r in rows]
    return json_response(body, headers=[("Total-Items", str(total))])


def _project_ids_any(app: App, user_id: int) -> set[str]:
    # Deleted projects stay visible to their members for only_deleted queries.
    rows = app.store.query(
        "SELECT id FROM projects WHERE created_by_id = ? OR id IN "
        "(SELECT project_id FROM project_roles WHERE user_id = ?)", (user_id, user_id))
    return {r["id"] for r in rows}


def _user_id_for_guid(app: App, guid: str) -> int | None:
    rows = app.store.query("SELECT id FROM users WHERE guid = ?", (guid,))
    return int(rows[0]["id"]) if rows else None


def get_project(app: App, req: Request) -> Response:
    assert req.user is not None
    rows = app.store.query("SELECT * FROM projects WHERE id = ? AND deleted_at IS NULL",
                           (req.params["id"],))
    if not rows:
        raise HTTPError(404, "Project not found")
    row = dict(rows[0])
    readable = req.user.is_system or row["id"] in _project_ids_any(app, req.user.id)
    if not readable and not row["is_public"]:
        raise HTTPError(403, "Not authorized to access this resource")
    fields = Converter(req.query).array("fields") or [*PROJECT_COLUMNS, "created_by",
                                                      "organization"]
    return json_response(_project_object(app, row, fields))


# ---------------------------------------------------------------------------------------
# streams


def stream_object(app: App, row: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """A stream as the platform renders it (full shape when ``fields`` is empty)."""
    wanted = list(fields) if fields else list(STREAM_FULL)
    out: dict[str, Any] = {}
    for column in wanted:
        if column == "created_by":
            out["created_by"] = _user_object(app, row["created_by_id"])
        elif column == "project":
            project = None
            if row["project_id"]:
                rows = app.store.query("SELECT * FROM projects WHERE id = ?", (row["project_id"],))
                if rows:
                    project = {c: _value(c, rows[0][c]) for c in PROJECT_LITE}
            out["project"] = project
        elif column in row and column not in ("codec", "deleted_at"):
            out[column] = _value(column, row[column])
    return out


def list_streams(app: App, req: Request) -> Response:
    conv = Converter(req.query)
    name = conv.string("name")
    keyword = conv.string("keyword")
    projects = conv.array("projects")
    organizations = conv.array("organizations")
    start = conv.time("start")
    end = conv.time("end")
    updated_after = conv.time("updated_after")
    created_by = conv.string("created_by")
    only_public = conv.boolean("only_public", default=False)
    only_deleted = conv.boolean("only_deleted", default=False)
    permission = conv.one_of("permission", ("C", "R", "U", "D"), default="R") or "R"
    hidden = conv.boolean("hidden")
    limit, offset = _page(conv, 100)
    sort = conv.string("sort")
    fields = conv.array("fields")
    conv.validate()
    user = req.user
    assert user is not None
    where: list[str] = ["deleted_at IS NOT NULL" if only_deleted else "deleted_at IS NULL"]
    args: list[object] = []
    if only_public:
        ids = sorted(access.public_stream_ids(app.store))
        where.append(f"id IN ({_marks(ids)})")
        args.extend(ids)
    elif not user.is_system:
        ids = sorted(access.accessible_stream_ids(app.store, user, permission))
        if only_deleted:
            ids = sorted(r["id"] for r in app.store.query(
                "SELECT id FROM streams WHERE created_by_id = ?", (user.id,)))
        where.append(f"id IN ({_marks(ids)})")
        args.extend(ids)
    if name:
        pattern = re.sub(r"([_%\\])", r"\\\1", name)
        if pattern.startswith("*"):
            pattern = "%" + pattern[1:]
        if pattern.endswith("*"):
            pattern = pattern[:-1] + "%"
        where.append("lower(name) LIKE lower(?) ESCAPE '\\'")
        args.append(pattern)
    if keyword:
        where.append("name LIKE ?")
        args.append(f"%{keyword}%")
    if projects:
        where.append(f"project_id IN ({_marks(projects)})")
        args.extend(projects)
    if organizations:
        where.append(f"project_id IN (SELECT id FROM projects WHERE organization_id IN "
                     f"({_marks(organizations)}))")
        args.extend(organizations)
    if start is not None:
        where.append('start >= ?')
        args.append(start)
    if end is not None:
        where.append('"end" < ?')
        args.append(end)
    if updated_after is not None:
        where.append("updated_at > ?")
        args.append(updated_after)
    if created_by:
        owner = user.id if created_by == "me" else _user_id_for_guid(app, created_by)
        where.append("created_by_id = ?")
        args.append(owner if owner is not None else -1)
    if hidden is not None:
        where.append("hidden = ?")
        args.append(int(hidden))
    sql_where = " AND ".join(where)
    total = app.store.query(f"SELECT count(*) AS n FROM streams WHERE {sql_where}", args)[0]["n"]
    order = _order_clause(sort, [c for c in STREAM_FULL if c not in ("created_by", "project")],
                          "-updated_at")
    rows = app.store.query(f"SELECT * FROM streams WHERE {sql_where} ORDER BY {order}"
                           f"{_limit_sql(limit, offset)}", args)
    body = [stream_object(app, dict(r), fields) for r in rows]
    return json_response(body, headers=[("Total-Items", str(total))])


def get_stream(app: App, req: Request) -> Response:
    assert req.user is not None
    row = access.require_stream(app.store, req.user, req.params["id"])
    return json_response(stream_object(app, row, Converter(req.query).array("fields")))


def stream_permissions(app: App, req: Request) -> Response:
    assert req.user is not None
    access.require_stream(app.store, req.user, req.params["id"])
    return json_response(list(access.stream_permissions(app.store, req.user, req.params["id"])))


# ---------------------------------------------------------------------------------------
# segments


def list_segments(app: App, req: Request) -> Response:
    conv = Converter(req.query)
    start = conv.time("start", required=True)
    end = conv.time("end", required=True)
    limit, offset = _page(conv, None)
    strict = conv.boolean("strict", default=True)
    conv.validate()
    assert req.user is not None and start is not None and end is not None
    if end < start:
        raise HTTPError(400, '"end" attribute cannot be less than "start" attribute')
    stream_id = req.params["id"]
    access.require_stream(app.store, req.user, stream_id)
    if strict:
        where = 'stream_id = ? AND start BETWEEN ? AND ?'
        args: list[object] = [stream_id, start, end]
    else:
        where = 'stream_id = ? AND start < ? AND "end" > ?'
        args = [stream_id, end, start]
    # pagedQuery applies no LIMIT when limit and offset are both falsy (limit=0 = every row).
    rows = app.store.query(
        f'SELECT id, start, "end", file_extension FROM segments WHERE {where} '
        f'ORDER BY start ASC{_limit_sql(limit or None, offset)}', args)
    body = [{"id": r["id"], "start": iso(r["start"]), "end": iso(r["end"]),
             "file_extension": r["file_extension"]} for r in rows]
    # The platform reads a property its DAO never sets, so the header says "undefined".
    return json_response(body, headers=[("Total-Items", "undefined")])


def _find_segment(app: App, req: Request) -> dict[str, Any]:
    assert req.user is not None
    stream_id = req.params["id"]
    access.require_stream(app.store, req.user, stream_id)
    at = parse_time(req.params["start"])
    if at is None:
        raise HTTPError(400, "Validation errors: Parameter 'start' should be an ISO8601 "
                             "timestamp or an UNIX epoch (ms).")
    strict = Converter(req.query).boolean("strict", default=True)
    if strict:
        rows = app.store.query("SELECT * FROM segments WHERE stream_id = ? AND start = ?",
                               (stream_id, at))
    else:
        rows = app.store.query('SELECT * FROM segments WHERE stream_id = ? AND start <= ? AND '
                               '"end" > ? ORDER BY start DESC LIMIT 1', (stream_id, at, at))
    if not rows:
        raise HTTPError(404, "Segment not found")
    return dict(rows[0])


def get_segment(app: App, req: Request) -> Response:
    seg = _find_segment(app, req)
    fields = Converter(req.query).array("fields")
    ssf_rows = app.store.query("SELECT id, filename, duration, sample_rate FROM "
                               "stream_source_files WHERE id = ?", (seg["stream_source_file_id"],))
    ssf = dict(ssf_rows[0]) if ssf_rows else None
    if not fields:
        return json_response({"id": seg["id"], "start": iso(seg["start"]),
                              "end": iso(seg["end"]), "stream_source_file": ssf,
                              "file_extension": seg["file_extension"]})
    out: dict[str, Any] = {}
    for f in fields:
        if f == "path":
            out["path"] = segment_path(seg)
        elif f == "file_extension_id":
            out["file_extension_id"] = {".flac": 1, ".opus": 2, ".wav": 3}.get(
                seg["file_extension"], 0)
        elif f == "stream_source_file":
            out["stream_source_file"] = ssf
        elif f == "file_extension":
            out["file_extension"] = seg["file_extension"]
        elif f in SEGMENT_FIELDS:
            out[f] = _value(f, seg[f])
    return json_response(out)


def segment_path(seg: dict[str, Any]) -> str:
    """The storage folder of a segment, ``YYYY/MM/DD/<stream>``."""
    day = (iso(seg["start"]) or "")[:10].replace("-", "/")
    return f"{day}/{seg['stream_id']}"


def segment_file(app: App, req: Request) -> Response:
    seg = _find_segment(app, req)
    path = f"/_blobs/{segment_path(seg)}/{seg['id']}{seg['file_extension']}"
    url = app.presign(req.base_url, path)
    resp = text_response(f"Found. Redirecting to {url}", status=302)
    return resp.header("Location", url).header("Vary", "Accept")


# ---------------------------------------------------------------------------------------
# detections


def _classification_ids(app: App, values: list[str]) -> list[int]:
    rows = app.store.query(f"SELECT id FROM classifications WHERE value IN ({_marks(values)})",
                           values)
    return [int(r["id"]) for r in rows]


def list_detections(app: App, req: Request) -> Response:
    conv = Converter(req.query)
    start = conv.time("start", required=True)
    end = conv.time("end", required=True)
    streams = conv.array("streams")
    projects = conv.array("projects")
    classifications = conv.array("classifications")
    classifiers = conv.array("classifiers", integers=True)
    classifier_jobs = conv.array("classifier_jobs", integers=True)
    review_statuses = conv.array("review_statuses", allowed=tuple(REVIEW_STATUSES))
    min_confidence = conv.float("min_confidence", default=0.95)
    limit = conv.integer("limit", maximum=1000)
    offset = conv.integer("offset", default=0) or 0
    descending = conv.boolean("descending", default=False)
    fields = conv.array("fields")
    conv.validate()
    user = req.user
    assert user is not None and start is not None and end is not None
    where = ["d.start >= ?", "d.start < ?"]
    args: list[object] = [start, end]
    if not user.is_system:
        readable = access.accessible_stream_ids(app.store, user)
        if streams is not None:
            # Requested streams the caller cannot read are dropped silently, as upstream.
            allowed = readable | access.public_stream_ids(app.store)
            ids = sorted(s for s in streams if s in allowed)
        else:
            ids = sorted(readable)
        where.append(f"d.stream_id IN ({_marks(ids)})")
        args.extend(ids)
    elif streams is not None:
        where.append(f"d.stream_id IN ({_marks(streams)})")
        args.extend(streams)
    if projects is not None:
        where.append(f"d.stream_id IN (SELECT id FROM streams WHERE project_id IN "
                     f"({_marks(projects)}))")
        args.extend(projects)
    if classifications is not None:
        ids_c = _classification_ids(app, classifications)
        where.append(f"d.classification_id IN ({_marks(ids_c)})")
        args.extend(ids_c)
    if classifiers is not None:
        where.append(f"d.classifier_id IN ({_marks(classifiers)})")
        args.extend(_leading_int(c) for c in classifiers)
    if classifier_jobs is not None:
        where.append(f"d.classifier_job_id IN ({_marks(classifier_jobs)})")
        args.extend(_leading_int(c) for c in classifier_jobs)
    if review_statuses is not None:
        parts = []
        codes = [REVIEW_STATUSES[s] for s in review_statuses]
        if None in codes:
            parts.append("d.review_status IS NULL")
        numeric = [c for c in codes if c is not None]
        if numeric:
            parts.append(f"d.review_status IN ({_marks(numeric)})")
            args.extend(numeric)
        where.append("(" + " OR ".join(parts) + ")")
    if min_confidence is not None:
        where.append("d.confidence >= ?")
        args.append(min_confidence)
    direction = "DESC" if descending else "ASC"
    sql = (f'SELECT d.*, c.value AS c_value, c.title AS c_title, c.image AS c_image '
           f'FROM detections d JOIN classifications c ON c.id = d.classification_id '
           f'WHERE {" AND ".join(where)} ORDER BY d.start {direction}, d.id {direction}'
           f'{_limit_sql(limit, offset)}')
    rows = app.store.query(sql, args)
    wanted = [f for f in (fields or DETECTION_DEFAULT) if f in DETECTION_FIELDS]
    want_stream = bool(fields and "stream" in fields)
    want_classifier = bool(fields and "classifier" in fields)
    body = []
    for r in rows:
        item: dict[str, Any] = {}
        for f in wanted:
            value = r[f]
            item[f] = str(value) if f == "id" else _value(f, value)
        if want_stream:
            srow = app.store.query("SELECT * FROM streams WHERE id = ?", (r["stream_id"],))
            item["stream"] = {c: _value(c, srow[0][c]) for c in STREAM_LITE} if srow else None
        if want_classifier:
            crow = app.store.query("SELECT id, name, version, last_executed_at FROM classifiers "
                                   "WHERE id = ?", (r["classifier_id"],))
            item["classifier"] = ({c: _value(c, crow[0][c]) for c in crow[0].keys()}  # noqa: SIM118
                                  if crow else None)
        item["classification"] = {"value": r["c_value"], "title": r["c_title"],
                                  "image": r["c_image"]}
        body.append(item)
    return json_response(body)


# ---------------------------------------------------------------------------------------
# annotations


def list_annotations(app: App, req: Request) -> Response:
    conv = Converter(req.query)
    start = conv.time("start", required=True)
    end = conv.time("end", required=True)
    stream_id = conv.string("stream_id")
    classifications = conv.array("classifications")
    limit, offset = _page(conv, None)
    conv.validate()
    user = req.user
    assert user is not None and start is not None and end is not None
    where = ["a.start >= ?", "a.start < ?"]
    args: list[object] = [start, end]
    if stream_id:
        access.require_stream(app.store, user, stream_id,
                              forbidden="You do not have permission to access this stream.")
        where.append("a.stream_id = ?")
        args.append(stream_id)
    elif not user.is_system:
        ids = sorted(access.accessible_stream_ids(app.store, user))
        where.append(f"a.stream_id IN ({_marks(ids)})")
        args.extend(ids)
    if classifications is not None:
        ids_c = _classification_ids(app, classifications)
        where.append(f"a.classification_id IN ({_marks(ids_c)})")
        args.extend(ids_c)
    rows = app.store.query(
        f'SELECT a.*, c.value AS c_value, c.title AS c_title, c.image AS c_image '
        f'FROM annotations a JOIN classifications c ON c.id = a.classification_id '
        f'WHERE {" AND ".join(where)} ORDER BY a.start ASC, a.id ASC{_limit_sql(limit, offset)}',
        args)
    body = [{"id": r["id"], "stream_id": r["stream_id"], "start": iso(r["start"]),
             "end": iso(r["end"]), "frequency_min": r["frequency_min"],
             "frequency_max": r["frequency_max"],
             "classification": {"value": r["c_value"], "title": r["c_title"],
                                "image": r["c_image"]}} for r in rows]
    return json_response(body)


# ---------------------------------------------------------------------------------------
# classifications and classifiers


def list_classifications(app: App, req: Request) -> Response:
    conv = Converter(req.query)
    keyword = conv.string("keyword")
    levels = conv.array("levels")
    classifiers = conv.array("classifiers")
    limit, offset = _page(conv, 100)
    conv.validate()
    where: list[str] = []
    args: list[object] = []
    if keyword:
        where.append("(c.title LIKE ? OR c.id IN (SELECT classification_id FROM "
                     "classification_alternative_names WHERE name LIKE ?))")
        args.extend([f"%{keyword}%", f"%{keyword}%"])
    if levels:
        where.append(f"c.type IN ({_marks(levels)})")
        args.extend(levels)
    if classifiers:
        if "*" in classifiers:
            where.append("c.id IN (SELECT classification_id FROM classifier_outputs)")
        else:
            where.append(f"c.id IN (SELECT classification_id FROM classifier_outputs WHERE "
                         f"classifier_id IN ({_marks(classifiers)}))")
            args.extend(classifiers)
    sql_where = ("WHERE " + " AND ".join(where)) if where else ""
    # limit/offset count classification x alternative-name rows, exactly like upstream.
    rows = app.store.query(
        f"SELECT c.id, c.value, c.title, c.image, c.type, n.name AS alt_name, n.language_id "
        f"FROM classifications c LEFT JOIN classification_alternative_names n "
        f"ON n.classification_id = c.id {sql_where} ORDER BY c.title ASC, c.id ASC, n.rank ASC, "
        f"n.id ASC{_limit_sql(limit, offset)}", args)
    body: list[dict[str, Any]] = []
    for r in rows:
        if not body or body[-1]["_id"] != r["id"]:
            body.append({"_id": r["id"], "value": r["value"], "title": r["title"],
                         "image": r["image"], "type": {"value": r["type"]},
                         "alternative_names": []})
        if r["alt_name"] is not None:
            body[-1]["alternative_names"].append({"name": r["alt_name"],
                                                  "language_id": r["language_id"]})
    for item in body:
        del item["_id"]
    return json_response(body)


def get_classification(app: App, req: Request) -> Response:
    key = req.params["value"]
    rows = app.store.query("SELECT * FROM classifications WHERE value = ? OR CAST(id AS TEXT) = ?",
                           (key, key))
    if not rows:
        raise HTTPError(404, "Classification not found")
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


def create_classifier(app: App, req: Request) -> Response:
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
            folder = app.store.data_dir / "classifiers"
            folder.mkdir(exist_ok=True)
            target_path = folder / f"{classifier_id}.tar.gz"
            target_path.write_bytes(files[0].data)
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
    return resp.header("Location", f"/classifiers/{classifier_id}")


def get_classifier(app: App, req: Request) -> Response:
    rows = app.store.query("SELECT * FROM classifiers WHERE id = ?", (req.params["id"],))
    if not rows:
        raise HTTPError(404, "Classifier not found")
    r = dict(rows[0])
    outputs = app.store.query(
        "SELECT c.value AS classification_value, o.output_class_name, o.ignore_threshold "
        "FROM classifier_outputs o JOIN classifications c ON c.id = o.classification_id "
        "WHERE o.classifier_id = ?", (r["id"],))
    return json_response({"id": r["id"], "name": r["name"], "version": r["version"],
                          "external_id": r["external_id"], "model_url": r["model_url"],
                          "model_runner": r["model_runner"],
                          "last_executed_at": iso(r["last_executed_at"]),
                          "outputs": [dict(o) for o in outputs]})


def health(app: App, req: Request) -> Response:
    return json_response({"healthy": True})


def register(app: App) -> None:
    """Add the core API routes to ``app.core``."""
    r: Router = app.core

    def bind(fn: Any) -> Any:
        return lambda req: fn(app, req)

    r.add("GET", "/health-check", bind(health))
    r.add("GET", "/projects", bind(list_projects))
    r.add("GET", "/projects/{id}", bind(get_project))
    r.add("GET", "/streams", bind(list_streams))
    r.add("GET", "/streams/{id}", bind(get_stream))
    r.add("GET", "/streams/{id}/permissions", bind(stream_permissions))
    r.add("GET", "/streams/{id}/segments", bind(list_segments))
    r.add("GET", "/streams/{id}/segments/{start}", bind(get_segment))
    r.add("GET", "/streams/{id}/segments/{start}/file", bind(segment_file))
    r.add("GET", "/detections", bind(list_detections))
    r.add("GET", "/annotations", bind(list_annotations))
    r.add("GET", "/classifications", bind(list_classifications))
    r.add("GET", "/classifications/{value}", bind(get_classification))
    r.add("POST", "/classifiers", bind(create_classifier))
    r.add("GET", "/classifiers/{id}", bind(get_classifier))
