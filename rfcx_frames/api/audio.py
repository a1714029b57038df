"""The client's audio calls: downloads, windows, clips, the Kaggle export.

Each runs the function of the same name in :mod:`rfcx_frames.audio` on the client's
:class:`~rfcx_frames.audio.download.ClientSource`, which lists segments through the client
(cached) and downloads each file once into the local audio store. Every function takes
the client (a :class:`~rfcx_frames.api.context.Context`) first; :class:`~rfcx_frames.Client`
has each as a method.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import config, timeutil
from ..audio import download as downloads
from ..audio import kaggle, windows
from ..audio.clips import Align
from ..audio.clips import clips as make_clips
from ..audio.clips import iter_clips as make_iter_clips
from ..audio.download import download_one
from ..audio.media_route import server_clips
from ..audio.naming import check_format
from ..audio.sources import ClientSource, default_store
from ..audio.store import AudioStore
from ..exceptions import NotFoundError
from . import ranged
from .context import Context


def audio_source(ctx: Context, store: AudioStore | str | os.PathLike[str] | None = None
                 ) -> ClientSource:
    """The segment source the audio methods read from (downloading on first use).

    Parameters
    ----------
    store
        The local audio store or its folder; default: ``audio/`` under the cache
        folder (``RFCX_FRAMES_CACHE``, else the user cache folder), or a temporary
        folder for a client made with ``cache=False``.

    Examples
    --------
    >>> src = client.audio_source()  # doctest: +SKIP
    """
    if store is None and ctx.shared_audio_source is not None:
        return ctx.shared_audio_source
    if store is None:
        store = default_store(ctx)
    elif not isinstance(store, AudioStore):
        store = AudioStore(store)
    source = ClientSource(ctx, store)
    ctx.shared_audio_source = source
    return source


# -- seed parity ---------------------------------------------------------------------
def download_segment(ctx: Context, stream: str, dest_path: str | os.PathLike[str], start_time: Any,
                     file_ext: str | None = None) -> str:
    """Download one segment, as the official client's ``download_segment`` does.

    The file keeps its real format unless ``file_ext`` asks for another one (then it
    is converted, never renamed), is verified after download, and is written
    atomically. Unlike the official client, errors raise.

    Parameters
    ----------
    stream
        Stream id.
    dest_path
        Folder to save into (created if missing).
    start_time
        The segment's exact start (string or datetime; naive = UTC).
    file_ext
        ``None`` keeps the stored format; ``"wav"``, ``"flac"``, ``"opus"``, ``"ogg"``.

    Returns
    -------
    str
        Path of the file, ``{dest}/{stream}_{YYYY-MM-DD_HH-MM-SS}.{ext}``.

    Examples
    --------
    >>> client.download_segment("abc123abc123", "audio", "2024-03-01T05:00:00Z")  # doctest: +SKIP
    'audio/abc123abc123_2024-03-01_05-00-00.flac'
    """
    at = timeutil.to_utc(start_time, "start_time")
    found = ranged.segments_df(ctx, stream, at, at + pd.Timedelta(milliseconds=1),
                               progress=False, cache=False)
    if found.empty:
        raise NotFoundError("Segment not found", status=404,
                            url=f"{ctx.api_url}/streams/{stream}/segments")
    if file_ext is not None:
        check_format(file_ext)
    row = {str(k): v for k, v in found.iloc[0].items()}
    path, _ = download_one(ctx, row, Path(dest_path), file_ext)
    return str(path)


def download_segments(ctx: Context, stream: str, dest_path: str | os.PathLike[str] = "./audios",
                      min_date: Any = None, max_date: Any = None,
                      file_ext: str | None = None, parallel: bool = True) -> pd.DataFrame:
    """Download every segment of a stream in ``[min_date, max_date)``.

    As the official client's ``download_segments`` (same defaults: the last 30 days),
    but files go to ``{dest_path}/{stream id}/`` (an id cannot point outside the
    folder; a stream name could), keep their real format unless ``file_ext`` converts
    them, and every failure is raised at the end in one
    :class:`~rfcx_frames.exceptions.DownloadError`.

    Parameters
    ----------
    stream
        Stream id.
    dest_path
        Folder to save into.
    min_date, max_date
        The window (default: the last 30 days by the client's clock); naive = UTC.
    file_ext
        ``None`` keeps each file's stored format; else convert to this one.
    parallel
        Download on the client's ``max_workers`` threads (else one at a time).

    Returns
    -------
    pandas.DataFrame
        The segments with ``path`` and ``downloaded`` columns.

    Examples
    --------
    >>> client.download_segments("abc123abc123", "audios", "2024-03-01", "2024-03-02")  # doctest: +SKIP
    """
    now = ctx.now()
    start = (timeutil.to_utc(min_date, "min_date") if min_date is not None
             else now - pd.Timedelta(days=config.SEED_DEFAULT_WINDOW_DAYS))
    end = timeutil.to_utc(max_date, "max_date") if max_date is not None else now
    segments = ranged.segments_df(ctx, stream, start, end)
    return downloads.download(ctx, segments, dest_path, file_ext=file_ext,
                              max_workers=None if parallel else 1)


def download(ctx: Context, segments: pd.DataFrame, dest: str | os.PathLike[str], *,
             file_ext: str | None = None, by_stream: bool = True,
             max_workers: int | None = None, overwrite: bool = False,
             progress: bool | None = None) -> pd.DataFrame:
    """Download the files of a :meth:`~rfcx_frames.Client.segments_df` frame.

    Each file is verified and written atomically; files already present and whole are
    not downloaded again (see :func:`rfcx_frames.audio.download.download`).

    Parameters
    ----------
    segments
        Rows of ``segments_df`` (``stream_id``, ``start``, ``end``, ``file_extension``).
    dest
        Folder to save into.
    file_ext
        ``None`` keeps each file's stored format; else convert to this one.
    by_stream
        One sub-folder per stream.
    max_workers
        Download threads (default: the client's ``max_workers``).
    overwrite
        Download again even when a whole file is present.
    progress
        Show a progress bar (default: the client's setting).

    Returns
    -------
    pandas.DataFrame
        ``segments`` with ``path`` and ``downloaded`` columns.

    Raises
    ------
    rfcx_frames.exceptions.DownloadError
        Naming every segment that failed, after the others were saved.

    Examples
    --------
    >>> segs = client.segments_df("abc123abc123", "2024-03-01", "2024-03-02")  # doctest: +SKIP
    >>> files = client.download(segs, "audios")  # doctest: +SKIP
    """
    return downloads.download(ctx, segments, dest, file_ext=file_ext, by_stream=by_stream,
                              max_workers=max_workers, overwrite=overwrite, progress=progress)


# -- windows, clips ------------------------------------------------------------------
def load_window(ctx: Context, stream: str, start: Any, end: Any, sample_rate: int | None = None,
                channel: windows.Channel = "mix", gap: windows.GapMode = "zero",
                return_gaps: bool = False) -> np.ndarray | tuple[np.ndarray, Any]:
    """Audio of ``stream`` for exactly ``[start, end)``, downloading segments not yet local.

    Samples are cut sample-exactly from the segment files (see
    :func:`rfcx_frames.audio.load_window`); recording gaps follow ``gap``.

    Parameters
    ----------
    stream
        Stream id.
    start, end
        The window; naive times are UTC.
    sample_rate
        Output rate (resampled with soxr); ``None``: the native rate.
    channel
        ``"mix"`` (the mean of the channels) or a channel index.
    gap
        Samples where nothing was recorded: ``"zero"``, ``"nan"``, or ``"raise"``.
    return_gaps
        Also return where the gaps are.

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, coverage)
        ``float32`` samples (and, with ``return_gaps``, the window's coverage).

    Examples
    --------
    >>> x = client.load_window("abc123abc123", "2024-03-01T05:00:10Z",  # doctest: +SKIP
    ...                        "2024-03-01T05:01:10Z", sample_rate=24000)
    """
    return windows.load_window(audio_source(ctx), stream, start, end,
                               sample_rate=sample_rate, channel=channel, gap=gap,
                               return_gaps=return_gaps)  # type: ignore[call-overload]


def clips(ctx: Context, frame: pd.DataFrame, duration: float | None = None, pad: float = 0.0,
          align: Align = "center", sample_rate: int | None = None,
          gap: windows.GapMode = "zero", band_pass: bool = False,
          channel: windows.Channel = "mix", source: str = "segments",
          progress: bool | None = None,
          workers: int | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Clips aligned to each row of a detections/annotations frame.

    Parameters
    ----------
    frame
        Rows with ``stream_id``, ``start``, ``end`` (and optionally ``frequency_min``,
        ``frequency_max``, labels...), all copied to the metadata.
    duration
        Fixed clip length in seconds; ``None``: each event's own span.
    pad
        Seconds added before and after each clip.
    align
        ``"center"`` on the event's middle, or ``"start"`` at its start.
    sample_rate
        Output rate (soxr); ``None``: the native rate (all clips must share it).
    gap
        Recording gaps become ``"zero"``, ``"nan"``, or ``"raise"`` an error.
    band_pass
        Keep only each row's ``frequency_min..frequency_max``.
    channel
        ``"mix"`` or a channel index.
    source
        ``"segments"`` (default): whole segment files are downloaded once into the local
        audio store and cut sample-exactly. ``"server"``: each clip is cut by the
        platform's media route (less data for short clips; millisecond alignment; no
        ``band_pass``/``gap``/``channel`` options).
    progress
        Show a progress bar (default: the client's setting).
    workers
        Decoding (or, with ``"server"``, download) threads.

    Returns
    -------
    audio, meta
        ``float32 [N, samples]`` and one metadata row per clip (see
        :func:`rfcx_frames.audio.clips`).

    Examples
    --------
    >>> audio, meta = client.clips(annotations, duration=3.0, sample_rate=24000)  # doctest: +SKIP
    """
    show = ctx.progress if progress is None else progress
    if source == "server":
        if band_pass or gap != "zero" or channel != "mix":
            raise ValueError("source='server' does not support band_pass, gap or channel; "
                             "use source='segments'")
        return server_clips(ctx, frame, duration=duration, pad=pad, align=align,
                            sample_rate=sample_rate, max_workers=workers)
    if source != "segments":
        raise ValueError(f"source must be 'segments' or 'server', got {source!r}")
    return make_clips(audio_source(ctx), frame, duration=duration, pad=pad, align=align,
                      sample_rate=sample_rate, gap=gap, band_pass=band_pass,
                      channel=channel, progress=show, workers=workers)


def iter_clips(ctx: Context, frame: pd.DataFrame, duration: float | None = None, pad: float = 0.0,
               align: Align = "center", sample_rate: int | None = None,
               gap: windows.GapMode = "zero", band_pass: bool = False,
               channel: windows.Channel = "mix", batch_size: int = 256,
               progress: bool | None = None, workers: int | None = None,
               ) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """:meth:`clips` in batches of ``batch_size`` rows, memory bounded by the batch.

    Same arguments as :meth:`clips` (segment source only). Concatenating the batches
    gives exactly :meth:`clips`'s result.

    Examples
    --------
    >>> for audio, meta in client.iter_clips(detections, duration=2.0):  # doctest: +SKIP
    ...     pass
    """
    return make_iter_clips(audio_source(ctx), frame, duration=duration, pad=pad,
                           align=align, sample_rate=sample_rate, gap=gap,
                           band_pass=band_pass, channel=channel, batch_size=batch_size,
                           progress=ctx.progress if progress is None else progress,
                           workers=workers)


def to_kaggle_rfcx(ctx: Context, annotations: pd.DataFrame, out_dir: str | os.PathLike[str],
                   detections: pd.DataFrame | None = None,
                   recording_duration: float = 60.0, sample_rate: int | None = 48_000,
                   songtype_id: int = 1,
                   progress: bool | None = None) -> dict[str, pd.DataFrame]:
    """Export like the Kaggle "Rainforest Connection species audio detection" data.

    Writes ``train_tp.csv``, ``train_fp.csv`` (``recording_id, species_id,
    songtype_id, t_min, f_min, t_max, f_max`` plus ``stream_id`` and ``start_utc``),
    ``species.csv`` and 60 s FLAC recordings (see
    :func:`rfcx_frames.audio.to_kaggle_rfcx`).

    Parameters
    ----------
    annotations
        True positives (``stream_id``, ``start``, ``end``, frequencies, class).
    out_dir
        The folder to write.
    detections
        Rejected detections become false positives (``train_fp.csv``).
    recording_duration
        Seconds per exported recording.
    sample_rate
        Rate of the FLAC files (``None``: native).
    songtype_id
        The Kaggle ``songtype_id`` column's value.
    progress
        Show a progress bar (default: the client's setting).

    Returns
    -------
    dict
        The written tables by name (``"train_tp"``, ``"train_fp"``, ``"species"``).

    Examples
    --------
    >>> client.to_kaggle_rfcx(annotations, "kaggle")  # doctest: +SKIP
    """
    return kaggle.to_kaggle_rfcx(
        annotations, audio_source(ctx), out_dir, detections=detections,
        recording_duration=recording_duration, sample_rate=sample_rate,
        songtype_id=songtype_id, progress=ctx.progress if progress is None else progress)
