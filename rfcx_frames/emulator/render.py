"""How the platform renders stored rows: booleans, ISO times and the objects it embeds.

The routes answer with these shapes (contract §3-§4): a column's value as the platform's
JSON has it (:func:`column_value`), a row cut to some columns (:func:`pick`), and the
user, project and stream objects nested into other answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .params import iso
from .store import Store

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


def column_value(column: str, value: Any) -> Any:
    """A database value as the platform renders it (booleans, ISO times, whole numbers).

    Parameters
    ----------
    column
        The column's name: it says whether the value is a flag, a time or neither.
    value
        The stored value (times in epoch ms, flags as 0/1).

    Examples
    --------
    >>> column_value("is_public", 1), column_value("start", 0), column_value("altitude", 750.0)
    (True, '1970-01-01T00:00:00.000Z', 750)
    """
    if column in BOOL_COLUMNS and value is not None:
        return bool(value)
    if column in TIME_COLUMNS and isinstance(value, int):
        return iso(value)
    if isinstance(value, float) and value.is_integer():
        # JSON.stringify writes a whole double without a fraction: 750, not 750.0.
        return int(value)
    return value


def pick(row: Any, columns: Sequence[str]) -> dict[str, Any]:
    """The ``columns`` of ``row`` (a ``sqlite3.Row`` or a dict), rendered by :func:`column_value`.

    Parameters
    ----------
    row
        The stored row.
    columns
        The columns to keep, in the order the answer lists them.

    Examples
    --------
    >>> pick({"id": "a", "hidden": 0, "x": 1}, ("id", "hidden"))
    {'id': 'a', 'hidden': False}
    """
    return {c: column_value(c, row[c]) for c in columns}


def user_object(store: Store, user_id: int) -> dict[str, Any] | None:
    """The ``created_by`` object: first and last name, email, picture (``None`` if unknown).

    Parameters
    ----------
    store
        The emulator's database.
    user_id
        The user's numeric id.

    Examples
    --------
    >>> import tempfile
    >>> user_object(Store(tempfile.mkdtemp()), 1) is None
    True
    """
    rows = store.query("SELECT firstname, lastname, email, picture FROM users WHERE id = ?",
                       (user_id,))
    return dict(rows[0]) if rows else None


def lite_object(store: Store, table: str, columns: Sequence[str],
                row_id: object) -> dict[str, Any] | None:
    """The short form of one project or stream nested in another answer (``None`` if gone).

    Parameters
    ----------
    store
        The emulator's database.
    table
        ``"projects"``, ``"streams"`` or ``"classifiers"``.
    columns
        The short form's columns (e.g. :data:`STREAM_LITE`).
    row_id
        The id of the row to embed.

    Examples
    --------
    >>> import tempfile
    >>> lite_object(Store(tempfile.mkdtemp()), "streams", STREAM_LITE, "abc") is None
    True
    """
    rows = store.query(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
    return pick(rows[0], columns) if rows else None


def camel(name: str) -> str:
    """``minutes_total`` -> ``minutesTotal``, as the platform's ``toCamelObject`` renders keys.

    Examples
    --------
    >>> camel("query_start"), camel("id")
    ('queryStart', 'id')
    """
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def camel_object(value: Any, levels: int) -> Any:
    """Keys in camelCase down to ``levels`` object levels (lists do not count as a level).

    Examples
    --------
    >>> camel_object({"a_b": {"c_d": {"e_f": 1}}, "g_h": [{"i_j": 2}]}, 2)
    {'aB': {'cD': {'e_f': 1}}, 'gH': [{'iJ': 2}]}
    """
    if levels == 0:
        return value
    if isinstance(value, dict):
        return {camel(k): camel_object(v, levels - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_object(v, levels) for v in value]
    return value
