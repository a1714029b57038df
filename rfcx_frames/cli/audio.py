"""Audio subcommands of ``rfcx-frames``: segment downloads, clips of a table, training sets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..audio.clip_shards import write_clips
from ..audio.download import download
from ..audio.sources import ClientSource
from .args import (
    id_list,
    input_table,
    negatives_value,
    non_negative_float,
    positive_float,
    positive_int,
    sample_rate,
    unit_float,
    with_suffix,
)
from .connection import client_from
from .parsers import add_subcommand, add_window


def read_table(path: str) -> pd.DataFrame:
    """The input table at ``path``: Parquet as written, or CSV with UTC ``start``/``end``.

    Parameters
    ----------
    path
        A ``.parquet`` or ``.csv`` file with ``stream_id``, ``start`` and ``end``.

    Raises
    ------
    ValueError
        Another suffix, or a CSV without those columns (exit code 2).

    Examples
    --------
    >>> read_table("rows.xlsx")
    Traceback (most recent call last):
    ...
    ValueError: input table must be .parquet or .csv, got 'rows.xlsx'
    """
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


def _sample_rate_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--sample-rate", type=sample_rate, default=None,
                        help=f"resample {what} to this rate (needed when the rows come from "
                             "streams recorded at different rates)")


# --------------------------------------------------------------------------- download


def _cmd_download(args: argparse.Namespace) -> int:
    """``rfcx-frames download``: verified, resumable segment downloads of one stream."""
    client = client_from(args)
    segments = client.segments_df(args.stream, args.start, args.end)
    files = download(client, segments, args.dest, file_ext=args.file_ext,
                     max_workers=args.workers, overwrite=args.overwrite)
    print(f"{int(files['downloaded'].sum())} downloaded, "
          f"{int((~files['downloaded']).sum())} already present, in {args.dest}",
          file=sys.stderr)
    return 0


def _add_download(sub: Any) -> None:
    p = add_subcommand(sub, "download", "download the segment files of a stream", _cmd_download)
    p.add_argument("--stream", required=True, help="stream id")
    add_window(p)
    p.add_argument("--dest", default="./audios",
                   help="destination folder, one sub-folder per stream (default: %(default)s)")
    p.add_argument("--file-ext", default=None, choices=["wav", "flac", "opus", "ogg"],
                   help="convert to this format (default: keep each file's own)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="concurrent downloads (default: 8)")
    p.add_argument("--overwrite", action="store_true",
                   help="download again even when the file is already there")


# --------------------------------------------------------------------------- clips


def _cmd_clips(args: argparse.Namespace) -> int:
    """``rfcx-frames clips``: clips for the rows of a table, as ``.npz`` plus metadata."""
    frame = read_table(args.input)
    out = Path(args.out)
    count, _ = write_clips(ClientSource(client_from(args)), frame, out, duration=args.duration,
                           pad=args.pad, sample_rate=args.sample_rate,
                           band_pass=args.band_pass, shard_size=args.shard_size,
                           progress=not args.no_progress)
    print(f"wrote {count} clips to {out} and metadata to "
          f"{out.with_suffix('.parquet')}", file=sys.stderr)
    return 0


def _add_clips(sub: Any) -> None:
    p = add_subcommand(
        sub, "clips", "audio clips for the rows of a detections/annotations table", _cmd_clips,
        description="Cut one audio clip per row of a table (stream_id, start, end), e.g. "
                    "the output of 'detections --out'. Writes OUT.npz (array 'audio', "
                    "clips x samples) and OUT.parquet (one metadata row per clip). Clips "
                    "are cut in shards kept in OUT.npz.parts/ until the end: the same "
                    "command after an interruption skips the shards already written.")
    p.add_argument("input", type=input_table,
                   help="a .parquet or .csv table (stream_id, start, end, ...)")
    p.add_argument("--out", required=True, type=with_suffix(".npz"),
                   help="output .npz (the metadata .parquet goes beside it)")
    p.add_argument("--duration", type=positive_float, default=None,
                   help="clip length in seconds (default: each row's own length, "
                        "padded to the longest)")
    p.add_argument("--pad", type=non_negative_float, default=0.0,
                   help="seconds added on both sides")
    _sample_rate_option(p, "every clip")
    p.add_argument("--band-pass", action="store_true",
                   help="keep only the band of each row's frequency_min..frequency_max")
    _shard_option(p)


def _shard_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shard-size", type=positive_int, default=256,
                        help="clips held in memory and written at a time (default: "
                             "%(default)s)")


# --------------------------------------------------------------------------- training set


def _cmd_training_set(args: argparse.Namespace) -> int:
    """``rfcx-frames training-set``: build and write a training set from annotations."""
    client = client_from(args)
    ts = client.training_set(read_table(args.input), clip_duration=args.clip_duration,
                             sample_rate=args.sample_rate, step=args.step,
                             min_overlap=args.min_overlap, negatives=args.negatives,
                             classes=id_list(args.class_), context=args.context)
    path = client.write_training_set(ts, args.out, format=args.format,
                                     shard_size=args.shard_size,
                                     progress=not args.no_progress)
    print(f"wrote {len(ts)} clips to {path}", file=sys.stderr)
    return 0


def _add_training_set(sub: Any) -> None:
    p = add_subcommand(
        sub, "training-set", "build and write a training set from annotations",
        _cmd_training_set,
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
    _sample_rate_option(p, "the audio")
    p.add_argument("--format", choices=["npz", "flac"], default="npz",
                   help="audio file format (default: %(default)s)")
    p.add_argument("--context", choices=["drop", "keep"], default="drop",
                   help="windows near an event that carry no label: drop them or keep them "
                        "with their review masks (default: %(default)s)")
    _shard_option(p)


#: Its subcommands, in ``--help`` order: each adds itself to argparse sub-parsers.
SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_download, _add_clips, _add_training_set)
