"""Classifier jobs of the emulated platform: statuses, query hours, and running a job.

A job names a classifier, a project, optionally some of its streams, a window of dates
and hours of the day. The platform's job service works through the recordings that match
and reports ``minutes_completed`` of ``minutes_total``; the emulator's runner does the
same in steps (:func:`run_step`), scoring each segment with the band-energy stand-in of
:mod:`.inference`, so progress is visible between polls and detections appear with the
job's id. Times come from the app's clock, so tests can fix them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from ..timeutil import to_epoch_ms
from . import inference
from .store import Store
from .worker import QueueWorker

WAITING, RUNNING, DONE, ERROR, CANCELLED, AWAITING_CANCELLATION = 0, 20, 30, 40, 50, 60
#: The platform's rules for a status change asked by a non-system user.
ALLOWED_TARGETS = (CANCELLED, WAITING)
ALLOWED_SOURCES = (CANCELLED, WAITING, ERROR)
CANCELLABLE = (WAITING, RUNNING, AWAITING_CANCELLATION)
#: ``query_hours`` as the platform validates it: hours and ranges joined by ``,`` or ``-``.
HOURS_FORMAT = re.compile(
    r"^(\b(0?[0-9]|1[0-9]|2[0-3])\b)(((-|,)\b(0?[0-9]|1[0-9]|2[0-3])\b)?)+$")
_HOUR_RANGE = re.compile(r"^(0?[0-9]|1[0-9]|2[0-3])(?:-(0?[0-9]|1[0-9]|2[0-3]))?$")
DAY_MS = 86_400_000
#: The counts of a job summary row.
COUNTS = ("total", "unreviewed", "confirmed", "rejected", "uncertain")
#: An end beyond any recording (a job without ``query_end``).
OPEN_END = 2**62
#: Segments one runner step scores before it reports progress.
STEP_SEGMENTS = 5


def hours_of(query_hours: str | None) -> set[int]:
    """The hours of the day a ``query_hours`` covers (ranges wrap past midnight).

    Parameters
    ----------
    query_hours
        ``"5"``, ``"0-23"``, ``"2,4,5-10"``, ``"22-2"``; ``None`` for every hour.

    Examples
    --------
    >>> sorted(hours_of("22-1,5"))
    [0, 1, 5, 22, 23]
    >>> len(hours_of(None))
    24
    """
    if not query_hours:
        return set(range(24))
    hours: set[int] = set()
    for part in query_hours.split(","):
        m = _HOUR_RANGE.match(part)
        if not m:
            continue  # like the platform, a part it cannot read covers nothing
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        hour = first
        hours.add(hour)
        while hour != last:
            hour = (hour + 1) % 24
            hours.add(hour)
    return hours


def job_segments(store: Store, job: dict[str, object]) -> list[dict[str, object]]:
    """The segments a job scores, in stream then time order.

    Every segment of the job's streams whose start falls on a day from ``query_start``
    to ``query_end`` (both included, UTC) and in one of its hours, read in each stream's
    local time (a dawn chorus is "5-7" wherever the recorder is).

    Parameters
    ----------
    store
        The emulator's database.
    job
        The ``classifier_jobs`` row.
    """
    start = day_ms(job["query_start"], 0)
    end = day_ms(job["query_end"], OPEN_END) + DAY_MS
    rows = store.query(
        'SELECT g.id, g.stream_id, g.start, g."end", s.timezone FROM segments g '
        "JOIN classifier_job_streams j ON j.stream_id = g.stream_id "
        "JOIN streams s ON s.id = g.stream_id "
        "WHERE j.classifier_job_id = ? AND g.start >= ? AND g.start < ? "
        "ORDER BY g.stream_id, g.start", (job["id"], start, end))
    hours = hours_of(job["query_hours"])  # type: ignore[arg-type]
    if len(hours) == 24:
        return [dict(r) for r in rows]
    kept = []
    for r in rows:
        local = pd.Timestamp(r["start"], unit="ms", tz="UTC").tz_convert(ZoneInfo(r["timezone"]))
        if local.hour in hours:
            kept.append(dict(r))
    return kept


def day_ms(day: object, missing: int) -> int:
    """Epoch ms of a ``YYYY-MM-DD`` date's UTC midnight, or ``missing`` for no date.

    Examples
    --------
    >>> day_ms("2024-03-01", 0), day_ms(None, 0)
    (1709251200000, 0)
    """
    if not day:
        return missing
    return to_epoch_ms(pd.Timestamp(str(day), tz="UTC"))


def minutes_of(segments: list[dict[str, object]]) -> int:
    """Whole minutes of audio in ``segments`` (a started minute counts).

    Examples
    --------
    >>> minutes_of([{"start": 0, "end": 60_000}, {"start": 0, "end": 61_000}])
    3
    """
    return sum(-(-(int(s["end"]) - int(s["start"])) // 60_000)  # type: ignore[call-overload]
               for s in segments)


def run_step(store: Store, job_id: int, now: Callable[[], int],
             max_segments: int = STEP_SEGMENTS) -> tuple[bool, int]:
    """Score the next segments of a job; return whether it still has work, and how many.

    A waiting job starts (``started_at``, ``minutes_total``); a job awaiting
    cancellation becomes cancelled; the last step marks it done.

    Parameters
    ----------
    store
        The emulator's database.
    job_id
        The job.
    now
        The app's clock (epoch ms).
    max_segments
        Segments scored in this step.
    """
    rows = store.query("SELECT * FROM classifier_jobs WHERE id = ?", (job_id,))
    if not rows or rows[0]["status"] not in (WAITING, RUNNING, AWAITING_CANCELLATION):
        return False, 0
    job = dict(rows[0])
    if job["status"] == AWAITING_CANCELLATION:
        _set(store, job_id, now, status=CANCELLED)
        return False, 0
    segments = job_segments(store, job)
    if job["status"] == WAITING:
        _set(store, job_id, now, status=RUNNING, started_at=now(),
             minutes_total=minutes_of(segments))
    done = int(job["segments_done"])
    batch = segments[done:done + max_segments]
    outputs = inference.job_outputs(store, int(job["classifier_id"]))
    for seg in batch:
        inference.score_into(store, seg, outputs, int(job["classifier_id"]), job_id)
    done += len(batch)
    finished = done >= len(segments)
    changes: dict[str, object] = {"segments_done": done,
                                  "minutes_completed": minutes_of(segments[:done])}
    if finished:
        changes.update(status=DONE, completed_at=now())
        with store.connect() as conn:
            conn.execute("UPDATE classifiers SET last_executed_at = ? WHERE id = ?",
                         (now(), job["classifier_id"]))
    _set(store, job_id, now, **changes)
    return not finished, len(batch)


def _set(store: Store, job_id: int, now: Callable[[], int], **changes: object) -> None:
    # Only the runner's own column names reach here, never a request's.
    changes["updated_at"] = now()
    assignments = ", ".join(f"{name} = ?" for name in changes)
    with store.connect() as conn:
        conn.execute(f"UPDATE classifier_jobs SET {assignments} WHERE id = ?",
                     (*changes.values(), job_id))


def summary_rows(store: Store, job: Mapping[str, Any], keyword: str | None = None,
                 value: str | None = None) -> list[dict[str, Any]]:
    """Per-class counts of a finished job: one row per classifier output, in output order.

    A job has no summary before it is done (the platform writes it at the end); the
    counts follow reviews, as the platform's do.

    Parameters
    ----------
    store
        The emulator's database.
    job
        The ``classifier_jobs`` row.
    keyword
        Text in the class's title.
    value
        Only this class.
    """
    if job["status"] != DONE:
        return []
    args: list[object] = [job["id"], job["classifier_id"]]
    extra = ""
    if keyword:
        extra += " AND lower(c.title) LIKE ?"
        args.append(f"%{keyword.lower()}%")
    if value is not None:
        extra += " AND c.value = ?"
        args.append(value)
    rows = store.query(
        "SELECT c.value, c.title, c.image, count(d.id) AS total, "
        "count(d.id) - count(d.review_status) AS unreviewed, "
        "sum(d.review_status = 1) AS confirmed, sum(d.review_status = -1) AS rejected, "
        "sum(d.review_status = 0) AS uncertain, min(o.rowid) AS rank "
        "FROM classifier_outputs o JOIN classifications c ON c.id = o.classification_id "
        "LEFT JOIN detections d ON d.classifier_job_id = ? "
        "AND d.classification_id = o.classification_id "
        f"WHERE o.classifier_id = ?{extra} GROUP BY c.id ORDER BY rank", args)
    return [{"value": r["value"], "title": r["title"], "image": r["image"],
             **{k: int(r[k] or 0) for k in COUNTS}} for r in rows]


#: The next job's id: past every job row and every job id detections carry (the demo
#: world's detections name jobs before their rows exist), read inside the insert so two
#: requests cannot take the same one.
NEXT_JOB_ID = ("(SELECT coalesce(max(n), 0) + 1 FROM (SELECT max(id) AS n FROM classifier_jobs "
               "UNION ALL SELECT max(classifier_job_id) FROM detections))")


def insert_job(store: Store, job: dict[str, object], stream_ids: list[str], now_ms: int) -> int:
    """Write a new waiting job and its streams; return its id.

    Parameters
    ----------
    store
        The emulator's database.
    job
        ``classifier_id``, ``project_id``, ``query_*`` and ``created_by_id``.
    stream_ids
        The streams it covers.
    now_ms
        Its creation time.
    """
    columns = ("classifier_id", "project_id", "query_streams", "query_start", "query_end",
               "query_hours", "created_by_id")
    with store.connect() as conn:
        cur = conn.execute(
            f"INSERT INTO classifier_jobs (id, {', '.join(columns)}, status, created_at, "
            f"updated_at) VALUES ({NEXT_JOB_ID}, {', '.join('?' * len(columns))}, ?, ?, ?)",
            (*(job.get(c) for c in columns), WAITING, now_ms, now_ms))
        job_id = int(cur.lastrowid or 0)
        conn.executemany("INSERT INTO classifier_job_streams (classifier_job_id, stream_id) "
                         "VALUES (?, ?)", [(job_id, s) for s in stream_ids])
    return job_id


#: A queued item: a job row's id (``POST /classifier-jobs``), or the classifier and streams
#: of an upload with ``active_streams``, run at once without a job row.
JobItem = int | tuple[int, int, list[str]]


class JobRunner(QueueWorker[JobItem]):
    """Runs classifier jobs one at a time in a background thread, like a job queue.

    With ``auto=False`` submitted jobs wait for :meth:`advance`, so a test decides when a
    job moves and sees every state in between.
    """

    def __init__(self, store: Store, now: Callable[[], int], auto: bool = True) -> None:
        self.store = store
        self.now = now
        self.auto = auto
        self.pending: list[int] = []
        super().__init__("emulator-jobs", stop_timeout_s=30)

    def submit(self, classifier_id: int, stream_ids: list[str]) -> int:
        """Queue a job of ``classifier_id`` over ``stream_ids``; return its job id."""
        rows = self.store.query("SELECT coalesce(max(n), 0) + 1 AS n FROM (SELECT max(id) AS n "
                                "FROM classifier_jobs UNION ALL SELECT max(classifier_job_id) "
                                "FROM detections)")
        job_id = int(rows[0]["n"]) + self.queue.qsize()
        self.put((classifier_id, job_id, stream_ids))
        return job_id

    def submit_job(self, job_id: int) -> None:
        """Queue a job row (``auto``), or keep it for :meth:`advance`."""
        if self.auto:
            self.put(job_id)
        else:
            self.pending.append(job_id)

    def advance(self, segments: int | None = None) -> None:
        """Run up to ``segments`` segments of the kept jobs, oldest first (all: ``None``)."""
        budget = segments
        while self.pending and (budget is None or budget > 0):
            step = STEP_SEGMENTS if budget is None else min(budget, STEP_SEGMENTS)
            more, scored = run_step(self.store, self.pending[0], self.now, step)
            if not more:
                self.pending.pop(0)
            if budget is not None:
                budget -= scored

    def handle(self, item: JobItem) -> None:
        """Run one job to its end."""
        if isinstance(item, int):
            while run_step(self.store, item, self.now)[0]:
                pass
        else:
            inference.run_job(self.store, *item)
