"""Training sets on disk: a clip table's audio and labels written as one folder, and read back.

:func:`write_training_set` stores a clip table from
:func:`~rfcx_frames.audio.training.training_set` as ``labels.parquet`` plus one audio file
per clip, switched in as a whole (:mod:`rfcx_frames.audio.atomic_dir`);
:func:`read_training_set` reads it back, verified against its manifest.

Layout of a written set::

    <out_dir>/labels.parquet    the clip table plus file, sample_rate, n_samples
    <out_dir>/dataset.json      classes, clip duration, rate, format, row count
    <out_dir>/audio/000000.npz  one file per clip (or .flac)
    <out_dir>/manifest.json     size and SHA-256 of every file, written last

Examples
--------
>>> sorted(AudioFormat.__args__)
['flac', 'npz']
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import soundfile as sf

from rfcx_frames.audio.atomic_dir import (
    MANIFEST,
    TrainingSetError,
    load_manifest,
    read_verified,
    reading,
    replacing,
)
from rfcx_frames.audio.clips import iter_clips
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.audio.windows import GapMode
from rfcx_frames.files import write_bytes
from rfcx_frames.validate import check_sample_rate

AudioFormat = Literal["npz", "flac"]


def _check_options(format: str, gap: str) -> None:
    if format not in ("npz", "flac"):
        raise ValueError(f"format must be 'npz' or 'flac', not {format!r}")
    if format == "flac" and gap == "nan":
        raise ValueError("FLAC cannot hold NaN; use gap='zero' or format='npz'")


def _write_clips(staging: Path, clips: Any, format: AudioFormat) -> tuple[list[str], list[int], int]:
    """Write each clip of the ``iter_clips`` batches as ``audio/<row>.<format>``.

    Returns the relative file names, the real sample counts and the rate (0 when none).
    """
    files: list[str] = []
    n_samples: list[int] = []
    rate = 0
    for audio, meta in clips:
        rate = int(meta["sample_rate"].iloc[0])
        for row, clip, n in zip(meta.index, audio, meta["n_samples"], strict=True):
            name = f"audio/{row:06d}.{format}"
            write_bytes(staging / name, _encode(clip[: int(n)], format, rate))
            files.append(name)
            n_samples.append(int(n))
    return files, n_samples, rate


def _write_labels(staging: Path, table: pd.DataFrame, files: list[str], n_samples: list[int],
                  rate: int, format: AudioFormat) -> None:
    """``labels.parquet`` (the table plus file, rate, length) and ``dataset.json``."""
    labels = table.reset_index(drop=True).copy()
    labels["file"] = pd.Series(files, dtype="object")
    labels["sample_rate"] = np.full(len(labels), rate, dtype="int64")
    labels["n_samples"] = np.asarray(n_samples, dtype="int64")
    info = {
        "classes": list(table.attrs.get("classes", _classes_from_columns(table))),
        "clip_duration": table.attrs.get("clip_duration"),
        "sample_rate": rate,
        "format": format,
        "rows": len(labels),
    }
    write_bytes(staging / "dataset.json", json.dumps(info, indent=2).encode())
    labels.attrs = {}
    buffer = io.BytesIO()
    labels.to_parquet(buffer, index=False)
    write_bytes(staging / "labels.parquet", buffer.getvalue())


def write_training_set(
    table: pd.DataFrame,
    source: SegmentSource,
    out_dir: str | os.PathLike[str],
    format: AudioFormat = "npz",
    sample_rate: int | None = None,
    gap: GapMode = "zero",
    batch_size: int = 256,
    progress: bool = True,
) -> Path:
    """Write a clip table's audio and labels: ``labels.parquet`` + ``audio/<row>.<format>``.

    ``labels.parquet`` holds the table plus ``file`` (path relative to ``out_dir``),
    ``sample_rate`` and ``n_samples``; ``dataset.json`` holds the classes, clip duration,
    rate and format; ``manifest.json`` names every file with its size and SHA-256. FLAC
    is 24-bit PCM (values clipped to [-1, 1]); ``.npz`` keeps float32 exactly.

    The set is built in a hidden folder beside ``out_dir`` and switched in whole (see
    :mod:`rfcx_frames.audio.atomic_dir`): rewriting a set in place leaves, whatever the
    moment of a crash, the whole old set or the whole new one. ``out_dir`` must be new,
    empty, or an earlier training set, which is replaced entirely.

    Parameters
    ----------
    table
        A clip table (``stream_id``, ``start``, ``end``, label columns...).
    source
        Where the audio comes from.
    out_dir
        The folder to create or replace.
    format
        ``"npz"`` (float32) or ``"flac"`` (24-bit).
    sample_rate
        Output rate; ``None`` keeps the native rate (all clips must share it).
    gap
        ``"zero"``, ``"nan"`` (npz only) or ``"raise"``, as in
        :func:`~rfcx_frames.audio.load_window`.
    batch_size
        Clips decoded at a time (bounds memory).
    progress
        Show a progress bar.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    ValueError
        A bad ``format``/``gap``, or an ``out_dir`` holding something else.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> import tempfile
    >>> t = pd.DataFrame({"stream_id": ["s"], "start": pd.to_datetime(["2020-01-01"], utc=True),
    ...                   "end": pd.to_datetime(["2020-01-01 00:00:01"], utc=True)})
    >>> out = write_training_set(t, TableSource(pd.DataFrame()), Path(tempfile.mkdtemp()) / "ds",
    ...                          sample_rate=100, progress=False)
    >>> sorted(p.name for p in out.iterdir())
    ['audio', 'dataset.json', 'labels.parquet', 'manifest.json']
    """
    _check_options(format, gap)
    sample_rate = check_sample_rate(sample_rate)
    out = Path(out_dir)
    with replacing(out, is_ours=(MANIFEST, "labels.parquet")) as staging:
        clips = iter_clips(source, table[["stream_id", "start", "end"]], sample_rate=sample_rate,
                           gap=gap, batch_size=batch_size, progress=progress)
        files, n_samples, rate = _write_clips(staging, clips, format)
        _write_labels(staging, table, files, n_samples, rate, format)
    return out


def _encode(data: np.ndarray, format: AudioFormat, rate: int) -> bytes:
    buffer = io.BytesIO()
    if format == "npz":
        np.savez(buffer, audio=data)
    else:
        sf.write(buffer, np.clip(data, -1.0, 1.0), rate, format="FLAC", subtype="PCM_24")
    return buffer.getvalue()


def _decode(raw: bytes, name: str) -> np.ndarray:
    if name.endswith(".npz"):
        with np.load(io.BytesIO(raw)) as npz:
            return np.asarray(npz["audio"])
    data, _ = sf.read(io.BytesIO(raw), dtype="float32")
    return np.asarray(data)


def _classes_from_columns(table: pd.DataFrame) -> list[str]:
    return [c[len("label_") :] for c in table.columns if str(c).startswith("label_")]


def read_training_set(out_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Read back what :func:`write_training_set` wrote: ``(labels, audio[N, samples])``.

    Clips shorter than the longest are right-padded with zeros (``labels.n_samples``).
    Every file is checked against ``manifest.json`` (size and SHA-256); a rewrite that
    was interrupted between its two renames (platforms without an atomic folder swap) is
    finished first.

    Parameters
    ----------
    out_dir
        The folder :func:`write_training_set` wrote.

    Returns
    -------
    tuple
        The labels (``attrs`` hold ``classes`` and ``clip_duration``) and the audio.

    Raises
    ------
    TrainingSetError
        The folder has no manifest (incomplete, or written by an older version), or a
        file is missing, changed, or not listed.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     read_training_set(tempfile.mkdtemp())
    ... except TrainingSetError as err:
    ...     "no manifest.json" in str(err)
    True
    """
    with reading(Path(out_dir)) as out:
        manifest = load_manifest(out)
        labels = pd.read_parquet(io.BytesIO(read_verified(out, manifest, "labels.parquet")))
        info = json.loads(read_verified(out, manifest, "dataset.json"))
        if int(info.get("rows", len(labels))) != len(labels):
            raise TrainingSetError(f"{out}: dataset.json and labels.parquet disagree", out)
        labels.attrs["classes"] = info["classes"]
        labels.attrs["clip_duration"] = info["clip_duration"]
        width = int(labels["n_samples"].max()) if len(labels) else 0
        audio = np.zeros((len(labels), width), dtype=np.float32)
        for i, name in enumerate(labels["file"]):
            data = _decode(read_verified(out, manifest, str(name)), str(name))
            audio[i, : len(data)] = data
    return labels, audio
