"""Table subcommands of ``rfcx-frames``: projects, streams, segments, detections, annotations, taxonomy.

Each is one ``Client.*_df`` call, its options beside its handler. Arguments, ``--columns``
included, are checked before any request, so a typo fails at once with exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..client import Client
from ..convert import empty_frame
from ..frames import add_local_time
from ..schemas import ENTITIES
from .args import id_list, int_list, unit_float
from .connection import client_from
from .output import add_table_output, check_columns, emit
from .parsers import add_subcommand, add_window

#: The columns a terminal shows by default, per table (absent ones are skipped).
BRIEF: dict[str, tuple[str, ...]] = {
    "projects": ("id", "name", "is_public"),
    "streams": ("id", "name", "project_name", "timezone", "latitude", "longitude"),
    "segments": ("start", "end", "file_extension", "id"),
    "detections": ("stream_id", "start", "start_local", "classification_value", "confidence",
                   "review_status"),
    "annotations": ("stream_id", "start", "start_local", "end", "classification_value",
                    "frequency_min", "frequency_max"),
    "classifications": ("value", "title", "type"),
}


def table_columns(table: str, local_time: bool = False) -> list[str]:
    """Every column of ``table``'s frame (with ``start_local`` when ``local_time``).

    Parameters
    ----------
    table
        One of :data:`BRIEF`'s keys (an entity of :mod:`rfcx_frames.schemas`).
    local_time
        ``--local-time`` was given.

    Examples
    --------
    >>> table_columns("projects")
    ['id', 'name', 'is_public', 'external_id']
    >>> table_columns("annotations", local_time=True)[-1]
    'start_local'
    """
    frame = empty_frame(ENTITIES[table])
    return list((add_local_time(frame, {}) if local_time else frame).columns)


def show(args: argparse.Namespace, table: str, fetch: Callable[[Client], pd.DataFrame]) -> int:
    """Check ``--columns``, then fetch the table and print or write it.

    Parameters
    ----------
    args
        Parsed arguments of a table command (``--out``, ``--columns``, ``--cache``).
    table
        Which table (a key of :data:`BRIEF`).
    fetch
        The library call, given the command's client.

    Examples
    --------
    >>> show(args, "projects", lambda client: client.projects_df())  # doctest: +SKIP
    0
    """
    local_time = bool(getattr(args, "local_time", False))
    columns = check_columns(args.columns, table_columns(table, local_time))
    frame = fetch(client_from(args))
    emit(frame, args.out, columns=columns, brief=BRIEF[table])
    return 0


def _add_table_options(parser: argparse.ArgumentParser) -> None:
    add_table_output(parser)
    parser.add_argument("--cache", default=None, choices=["use", "refresh", "offline", "off"],
                        help="use: read what the cache holds and fetch the rest (default); "
                             "refresh: fetch everything again; offline: never fetch; "
                             "off: bypass the cache")


def _cache_value(args: argparse.Namespace) -> Any:
    return False if args.cache == "off" else args.cache


def _add_labels_filters(parser: argparse.ArgumentParser, local_time: bool = True) -> None:
    # Detections and annotations take the same filters: one block keeps their help alike.
    add_window(parser)
    parser.add_argument("--stream", action="append", help="stream id (repeat or comma list)")
    parser.add_argument("--classification", action="append",
                        help="classification value, e.g. amazona_vittata (repeat or comma "
                             "list)")
    if local_time:
        parser.add_argument("--local-time", action="store_true",
                            help="add start_local, the start in the stream's timezone")


def add_detection_filters(parser: argparse.ArgumentParser, local_time: bool = True) -> None:
    """Add the window and filters of a detections query (``detections``, ``counts``).

    Parameters
    ----------
    parser
        The parser of a subcommand that queries detections.
    local_time
        Add ``--local-time`` too.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_detection_filters(parser, local_time=False)
    >>> parser.parse_args(["--start", "2024-03-01", "--end", "2024-03-02"]).min_confidence
    """
    _add_labels_filters(parser, local_time)
    parser.add_argument("--classifier", action="append",
                        help="classifier id, an integer (repeat or comma list)")
    parser.add_argument("--min-confidence", type=unit_float, default=None,
                        help="minimum confidence, 0..1 (platform default 0.95)")
    parser.add_argument("--review-status", action="append",
                        help="unreviewed, rejected, uncertain or confirmed (repeat or comma "
                             "list)")


# --------------------------------------------------------------------------- subcommands


def _cmd_projects(args: argparse.Namespace) -> int:
    """``rfcx-frames projects``: :meth:`Client.projects_df` as a table or file."""
    return show(args, "projects",
                lambda c: c.projects_df(keyword=args.keyword, cache=_cache_value(args)))


def _add_projects(sub: Any) -> None:
    p = add_subcommand(sub, "projects", "list projects", _cmd_projects)
    p.add_argument("--keyword", help="part of the project name")
    _add_table_options(p)


def _cmd_streams(args: argparse.Namespace) -> int:
    """``rfcx-frames streams``: :meth:`Client.streams_df` as a table or file."""
    return show(args, "streams", lambda c: c.streams_df(
        projects=id_list(args.project), keyword=args.keyword,
        include_public=args.include_public, cache=_cache_value(args)))


def _add_streams(sub: Any) -> None:
    p = add_subcommand(sub, "streams", "list streams", _cmd_streams)
    p.add_argument("--project", action="append", help="project id (repeat or comma list)")
    p.add_argument("--keyword", help="part of the stream name")
    p.add_argument("--include-public", action="store_true",
                   help="add public streams of other users")
    _add_table_options(p)


def _cmd_segments(args: argparse.Namespace) -> int:
    """``rfcx-frames segments``: :meth:`Client.segments_df` of one stream."""
    return show(args, "segments", lambda c: c.segments_df(args.stream, args.start, args.end,
                                                          cache=_cache_value(args)))


def _add_segments(sub: Any) -> None:
    p = add_subcommand(sub, "segments", "list the audio segments of a stream", _cmd_segments)
    p.add_argument("--stream", required=True, help="stream id")
    add_window(p)
    _add_table_options(p)


def _cmd_detections(args: argparse.Namespace) -> int:
    """``rfcx-frames detections``: :meth:`Client.detections_df`; unknown ids exit 1."""
    classifiers = int_list(args.classifier, "--classifier")
    return show(args, "detections", lambda c: c.detections_df(
        args.start, args.end, classifications=id_list(args.classification),
        classifiers=classifiers, streams=id_list(args.stream),
        min_confidence=args.min_confidence, review_statuses=id_list(args.review_status),
        local_time=args.local_time, cache=_cache_value(args)))


def _add_detections(sub: Any) -> None:
    p = add_subcommand(sub, "detections", "detections in a time window", _cmd_detections)
    add_detection_filters(p)
    _add_table_options(p)


def _cmd_annotations(args: argparse.Namespace) -> int:
    """``rfcx-frames annotations``: :meth:`Client.annotations_df`."""
    return show(args, "annotations", lambda c: c.annotations_df(
        args.start, args.end, classifications=id_list(args.classification),
        streams=id_list(args.stream), local_time=args.local_time, cache=_cache_value(args)))


def _add_annotations(sub: Any) -> None:
    p = add_subcommand(sub, "annotations", "annotations in a time window", _cmd_annotations)
    _add_labels_filters(p)
    _add_table_options(p)


def _cmd_classifications(args: argparse.Namespace) -> int:
    """``rfcx-frames classifications``: :meth:`Client.classifications_df`."""
    return show(args, "classifications", lambda c: c.classifications_df(
        keyword=args.keyword, levels=id_list(args.level), cache=_cache_value(args)))


def _add_classifications(sub: Any) -> None:
    p = add_subcommand(sub, "classifications", "search the taxonomy", _cmd_classifications)
    p.add_argument("--keyword", help="part of the name (scientific or common)")
    p.add_argument("--level", action="append",
                   help="species, genus, family, ... (repeat or comma list)")
    _add_table_options(p)


#: Its subcommands, in ``--help`` order: each adds itself to argparse sub-parsers.
SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_projects, _add_streams, _add_segments, _add_detections, _add_annotations,
    _add_classifications,
)
