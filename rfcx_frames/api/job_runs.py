"""Running classifier jobs: create one, cancel it, wait for it to finish.

Writes are never cached, and a POST or PATCH is never sent twice by a retry (only the
ingress's own 429/503, answered before the platform acts, are retried). Every argument
is checked before any request.

Examples
--------
>>> job_id = client.create_classifier_job(1, "9ckoiv6fpebl", None,
...                                       "2024-03-01", "2024-03-02", hours="5-7")  # doctest: +SKIP
>>> client.wait_for_classifier_job(job_id).status  # doctest: +SKIP
'done'
"""

from __future__ import annotations

import numbers
import re
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from .. import timeutil, validate
from ..exceptions import RFCxError
from ..ids import path_id
from . import jobs
from .context import Context

#: ``hours`` as the platform accepts it: hours 0-23 and ranges, joined by commas.
_HOURS = re.compile(r"^(0?[0-9]|1[0-9]|2[0-3])(-(0?[0-9]|1[0-9]|2[0-3]))?"
                    r"(,(0?[0-9]|1[0-9]|2[0-3])(-(0?[0-9]|1[0-9]|2[0-3]))?)*$")
_CANCELLED = 50


def job_hours(hours: Any) -> str | None:
    """``hours`` as the platform's ``query_hours``: ``"5-7,18"`` or a list of hours.

    Parameters
    ----------
    hours
        ``None`` (every hour), a string like ``"5"``, ``"0-23"``, ``"22-2"`` or
        ``"2,4,5-10"``, or an iterable of ints 0-23.

    Examples
    --------
    >>> job_hours([5, 6, 18]), job_hours("22-2"), job_hours(None)
    ('5,6,18', '22-2', None)
    >>> job_hours("25")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: hours must be hours 0-23 and ranges joined by commas, ... got '25'
    """
    if hours is None:
        return None
    if not isinstance(hours, str):
        try:
            items = [int(h) for h in hours if not isinstance(h, bool) and int(h) == h]
        except (TypeError, ValueError):
            items = []
        if not items or len(items) != len(list(hours)) or not all(0 <= h <= 23 for h in items):
            raise ValueError(f"hours must be a string like '5-7' or a list of hours 0-23, "
                             f"got {hours!r}")
        hours = ",".join(map(str, items))
    if not _HOURS.match(hours.replace(" ", "")):
        raise ValueError(f"hours must be hours 0-23 and ranges joined by commas, like '5', "
                         f"'0-23', '22-2' or '2,4,5-10', got {hours!r}")
    return hours.replace(" ", "")


def _days(start: Any, end: Any) -> tuple[str, str]:
    """The first and last UTC day of ``[start, end)``, as the platform's query dates."""
    lo = timeutil.to_utc(start, "start")
    hi = timeutil.to_utc(end, "end")
    if lo >= hi:
        raise ValueError(f"start must be before end, got start={lo} and end={hi}")
    last = hi - pd.Timedelta(milliseconds=1)
    return lo.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")


def create_classifier_job(ctx: Context, classifier_id: int, project: str, streams: Any,
                          start: Any, end: Any, hours: Any = None) -> int:
    """Ask the platform to run a classifier over a project's recordings; return the job id.

    The platform's job query is by whole UTC days: the job covers every day that
    ``[start, end)`` touches, and of each day the ``hours`` (the emulator reads them in
    each site's local time).

    Parameters
    ----------
    classifier_id
        The classifier to run.
    project
        The project id (you need a role that may create in it: owner, admin or member).
    streams
        Stream id(s) of the project, or ``None`` for all its streams.
    start, end
        The window, ``start`` before ``end``.
    hours
        Hours of the day, e.g. ``"5-7"``, ``"22-2"``, ``[5, 6, 18]``; ``None`` for all.

    Returns
    -------
    int
        The new job's id (status ``waiting``).

    Raises
    ------
    ValueError
        Bad ids, ``start >= end``, or ``hours`` in another format (before any request).
    ForbiddenError
        You may not create jobs in the project (a guest, or not a member).
    NotFoundError
        Unknown project or streams.

    Examples
    --------
    >>> client.create_classifier_job(1, "9ckoiv6fpebl", ["gli0hc5f76dt"],
    ...                              "2024-03-01", "2024-03-02", hours="5-7")  # doctest: +SKIP
    309
    """
    if (isinstance(classifier_id, bool) or not isinstance(classifier_id, numbers.Integral)
            or classifier_id < 1):
        raise ValueError(f"classifier_id must be a positive integer, got {classifier_id!r}")
    classifier_id = int(classifier_id)
    form: dict[str, Any] = {"classifier_id": str(classifier_id),
                            "project_id": path_id(project, "project")}
    stream_ids = validate.as_str_list(streams, "streams")
    if stream_ids:
        form["query_streams"] = ",".join(path_id(s, "streams") for s in stream_ids)
    form["query_start"], form["query_end"] = _days(start, end)
    query_hours = job_hours(hours)
    if query_hours is not None:
        form["query_hours"] = query_hours
    location = ctx.session.request("POST", f"{ctx.api_url}/classifier-jobs", data=form,
                                   allow_redirects=False,
                                   parse=lambda r: r.headers.get("Location", ""))
    match = re.search(r"/([0-9]+)$", location or "")
    if match is None:
        raise RFCxError(f"the platform did not return the new job's id (Location: {location!r})")
    return int(match.group(1))


def cancel_classifier_job(ctx: Context, job_id: Any) -> jobs.ClassifierJob:
    """Cancel a job; return it as the platform then reports it.

    A waiting job becomes ``cancelled``; a running one ``awaiting_cancellation`` until
    the platform's runner stops it.

    Parameters
    ----------
    job_id
        The job's id.

    Raises
    ------
    ValidationError
        The job is already done, failed or cancelled (the platform's 400).
    ForbiddenError
        Not your job.
    NotFoundError
        No such job.

    Examples
    --------
    >>> client.cancel_classifier_job(309).status  # doctest: +SKIP
    'cancelled'
    """
    jid = jobs.check_job_id(job_id)
    ctx.session.request("PATCH", f"{ctx.api_url}/classifier-jobs/{jid}",
                        data={"status": str(_CANCELLED)}, parse=lambda r: None)
    return jobs.classifier_job(ctx, jid)


def wait_for_classifier_job(ctx: Context, job_id: Any, timeout: float = 3600.0,
                            poll: float = 10.0, *,
                            sleep: Callable[[float], Any] = time.sleep,
                            on_poll: Callable[[jobs.ClassifierJob], Any] | None = None
                            ) -> jobs.ClassifierJob:
    """Poll a job until it is done, failed or cancelled; return its final state.

    Parameters
    ----------
    job_id
        The job's id.
    timeout
        Seconds to wait at most, measured on the client's clock.
    poll
        Seconds between polls.
    sleep
        Waits between polls (tests pass one that does not touch the wall clock).
    on_poll
        Called with the job after every poll (e.g. to print ``job.progress``).

    Raises
    ------
    TimeoutError
        The job is still running after ``timeout`` seconds.

    Examples
    --------
    >>> job = client.wait_for_classifier_job(309, poll=5,
    ...                                      on_poll=lambda j: print(j.progress))  # doctest: +SKIP
    """
    jid = jobs.check_job_id(job_id)
    limit = validate.check_seconds(timeout, "timeout", allow_zero=True)
    interval = validate.check_seconds(poll, "poll")
    deadline = ctx.now() + pd.Timedelta(seconds=limit)
    while True:
        job = jobs.classifier_job(ctx, jid)
        if on_poll is not None:
            on_poll(job)
        if job.finished:
            return job
        if ctx.now() + pd.Timedelta(seconds=interval) > deadline:
            raise TimeoutError(f"classifier job {jid} still {job.status} "
                               f"({job.minutes_completed} of {job.minutes_total} minutes) "
                               f"after {limit:g} s")
        sleep(interval)
