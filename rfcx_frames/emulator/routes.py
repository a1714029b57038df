"""Core API routes: projects, streams and segments (labels live in :mod:`.routes_labels`).

Each handler follows the contract (``shared/api_contract.md`` §3-§5): parameter names and
defaults, validation messages, interval semantics, ordering, ``Total-Items`` headers and
response shapes. Ties in the platform's ``ORDER BY start`` are broken by id here (or shuffled
per query with ``tie_order="random"``, as the platform's database may), see docs/emulator.md.
"""

from __future__ import annotations

import re
import sqlite3
import time
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
SEGMENT_FIELDS = ("id", "start", "end", "path", "sample_count", "stream_id",
                  "stream_source_file_id", "file_extension_id", "availability", "created_at",
                  "updated_at")
def column_value(column: str, value: Any) -> Any:
    """A database value as the platform renders it (booleans, ISO times).

    Examples
    --------
    >>> column_value("is_public", 1), column_value("start", 0)
    (True, '1970-01-01T00:00:00.000Z')
    """
    if column in BOOL_COLUMNS and value is not None:
        return bool(value)
    if column in TIME_COLUMNS and isinstance(value, int):
        return iso(value)
    return value


def leading_int(text: str) -> int:
    """The integer at the start of ``text``, like JavaScript's ``parseInt`` (0 if none).

    Examples
    --------
    >>> leading_int("12abc")
    12
    """
    m = re.match(r"\s*([+-]?\d+)", text)
    return int(m.group(1)) if m else 0


def placeholders(values: Sequence[object]) -> str:
    """SQL ``?`` placeholders for ``values`` (``NULL`` for none, so ``IN ()`` stays valid).

    Examples
    --------
    >>> placeholders([1, 2]), placeholders([])
    ('?,?', 'NULL')
    """
    return ",".join("?" * len(values)) or "NULL"


def order_clause(sort: str | None, allowed: Sequence[str], default: str, failure: str) -> str:
    """The SQL ``ORDER BY`` terms of a platform ``sort`` (``a,-b``), ties broken by id.

    An unknown column is the route's 500 with the ``failure`` message, as SQL fails upstream.

    Examples
    --------
    >>> order_clause("-name", ["name"], "name", "Failed getting items")
    '"name" DESC, id ASC'
    """
    terms = []
    for raw in (sort or default).split(","):
        term = raw.strip()
        if not term:
            continue
        desc = term.startswith("-")
        column = term.lstrip("+-")
        if column not in allowed:
            # The platform passes unknown sort columns to SQL and fails with its route's 500.
            raise HTTPError(500, failure)
        terms.append(f'"{column}" {"DESC" if desc else "ASC"}')
    return ", ".join([*terms, "id ASC"])


def _user_object(app: App, user_id: int) -> dict[str, Any] | None:
    rows = app.store.query("SELECT firstname, lastname, email, picture FROM users WHERE id = ?",
                           (user_id,))
    return dict(rows[0]) if rows else None


def page_params(conv: Converter, default_limit: int | None) -> tuple[int | None, int]:
    """``(limit, offset)`` from a query, with the route's default limit.

    Examples
    --------
    >>> page_params(Converter({"offset": ["5"]}), 100)
    (100, 5)
    """
    limit = conv.integer("limit", default=default_limit)
    offset = conv.integer("offset", default=0) or 0
    return limit, offset


def limit_sql(limit: int | None, offset: int) -> str:
    """The ``LIMIT``/``OFFSET`` clause; none at all when both are unset (every row).

    Examples
    --------
    >>> limit_sql(None, 0), limit_sql(10, 20)
    ('', ' LIMIT 10 OFFSET 20')
    """
    if limit is None and not offset:
        return ""
    return f" LIMIT {int(limit) if limit is not None else -1} OFFSET {int(offset)}"


def paged_total(limit: int | None, offset: int, count: int, returned: int) -> int:
    """The ``Total-Items`` the platform's ``pagedQuery`` reports.

    With ``limit`` and ``offset`` both falsy it runs a plain ``findAll`` and counts the rows
    it returned (so ``limit=0`` says 0); otherwise ``findAndCountAll``'s true ``count``.

    Examples
    --------
    >>> paged_total(0, 0, count=42, returned=0), paged_total(10, 0, count=42, returned=10)
    (0, 42)
    """
    return count if limit or offset else returned


# ---------------------------------------------------------------------------------------
# projects


def _project_object(app: App, row: dict[str, Any], fields: list[str] | None,
                    permissions: str = "") -> dict[str, Any]:
    wanted = fields or list(PROJECT_LITE)
    out = {c: column_value(c, row[c]) for c in wanted if c in PROJECT_COLUMNS}
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
    """``GET /projects``: readable projects, ``Total-Items``, default sort ``-updated_at``."""
    conv = Converter(req.query)
    keyword = conv.string("keyword")
    created_by = conv.string("created_by")
    only_public = conv.boolean("only_public", default=False)
    only_deleted = conv.boolean("only_deleted", default=False)
    limit, offset = page_params(conv, 100)
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
        where.append(f"id IN ({placeholders(ids)})")
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
    order = order_clause(sort, PROJECT_COLUMNS, "-updated_at", "Failed getting projects")
    rows = app.store.query(f"SELECT * FROM projects WHERE {sql_where} ORDER BY {order}"
                           f"{limit_sql(limit, offset)}", args)
    body = [_project_object(app, dict(r), fields, "CRUD") for r in rows]
    total = paged_total(limit, offset, total, len(rows))
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
    """``GET /projects/{id}``: one project (public ones readable by anyone signed in)."""
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
                    project = {c: column_value(c, rows[0][c]) for c in PROJECT_LITE}
            out["project"] = project
        elif column in row and column not in ("codec", "deleted_at"):
            out[column] = column_value(column, row[column])
    return out


def list_streams(app: App, req: Request) -> Response:
    """``GET /streams``: the caller's streams (or ``only_public``), full shape, ``Total-Items``."""
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
    limit, offset = page_params(conv, 100)
    sort = conv.string("sort")
    fields = conv.array("fields")
    conv.validate()
    user = req.user
    assert user is not None
    where: list[str] = ["deleted_at IS NOT NULL" if only_deleted else "deleted_at IS NULL"]
    args: list[object] = []
    if only_public:
        ids = sorted(access.public_stream_ids(app.store))
        where.append(f"id IN ({placeholders(ids)})")
        args.extend(ids)
    elif not user.is_system:
        ids = sorted(access.accessible_stream_ids(app.store, user, permission))
        if only_deleted:
            ids = sorted(r["id"] for r in app.store.query(
                "SELECT id FROM streams WHERE created_by_id = ?", (user.id,)))
        where.append(f"id IN ({placeholders(ids)})")
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
        where.append(f"project_id IN ({placeholders(projects)})")
        args.extend(projects)
    if organizations:
        where.append(f"project_id IN (SELECT id FROM projects WHERE organization_id IN "
                     f"({placeholders(organizations)}))")
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
    order = order_clause(sort, [c for c in STREAM_FULL if c not in ("created_by", "project")],
                          "-updated_at", "Failed getting streams")
    rows = app.store.query(f"SELECT * FROM streams WHERE {sql_where} ORDER BY {order}"
                           f"{limit_sql(limit, offset)}", args)
    body = [stream_object(app, dict(r), fields) for r in rows]
    total = paged_total(limit, offset, total, len(rows))
    return json_response(body, headers=[("Total-Items", str(total))])


def get_stream(app: App, req: Request) -> Response:
    """``GET /streams/{id}``: one stream; 404 if missing, 403 if not readable."""
    assert req.user is not None
    row = access.require_stream(app.store, req.user, req.params["id"])
    return json_response(stream_object(app, row, Converter(req.query).array("fields")))


def stream_permissions(app: App, req: Request) -> Response:
    """``GET /streams/{id}/permissions``: the caller's letters among C, R, U, D."""
    assert req.user is not None
    access.require_stream(app.store, req.user, req.params["id"], missing=access.NO_SUCH_STREAM,
                          forbidden=access.NO_PERMISSION)
    return json_response(list(access.stream_permissions(app.store, req.user, req.params["id"])))


# ---------------------------------------------------------------------------------------
# segments


def list_segments(app: App, req: Request) -> Response:
    """``GET /streams/{id}/segments``: segments with start in ``[start, end]`` (strict)."""
    conv = Converter(req.query)
    start = conv.time("start", required=True)
    end = conv.time("end", required=True)
    limit, offset = page_params(conv, None)
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
    # An omitted limit reaches Sequelize as undefined (every row); limit=0 as LIMIT 0 (none).
    rows = app.store.query(
        f'SELECT id, start, "end", file_extension FROM segments WHERE {where} '
        f'ORDER BY start ASC{limit_sql(limit, offset)}', args)
    body = [{"id": r["id"], "start": iso(r["start"]), "end": iso(r["end"]),
             "file_extension": r["file_extension"]} for r in rows]
    # The platform reads a property its DAO never sets, so the header says "undefined".
    return json_response(body, headers=[("Total-Items", "undefined")])


def _find_segment(app: App, req: Request) -> dict[str, Any]:
    """The segment, looked up before any stream check, as the platform's segment DAO does.

    An unknown stream is therefore ``Segment not found``; an unreadable one the default 403.
    """
    assert req.user is not None
    stream_id = req.params["id"]
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
    access.require_stream(app.store, req.user, stream_id)
    return dict(rows[0])


def get_segment(app: App, req: Request) -> Response:
    """``GET /streams/{id}/segments/{start}``: one segment by its exact start."""
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
            out[f] = column_value(f, seg[f])
    return json_response(out)


def segment_path(seg: dict[str, Any]) -> str:
    """The storage folder of a segment, ``YYYY/MM/DD/<stream>``."""
    day = (iso(seg["start"]) or "")[:10].replace("-", "/")
    return f"{day}/{seg['stream_id']}"


def segment_file(app: App, req: Request) -> Response:
    """``GET /streams/{id}/segments/{start}/file``: 302 to the stored file's signed URL."""
    seg = _find_segment(app, req)
    path = f"/_blobs/{segment_path(seg)}/{seg['id']}{seg['file_extension']}"
    url = app.presign(req.base_url, path)
    resp = text_response(f"Found. Redirecting to {url}", status=302)
    return resp.header("Location", url).header("Vary", "Accept")


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
    from . import routes_labels as labels

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
    r.add("GET", "/detections", bind(labels.list_detections))
    r.add("GET", "/annotations", bind(labels.list_annotations))
    r.add("GET", "/classifications", bind(labels.list_classifications))
    r.add("GET", "/classifications/{value}", bind(labels.get_classification))
    r.add("GET", "/classifiers", bind(labels.list_classifiers))
    r.add("POST", "/classifiers", bind(labels.create_classifier))
    r.add("GET", "/classifiers/{id}", bind(labels.get_classifier))
