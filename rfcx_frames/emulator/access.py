"""Who may read or change what, following the platform's roles (contract §2.2).

Roles: 1 Admin (CRUD), 2 Member (CRU), 3 Guest (R), 4 Owner (CRUD); a stream inherits the
roles of its project, and the creator of a stream or project counts as holding every
permission. ``systemUser`` and super users bypass read filters. "Public" means readable by
any signed-in user, yet public objects of others are left out of default lists.
"""

from __future__ import annotations

from .auth import User
from .http import HTTPError
from .store import Store

ROLE_PERMISSIONS = {1: "CRUD", 2: "CRU", 3: "R", 4: "CRUD"}


def _roles_with(permission: str) -> tuple[int, ...]:
    return tuple(r for r, perms in ROLE_PERMISSIONS.items() if permission in perms)


def readable_project_ids(store: Store, user: User, permission: str = "R") -> set[str]:
    """Projects (not deleted) the user created or holds a role with ``permission`` on."""
    roles = _roles_with(permission)
    marks = ",".join("?" * len(roles))
    rows = store.query(
        f"SELECT id FROM projects WHERE deleted_at IS NULL AND (created_by_id = ? OR id IN "
        f"(SELECT project_id FROM project_roles WHERE user_id = ? AND role_id IN ({marks})))",
        (user.id, user.id, *roles))
    return {r["id"] for r in rows}


def accessible_stream_ids(store: Store, user: User, permission: str = "R") -> set[str]:
    """Streams the user may act on with ``permission``, public ones of others excluded."""
    if user.is_system:
        return {r["id"] for r in store.query("SELECT id FROM streams WHERE deleted_at IS NULL")}
    return member_stream_ids(store, user, permission)


def member_stream_ids(store: Store, user: User, permission: str = "R") -> set[str]:
    """Streams the user created or holds a role on, with no system or super-user bypass.

    This is the platform's ``getAccessibleObjectsIDs``, which some routes (``/annotations``
    without ``stream_id``) use even for system users, who then see nothing of others.
    """
    roles = _roles_with(permission)
    marks = ",".join("?" * len(roles))
    projects = readable_project_ids(store, user, permission)
    pmarks = ",".join("?" * len(projects)) or "NULL"
    rows = store.query(
        f"SELECT id FROM streams WHERE deleted_at IS NULL AND (created_by_id = ? "
        f"OR id IN (SELECT stream_id FROM stream_roles WHERE user_id = ? AND role_id IN ({marks})) "
        f"OR project_id IN ({pmarks}))",
        (user.id, user.id, *roles, *projects))
    return {r["id"] for r in rows}


def public_stream_ids(store: Store) -> set[str]:
    """Streams readable by anyone signed in."""
    return {r["id"] for r in store.query(
        "SELECT s.id FROM streams s LEFT JOIN projects p ON p.id = s.project_id "
        "WHERE s.deleted_at IS NULL AND (s.is_public = 1 OR p.is_public = 1)")}


def stream_permissions(store: Store, user: User, stream_id: str) -> str:
    """The caller's permission letters on one stream ('' if none)."""
    if user.is_system:
        return "CRUD"
    letters = [p for p in "CRUD" if stream_id in accessible_stream_ids(store, user, p)]
    if "R" not in letters and stream_id in public_stream_ids(store):
        letters.append("R")
    return "".join(sorted(letters, key="CRUD".index))


# What the platform's permission middleware (``hasStreamPermission``) and roles service say,
# as opposed to the stream routes' own "Stream not found" / default 403.
NO_SUCH_STREAM = "stream with given id doesn't exist."
NO_PERMISSION = "You do not have permission to access this item."


def require_stream(store: Store, user: User, stream_id: str, permission: str = "R",
                   forbidden: str = "Not authorized to access this resource",
                   missing: str = "Stream not found") -> dict[str, object]:
    """The stream row, or the platform's 404 (``missing``) / 403 (``forbidden``)."""
    rows = store.query("SELECT * FROM streams WHERE id = ? AND deleted_at IS NULL", (stream_id,))
    if not rows:
        raise HTTPError(404, missing)
    if permission not in stream_permissions(store, user, stream_id):
        raise HTTPError(403, forbidden)
    return dict(rows[0])
