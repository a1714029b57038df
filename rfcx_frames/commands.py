"""Data subcommands of ``rfcx-frames``: each turns arguments into one library call.

Tables go to ``--out FILE.parquet|.csv`` or, without it, to the terminal as a readable
table. Connection settings come from ``--api-url`` and the same environment variables as
the library (``RFCX_API_URL``, ``RFCX_TOKEN``, ...); a token is read from ``RFCX_TOKEN``,
``--token-file PATH`` (``-``: standard input) or the saved login, so it never has to be on
the command line where ``ps`` shows it (``--token`` remains as a last resort). Arguments
are checked before any request is made, so a typo fails at once with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import cache as cache_mod
from . import config
from .cli_args import (
    existing_file,
    id_list,
    input_table,
    int_list,
    negatives_value,
    non_negative_float,
    positive_float,
    positive_int,
    sample_rate,
    table_path,
    time_text,
    unit_float,
    with_suffix,
)
from .client import Client
from .exceptions import AuthenticationError

TABLE_ROWS = 40
TABLE_COLWIDTH = 40


# ------------------------------------------------------------------------ shared helpers


def _connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--api-url", default=None, help="core API (default: RFCX_API_URL or "
                                                       "https://api.rfcx.org)")
    group.add_argument("--ingest-url", default=None,
                       help="ingest uploads endpoint (default: RFCX_INGEST_URL or "
                            "https://ingest.rfcx.org/uploads)")
    group.add_argument("--auth-url", default=None,
                       help="Auth0 tenant (default: RFCX_AUTH_URL or https://auth.rfcx.org)")
    _token_options(group)
    group.add_argument("--credentials", default=config.CREDENTIALS_FILE,
                       help="saved login file (default: %(default)s)")
    group.add_argument("--cache-dir", default=None,
                       help="cache folder (default: RFCX_FRAMES_CACHE or the user cache)")
    group.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _token_options(group: Any) -> None:
    tokens = group.add_mutually_exclusive_group()
    tokens.add_argument("--token-file", default=None, metavar="PATH",
                        help="read the bearer token from this file ('-': standard input); "
                             "default: RFCX_TOKEN, else the saved login")
    tokens.add_argument("--token", default=None,
                        help="bearer token; last resort only: any user of this machine sees "
                             "it in 'ps' and it stays in the shell history (prefer RFCX_TOKEN "
                             "or --token-file)")


def read_token(args: argparse.Namespace) -> str | None:
    """The token given on the command line: ``--token-file`` (``-``: stdin) or ``--token``.

    Surrounding whitespace (a trailing newline) is dropped; an empty or missing file is a
    usage error naming the option.

    Examples
    --------
    >>> read_token(argparse.Namespace(token=None, token_file=None)) is None
    True
    """
    path = getattr(args, "token_file", None)
    if path is None:
        token: str | None = getattr(args, "token", None)
        return token
    where = "standard input" if path == "-" else repr(path)
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--token-file: cannot read {where}: {exc.strerror or exc}") from None
    token = text.strip()
    if not token or any(c.isspace() for c in token):
        # Say nothing of the content: it may be a token with a stray character.
        raise ValueError(f"--token-file: {where} must hold exactly one token "
                         f"({'nothing' if not token else 'whitespace inside'} found)")
    return token


def _client(args: argparse.Namespace) -> Client:
    client = Client(api_url=args.api_url, ingest_url=args.ingest_url, auth_url=args.auth_url,
                    token=read_token(args), cache_dir=args.cache_dir,
                    progress=not args.no_progress)
    if client.authenticated:
        return client
    if config.env(config.ENV_CLIENT_SECRET):
        client.authenticate(persist=False)
    elif Path(args.credentials).exists():
        client.authenticate(persisted_credentials_path=args.credentials)
    elif not Path(config.CREDENTIALS_FILE).exists():
        # Fail before the first request, with advice that fits a shell user.
        raise AuthenticationError("not logged in: set RFCX_TOKEN, pass --token-file PATH "
                                  "('-' reads standard input), or run 'rfcx-frames login' "
                                  "first")
    return client


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=table_path, default=None, metavar="FILE",
                        help="write the table to FILE.parquet or FILE.csv instead of "
                             "printing it")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with nested cells (lists, arrays, dicts) as JSON text, for CSV.

    Without this a CSV cell would hold Python's or numpy's ``repr`` (which differs
    between a fresh and a cached frame, and spans lines for arrays); JSON reads back
    with ``json.loads`` in any language.

    Examples
    --------
    >>> csv_ready(pd.DataFrame({"names": [[{"name": "Coqui"}], None]}))["names"].iloc[0]
    '[{"name": "Coqui"}]'
    """
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype != object:
            continue
        cells = out[column]
        if cells.map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray))).any():
            out[column] = cells.map(
                lambda v: json.dumps(_jsonable(v), ensure_ascii=False)
                if isinstance(v, (list, tuple, dict, np.ndarray)) else v)
    return out


def emit(frame: pd.DataFrame, out: str | None) -> None:
    """Write ``frame`` to ``out`` (.parquet or .csv) or print it as a table.

    Examples
    --------
    >>> emit(pd.DataFrame({"a": [1]}), None)
     a
     1
    >>> emit(pd.DataFrame({"a": []}), None)
    (no rows; columns: a)
    """
    if out is None:
        if frame.empty:
            print(f"(no rows; columns: {', '.join(map(str, frame.columns))})")
            return
        print(frame.head(TABLE_ROWS).to_string(index=False, max_colwidth=TABLE_COLWIDTH))
        if len(frame) > TABLE_ROWS:
            print(f"... {len(frame) - TABLE_ROWS} more rows ({len(frame)} in all); "
                  "use --out FILE.parquet for everything")
        return
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        csv_ready(frame).to_csv(path, index=False)
    else:
        raise ValueError(f"--out must end in .parquet or .csv, got {out!r}")
    print(f"wrote {len(frame)} rows to {path}", file=sys.stderr)


def _cache_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", default=None, choices=["use", "refresh", "offline", "off"],
                        help="use: read what the cache holds and fetch the rest (default); "
                             "refresh: fetch everything again; offline: never fetch; "
                             "off: bypass the cache")


def _cache_value(args: argparse.Namespace) -> Any:
    return False if args.cache == "off" else args.cache


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", required=True, type=time_text,
                        help="window start, ISO 8601 (2024-03-01, 2024-03-01T06:00:00Z; "
                             "naive = UTC)")
    parser.add_argument("--end", required=True, type=time_text,
                        help="window end, exclusive, ISO 8601")


def _read_table(path: str) -> pd.DataFrame:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(p)
    if suffix == ".csv":
        frame = pd.read_csv(p)
        missing = [c for c in ("stream_id", "start", "end") if c not in frame.columns]
        if missing:
            raise ValueError(f"{path} lacks column(s) {', '.join(missing)}")
        for column in ("start", "end"):
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame
    raise ValueError(f"input table must be .parquet or .csv, got {path!r}")


# ------------------------------------------------------------------------------- commands


def cmd_login(args: argparse.Namespace) -> int:
    """``rfcx-frames login``: device-code (or client-credentials) login, saved 0600."""
    client = Client(api_url=args.api_url, ingest_url=args.ingest_url, auth_url=args.auth_url)
    client.authenticate(persist=True, persisted_credentials_path=args.credentials,
                        open_browser=not args.no_browser)
    if config.env(config.ENV_CLIENT_SECRET):
        print("logged in with the client credentials (AUTH0_CLIENT_SECRET); "
              "nothing saved", file=sys.stderr)
    else:
        print(f"logged in; credentials saved to {args.credentials}", file=sys.stderr)
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    """``rfcx-frames projects``: :meth:`Client.projects_df` as a table or file."""
    emit(_client(args).projects_df(keyword=args.keyword, cache=_cache_value(args)), args.out)
    return 0


def cmd_streams(args: argparse.Namespace) -> int:
    """``rfcx-frames streams``: :meth:`Client.streams_df` as a table or file."""
    frame = _client(args).streams_df(projects=id_list(args.project), keyword=args.keyword,
                                     include_public=args.include_public,
                                     cache=_cache_value(args))
    emit(frame, args.out)
    return 0


def cmd_segments(args: argparse.Namespace) -> int:
    """``rfcx-frames segments``: :meth:`Client.segments_df` of one stream."""
    emit(_client(args).segments_df(args.stream, args.start, args.end, cache=_cache_value(args)),
         args.out)
    return 0


def cmd_detections(args: argparse.Namespace) -> int:
    """``rfcx-frames detections``: :meth:`Client.detections_df`; unknown ids exit 1."""
    frame = _client(args).detections_df(
        args.start, args.end, classifications=id_list(args.classification),
        classifiers=int_list(args.classifier, "--classifier"),
        streams=id_list(args.stream), min_confidence=args.min_confidence,
        review_statuses=id_list(args.review_status), local_time=args.local_time,
        cache=_cache_value(args))
    emit(frame, args.out)
    return 0


def cmd_annotations(args: argparse.Namespace) -> int:
    """``rfcx-frames annotations``: :meth:`Client.annotations_df`."""
    frame = _client(args).annotations_df(args.start, args.end,
                                         classifications=id_list(args.classification),
                                         streams=id_list(args.stream),
                                         local_time=args.local_time,
                                         cache=_cache_value(args))
    emit(frame, args.out)
    return 0


def cmd_classifications(args: argparse.Namespace) -> int:
    """``rfcx-frames classifications``: :meth:`Client.classifications_df`."""
    emit(_client(args).classifications_df(keyword=args.keyword, levels=id_list(args.level),
                                          cache=_cache_value(args)), args.out)
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    """``rfcx-frames download``: verified, resumable segment downloads of one stream."""
    from .audio.download import download

    client = _client(args)
    segments = client.segments_df(args.stream, args.start, args.end)
    files = download(client, segments, args.dest, file_ext=args.file_ext,
                     max_workers=args.workers, overwrite=args.overwrite)
    print(f"{int(files['downloaded'].sum())} downloaded, "
          f"{int((~files['downloaded']).sum())} already present, in {args.dest}",
          file=sys.stderr)
    return 0


def cmd_clips(args: argparse.Namespace) -> int:
    """``rfcx-frames clips``: clips for the rows of a table, as ``.npz`` plus metadata."""
    import numpy as np

    from .audio import clips
    from .audio.sources import ClientSource

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
    """``rfcx-frames training-set``: build and write a training set from annotations."""
    from .audio import training_set, write_training_set
    from .audio.sources import ClientSource

    source = ClientSource(_client(args))
    table = training_set(source, _read_table(args.input), clip_duration=args.clip_duration,
                         step=args.step, min_overlap=args.min_overlap,
                         negatives=args.negatives, classes=id_list(args.class_))
    path = write_training_set(table, source, args.out, format=args.format,
                              sample_rate=args.sample_rate, progress=not args.no_progress)
    print(f"wrote {len(table)} clips to {path}", file=sys.stderr)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """``rfcx-frames ingest``: upload a recording; with ``--wait``, exit 1 if it fails."""
    client = _client(args)
    upload_id = client.ingest_file(args.stream, args.file, args.timestamp)
    status, name, message = client.check_ingest(upload_id, wait_for_completion=args.wait,
                                                timeout=args.timeout,
                                                poll_interval=args.poll_interval)
    print(json.dumps({"upload_id": upload_id, "status": status, "status_name": name,
                      "failure_message": message}))
    if status >= 30:
        print(f"error: upload {upload_id} ended {name} (status {status})"
              + (f": {message}" if message else ""), file=sys.stderr)
        return 1
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """``rfcx-frames cache info|path|clear [--orphans]``: inspect or clear the local cache."""
    if args.older_than is not None and args.action != "clear":
        raise ValueError("--older-than only applies to 'cache clear'")
    if args.orphans and args.action != "clear":
        raise ValueError("--orphans only applies to 'cache clear'")
    if args.orphans and args.older_than is not None:
        raise ValueError("--orphans and --older-than cannot be combined")
    root = cache_mod.cache_path(args.cache_dir)
    if args.action == "path":
        print(root)
    elif args.action == "info":
        print(json.dumps(cache_mod.info(root), indent=2, default=str))
    elif args.orphans:
        print(json.dumps(cache_mod.clear_orphans(root)))
    else:
        older = cache_mod.parse_duration(args.older_than) if args.older_than else None
        removed = cache_mod.clear(root, older_than=older)
        print(json.dumps(removed, default=str))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``rfcx-frames demo``: the whole product end to end (see :mod:`rfcx_frames.demo`)."""
    from .demo import main

    args.token = read_token(args)
    return main(args)


# ------------------------------------------------------------------------------- parsers


def add_commands(sub: Any) -> None:
    """Register every data subcommand on ``sub`` (argparse sub-parsers).

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_commands(parser.add_subparsers())
    >>> parser.parse_args(["cache", "path"]).action
    'path'
    """

    def add(name: str, help_text: str, func: Callable[[argparse.Namespace], int],
            connection: bool = True, description: str | None = None
            ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name, help=help_text, description=description or help_text[0].upper()
            + help_text[1:] + ".")
        # SUPPRESS: an absent --debug here must not overwrite one given before COMMAND.
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show tracebacks on errors")
        if connection:
            _connection(parser)
        parser.set_defaults(command=func)
        return parser

    p = add("login", "log in with the device-code flow and save the credentials", cmd_login,
            description="Log in: print a URL and a code to approve in a browser, then save "
                        "the tokens (official client's .rfcx_credentials format, mode 0600). "
                        "With AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET set, log in as that "
                        "machine client instead (nothing saved).")
    p.add_argument("--no-browser", action="store_true",
                   help="only print the URL; do not open a browser")
    p = add("projects", "list projects", cmd_projects)
    p.add_argument("--keyword", help="part of the project name")
    _output(p)
    _cache_arg(p)
    p = add("streams", "list streams", cmd_streams)
    p.add_argument("--project", action="append", help="project id (repeat or comma list)")
    p.add_argument("--keyword", help="part of the stream name")
    p.add_argument("--include-public", action="store_true",
                   help="add public streams of other users")
    _output(p)
    _cache_arg(p)
    p = add("segments", "list the audio segments of a stream", cmd_segments)
    p.add_argument("--stream", required=True, help="stream id")
    _window(p)
    _output(p)
    _cache_arg(p)
    p = add("detections", "detections in a time window", cmd_detections)
    _window(p)
    p.add_argument("--stream", action="append", help="stream id (repeat or comma list)")
    p.add_argument("--classification", action="append",
                   help="classification value, e.g. amazona_vittata (repeat or comma list)")
    p.add_argument("--classifier", action="append",
                   help="classifier id, an integer (repeat or comma list)")
    p.add_argument("--min-confidence", type=unit_float, default=None,
                   help="minimum confidence, 0..1 (platform default 0.95)")
    p.add_argument("--review-status", action="append",
                   help="unreviewed, rejected, uncertain or confirmed (repeat or comma list)")
    p.add_argument("--local-time", action="store_true",
                   help="add start_local, the start in the stream's timezone")
    _output(p)
    _cache_arg(p)
    p = add("annotations", "annotations in a time window", cmd_annotations)
    _window(p)
    p.add_argument("--stream", action="append", help="stream id (repeat or comma list)")
    p.add_argument("--classification", action="append",
                   help="classification value (repeat or comma list)")
    p.add_argument("--local-time", action="store_true",
                   help="add start_local, the start in the stream's timezone")
    _output(p)
    _cache_arg(p)
    p = add("classifications", "search the taxonomy", cmd_classifications)
    p.add_argument("--keyword", help="part of the name (scientific or common)")
    p.add_argument("--level", action="append",
                   help="species, genus, family, ... (repeat or comma list)")
    _output(p)
    _cache_arg(p)
    p = add("download", "download the segment files of a stream", cmd_download)
    p.add_argument("--stream", required=True, help="stream id")
    _window(p)
    p.add_argument("--dest", default="./audios",
                   help="destination folder, one sub-folder per stream (default: %(default)s)")
    p.add_argument("--file-ext", default=None, choices=["wav", "flac", "opus", "ogg"],
                   help="convert to this format (default: keep each file's own)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="concurrent downloads (default: 8)")
    p.add_argument("--overwrite", action="store_true",
                   help="download again even when the file is already there")
    p = add("clips", "audio clips for the rows of a detections/annotations table", cmd_clips,
            description="Cut one audio clip per row of a table (stream_id, start, end), e.g. "
                        "the output of 'detections --out'. Writes OUT.npz (array 'audio', "
                        "clips x samples) and OUT.parquet (one metadata row per clip).")
    p.add_argument("input", type=input_table,
                   help="a .parquet or .csv table (stream_id, start, end, ...)")
    p.add_argument("--out", required=True, type=with_suffix(".npz"),
                   help="output .npz (the metadata .parquet goes beside it)")
    p.add_argument("--duration", type=positive_float, default=None,
                   help="clip length in seconds (default: each row's own length, "
                        "padded to the longest)")
    p.add_argument("--pad", type=non_negative_float, default=0.0,
                   help="seconds added on both sides")
    p.add_argument("--sample-rate", type=sample_rate, default=None,
                   help="resample every clip to this rate (needed when the rows come from "
                        "streams recorded at different rates)")
    p.add_argument("--band-pass", action="store_true",
                   help="keep only the band of each row's frequency_min..frequency_max")
    p = add("training-set", "build and write a training set from annotations",
            cmd_training_set,
            description="Cut the recordings around annotations into fixed-length windows "
                        "labelled multi-hot, add background windows, and write "
                        "OUT/labels.parquet plus one audio file per window.")
    p.add_argument("input", type=input_table,
                   help="annotations table (.parquet or .csv: stream_id, start, end, "
                        "classification_value)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--clip-duration", type=positive_float, default=3.0,
                   help="window length in seconds (default: %(default)s)")
    p.add_argument("--step", type=positive_float, default=None,
                   help="window step in seconds (default: half the window)")
    p.add_argument("--min-overlap", type=unit_float, default=0.5,
                   help="share of an event a window must cover to be labelled with it "
                        "(default: %(default)s)")
    p.add_argument("--negatives", type=negatives_value, default=1.0,
                   help="background windows: a count ('200') or a ratio of the positive "
                        "windows ('1.0', the default)")
    p.add_argument("--class", dest="class_", action="append",
                   help="only these classification values (repeat or comma list)")
    p.add_argument("--sample-rate", type=sample_rate, default=None,
                   help="resample the audio to this rate (needed across streams recorded "
                        "at different rates)")
    p.add_argument("--format", choices=["npz", "flac"], default="npz",
                   help="audio file format (default: %(default)s)")
    p = add("ingest", "upload a recording", cmd_ingest,
            description="Upload one recording to a stream and print its upload status as "
                        "one JSON line. Exit code 1 when the upload ends FAILED, DUPLICATE "
                        "or CHECKSUM.")
    p.add_argument("--stream", required=True, help="stream id")
    p.add_argument("--file", required=True, type=existing_file,
                   help="audio file (wav, flac, opus, ...)")
    p.add_argument("--timestamp", required=True, type=time_text,
                   help="recording start, ISO 8601 (naive = UTC)")
    p.add_argument("--wait", action="store_true",
                   help="wait until the platform has processed the upload")
    p.add_argument("--timeout", type=positive_float, default=config.CHECK_INGEST_TIMEOUT_S,
                   help="with --wait: give up after this many seconds (default: %(default)s)")
    p.add_argument("--poll-interval", type=positive_float, default=config.CHECK_INGEST_POLL_S,
                   help="with --wait: seconds between status checks (default: %(default)s)")
    p = add("cache", "inspect or clear the local cache", cmd_cache, connection=False)
    p.add_argument("action", choices=["info", "path", "clear"],
                   help="info: entries as JSON; path: the folder; clear: delete entries")
    p.add_argument("--cache-dir", default=None,
                   help="cache folder (default: RFCX_FRAMES_CACHE or the user cache)")
    p.add_argument("--older-than", default=None,
                   help="with clear: only entries written longer ago, e.g. 7d, 12h, 30m")
    p.add_argument("--orphans", action="store_true",
                   help="with clear: delete only crash leftovers (unnamed data files, "
                        "temporaries, .part downloads) and keep every entry")
    p = add("demo", "run the whole product on the embedded emulator", cmd_demo,
            connection=False,
            description="Run the whole product end to end (streams, detections, summary "
                        "and plot, cache, annotations, clips, training set) on the embedded "
                        "emulator, or on a platform given with --api-url.")
    p.add_argument("--api-url", default=None,
                   help="run against this platform instead of the emulator")
    _token_options(p)
    p.add_argument("--out", default="demo-output",
                   help="output folder: new, empty, or an earlier demo's output "
                        "(default: %(default)s)")
    p.add_argument("--start", type=time_text, default="2024-03-01",
                   help="start of the month analysed (default: %(default)s, the demo world)")
    p.add_argument("--end", type=time_text, default="2024-04-01",
                   help="end of the window, exclusive (default: %(default)s)")
    p.add_argument("--min-confidence", type=unit_float, default=0.5,
                   help="detection confidence threshold (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
