"""Clips of a table written to one ``.npz`` through resumable shards, in bounded memory.

:func:`write_clips` is what ``rfcx-frames clips`` runs: the rows' clips are cut
``batch_size`` at a time and streamed into parts of ``shard_size`` clips in
``<out>.parts/`` (each part a ``.npy`` plus its metadata ``.parquet``, the ``.npy``
renamed into place last), then streamed into ``<out>`` (array ``audio``,
``float32 [rows, samples]``, compressed) and ``<out>.parquet`` (one metadata row per
clip), and the parts are removed. A run that fails or is killed leaves its parts; the
same command skips them (``plan.json`` names the plan, and parts of another plan are
discarded). Without ``sample_rate`` the native rates are checked from the segment
listing first, so a mix of rates fails before any download.

Examples
--------
>>> parts_folder(Path("clips.npz")).name
'clips.npz.parts'
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rfcx_frames.audio.clip_audio import native_rate
from rfcx_frames.audio.clips import clip_spans, iter_clips
from rfcx_frames.audio.npy_stream import write_npy_data, write_npy_rows
from rfcx_frames.audio.sample_time import samples_between, series_ns
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.files import open_atomic, read_json, write_bytes, write_json
from rfcx_frames.progress import tqdm
from rfcx_frames.validate import check_positive_int, check_sample_rate


def parts_folder(out: Path) -> Path:
    """Where the shards of ``out`` are kept until it is complete.

    Examples
    --------
    >>> parts_folder(Path("a/b.npz")).as_posix()
    'a/b.npz.parts'
    """
    return out.with_name(out.name + ".parts")


def _plan(frame: pd.DataFrame, options: dict[str, Any]) -> str:
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _open_parts(parts: Path, plan: str) -> None:
    """Keep the parts of this plan; discard those of any other."""
    marker = parts / "plan.json"
    if parts.is_dir() and (not marker.is_file() or read_json(marker).get("plan") != plan):
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        write_json(marker, {"plan": plan})


def _write_part(parts: Path, shard: int, width: int, n: int,
                batches: Iterator[tuple[np.ndarray, pd.DataFrame]]) -> None:
    """One part: the audio streamed batch by batch into its ``.npy``, then the metadata."""
    metas: list[pd.DataFrame] = []

    def audio() -> Iterator[np.ndarray]:
        for batch, meta in batches:
            metas.append(meta)
            if batch.shape[1] == width:
                yield batch
            else:  # the frame's longest clip fixes the width; fill the rest with zeros
                rows = np.zeros((len(batch), width), dtype=np.float32)
                rows[:, : min(width, batch.shape[1])] = batch[:, :width]
                yield rows

    npy = parts / f"{shard:05d}.npy"
    # Written beside the part and renamed last: the .npy's presence marks it complete.
    with open_atomic(npy.with_suffix(".npy.partial"), "wb") as handle:
        write_npy_rows(handle, (n, width), audio())
    buffer = io.BytesIO()
    pd.concat(metas).to_parquet(buffer, index=True)
    write_bytes(parts / f"{shard:05d}.parquet", buffer.getvalue())
    os.replace(npy.with_suffix(".npy.partial"), npy)


def _assemble(parts: Path, out: Path, n_parts: int, shape: tuple[int, int]) -> pd.DataFrame:
    """Stream the parts into ``out`` (one part in memory at a time); return the metadata."""
    metas = [pd.read_parquet(parts / f"{k:05d}.parquet") for k in range(n_parts)]
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("float32")),
              "fortran_order": False, "shape": shape}
    with open_atomic(out, "wb") as handle, zipfile.ZipFile(
            handle, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive, \
            archive.open("audio.npy", "w", force_zip64=True) as member:
        np.lib.format.write_array_header_2_0(member, header)
        for k in range(n_parts):
            write_npy_data(member, np.load(parts / f"{k:05d}.npy"))
    return pd.concat(metas) if metas else pd.DataFrame()


def write_clips(source: SegmentSource, frame: pd.DataFrame, out: Path, *,
                duration: float | None = None, pad: float = 0.0,
                sample_rate: int | None = None, band_pass: bool = False,
                shard_size: int = 256, batch_size: int = 64,
                progress: bool = True) -> tuple[int, pd.DataFrame]:
    """Write the clips of ``frame``'s rows to ``out`` and their metadata beside it.

    Parameters
    ----------
    source
        Where the audio comes from.
    frame
        Rows with ``stream_id``, ``start``, ``end``.
    out
        The ``.npz`` to write (``<out stem>.parquet`` gets the metadata).
    duration, pad, sample_rate, band_pass
        As in :func:`~rfcx_frames.audio.clips.clips`.
    shard_size
        Clips per resumable part (a re-run skips the parts already written).
    batch_size
        Clips decoded at a time: memory holds one batch, streamed into its part.
    progress
        Show a progress bar.

    Returns
    -------
    tuple
        The number of clips and the metadata written.

    Examples
    --------
    >>> import tempfile
    >>> from rfcx_frames.audio.sources import TableSource
    >>> f = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:00Z"],
    ...                   "end": ["2020-01-01T00:00:01Z"]})
    >>> out = Path(tempfile.mkdtemp()) / "c.npz"
    >>> write_clips(TableSource(pd.DataFrame()), f, out, sample_rate=100, progress=False)[0]
    1
    >>> np.load(out)["audio"].shape
    (1, 100)
    """
    shard_size = check_positive_int(shard_size, "shard_size")
    batch_size = check_positive_int(batch_size, "batch_size")
    spans = clip_spans(frame, duration, pad)
    rate = check_sample_rate(sample_rate)
    if rate is None:
        rate = native_rate(source, spans.rename(columns={"clip_start": "start",
                                                         "clip_end": "end"}))
    if rate is None and len(frame):
        raise ValueError("no recordings under the rows tell their sample rate; "
                         "pass sample_rate= (--sample-rate)")
    lengths = series_ns(spans["clip_end"]) - series_ns(spans["clip_start"])
    width = max((samples_between(0, int(n), rate or 0) for n in lengths), default=0)
    parts = parts_folder(out)
    _open_parts(parts, _plan(frame, {"duration": duration, "pad": pad, "rate": rate,
                                     "band_pass": band_pass, "shard_size": shard_size}))
    starts = list(range(0, len(frame), shard_size))
    with tqdm(total=len(frame), disable=not progress, unit="clip", desc="clips") as bar:
        for shard, lo in enumerate(starts):
            rows = frame.iloc[lo : lo + shard_size]
            if not (parts / f"{shard:05d}.npy").is_file():
                batches = iter_clips(source, rows, duration, pad, sample_rate=rate,
                                     band_pass=band_pass, batch_size=min(batch_size, len(rows)),
                                     progress=False)
                _write_part(parts, shard, width, len(rows),
                            ((a, m.set_axis(m.index + lo)) for a, m in batches))
            bar.update(len(rows))
    meta = _assemble(parts, out, len(starts), (len(frame), width))
    with open_atomic(out.with_suffix(".parquet"), "wb") as handle:
        meta.to_parquet(handle, index=False)
    shutil.rmtree(parts, ignore_errors=True)
    return len(frame), meta


__all__ = ["parts_folder", "write_clips"]
