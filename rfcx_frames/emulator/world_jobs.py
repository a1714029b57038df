"""The demo world's classifier jobs: the finished runs behind its detections, and a few more.

Every detection of the world names a job (one per classifier and project); those jobs
are done, over the whole period. One more job is running, one waiting and one was
cancelled, so a client sees each state without starting anything.
"""

from __future__ import annotations

import sqlite3

from .classifier_jobs import CANCELLED, DONE, RUNNING, WAITING
from .world_entities import PROJECTS

HOUR_MS = 3_600_000
_COLUMNS = ("id", "classifier_id", "project_id", "query_streams", "query_start", "query_end",
            "query_hours", "minutes_total", "minutes_completed", "status", "created_by_id",
            "created_at", "updated_at", "started_at", "completed_at")


def _minutes(conn: sqlite3.Connection, stream_ids: list[str]) -> int:
    marks = ",".join("?" * len(stream_ids)) or "NULL"
    row = conn.execute('SELECT coalesce(sum(("end" - start + 59999) / 60000), 0) FROM segments '
                       f"WHERE stream_id IN ({marks})", stream_ids).fetchone()
    return int(row[0])


def seed_jobs(conn: sqlite3.Connection, project_ids: dict[str, str], day_start: str,
              day_end: str, finished_ms: int) -> None:
    """Write the world's jobs and their streams.

    Parameters
    ----------
    conn
        The world's connection, inside its build transaction.
    project_ids
        Project key -> id.
    day_start, day_end
        The period's first day and the day after its last (``YYYY-MM-DD``).
    finished_ms
        When the world's jobs ran (after the period).
    """
    done = [int(r[0]) for r in conn.execute(
        "SELECT DISTINCT classifier_job_id FROM detections WHERE classifier_job_id IS NOT NULL "
        "ORDER BY 1")]
    rows: list[tuple[object, ...]] = []
    links: list[tuple[int, str]] = []
    for job_id in done:
        spec = PROJECTS[job_id % 100 - 1]
        pid = project_ids[spec.key]
        streams = [r[0] for r in conn.execute(
            "SELECT id FROM streams WHERE project_id = ? ORDER BY id", (pid,))]
        minutes = _minutes(conn, streams)
        at = finished_ms + job_id * 60_000
        rows.append((job_id, job_id // 100, pid, None, day_start, day_end, "0-23", minutes,
                     minutes, DONE, spec.created_by, at, at + 5 * HOUR_MS, at + HOUR_MS,
                     at + 5 * HOUR_MS))
        links += [(job_id, s) for s in streams]
    rows, links = _open_jobs(conn, project_ids, day_start, day_end, finished_ms,
                             max(done, default=0), rows, links)
    conn.executemany(f"INSERT INTO classifier_jobs ({', '.join(_COLUMNS)}) VALUES "
                     f"({', '.join('?' * len(_COLUMNS))})", rows)
    conn.executemany("INSERT INTO classifier_job_streams (classifier_job_id, stream_id) "
                     "VALUES (?, ?)", links)


def _open_jobs(conn: sqlite3.Connection, project_ids: dict[str, str], day_start: str,
               day_end: str, at: int, last: int, rows: list[tuple[object, ...]],
               links: list[tuple[int, str]]) -> tuple[list[tuple[object, ...]],
                                                     list[tuple[int, str]]]:
    """A running, a waiting and a cancelled job after the finished ones."""
    plans = ((RUNNING, 2, PROJECTS[0], "5-7"), (WAITING, 1, PROJECTS[0], None),
             (CANCELLED, 3, PROJECTS[1], "18-20"))
    for n, (status, classifier, spec, hours) in enumerate(plans, start=1):
        job_id = last + n
        pid = project_ids[spec.key]
        streams = [r[0] for r in conn.execute(
            "SELECT id FROM streams WHERE project_id = ? ORDER BY id", (pid,))]
        if status == WAITING:
            streams = streams[:1]
        total = _minutes(conn, streams) if status != WAITING else None
        created = at + 86_400_000 + n * HOUR_MS
        started = created + HOUR_MS if status == RUNNING else None
        rows.append((job_id, classifier, pid, ",".join(streams) if status == WAITING else None,
                     day_start, day_end, hours, total, (total or 0) // 2 if started else 0,
                     status, spec.created_by, created, created + 2 * HOUR_MS, started, None))
        links += [(job_id, s) for s in streams]
    return rows, links
