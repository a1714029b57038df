"""Detection reviews: one per reviewer, the majority rule of a detection's status, seeded reviews.

The platform keeps one review per (detection, user) in ``detection_reviews`` and stores
their outcome on the detection itself (``review_status``), recomputed after every review:
a strict majority of rejections or of confirmations wins, no review at all is
"unreviewed", anything else (ties, uncertain majorities) is "uncertain".

Examples
--------
>>> review_status([1, 1, -1]), review_status([1, -1]), review_status([])
(1, 0, None)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .world_entities import DEMO_USER, OTHER_USER, SYSTEM_USER

#: The review statuses a client sends, and the number each is stored as (None: no review).
STATUS_CODES: dict[str, int | None] = {"unreviewed": None, "rejected": -1, "uncertain": 0,
                                       "confirmed": 1}
STATUS_NAMES: dict[int | None, str] = {code: name for name, code in STATUS_CODES.items()}

def review_status(statuses: Iterable[int]) -> int | None:
    """A detection's status from its reviews' statuses (-1, 0, 1), as the platform computes it.

    Parameters
    ----------
    statuses
        One status per reviewer.

    Returns
    -------
    int or None
        -1 or 1 for a strict majority of rejections or confirmations, ``None`` without
        reviews, else 0.

    Examples
    --------
    >>> review_status([-1, 0]), review_status([0, 0, 1]), review_status([-1, -1, 1])
    (0, 0, -1)
    """
    values = list(statuses)
    n, u, p = values.count(-1), values.count(0), values.count(1)
    if n > u and n > p:
        return -1
    if p > u and p > n:
        return 1
    if n == u == p == 0:
        return None
    return 0


def apply_review(conn: sqlite3.Connection, detection_id: int, user_id: int, code: int | None,
                 now_ms: int) -> int | None:
    """Set one user's review of a detection (``None`` removes it); the detection's new status.

    Parameters
    ----------
    conn
        An open connection, inside the caller's transaction.
    detection_id, user_id
        The detection and the reviewer.
    code
        -1, 0, 1, or ``None`` for "unreviewed".
    now_ms
        The time recorded on a new or changed review.

    Returns
    -------
    int or None
        The detection's ``review_status`` after the change.
    """
    if code is None:
        conn.execute("DELETE FROM detection_reviews WHERE detection_id = ? AND user_id = ?",
                     (detection_id, user_id))
    else:
        conn.execute(
            "INSERT INTO detection_reviews (detection_id, user_id, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (detection_id, user_id) "
            "DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at",
            (detection_id, user_id, code, now_ms, now_ms))
    rows = conn.execute("SELECT status FROM detection_reviews WHERE detection_id = ?",
                        (detection_id,)).fetchall()
    status = review_status(int(r[0]) for r in rows)
    conn.execute("UPDATE detections SET review_status = ? WHERE id = ?", (status, detection_id))
    return status


# Who reviewed a seeded detection of each status, by detection id modulo 4: (user, status)
# pairs whose majority gives that status back, so the seeded reviews and statuses agree.
_D, _O, _S = DEMO_USER, OTHER_USER, SYSTEM_USER
_PANELS: dict[int, tuple[tuple[tuple[int, int], ...], ...]] = {
    1: (((_D, 1),), ((_D, 1), (_O, 1)), ((_D, 1), (_O, 1), (_S, -1)), ((_O, 1),)),
    -1: (((_D, -1),), ((_D, -1), (_O, -1)), ((_D, -1), (_O, -1), (_S, 0)), ((_O, -1),)),
    0: (((_D, 0),), ((_D, 1), (_O, -1)), ((_D, 0), (_O, 1), (_S, -1)), ((_O, 0),)),
}


def seed_reviews(conn: sqlite3.Connection) -> None:
    """Reviews by the world's users for every detection that has a review status.

    Up to three reviewers (the demo user, the other user, the system user) per detection,
    sometimes disagreeing, always with the detection's stored status as their majority.

    Parameters
    ----------
    conn
        The world being built (detections already inserted).
    """
    rows = conn.execute("SELECT id, review_status, \"end\" FROM detections "
                        "WHERE review_status IS NOT NULL ORDER BY id").fetchall()
    values = []
    for detection_id, status, end in rows:
        at = int(end) + 86_400_000 * (1 + detection_id % 5)
        for user_id, code in _PANELS[int(status)][detection_id % 4]:
            values.append((detection_id, user_id, code, at, at))
    conn.executemany("INSERT INTO detection_reviews (detection_id, user_id, status, created_at, "
                     "updated_at) VALUES (?, ?, ?, ?, ?)", values)
