"""The platform's paged list routes: filters, sort, page, ``Total-Items`` (contract §3).

``GET /projects`` and ``GET /streams`` differ only in their table, filters, sortable
columns and how a row is rendered; :func:`list_table` is the rest, like the platform's
``pagedQuery``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from .auth import User
from .http import Request, Response, json_response
from .params import Converter
from .server import App
from .sql import Where, limit_sql, order_clause, page_params
from .store import Store

#: Reads a route's filter parameters into the conditions of its query.
Filters = Callable[[Store, User, Converter], Where]
#: Renders one row with the requested ``fields``.
Render = Callable[[Store, sqlite3.Row, "list[str] | None"], dict[str, Any]]


def paged_total(limit: int | None, offset: int, count: int, returned: int) -> int:
    """The ``Total-Items`` the platform's ``pagedQuery`` reports.

    With ``limit`` and ``offset`` both falsy it runs a plain ``findAll`` and counts the rows
    it returned (so ``limit=0`` says 0); otherwise ``findAndCountAll``'s true ``count``.

    Parameters
    ----------
    limit, offset
        The page asked for.
    count
        How many rows match the filters.
    returned
        How many rows the page holds.

    Examples
    --------
    >>> paged_total(0, 0, count=42, returned=0), paged_total(10, 0, count=42, returned=10)
    (0, 42)
    """
    return count if limit or offset else returned


def paged_select(store: Store, table: str, where: Where, order: str, limit: int | None,
                 offset: int, failure: str) -> tuple[list[sqlite3.Row], int]:
    """The rows of ``table`` matching ``where`` in ``order``, paged, and their ``Total-Items``.

    Parameters
    ----------
    store
        The emulator's database.
    table
        The table listed.
    where
        The filters.
    order
        The ``ORDER BY`` terms (see :func:`~.sql.order_clause`).
    limit, offset
        The page.
    failure
        The route's 500 message (a negative limit or offset fails in SQL upstream).

    Examples
    --------
    >>> import tempfile
    >>> paged_select(Store(tempfile.mkdtemp()), "streams", Where(["1 = 1"]), "id ASC", 10, 0,
    ...              "Failed getting streams")
    ([], 0)
    """
    count = store.query(f"SELECT count(*) AS n FROM {table} WHERE {where.sql}", where.args)
    rows = store.query(f"SELECT * FROM {table} WHERE {where.sql} ORDER BY {order}"
                       f"{limit_sql(limit, offset, failure)}", where.args)
    return rows, paged_total(limit, offset, int(count[0]["n"]), len(rows))


def list_table(app: App, req: Request, table: str, filters: Filters, sortable: Sequence[str],
               failure: str, render: Render) -> Response:
    """A paged list route: 100 rows by default, sort ``-updated_at``, ``Total-Items``.

    Parameters
    ----------
    app, req
        The emulator and the request.
    table
        The table listed.
    filters
        Reads the route's filter parameters into a :class:`~.sql.Where`.
    sortable
        The columns ``sort`` may name.
    failure
        The route's 500 message for an unknown sort column.
    render
        Renders one row with the requested ``fields``.

    Examples
    --------
    >>> from rfcx_frames.emulator import running
    >>> with running(days=1) as emu:  # doctest: +SKIP
    ...     emu.client().projects_df()  # GET /projects is a list_table route
    """
    assert req.user is not None
    conv = Converter(req.query)
    where = filters(app.store, req.user, conv)
    limit, offset = page_params(conv, 100)
    sort = conv.string("sort")
    fields = conv.array("fields")
    conv.validate()
    order = order_clause(sort, sortable, "-updated_at", failure, app.tie_break("rowid"))
    rows, total = paged_select(app.store, table, where, order, limit, offset, failure)
    body = [render(app.store, r, fields) for r in rows]
    return json_response(body, headers=[("Total-Items", str(total))])
