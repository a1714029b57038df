"""Analysis subcommands of ``rfcx-frames``: counts, effort, classifiers, jobs, best-detections.

Each is one library call (``detection_counts``, ``effort_df``, ``classifiers_df``,
``classifier_jobs_df``, ``best_detections_df``), its options beside its handler, printed or
written like the table commands (``--out``, ``--columns``). ``--columns`` is checked against
the columns the call will return before any request.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..api.counts import AGGREGATES, FIELDS
from ..api.jobs import JOB_STATUSES
from ..convert import empty_frame
from ..ecology.effort import EFFORT_COLUMNS
from ..schemas.jobs import BEST_DETECTION, CLASSIFIER, CLASSIFIER_JOB
from .args import id_list, int_list
from .connection import client_from
from .output import add_table_output, check_columns, emit
from .parsers import add_subcommand, add_window
from .tables import add_detection_filters

#: The columns a terminal shows by default, per command (absent ones are skipped).
BRIEF: dict[str, tuple[str, ...]] = {
    "counts": ("time_bucket", "stream_id", "classification_value", "count"),
    "effort": ("stream_id", "period_start", "period_start_local", "recorded_seconds",
               "coverage"),
    "classifiers": ("classifier_id", "name", "version", "classification_value", "threshold"),
    "jobs": ("id", "classifier_name", "project_id", "status", "minutes_completed",
             "minutes_total", "query_start", "query_end"),
    "best-detections": ("stream_id", "start", "classification_value", "confidence",
                        "review_status"),
}


def counts_columns(aggregate: str = "count", field: str | None = None,
                   by_stream: bool = False) -> list[str]:
    """The columns ``detection_counts`` returns for these options.

    Parameters
    ----------
    aggregate, field, by_stream
        As given to :meth:`rfcx_frames.Client.detection_counts`.

    Examples
    --------
    >>> counts_columns("max", by_stream=True)
    ['time_bucket', 'stream_id', 'classification_value', 'confidence_max']
    """
    value = "count" if aggregate == "count" else f"{field or FIELDS[0]}_{aggregate}"
    return ["time_bucket", *(["stream_id"] if by_stream else []), "classification_value", value]


def show(args: argparse.Namespace, brief: str, allowed: list[str],
         fetch: Callable[[Any], Any]) -> int:
    """Check ``--columns`` against ``allowed``, then fetch and print or write the frame.

    Parameters
    ----------
    args
        Parsed arguments (``--out``, ``--columns`` and the connection options).
    brief
        The command's key in :data:`BRIEF`.
    allowed
        Every column the call returns.
    fetch
        The library call, given the command's client.

    Examples
    --------
    >>> show(args, "classifiers", cols, lambda c: c.classifiers_df())  # doctest: +SKIP
    0
    """
    columns = check_columns(args.columns, allowed)
    emit(fetch(client_from(args)), args.out, columns=columns, brief=BRIEF[brief])
    return 0


# --------------------------------------------------------------------------- subcommands


def _cmd_counts(args: argparse.Namespace) -> int:
    """``rfcx-frames counts``: :meth:`Client.detection_counts`, counted by the platform."""
    allowed = counts_columns(args.aggregate, args.field, args.by_stream)
    return show(args, "counts", allowed, lambda c: c.detection_counts(
        args.start, args.end, streams=id_list(args.stream),
        classifications=id_list(args.classification),
        classifiers=int_list(args.classifier, "--classifier"),
        min_confidence=args.min_confidence, review_statuses=id_list(args.review_status),
        interval=args.interval, aggregate=args.aggregate, field=args.field,
        by_stream=args.by_stream))


def _add_counts(sub: Any) -> None:
    p = add_subcommand(sub, "counts", "detections counted per time bucket by the platform",
                       _cmd_counts)
    add_detection_filters(p, local_time=False)
    p.add_argument("--interval", default="1d",
                   help="bucket width: 15m, 1h, 1d, 7d, ... (default 1d)")
    p.add_argument("--aggregate", default="count", choices=AGGREGATES,
                   help="count (default), or avg/sum/min/max of --field")
    p.add_argument("--field", default=None, choices=FIELDS,
                   help="the field an aggregate other than count applies to")
    p.add_argument("--by-stream", action="store_true", help="one row per stream too")
    add_table_output(p)


def _cmd_effort(args: argparse.Namespace) -> int:
    """``rfcx-frames effort``: :meth:`Client.effort_df`, seconds recorded per period."""
    return show(args, "effort", list(EFFORT_COLUMNS), lambda c: c.effort_df(
        args.start, args.end, streams=id_list(args.stream), projects=id_list(args.project),
        freq=args.freq, local_time=args.local_time))


def _add_effort(sub: Any) -> None:
    p = add_subcommand(sub, "effort", "recording effort: seconds recorded per stream and period",
                       _cmd_effort)
    add_window(p)
    p.add_argument("--stream", action="append", help="stream id (repeat or comma list)")
    p.add_argument("--project", action="append", help="project id (repeat or comma list)")
    p.add_argument("--freq", default="1h", help="period: 1h (default), 1d, 1W, ...")
    p.add_argument("--local-time", action="store_true",
                   help="periods follow each stream's local days and hours")
    add_table_output(p)


def _cmd_classifiers(args: argparse.Namespace) -> int:
    """``rfcx-frames classifiers``: :meth:`Client.classifiers_df`."""
    return show(args, "classifiers", list(empty_frame(CLASSIFIER).columns),
                lambda c: c.classifiers_df())


def _add_classifiers(sub: Any) -> None:
    p = add_subcommand(sub, "classifiers", "the classifiers you can run, one row per output",
                       _cmd_classifiers)
    add_table_output(p)


def _cmd_jobs(args: argparse.Namespace) -> int:
    """``rfcx-frames jobs``: :meth:`Client.classifier_jobs_df`."""
    return show(args, "jobs", list(empty_frame(CLASSIFIER_JOB).columns),
                lambda c: c.classifier_jobs_df(projects=id_list(args.project),
                                               status=args.status,
                                               created_by="me" if args.mine else None))


def _add_jobs(sub: Any) -> None:
    p = add_subcommand(sub, "jobs", "classifier jobs of your projects", _cmd_jobs)
    p.add_argument("--project", action="append", help="project id (repeat or comma list)")
    p.add_argument("--status", choices=list(JOB_STATUSES.values()), help="only jobs in it")
    p.add_argument("--mine", action="store_true", help="only jobs you created")
    add_table_output(p)


def _cmd_best_detections(args: argparse.Namespace) -> int:
    """``rfcx-frames best-detections``: :meth:`Client.best_detections_df` of one job."""
    return show(args, "best-detections", list(empty_frame(BEST_DETECTION).columns),
                lambda c: c.best_detections_df(
                    args.job, n_per_chunk=args.n_per_chunk, by_date=args.by_date,
                    streams=id_list(args.stream), classifications=id_list(args.classification),
                    review_statuses=id_list(args.review_status)))


def _add_best_detections(sub: Any) -> None:
    p = add_subcommand(sub, "best-detections",
                       "a job's most confident detections per stream and class, to review",
                       _cmd_best_detections)
    p.add_argument("job", type=int, help="classifier job id")
    p.add_argument("--n-per-chunk", type=int, default=1,
                   help="detections per stream, class (and day with --by-date), 1..10")
    p.add_argument("--by-date", action="store_true", help="the best of each day")
    p.add_argument("--stream", action="append", help="stream id (repeat or comma list)")
    p.add_argument("--classification", action="append",
                   help="classification value (repeat or comma list)")
    p.add_argument("--review-status", action="append",
                   help="unreviewed, rejected, uncertain or confirmed (repeat or comma list)")
    add_table_output(p)


#: Its subcommands, in ``--help`` order: each adds itself to argparse sub-parsers.
SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_counts, _add_effort, _add_classifiers, _add_jobs, _add_best_detections,
)
