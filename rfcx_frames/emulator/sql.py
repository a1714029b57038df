"""SQL pieces the routes share: WHERE building, ``IN`` lists, ORDER BY and LIMIT/OFFSET.

Every list route turns its query parameters into one :class:`Where` and a sort: the helpers
here keep the platform's rules for them (ties broken by id or shuffled, unknown sort columns failing
like SQL, an omitted limit meaning every row) in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .http import HTTPError
from .params import Converter


def placeholders(values: Sequence[object]) -> str:
    """SQL ``?`` placeholders for ``values`` (``NULL`` for none, so ``IN ()`` stays valid).

    Parameters
    ----------
    values
        The values an ``IN`` list will be bound to.

    Examples
    --------
    >>> placeholders([1, 2]), placeholders([])
    ('?,?', 'NULL')
    """
    return ",".join("?" * len(values)) or "NULL"


@dataclass
class Where:
    """The conditions of a query and their arguments, in the order they were added.

    Examples
    --------
    >>> w = Where(["deleted_at IS NULL"])
    >>> w.add("name LIKE ?", "%a%"); w.within("id", ["x", "y"])
    >>> w.sql, w.args
    ('deleted_at IS NULL AND name LIKE ? AND id IN (?,?)', ['%a%', 'x', 'y'])
    """

    clauses: list[str] = field(default_factory=list)
    args: list[object] = field(default_factory=list)

    def add(self, clause: str, *args: object) -> None:
        """Add ``clause`` with the arguments of its ``?`` marks."""
        self.clauses.append(clause)
        self.args.extend(args)

    def within(self, column: str, values: Sequence[object]) -> None:
        """Add ``column IN (values)`` (no row matches an empty list)."""
        self.add(f"{column} IN ({placeholders(values)})", *values)

    @property
    def sql(self) -> str:
        """The conditions joined by ``AND``."""
        return " AND ".join(self.clauses)


def order_clause(sort: str | None, allowed: Sequence[str], default: str, failure: str,
                 tie: str = "rowid ASC") -> str:
    """The SQL ``ORDER BY`` terms of a platform ``sort`` (``a,-b``), then ``tie``.

    Postgres returns rows that share the sort key in the order it stored them (for a
    freshly loaded table, insertion order), so ties by default follow SQLite's ``rowid``;
    ``App.tie_break`` gives a shuffled order instead.

    An unknown column is the route's 500 with the ``failure`` message, as SQL fails upstream.

    Parameters
    ----------
    sort
        The ``sort`` parameter, or ``None`` for ``default``.
    allowed
        The columns the route may sort by.
    default
        The route's default sort.
    failure
        The route's 500 message.
    tie
        The last term, ordering rows the sort leaves tied (see ``App.tie_break``).

    Examples
    --------
    >>> order_clause("-name", ["name"], "name", "Failed getting items")
    '"name" DESC, rowid ASC'
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
    return ", ".join([*terms, tie])


def page_params(conv: Converter, default_limit: int | None) -> tuple[int | None, int]:
    """``(limit, offset)`` from a query, with the route's default limit.

    Parameters
    ----------
    conv
        The query's converter (errors are collected there).
    default_limit
        The limit when none is given; ``None`` for every row.

    Examples
    --------
    >>> page_params(Converter({"offset": ["5"]}), 100)
    (100, 5)
    """
    limit = conv.integer("limit", default=default_limit)
    offset = conv.integer("offset", default=0) or 0
    return limit, offset


def limit_sql(limit: int | None, offset: int, failure: str) -> str:
    """The ``LIMIT``/``OFFSET`` clause; none at all when both are unset (every row).

    A negative limit or offset is the route's 500 with the ``failure`` message: the
    platform hands both to Postgres unchecked, which rejects them.

    Parameters
    ----------
    limit, offset
        The page; ``limit=None`` with an offset means every row after it.
    failure
        The route's 500 message.

    Examples
    --------
    >>> limit_sql(None, 0, "x"), limit_sql(10, 20, "x")
    ('', ' LIMIT 10 OFFSET 20')
    >>> limit_sql(-1, 0, "Failed getting detections")
    Traceback (most recent call last):
    ...
    rfcx_frames.emulator.http.HTTPError: Failed getting detections
    """
    if (limit is not None and limit < 0) or offset < 0:
        raise HTTPError(500, failure)
    if limit is None and not offset:
        return ""
    return f" LIMIT {int(limit) if limit is not None else -1} OFFSET {int(offset)}"
