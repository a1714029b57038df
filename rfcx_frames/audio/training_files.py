"""Training sets on disk: written in shards of bounded size, resumable, read back lazily.

:func:`write_training_set` stores a :class:`~rfcx_frames.audio.training_set.TrainingSet`
shard by shard (one batch of clips in memory at a time), in a staging folder switched
in as a whole when complete (:mod:`rfcx_frames.audio.atomic_dir`). The staging folder is
named after a hash of the plan (windows, rate, format, gap, shard size), so a run that
failed or was killed is resumed by the same call: shards already written are skipped,
and every clip ends up exactly once. :func:`read_training_set` reads it back as a
TrainingSet whose audio is loaded (and verified against the manifest) on indexing.

Layout of a written set (``layout: 2`` in ``dataset.json``)::

    <out_dir>/labels.parquet          the labels plus file, offset, shard, sample_rate, n_samples
    <out_dir>/dataset.json            classes, clip duration, rate, format, rows, shard size
    <out_dir>/audio/00000/clips.npz   one shard: float32 [clips, samples] (format "npz")
    <out_dir>/audio/00000/0000000.flac  or one 24-bit FLAC per clip (format "flac")
    <out_dir>/manifest.json           size and SHA-256 of every file, written last

Sets of the earlier layout (``audio/000000.npz``, one clip per file) read the same way.

Examples
--------
>>> sorted(AudioFormat.__args__)
['flac', 'npz']
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from rfcx_frames.audio.atomic_dir import (
    MANIFEST,
    TrainingSetError,
    load_manifest,
    read_verified,
    reading,
    replacing,
)
from rfcx_frames.audio.clip_audio import ClipAudio
from rfcx_frames.audio.npy_stream import write_npz_rows
from rfcx_frames.audio.training_set import TrainingSet
from rfcx_frames.files import fsync_dir, open_atomic, write_bytes
from rfcx_frames.progress import tqdm
from rfcx_frames.validate import check_positive_int

AudioFormat = Literal["npz", "flac"]
LAYOUT = 2
#: Columns a written set's labels get: where each clip's audio is.
_LOCATION = ("file", "offset", "shard", "sample_rate", "n_samples")


def _plan_key(ts: TrainingSet, format: str, shard_size: int) -> str:
    """A hash of everything that decides the shards' bytes."""
    digest = hashlib.sha256()
    windows = ts.labels[["stream_id", "start", "end"]]
    digest.update(pd.util.hash_pandas_object(windows, index=False).to_numpy().tobytes())
    digest.update(json.dumps([ts.sample_rate, ts.audio.shape[1], format, shard_size,
                              ts.audio.gap, LAYOUT]).encode())
    return digest.hexdigest()[:16]


def _flac(data: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(data, -1.0, 1.0), rate, format="FLAC", subtype="PCM_24")
    return buffer.getvalue()


def _shard_files(shard: int, lo: int, hi: int, format: AudioFormat) -> list[str]:
    if format == "npz":
        return [f"audio/{shard:05d}/clips.npz"] * (hi - lo)
    return [f"audio/{shard:05d}/{row:07d}.flac" for row in range(lo, hi)]


def _batches(ts: TrainingSet, lo: int, hi: int) -> Iterator[tuple[int, np.ndarray]]:
    """Rows ``lo..hi`` of the audio, ``ts.audio.batch_size`` at a time, with their start."""
    step = ts.audio.batch_size
    for a in range(lo, hi, step):
        yield a, ts.audio[a : min(hi, a + step)]


def _write_shard(staging: Path, ts: TrainingSet, shard: int, lo: int, hi: int,
                 format: AudioFormat) -> None:
    """Shard ``shard`` (rows ``lo..hi``) in a hidden folder, renamed into place when whole.

    The audio is loaded and written one batch at a time, so memory holds one batch
    (``ts.audio.batch_size`` clips), not the whole shard.
    """
    final = staging / "audio" / f"{shard:05d}"
    partial = staging / "audio" / f".{shard:05d}.tmp"
    shutil.rmtree(partial, ignore_errors=True)
    if format == "npz":
        with open_atomic(partial / "clips.npz", "wb") as handle:
            write_npz_rows(handle, "audio", (hi - lo, ts.audio.shape[1]),
                           (audio for _, audio in _batches(ts, lo, hi)))
    else:
        for first, audio in _batches(ts, lo, hi):
            for row, clip in enumerate(audio, start=first):
                write_bytes(partial / f"{row:07d}.flac", _flac(clip, ts.sample_rate))
    os.rename(partial, final)
    fsync_dir(final.parent)


def _labels_of_shard(ts: TrainingSet, format: AudioFormat, shard: int, lo: int,
                     hi: int) -> pd.DataFrame:
    """Rows ``lo..hi`` of the labels plus where each clip is: file, offset, shard, rate."""
    chunk = ts.labels.iloc[lo:hi].drop(columns=list(_LOCATION), errors="ignore")
    n = hi - lo
    chunk = chunk.assign(
        file=pd.Series(_shard_files(shard, lo, hi, format), index=chunk.index, dtype="object"),
        offset=(np.arange(n) if format == "npz" else np.zeros(n)).astype("int64"),
        shard=np.full(n, shard, dtype="int64"),
        sample_rate=np.full(n, ts.sample_rate, dtype="int64"),
        n_samples=np.full(n, ts.audio.shape[1], dtype="int64"))
    chunk.attrs = {}
    return chunk


def _write_labels(staging: Path, ts: TrainingSet, format: AudioFormat, shard_size: int) -> None:
    """``labels.parquet`` (labels plus where each clip is) and ``dataset.json``.

    The Parquet file gets one row group per shard, each converted on its own: converting
    the whole table at once made Arrow's allocator keep several times the labels' size.
    """
    n = len(ts)
    info = {"layout": LAYOUT, "classes": ts.classes, "clip_duration": ts.clip_duration,
            "sample_rate": ts.sample_rate, "format": format, "rows": n,
            "shard_size": shard_size}
    write_bytes(staging / "dataset.json", json.dumps(info, indent=2).encode())
    with open_atomic(staging / "labels.parquet", "wb") as handle:
        if n == 0:
            _labels_of_shard(ts, format, 0, 0, 0).to_parquet(handle, index=False)
            return
        writer: pq.ParquetWriter | None = None
        try:
            for shard, lo in enumerate(range(0, n, shard_size)):
                table = pa.Table.from_pandas(
                    _labels_of_shard(ts, format, shard, lo, min(n, lo + shard_size)),
                    preserve_index=False)
                if writer is None:
                    # A column empty in the first shard is typed from the first shard
                    # only: text (the type of every object column here).
                    schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type)
                                        else f for f in table.schema],
                                       metadata=table.schema.metadata)
                    writer = pq.ParquetWriter(handle, schema)
                writer.write_table(table.cast(writer.schema))
        finally:
            if writer is not None:
                writer.close()


def write_training_set(
    ts: TrainingSet,
    out_dir: str | os.PathLike[str],
    format: AudioFormat = "npz",
    shard_size: int = 512,
    progress: bool = True,
) -> Path:
    """Write a TrainingSet shard by shard; re-running after a failure resumes it.

    Memory holds one batch of audio at a time (``ts.audio.batch_size`` clips, the
    ``batch_size`` of :func:`~rfcx_frames.audio.training_set.training_set`, and never
    more than ``shard_size``), streamed into the shard's file; a shard is the unit a
    re-run skips. The set is built
    in a hidden folder beside ``out_dir`` named after the plan, and switched in whole
    when complete (see :mod:`rfcx_frames.audio.atomic_dir`): ``out_dir`` shows the whole
    old set or the whole new one. After a crash or kill, the same call skips the shards
    already written. ``out_dir`` must be new, empty, or an earlier training set.

    Parameters
    ----------
    ts
        The set (from :func:`~rfcx_frames.audio.training_set.training_set`).
    out_dir
        The folder to create or replace.
    format
        ``"npz"`` (float32, one file per shard) or ``"flac"`` (24-bit, one per clip).
    shard_size
        Clips per shard (per file with ``"npz"``; the unit a re-run skips).
    progress
        Show a progress bar.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    ValueError
        A bad ``format``, FLAC of audio that may hold NaN, or an ``out_dir`` holding
        something else.

    Examples
    --------
    >>> import tempfile
    >>> from rfcx_frames.audio.training_set import _demo
    >>> out = write_training_set(_demo(), Path(tempfile.mkdtemp()) / "ds", progress=False)
    >>> sorted(p.name for p in out.iterdir())
    ['audio', 'dataset.json', 'labels.parquet', 'manifest.json']
    """
    if not isinstance(ts, TrainingSet):
        raise TypeError(f"ts must be a TrainingSet (from training_set()), not "
                        f"{type(ts).__name__}")
    if format not in ("npz", "flac"):
        raise ValueError(f"format must be 'npz' or 'flac', not {format!r}")
    if format == "flac" and ts.audio.gap == "nan":
        raise ValueError("FLAC cannot hold NaN; use gap='zero' or format='npz'")
    shard_size = check_positive_int(shard_size, "shard_size")
    out = Path(out_dir)
    key = _plan_key(ts, format, shard_size)
    with replacing(out, is_ours=(MANIFEST, "labels.parquet"), resume=key) as staging:
        (staging / "audio").mkdir(exist_ok=True)
        starts = range(0, len(ts), shard_size)
        with tqdm(total=len(ts), disable=not progress, unit="clip", desc="shards") as bar:
            for shard, lo in enumerate(starts):
                hi = min(len(ts), lo + shard_size)
                if not (staging / "audio" / f"{shard:05d}").is_dir():
                    _write_shard(staging, ts, shard, lo, hi, format)
                bar.update(hi - lo)
        for leftover in (staging / "audio").glob(".*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)
        _write_labels(staging, ts, format, shard_size)
    return out


def _decode(raw: bytes, name: str) -> np.ndarray:
    if name.endswith(".npz"):
        with np.load(io.BytesIO(raw)) as npz:
            return np.asarray(npz["audio"], dtype=np.float32)
    data, _ = sf.read(io.BytesIO(raw), dtype="float32")
    return np.asarray(data)


class FolderLoader:
    """Reads clips of a written set, each file verified against the manifest when read.

    Examples
    --------
    >>> FolderLoader(Path("."), {}, pd.DataFrame({"file": [], "offset": []}), 0)(
    ...     np.array([], dtype="int64")).shape
    (0, 0)
    """

    def __init__(self, folder: Path, manifest: dict[str, dict[str, Any]],
                 labels: pd.DataFrame, width: int) -> None:
        self.folder, self.manifest, self.width = folder, manifest, width
        self.files = labels["file"].astype(str).to_numpy()
        self.offsets = (labels["offset"].to_numpy(dtype="int64") if "offset" in labels.columns
                        else np.zeros(len(labels), dtype="int64"))

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), self.width), dtype=np.float32)
        for name in dict.fromkeys(self.files[rows]):
            data = _decode(read_verified(self.folder, self.manifest, name), name)
            hit = np.flatnonzero(self.files[rows] == name)
            for i in hit:
                clip = data[self.offsets[rows[i]]] if data.ndim == 2 else data
                out[i, : len(clip)] = clip[: self.width]
        return out


def read_training_set(out_dir: str | os.PathLike[str], batch_size: int = 256) -> TrainingSet:
    """Read back what :func:`write_training_set` wrote, as a TrainingSet with lazy audio.

    ``labels``, ``dataset.json`` and the manifest are checked now; each audio file is
    checked (size and SHA-256) when its clips are loaded. A rewrite interrupted between
    its two renames (platforms without an atomic folder swap) is finished first. Sets
    of the earlier one-file-per-clip layout read the same way.

    Parameters
    ----------
    out_dir
        The folder :func:`write_training_set` wrote.
    batch_size
        Clips loaded at a time when iterating.

    Returns
    -------
    TrainingSet
        ``labels`` also hold ``file``, ``sample_rate`` and ``n_samples`` per clip.

    Raises
    ------
    TrainingSetError
        No manifest (incomplete), or a file missing, changed, or not listed.

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
    width = int(labels["n_samples"].max()) if len(labels) else 0
    audio = ClipAudio(len(labels), width, FolderLoader(out, manifest, labels, width), batch_size)
    return TrainingSet(labels, audio, int(info.get("sample_rate") or 0),
                       float(info.get("clip_duration") or 0.0), info["classes"])


__all__ = ["AudioFormat", "FolderLoader", "read_training_set", "write_training_set"]
