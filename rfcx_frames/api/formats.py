"""The client's exports to other tools' formats: Raven selection tables and opensoundscape.

Each runs the function of the same name in :mod:`rfcx_frames.audio` on the client's audio
source (segments listed through the cache, files downloaded once into the audio store).
Reading a Raven table back needs no client: :func:`rfcx_frames.read_raven`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..audio import download as downloads
from ..audio import opensoundscape, raven
from ..audio.sample_time import series_ns
from ..audio.segment_table import holding
from ..timeutil import from_ns
from .audio import audio_source
from .context import Context


def _recordings(ctx: Context, index: pd.DataFrame) -> pd.DataFrame:
    """The segment rows the written tables belong to, one per table."""
    rows = []
    for stream_id, group in index.groupby("stream_id", sort=True):
        starts = series_ns(group["recording_start"])
        table = audio_source(ctx).segments(str(stream_id), from_ns(int(starts.min())),
                                           from_ns(int(starts.max()) + 1))
        table = table.sort_values("start", kind="stable").reset_index(drop=True)
        rows.append(table.iloc[np.unique(holding(table, starts))])
    return pd.concat(rows, ignore_index=True)


def to_raven(ctx: Context, frame: pd.DataFrame, out_dir: str | os.PathLike[str], *,
             audio: bool = False, file_ext: str | None = None, view: str = "Spectrogram 1",
             max_freq: float = 24_000.0) -> pd.DataFrame:
    """Write annotations or detections as Raven selection tables, one per recording.

    Times are seconds from the start of the segment holding each row; each table is
    named after that segment's download name, so with ``audio=True`` (the segment files
    written beside their tables) Raven Pro opens each table with its sound. See
    :func:`rfcx_frames.audio.to_raven` for the columns.

    Parameters
    ----------
    frame
        Rows of :meth:`annotations_df` or :meth:`detections_df`.
    out_dir
        The folder to write.
    audio
        Also download each table's segment file into ``out_dir`` (verified, atomic).
    file_ext
        With ``audio``: ``None`` keeps the stored format; ``"wav"`` or ``"flac"``
        converts (Raven Pro does not read Opus).
    view
        Raven view of every selection.
    max_freq
        High frequency (Hz) of rows without ``frequency_max`` when the rate is unknown.

    Returns
    -------
    pandas.DataFrame
        One row per table: ``path``, ``stream_id``, ``recording_start``, ``selections``,
        and with ``audio`` the sound file's ``audio_path``.

    Examples
    --------
    >>> tables = client.to_raven(client.annotations_df(...), "raven", audio=True)  # doctest: +SKIP
    """
    index = raven.to_raven(frame, audio_source(ctx), out_dir, view=view, max_freq=max_freq)
    if not audio or len(index) == 0:
        return index
    files = downloads.download(ctx, _recordings(ctx, index), Path(out_dir), file_ext=file_ext,
                               by_stream=False, progress=ctx.progress)
    keyed = zip(files["stream_id"].astype(str), series_ns(files["start"]), strict=True)
    by_start = dict(zip(keyed, files["path"], strict=True))
    keys = zip(index["stream_id"].astype(str), series_ns(index["recording_start"]), strict=True)
    return index.assign(audio_path=pd.array([by_start[k] for k in keys], dtype="string"))


def to_opensoundscape(ctx: Context, labels: Any, out_dir: str | os.PathLike[str], *,
                      sample_rate: int | None = None, file_ext: str = "wav",
                      progress: bool | None = None) -> pd.DataFrame:
    """Write clips and the labels frame opensoundscape's ``AudioFileDataset`` reads.

    See :func:`rfcx_frames.audio.to_opensoundscape` for the layout.

    Parameters
    ----------
    labels
        A training set's labels (``stream_id``, ``start``, ``end``, ``label_<class>``), a
        training set, or annotations.
    out_dir
        The folder to write (a re-run keeps clip files already whole).
    sample_rate
        Rate of the clip files (``None``: native, or the training set's).
    file_ext
        ``"wav"`` or ``"flac"``.
    progress
        Show a progress bar (default: the client's setting).

    Returns
    -------
    pandas.DataFrame
        Index ``(file, start_time, end_time)``, one 0/1 column per class.

    Examples
    --------
    >>> labels = client.to_opensoundscape(ts, "oss", sample_rate=16000)  # doctest: +SKIP
    """
    return opensoundscape.to_opensoundscape(
        labels, audio_source(ctx), out_dir, sample_rate=sample_rate, file_ext=file_ext,
        progress=ctx.progress if progress is None else progress)
