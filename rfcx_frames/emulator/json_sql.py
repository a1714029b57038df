"""Rows encoded to JSON by SQLite itself, byte for byte as the routes' Python rendering.

A page of 1,000 detections built as Python dicts, with every time formatted in Python,
then serialised by :mod:`json`, costs most of a page's time in the emulator. Here SQLite
writes each row's JSON object in C (``json_object``), with the same keys in the same
order and the same values as :func:`rfcx_frames.emulator.render.column_value` gives:
ids as text, times as ``Date.toJSON`` writes them, flags as booleans, and stored floats
through Python's own number formatting (one registered function, :data:`JS_NUMBER`), so
the bytes do not change. Only a few kinds of stored column take this path
(:func:`column_sql` says which); a route keeps its Python rendering for anything else.

Examples
--------
>>> import sqlite3
>>> conn = sqlite3.connect(":memory:")
>>> register(conn)
>>> conn.execute("CREATE TABLE t (id INTEGER, start INTEGER, score REAL)")  # doctest: +ELLIPSIS
<sqlite3.Cursor ...>
>>> _ = conn.execute("INSERT INTO t VALUES (7, 1709251200123, 1.0)")
>>> item = object_sql([(c, column_sql(c, f"t.{c}", kind)) for c, kind in
...                    (("id", "INTEGER"), ("start", "INTEGER"), ("score", "REAL"))])
>>> conn.execute(f"SELECT {item} FROM t").fetchone()[0]
'{"id":"7","start":"2024-03-01T00:00:00.123Z","score":1}'
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from typing import Any

from .render import BOOL_COLUMNS, TIME_COLUMNS, column_value

#: The SQL function writing a stored number as the Python rendering does.
JS_NUMBER = "rfcx_js_number"


def _js_number(value: Any) -> str:
    # json.dumps writes a finite float with repr(); a whole one is written as the int
    # column_value makes of it. Short-cut those two, the rest goes through json.dumps.
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return json.dumps(column_value("", value))


def register(conn: sqlite3.Connection) -> None:
    """Make :data:`JS_NUMBER` callable in SQL on ``conn`` (once per connection).

    Parameters
    ----------
    conn
        A connection of the emulator's store.
    """
    try:
        conn.execute(f"SELECT {JS_NUMBER}(0)")
        return
    except sqlite3.OperationalError:
        pass
    # Registering anew would expire every statement the connection has prepared.
    conn.create_function(JS_NUMBER, 1, _js_number, deterministic=True)


def iso_sql(expr: str) -> str:
    """SQL of epoch milliseconds as ``YYYY-MM-DDTHH:MM:SS.sssZ`` (``NULL`` stays ``NULL``).

    The milliseconds are taken with a floor, so times before 1970 format as
    :func:`~rfcx_frames.emulator.params.iso` does.

    Parameters
    ----------
    expr
        An SQL expression of integer epoch milliseconds.

    Examples
    --------
    >>> import sqlite3
    >>> sqlite3.connect(":memory:").execute(f"SELECT {iso_sql('-1')}").fetchone()[0]
    '1969-12-31T23:59:59.999Z'
    """
    ms = f"((({expr}) % 1000 + 1000) % 1000)"
    return (f"strftime('%Y-%m-%dT%H:%M:%S', (({expr}) - {ms}) / 1000, 'unixepoch') || '.' || "
            f"printf('%03d', {ms}) || 'Z'")


def column_sql(column: str, expr: str, declared: str) -> str:
    """The SQL value of a stored column as the routes render it inside ``json_object``.

    Parameters
    ----------
    column
        The column's name (it says whether it is an id, a time or a flag).
    expr
        Its SQL expression, e.g. ``d.start``.
    declared
        Its declared SQLite type; ``REAL`` columns go through :data:`JS_NUMBER`.

    Examples
    --------
    >>> column_sql("hidden", "s.hidden", "INTEGER")
    "json(CASE WHEN s.hidden IS NULL THEN 'null' WHEN s.hidden THEN 'true' ELSE 'false' END)"
    """
    if column == "id":
        return f"CAST({expr} AS TEXT)"
    if column in TIME_COLUMNS:
        return f"CASE WHEN typeof({expr}) = 'integer' THEN {iso_sql(expr)} ELSE {expr} END"
    if column in BOOL_COLUMNS:
        return (f"json(CASE WHEN {expr} IS NULL THEN 'null' WHEN {expr} THEN 'true' "
                "ELSE 'false' END)")
    if declared.upper() == "REAL":
        return f"json({JS_NUMBER}({expr}))"
    return expr


def object_sql(pairs: Sequence[tuple[str, str]]) -> str:
    """``json_object(...)`` of ``(key, SQL value)`` pairs, keys in the given order.

    Examples
    --------
    >>> object_sql([("value", "c.value"), ("title", "c.title")])
    "json_object('value', c.value, 'title', c.title)"
    """
    parts = ", ".join(f"'{key}', {value}" for key, value in pairs)
    return f"json_object({parts})"
