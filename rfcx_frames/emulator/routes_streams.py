"""Core API routes of streams: list, one stream, the caller's permissions (contract §4.2).

Ties in the platform's ``ORDER BY`` are broken by id here, see docs/emulator.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from . import access
from .auth import User
from .http import Request, Response, json_response
from .listing import list_table
from .params import Converter
from .render import PROJECT_LITE, STREAM_FULL, column_value, lite_object, user_object
from .routes_projects import creator_id
from .server import App
from .sql import Where, placeholders
from .store import Store

#: Columns a stream list may sort by: its own, not the objects it embeds.
SORTABLE = tuple(c for c in STREAM_FULL if c not in ("created_by", "project"))


def stream_object(store: Store, row: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """A stream as the platform renders it (full shape when ``fields`` is empty)."""
    out: dict[str, Any] = {}
    for column in fields or STREAM_FULL:
        if column == "created_by":
            out["created_by"] = user_object(store, row["created_by_id"])
        elif column == "project":
            out["project"] = (lite_object(store, "projects", PROJECT_LITE, row["project_id"])
                              if row["project_id"] else None)
        elif column in row and column not in ("codec", "deleted_at"):
            out[column] = column_value(column, row[column])
    return out


def name_pattern(name: str) -> str:
    """The SQL ``LIKE`` pattern of a ``name`` filter: literal, with ``*`` wildcards at the ends.

    Parameters
    ----------
    name
        The ``name`` parameter (``_``, ``%`` and ``\\`` match themselves).

    Examples
    --------
    >>> name_pattern("*site_1*"), name_pattern("100%")
    ('%site\\\\_1%', '100\\\\%')
    """
    pattern = re.sub(r"([_%\\])", r"\\\1", name)
    if pattern.startswith("*"):
        pattern = "%" + pattern[1:]
    if pattern.endswith("*"):
        pattern = pattern[:-1] + "%"
    return pattern


def _listable(store: Store, user: User, conv: Converter) -> Where:
    """The conditions of the streams the caller may list: deleted or not, and whose."""
    only_public = conv.boolean("only_public", default=False)
    only_deleted = conv.boolean("only_deleted", default=False)
    permission = conv.one_of("permission", ("C", "R", "U", "D"), default="R") or "R"
    where = Where(["deleted_at IS NOT NULL" if only_deleted else "deleted_at IS NULL"])
    if only_public:
        where.within("id", sorted(access.public_stream_ids(store)))
    elif only_deleted and not user.is_system:
        rows = store.query("SELECT id FROM streams WHERE created_by_id = ?", (user.id,))
        where.within("id", sorted(r["id"] for r in rows))
    elif not user.is_system:
        where.within("id", sorted(access.accessible_stream_ids(store, user, permission)))
    return where


def _stream_filters(store: Store, user: User, conv: Converter) -> Where:
    name = conv.string("name")
    keyword = conv.string("keyword")
    projects = conv.array("projects")
    organizations = conv.array("organizations")
    start, end = conv.time("start"), conv.time("end")
    updated_after = conv.time("updated_after")
    created_by = conv.string("created_by")
    # Parameters are read in the platform's order: its validation errors list them so.
    where = _listable(store, user, conv)
    hidden = conv.boolean("hidden")
    if name:
        where.add("lower(name) LIKE lower(?) ESCAPE '\\'", name_pattern(name))
    if keyword:
        where.add("name LIKE ?", f"%{keyword}%")
    if projects:
        where.within("project_id", projects)
    if organizations:
        where.add(f"project_id IN (SELECT id FROM projects WHERE organization_id IN "
                  f"({placeholders(organizations)}))", *organizations)
    for clause, value in (("start >= ?", start), ('"end" < ?', end),
                          ("updated_at > ?", updated_after)):
        if value is not None:
            where.add(clause, value)
    if created_by:
        where.add("created_by_id = ?", creator_id(store, user, created_by))
    if hidden is not None:
        where.add("hidden = ?", int(hidden))
    return where


def list_streams(app: App, req: Request) -> Response:
    """``GET /streams``: the caller's streams (or ``only_public``), full shape, ``Total-Items``."""
    return list_table(app, req, "streams", _stream_filters, SORTABLE, "Failed getting streams",
                      lambda store, row, fields: stream_object(store, dict(row), fields))


def get_stream(app: App, req: Request) -> Response:
    """``GET /streams/{id}``: one stream; 404 if missing, 403 if not readable."""
    assert req.user is not None
    row = access.require_stream(app.store, req.user, req.params["id"])
    return json_response(stream_object(app.store, row, Converter(req.query).array("fields")))


def stream_permissions(app: App, req: Request) -> Response:
    """``GET /streams/{id}/permissions``: the caller's letters among C, R, U, D."""
    assert req.user is not None
    access.require_stream(app.store, req.user, req.params["id"], missing=access.NO_SUCH_STREAM,
                          forbidden=access.NO_PERMISSION)
    return json_response(list(access.stream_permissions(app.store, req.user, req.params["id"])))
