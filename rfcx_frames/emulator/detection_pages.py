"""Detection pages in one SQLite statement: row JSON kept once, deep offsets found by bookmark.

A page of ``GET /detections`` used to cost the emulator its offset (``OFFSET`` walks every
row before the page), its rows' JSON (two times and a number formatted per row) and a
round trip into Python per row. Here:

* **Kept JSON.** Each member of each detection's object (``,"start":"2024-..."``) is
  written once, as the routes render it, into ``detection_json`` when a world is built
  (:func:`fill`), and each classification's nested object into ``classification_json``.
  Triggers in ``emulator/store.py`` drop a kept row whenever its detection or
  classification is inserted, changed or deleted, by any writer; a detection without
  kept rows is written live by the same expressions, so a page has the same bytes either
  way.
* **One statement a page.** The page's ids are chosen first (a sort, if the plan needs one,
  sorts ids only), then each row's JSON is concatenated by SQLite and the page joined by
  ``group_concat``: one string crosses into Python.
* **Bookmarks.** The sort key of a page's last row is kept for the offset after it, so the
  next page (clients page in order) starts with an index seek instead of walking every row
  before it. Any commit to the database (``PRAGMA data_version`` of a connection that never
  writes) forgets every bookmark; with shuffled ties (``tie_order="random"``) none is used.

Examples
--------
>>> print(fields_sql(["id"], stream=False, classifier=False)[:69])
COALESCE('{' || substr(x."j_id", 2) || cj.j || '}', (SELECT '{' || su
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import json_sql
from .render import STREAM_LITE
from .sql import Where, limit_sql
from .store import Store

#: Declared SQLite type of each stored detection column (``emulator/store.py``).
DETECTION_STORED = {"id": "INTEGER", "stream_id": "TEXT", "classifier_id": "INTEGER",
                    "classification_id": "INTEGER", "classifier_job_id": "INTEGER",
                    "start": "INTEGER", "end": "INTEGER", "confidence": "REAL",
                    "review_status": "INTEGER"}
CLASSIFIER_LITE = ("id", "name", "version", "last_executed_at")
#: Queries whose bookmarks are kept (the least recently used is forgotten first), and
#: bookmarks kept per query.
MAX_QUERIES = 64
MAX_MARKS = 1024
FAILED = "Failed getting detections"
CLASSIFICATION = json_sql.object_sql([("value", "c.value"), ("title", "c.title"),
                                      ("image", "c.image")])


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _key(name: str) -> str:
    """SQL literal ``,"name":`` that starts a member after the first."""
    return _literal("," + json.dumps(name) + ":")


def _live(column: str) -> str:
    """SQL of one detection column as a member ``,"column":value``, from the stored value."""
    value = json_sql.column_sql(column, f'd."{column}"', DETECTION_STORED[column])
    return f"{_key(column)} || json_quote({value})"


def kept_column(name: str) -> str:
    """The column of ``detection_json`` keeping the member of detection column ``name``.

    Examples
    --------
    >>> kept_column("end")
    '"j_end"'
    """
    return f'"j_{name}"'


def fill(conn: sqlite3.Connection) -> None:
    """Keep every detection's members as JSON text (a world's last build step).

    Parameters
    ----------
    conn
        A connection of the emulator's store, inside the build's transaction.

    Examples
    --------
    >>> import tempfile
    >>> fill(Store(tempfile.mkdtemp()).connection())
    """
    json_sql.register(conn)
    columns = ", ".join(kept_column(c) for c in DETECTION_STORED)
    values = ", ".join(_live(c) for c in DETECTION_STORED)
    conn.execute(f"INSERT OR REPLACE INTO detection_json (detection_id, {columns}) "
                 f"SELECT d.id, {values} FROM detections d")
    conn.execute(f"INSERT OR REPLACE INTO classification_json (classification_id, j) "
                 f"SELECT c.id, {_key('classification')} || {CLASSIFICATION} "
                 f"FROM classifications c")


def fill_if_missing(conn: sqlite3.Connection) -> None:
    """:func:`fill` a world built before members were kept (an older data directory).

    Examples
    --------
    >>> import tempfile
    >>> fill_if_missing(Store(tempfile.mkdtemp()).connection())
    """
    for kept, source in (("detection_json", "detections"),
                         ("classification_json", "classifications")):
        if (conn.execute(f"SELECT 1 FROM {kept} LIMIT 1").fetchone() is None
                and conn.execute(f"SELECT 1 FROM {source} LIMIT 1").fetchone() is not None):
            fill(conn)
            return


def _object(members: list[str]) -> str:
    # Each member starts with a comma: the first one's becomes the opening brace.
    return " || ".join([f"'{{' || substr({members[0]}, 2)", *members[1:], "'}'"])


def fields_sql(fields: Sequence[str], *, stream: bool, classifier: bool) -> str:
    """SQL of one detection's JSON object: ``fields`` in order, nested objects, classification.

    The members come from ``x`` (``detection_json``) when the detection's row is kept
    there, else they are written from ``d`` and ``c`` (a subquery of the page's ``id``);
    the nested objects come from ``sj`` / ``cl`` either way.

    Parameters
    ----------
    fields
        Detection columns, in the answer's order, without repeats.
    stream, classifier
        Whether the object carries the stream's or the classifier's short form.

    Examples
    --------
    >>> "sj.j" in fields_sql([], stream=True, classifier=False)
    True
    """
    nested = []
    if stream:
        nested.append(f"{_key('stream')} || COALESCE(sj.j, 'null')")
    if classifier:
        nested.append(f"{_key('classifier')} || COALESCE(cl.j, 'null')")
    kept = _object([*(f"x.{kept_column(f)}" for f in fields), *nested, "cj.j"])
    live = _object([*(_live(f) for f in fields), *nested,
                    f"{_key('classification')} || {CLASSIFICATION}"])
    return (f"COALESCE({kept}, (SELECT {live} FROM detections d CROSS JOIN classifications c "
            f"ON c.id = d.classification_id WHERE d.id = page.id))")


def _lite_sql(conn: sqlite3.Connection, table: str, columns: Sequence[str]) -> str:
    """A table's short objects as ``(id, j)`` rows, as :func:`.render.lite_object` writes them."""
    declared = {r[1]: str(r[2]) for r in conn.execute(f"PRAGMA table_info({table})")}
    pairs = [(c, f't."{c}"' if c == "id" else json_sql.column_sql(c, f't."{c}"', declared[c]))
             for c in columns]
    return f"SELECT t.id, {json_sql.object_sql(pairs)} FROM {table} t"


@dataclass(frozen=True)
class Page:
    """One page of a detection query: its shape, order, offset and where it may start.

    ``tie`` is the ``ORDER BY`` term of rows sharing a start (``App.tie_break``).
    """

    fields: tuple[str, ...]
    stream: bool
    classifier: bool
    descending: bool
    tie: str
    limit: int | None


def page_sql(conn: sqlite3.Connection, page: Page, where: Where) -> str:
    """The statement answering ``(rows, JSON items joined by commas, last start, ids)``.

    The page's ids are materialised in their order first; the outer query walks them
    (the left joins keep that loop outermost), so only the page's rows are written. Its
    parameters are ``where.args`` then the limit (``-1``: none) and the offset, so one
    statement, prepared once, serves every page of a query.

    Parameters
    ----------
    conn
        The connection that will run it (for the nested objects' column types).
    page
        The page's shape and order (its ``limit`` is a parameter).
    where
        Its conditions on ``d`` and ``c``.
    """
    key = (page.fields, page.stream, page.classifier, page.descending, page.tie, where.sql)
    known = _STATEMENTS.get(key)
    if known is not None:
        return known
    direction = "DESC" if page.descending else "ASC"
    ctes = [f"page(id, s, sid, cid, kid) AS MATERIALIZED (SELECT d.id, d.start, d.stream_id, "
            f"d.classifier_id, d.classification_id FROM detections d JOIN classifications c "
            f"ON c.id = d.classification_id WHERE {where.sql} ORDER BY d.start {direction}, "
            f"{page.tie} LIMIT ? OFFSET ?)"]
    joins = ""
    if page.stream:
        ctes.append(f"sj(id, j) AS MATERIALIZED ({_lite_sql(conn, 'streams', STREAM_LITE)})")
        joins += " LEFT JOIN sj ON sj.id = page.sid"
    if page.classifier:
        ctes.append(f"cl(id, j) AS MATERIALIZED "
                    f"({_lite_sql(conn, 'classifiers', CLASSIFIER_LITE)})")
        joins += " LEFT JOIN cl ON cl.id = page.cid"
    item = fields_sql(page.fields, stream=page.stream, classifier=page.classifier)
    last = "min" if page.descending else "max"
    statement = (
        f"WITH {', '.join(ctes)} SELECT count(*), group_concat(j, ','), {last}(s), "
        f"group_concat(id) FROM (SELECT {item} AS j, page.s AS s, page.id AS id FROM page "
        f"LEFT JOIN detection_json x ON x.detection_id = page.id LEFT JOIN classification_json cj "
        f"ON cj.classification_id = page.kid{joins})")
    if len(_STATEMENTS) >= MAX_QUERIES:
        _STATEMENTS.clear()  # shuffled ties make a new statement per page
    _STATEMENTS[key] = statement
    return statement


#: Statements written by :func:`page_sql`, by shape, order and conditions.
_STATEMENTS: dict[tuple[object, ...], str] = {}


Mark = tuple[int, int]


class Bookmarks:
    """Sort keys ``(start, id)`` of the row before an offset, per query, while nothing is written.

    Parameters
    ----------
    store
        The emulator's store; its writes, by any connection, forget every bookmark.

    Examples
    --------
    >>> import tempfile
    >>> marks = Bookmarks(Store(tempfile.mkdtemp()))
    >>> version = marks.version()
    >>> marks.remember("q", 1000, (1709251200000, 7), version)
    >>> marks.find("q", 2500)
    (1000, (1709251200000, 7))
    >>> marks.find("q", 999) is None
    True
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._watch: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._version = -1
        self._marks: OrderedDict[object, dict[int, Mark]] = OrderedDict()

    def _current(self) -> int:
        # Under the lock. data_version changes when another connection commits; this one
        # never writes, so every commit counts.
        try:
            if self._watch is None:
                raise sqlite3.ProgrammingError("not opened yet")
            version = int(self._watch.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.ProgrammingError:  # first use, or the store was closed since
            self._watch = self._store.shared_connection()
            version = int(self._watch.execute("PRAGMA data_version").fetchone()[0])
            self._marks.clear()
        if version != self._version:
            self._marks.clear()
            self._version = version
        return version

    def version(self) -> int:
        """The database's version now (pass it to :meth:`remember`)."""
        with self._lock:
            return self._current()

    def find(self, query: object, offset: int) -> tuple[int, Mark] | None:
        """The greatest bookmarked offset ``<= offset`` of ``query`` and its mark, if any."""
        with self._lock:
            self._current()
            marks = self._marks.get(query)
            if not marks:
                return None
            self._marks.move_to_end(query)
            if offset in marks:
                return offset, marks[offset]
            below = [o for o in marks if o <= offset]
            return (max(below), marks[max(below)]) if below else None

    def remember(self, query: object, offset: int, mark: Mark, version: int) -> None:
        """Keep ``mark`` (the last row before ``offset``) if nothing was written since ``version``."""
        with self._lock:
            if self._current() != version:
                return
            marks = self._marks.setdefault(query, {})
            self._marks.move_to_end(query)
            if len(marks) >= MAX_MARKS:
                marks.clear()
            marks[offset] = mark
            while len(self._marks) > MAX_QUERIES:
                self._marks.popitem(last=False)


def encoded_page(store: Store, marks: Bookmarks | None, page: Page, where: Where,
                 offset: int, after: Callable[[Mark], Where]) -> bytes:
    """The JSON array of one page of detections, as bytes.

    Parameters
    ----------
    store
        The emulator's store.
    marks
        The bookmarks, or ``None`` where none may be used (shuffled ties).
    page
        The page's shape and order.
    where
        The query's conditions.
    offset
        The page's offset.
    after
        The query's conditions narrowed to the rows after a mark.
    """
    conn = store.connection()
    json_sql.register(conn)
    limit_sql(page.limit, offset, FAILED)  # a bad page fails before any bookmark is used
    use = marks is not None and bool(page.limit)
    query = (where.sql, tuple(where.args), page.descending)
    version = marks.version() if marks is not None and use else 0
    found = marks.find(query, offset) if marks is not None and use else None
    run_where, skip = (where, offset) if found is None else (after(found[1]), offset - found[0])
    limit = -1 if page.limit is None else page.limit
    rows, items, last_start, ids = conn.execute(page_sql(conn, page, run_where),
                                                [*run_where.args, limit, skip]).fetchone()
    if marks is not None and use and rows:
        marks.remember(query, offset + rows, (int(last_start), int(ids.rpartition(",")[2])),
                       version)
    return b"[" + (items or "").encode("utf-8") + b"]"
