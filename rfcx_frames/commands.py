"""Data subcommands of ``rfcx-frames``: each turns arguments into one library call.

Tables go to ``--out FILE.parquet|.csv`` or, without it, to the terminal as a readable
table. Connection settings come from ``--api-url``/``--token`` or the same environment
variables as the library (``RFCX_API_URL``, ``RFCX_TOKEN``, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from . import cache as cache_mod
from .client import Client

TABLE_ROWS = 40


def _connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--api-url", default=None, help="core API (default: RFCX_API_URL or "
                                                       "https://api.rfcx.org)")
    group.add_argument("--ingest-url", default=None, help="ingest uploads endpoint")
    group.add_argument("--auth-url", default=None, help="Auth0 tenant")
    group.add_argument("--token", default=None, help="bearer token (default: RFCX_TOKEN or "
                                                     "the saved login)")
    group.add_argument("--credentials", default=".rfcx_credentials",
                       help="saved login file (default: %(default)s)")
    group.add_argument("--cache-dir", default=None, help="cache folder")
    group.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _client(args: argparse.Namespace) -> Client:
    client = Client(api_url=args.api_url, ingest_url=args.ingest_url, auth_url=args.auth_url,
                    token=args.token, cache_dir=args.cache_dir, progress=not args.no_progress)
    if not client.authenticated and Path(args.credentials).exists():
        client.authenticate(persisted_credentials_path=args.credentials)
    return client


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None,
                        help="write the table to FILE.parquet or FILE.csv instead of printing")


def emit(frame: pd.DataFrame, out: str | None) -> None:
    """Write ``frame`` to ``out`` (.parquet or .csv) or print it as a table.

    Examples
    --------
    >>> emit(pd.DataFrame({"a": [1]}), None)
     a
     1
    """
    if out is None:
        with pd.option_context("display.width", 160, "display.max_columns", 20,
                               "display.max_colwidth", 40):
            print(frame.head(TABLE_ROWS).to_string(index=False))
        if len(frame) > TABLE_ROWS:
            print(f"... {len(frame) - TABLE_ROWS} more rows ({len(frame)} in all); "
                  "use --out FILE.parquet for everything")
        return
    path = Path(out)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        raise ValueError(f"--out must end in .parquet or .csv, got {out!r}")
    print(f"wrote {len(frame)} rows to {path}", file=sys.stderr)


def _cache_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", default=None, choices=["use", "refresh", "offline", "off"],
                        help="cache mode (default: use)")


def _cache_value(args: argparse.Namespace) -> Any:
    return False if args.cache == "off" else args.cache


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", required=True, help="window start (ISO 8601; naive = UTC)")
    parser.add_argument("--end", required=True, help="window end, exclusive")


def _list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v for item in values for v in item.split(",") if v]


# ------------------------------------------------------------------------------- commands


def cmd_login(args: argparse.Namespace) -> int:
    client = Client(api_url=args.api_url, ingest_url=args.ingest_url, auth_url=args.auth_url)
    client.authenticate(persist=True, persisted_credentials_path=args.credentials)
    print(f"logged in; credentials saved to {args.credentials}", file=sys.stderr)
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    emit(_client(args).projects_df(keyword=args.keyword, cache=_cache_value(args)), args.out)
    return 0


def cmd_streams(args: argparse.Namespace) -> int:
    frame = _client(args).streams_df(projects=_list(args.project), keyword=args.keyword,
                                     include_public=args.include_public,
                                     cache=_cache_value(args))
    emit(frame, args.out)
    return 0


def cmd_segments(args: argparse.Namespace) -> int:
    emit(_client(args).segments_df(args.stream, args.start, args.end, cache=_cache_value(args)),
         args.out)
    return 0


def cmd_detections(args: argparse.Namespace) -> int:
    frame = _client(args).detections_df(
        args.start, args.end, classifications=_list(args.classification),
        classifiers=[int(c) for c in _list(args.classifier) or []] or None,
        streams=_list(args.stream), min_confidence=args.min_confidence,
        review_statuses=_list(args.review_status), local_time=args.local_time,
        cache=_cache_value(args))
    emit(frame, args.out)
    return 0


def cmd_annotations(args: argparse.Namespace) -> int:
    frame = _client(args).annotations_df(args.start, args.end,
                                         classifications=_list(args.classification),
                                         streams=_list(args.stream), local_time=args.local_time,
                                         cache=_cache_value(args))
    emit(frame, args.out)
    return 0


def cmd_classifications(args: argparse.Namespace) -> int:
    emit(_client(args).classifications_df(keyword=args.keyword, levels=_list(args.level),
                                          cache=_cache_value(args)), args.out)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from .audio.download import download

    client = _client(args)
    segments = client.segments_df(args.stream, args.start, args.end)
    files = download(client, segments, args.dest, file_ext=args.file_ext,
                     max_workers=args.workers)
    print(f"{int(files['downloaded'].sum())} downloaded, "
          f"{int((~files['downloaded']).sum())} already present, in {args.dest}",
          file=sys.stderr)
    return 0


def _read_table(path: str) -> pd.DataFrame:
    p = Path(path)
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    if p.suffix == ".csv":
        frame = pd.read_csv(p)
        for column in ("start", "end"):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame
    raise ValueError(f"input table must be .parquet or .csv, got {path!r}")


def cmd_clips(args: argparse.Namespace) -> int:
    import numpy as np

    from .audio import clips
    from .audio.download import ClientSource

    frame = _read_table(args.input)
    audio, meta = clips(ClientSource(_client(args)), frame, duration=args.duration,
                        pad=args.pad, sample_rate=args.sample_rate,
                        band_pass=args.band_pass, progress=not args.no_progress)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, audio=audio)
    meta.to_parquet(out.with_suffix(".parquet"), index=False)
    print(f"wrote {audio.shape[0]} clips to {out} and metadata to "
          f"{out.with_suffix('.parquet')}", file=sys.stderr)
    return 0


def cmd_training_set(args: argparse.Namespace) -> int:
    from .audio import training_set, write_training_set
    from .audio.download import ClientSource

    source = ClientSource(_client(args))
    table = training_set(source, _read_table(args.input), clip_duration=args.clip_duration,
                         negatives=args.negatives)
    path = write_training_set(table, source, args.out, format=args.format,
                              progress=not args.no_progress)
    print(f"wrote {len(table)} clips to {path}", file=sys.stderr)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    client = _client(args)
    timestamp = pd.Timestamp(args.timestamp)
    if timestamp.tzinfo is not None:
        timestamp = timestamp.tz_convert("UTC").tz_localize(None)
    upload_id = client.ingest_file(args.stream, args.file, timestamp.to_pydatetime())
    if args.wait:
        status, name, message = client.check_ingest(upload_id, wait_for_completion=True,
                                                    timeout=args.timeout)
    else:
        status, name, message = client.check_ingest(upload_id)
    print(json.dumps({"upload_id": upload_id, "status": status, "status_name": name,
                      "failure_message": message}))
    return 0 if status < 30 else 1


def cmd_cache(args: argparse.Namespace) -> int:
    root = cache_mod.cache_path(args.cache_dir)
    if args.action == "path":
        print(root)
    elif args.action == "info":
        print(json.dumps(cache_mod.info(root), indent=2, default=str))
    else:
        older = cache_mod.parse_duration(args.older_than) if args.older_than else None
        removed = cache_mod.clear(root, older_than=older)
        print(json.dumps(removed, default=str))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import main

    return main(args)


# ------------------------------------------------------------------------------- parsers


def add_commands(sub: Any) -> None:
    """Register every data subcommand on ``sub`` (argparse sub-parsers)."""

    def add(name: str, help_text: str, func: Callable[[argparse.Namespace], int],
            connection: bool = True) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text,
                                                         description=help_text)
        if connection:
            _connection(parser)
        parser.set_defaults(command=func)
        return parser

    p = add("login", "log in with the device-code flow and save the credentials", cmd_login)
    p = add("projects", "list projects", cmd_projects)
    p.add_argument("--keyword")
    _output(p)
    _cache_arg(p)
    p = add("streams", "list streams", cmd_streams)
    p.add_argument("--project", action="append", help="project id (repeat or comma list)")
    p.add_argument("--keyword")
    p.add_argument("--include-public", action="store_true",
                   help="add public streams of other users")
    _output(p)
    _cache_arg(p)
    p = add("segments", "list the audio segments of a stream", cmd_segments)
    p.add_argument("--stream", required=True)
    _window(p)
    _output(p)
    _cache_arg(p)
    p = add("detections", "detections in a time window", cmd_detections)
    _window(p)
    p.add_argument("--stream", action="append", help="stream id (repeat or comma list)")
    p.add_argument("--classification", action="append", help="classification value")
    p.add_argument("--classifier", action="append", help="classifier id")
    p.add_argument("--min-confidence", type=float, default=None,
                   help="minimum confidence (platform default 0.95)")
    p.add_argument("--review-status", action="append",
                   help="unreviewed, rejected, uncertain or confirmed")
    p.add_argument("--local-time", action="store_true", help="add start_local")
    _output(p)
    _cache_arg(p)
    p = add("annotations", "annotations in a time window", cmd_annotations)
    _window(p)
    p.add_argument("--stream", action="append")
    p.add_argument("--classification", action="append")
    p.add_argument("--local-time", action="store_true")
    _output(p)
    _cache_arg(p)
    p = add("classifications", "search the taxonomy", cmd_classifications)
    p.add_argument("--keyword")
    p.add_argument("--level", action="append", help="species, genus, ... (repeat)")
    _output(p)
    _cache_arg(p)
    p = add("download", "download the segment files of a stream", cmd_download)
    p.add_argument("--stream", required=True)
    _window(p)
    p.add_argument("--dest", default="./audios", help="destination folder")
    p.add_argument("--file-ext", default=None, help="convert to wav, flac, opus or ogg")
    p.add_argument("--workers", type=int, default=None)
    p = add("clips", "audio clips for the rows of a detections/annotations table", cmd_clips)
    p.add_argument("input", help="a .parquet or .csv table (stream_id, start, end, ...)")
    p.add_argument("--out", required=True, help="output .npz (metadata goes beside it)")
    p.add_argument("--duration", type=float, default=None, help="clip length in seconds")
    p.add_argument("--pad", type=float, default=0.0)
    p.add_argument("--sample-rate", type=int, default=None)
    p.add_argument("--band-pass", action="store_true")
    p = add("training-set", "build and write a training set from annotations",
            cmd_training_set)
    p.add_argument("input", help="annotations table (.parquet or .csv)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--clip-duration", type=float, default=3.0)
    p.add_argument("--negatives", type=float, default=1.0)
    p.add_argument("--format", choices=["npz", "flac"], default="npz")
    p = add("ingest", "upload a recording", cmd_ingest)
    p.add_argument("--stream", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--timestamp", required=True, help="recording start (naive = UTC)")
    p.add_argument("--wait", action="store_true", help="wait until processed")
    p.add_argument("--timeout", type=float, default=600.0)
    p = add("cache", "inspect or clear the local cache", cmd_cache, connection=False)
    p.add_argument("action", choices=["info", "path", "clear"])
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--older-than", default=None, help="with clear: e.g. 7d, 12h")
    p = add("demo", "run the whole product on the embedded emulator", cmd_demo,
            connection=False)
    p.add_argument("--api-url", default=None,
                   help="run against this platform instead of the emulator")
    p.add_argument("--token", default=None)
    p.add_argument("--out", default="demo-output", help="output folder (emptied first)")
    p.add_argument("--no-progress", action="store_true")
