"""Core API routes of projects: ``GET /projects`` and ``GET /projects/{id}`` (contract §4.1).

Also who ``created_by`` names (``me`` or a user's guid), a filter streams share.
"""

from __future__ import annotations

from typing import Any

from .auth import User
from .http import HTTPError, Request, Response, json_response
from .listing import list_table
from .params import Converter
from .render import PROJECT_COLUMNS, PROJECT_LITE, column_value, user_object
from .server import App
from .sql import Where
from .store import Store


def creator_id(store: Store, user: User, created_by: str) -> int:
    """The user id a ``created_by`` filter names: ``me``, or a guid (-1 if unknown).

    Parameters
    ----------
    store
        The emulator's database.
    user
        The caller (``me``).
    created_by
        The parameter's value.

    Examples
    --------
    >>> import tempfile
    >>> from rfcx_frames.emulator.auth import User
    >>> me = User(7, "guid-7", "a@b.org", "A", "B", None, False, ())
    >>> store = Store(tempfile.mkdtemp())
    >>> creator_id(store, me, "me"), creator_id(store, me, "guid-of-nobody")
    (7, -1)
    """
    if created_by == "me":
        return user.id
    rows = store.query("SELECT id FROM users WHERE guid = ?", (created_by,))
    return int(rows[0]["id"]) if rows else -1


def _project_ids_any(store: Store, user_id: int) -> set[str]:
    # Deleted projects stay visible to their members for only_deleted queries.
    rows = store.query(
        "SELECT id FROM projects WHERE created_by_id = ? OR id IN "
        "(SELECT project_id FROM project_roles WHERE user_id = ?)", (user_id, user_id))
    return {r["id"] for r in rows}


def _organization_object(store: Store, organization_id: str | None) -> dict[str, Any] | None:
    rows = store.query("SELECT id, name, is_public FROM organizations WHERE id = ?",
                       (organization_id,))
    return ({"id": rows[0]["id"], "name": rows[0]["name"],
             "is_public": bool(rows[0]["is_public"])} if rows else None)


def _project_object(store: Store, row: Any, fields: list[str] | None,
                    permissions: str = "") -> dict[str, Any]:
    wanted = fields or list(PROJECT_LITE)
    out = {c: column_value(c, row[c]) for c in wanted if c in PROJECT_COLUMNS}
    if fields and "created_by" in fields:
        out["created_by"] = user_object(store, row["created_by_id"])
    if fields and "organization" in fields:
        out["organization"] = _organization_object(store, row["organization_id"])
    if fields and "permissions" in fields:
        out["permissions"] = list(permissions)
    return out


def _project_filters(store: Store, user: User, conv: Converter) -> Where:
    keyword = conv.string("keyword")
    created_by = conv.string("created_by")
    only_public = conv.boolean("only_public", default=False)
    only_deleted = conv.boolean("only_deleted", default=False)
    where = Where(["deleted_at IS NOT NULL" if only_deleted else "deleted_at IS NULL"])
    if only_public:
        where.add("is_public = 1")
    elif not user.is_system:
        where.within("id", sorted(_project_ids_any(store, user.id)))
    if keyword:
        where.add("name LIKE ?", f"%{keyword}%")
    if created_by:
        where.add("created_by_id = ?", creator_id(store, user, created_by))
    return where


def list_projects(app: App, req: Request) -> Response:
    """``GET /projects``: readable projects, ``Total-Items``, default sort ``-updated_at``."""
    return list_table(app, req, "projects", _project_filters, PROJECT_COLUMNS,
                      "Failed getting projects",
                      lambda store, row, fields: _project_object(store, row, fields, "CRUD"))


def get_project(app: App, req: Request) -> Response:
    """``GET /projects/{id}``: one project (public ones readable by anyone signed in)."""
    assert req.user is not None
    rows = app.store.query("SELECT * FROM projects WHERE id = ? AND deleted_at IS NULL",
                           (req.params["id"],))
    if not rows:
        raise HTTPError(404, "Project not found")
    row = rows[0]
    readable = req.user.is_system or row["id"] in _project_ids_any(app.store, req.user.id)
    if not readable and not row["is_public"]:
        raise HTTPError(403, "Not authorized to access this resource")
    fields = Converter(req.query).array("fields") or [*PROJECT_COLUMNS, "created_by",
                                                      "organization"]
    return json_response(_project_object(app.store, row, fields))
