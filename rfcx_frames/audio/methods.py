"""The audio methods of :class:`~rfcx_frames.Client`: downloads, windows, clips, training sets.

Each method runs the function of the same name in :mod:`rfcx_frames.audio` on the client's
:class:`~rfcx_frames.audio.download.ClientSource`, which lists segments through the client
(cached) and downloads each file once into the local audio store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import audio as training  # the public audio API: training_set, write_training_set...
from .. import config, timeutil
from . import windows
from .clips import Align
from .clips import clips as make_clips
from .clips import iter_clips as make_iter_clips
from .download import download, download_one
from .media_route import server_clips
from .naming import check_format
from .sources import ClientSource, default_store
from .store import AudioStore

if TYPE_CHECKING:
    from ..client import Client


class AudioMethods:
    """Mixin of the audio methods; :class:`~rfcx_frames.Client` provides the attributes."""

    cache_dir: Any
    progress: bool
    _audio_source: ClientSource | None = None

    def _client(self) -> Client:
        return self  # type: ignore[return-value]

    def audio_source(self, store: AudioStore | str | os.PathLike[str] | None = None
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
        if store is None and self._audio_source is not None:
            return self._audio_source
        if store is None:
            store = default_store(self._client())
        elif not isinstance(store, AudioStore):
            store = AudioStore(store)
        source = ClientSource(self._client(), store)
        self._audio_source = source
        return source

    # -- seed parity ---------------------------------------------------------------------
    def download_segment(self, stream: str, dest_path: str | os.PathLike[str], start_time: Any,
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
        client = self._client()
        at = timeutil.to_utc(start_time, "start_time")
        found = client.segments_df(stream, at, at + pd.Timedelta(milliseconds=1),
                                   progress=False, cache=False)
        if found.empty:
            from ..exceptions import NotFoundError

            raise NotFoundError("Segment not found", status=404,
                                url=f"{client.api_url}/streams/{stream}/segments")
        if file_ext is not None:
            check_format(file_ext)
        row = {str(k): v for k, v in found.iloc[0].items()}
        path, _ = download_one(client, row, Path(dest_path), file_ext)
        return str(path)

    def download_segments(self, stream: str, dest_path: str | os.PathLike[str] = "./audios",
                          min_date: Any = None, max_date: Any = None,
                          file_ext: str | None = None, parallel: bool = True) -> pd.DataFrame:
        """Download every segment of a stream in ``[min_date, max_date)``.

        As the official client's ``download_segments`` (same defaults: the last 30 days),
        but files go to ``{dest_path}/{stream id}/`` (an id cannot point outside the
        folder; a stream name could), keep their real format unless ``file_ext`` converts
        them, and every failure is raised at the end in one
        :class:`~rfcx_frames.exceptions.DownloadError`.

        Returns
        -------
        pandas.DataFrame
            The segments with ``path`` and ``downloaded`` columns.

        Examples
        --------
        >>> client.download_segments("abc123abc123", "audios", "2024-03-01", "2024-03-02")  # doctest: +SKIP
        """
        client = self._client()
        now = client.now()
        start = (timeutil.to_utc(min_date, "min_date") if min_date is not None
                 else now - pd.Timedelta(days=config.SEED_DEFAULT_WINDOW_DAYS))
        end = timeutil.to_utc(max_date, "max_date") if max_date is not None else now
        segments = client.segments_df(stream, start, end)
        return download(client, segments, dest_path, file_ext=file_ext,
                        max_workers=None if parallel else 1)

    def download(self, segments: pd.DataFrame, dest: str | os.PathLike[str], *,
                 file_ext: str | None = None, by_stream: bool = True,
                 max_workers: int | None = None, overwrite: bool = False,
                 progress: bool | None = None) -> pd.DataFrame:
        """Download the files of a :meth:`segments_df` frame (see
        :func:`rfcx_frames.audio.download.download`).

        Examples
        --------
        >>> segs = client.segments_df("abc123abc123", "2024-03-01", "2024-03-02")  # doctest: +SKIP
        >>> files = client.download(segs, "audios")  # doctest: +SKIP
        """
        return download(self._client(), segments, dest, file_ext=file_ext, by_stream=by_stream,
                        max_workers=max_workers, overwrite=overwrite, progress=progress)

    # -- windows, clips, training sets -----------------------------------------------------
    def load_window(self, stream: str, start: Any, end: Any, sample_rate: int | None = None,
                    channel: windows.Channel = "mix", gap: windows.GapMode = "zero",
                    return_gaps: bool = False) -> Any:
        """Audio of ``stream`` for exactly ``[start, end)`` (see
        :func:`rfcx_frames.audio.load_window`), downloading segments not yet local.

        Examples
        --------
        >>> x = client.load_window("abc123abc123", "2024-03-01T05:00:10Z",  # doctest: +SKIP
        ...                        "2024-03-01T05:01:10Z", sample_rate=24000)
        """
        return windows.load_window(self.audio_source(), stream, start, end,
                                   sample_rate=sample_rate, channel=channel, gap=gap,
                                   return_gaps=return_gaps)  # type: ignore[call-overload]

    def clips(self, frame: pd.DataFrame, duration: float | None = None, pad: float = 0.0,
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
        show = self.progress if progress is None else progress
        if source == "server":
            if band_pass or gap != "zero" or channel != "mix":
                raise ValueError("source='server' does not support band_pass, gap or channel; "
                                 "use source='segments'")
            return server_clips(self._client(), frame, duration=duration, pad=pad, align=align,
                                sample_rate=sample_rate, max_workers=workers)
        if source != "segments":
            raise ValueError(f"source must be 'segments' or 'server', got {source!r}")
        return make_clips(self.audio_source(), frame, duration=duration, pad=pad, align=align,
                          sample_rate=sample_rate, gap=gap, band_pass=band_pass,
                          channel=channel, progress=show, workers=workers)

    def iter_clips(self, frame: pd.DataFrame, duration: float | None = None, pad: float = 0.0,
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
        return make_iter_clips(self.audio_source(), frame, duration=duration, pad=pad,
                               align=align, sample_rate=sample_rate, gap=gap,
                               band_pass=band_pass, channel=channel, batch_size=batch_size,
                               progress=self.progress if progress is None else progress,
                               workers=workers)

    def training_set(self, annotations: pd.DataFrame, clip_duration: float,
                     step: float | None = None, min_overlap: float = 0.5,
                     negatives: int | float = 1.0, classes: list[str] | None = None,
                     detections: pd.DataFrame | None = None, seed: int = 0,
                     min_distance: float = 5.0) -> pd.DataFrame:
        """A clip table with multi-hot labels from annotations.

        Parameters
        ----------
        annotations
            ``stream_id``, ``start``, ``end``, ``classification_value``.
        clip_duration
            Window length in seconds.
        step
            Grid step in seconds (default: half the clip).
        min_overlap
            Share of an event a window must cover to be positive for it.
        negatives
            Background windows: a count (int) or a ratio of positive windows (float).
        classes
            Classes to label (default: every class annotated).
        detections
            Confirmed/rejected detections to add as positives/validated negatives.
        seed
            Seed of the background draw.
        min_distance
            Seconds kept between background windows and any event.

        Returns
        -------
        pandas.DataFrame
            One row per window: ``stream_id``, ``start``, ``end``, ``kind``, one
            ``label_<class>`` and one ``reviewed_<class>`` column per class (unreviewed is
            not negative). See :func:`rfcx_frames.audio.training_set`.

        Examples
        --------
        >>> table = client.training_set(annotations, clip_duration=3.0)  # doctest: +SKIP
        """
        return training.training_set(self.audio_source(), annotations, clip_duration,
                                     step=step, min_overlap=min_overlap, negatives=negatives,
                                     classes=classes, detections=detections, seed=seed,
                                     min_distance=min_distance)

    def write_training_set(self, table: pd.DataFrame, out_dir: str | os.PathLike[str],
                           format: str = "npz", sample_rate: int | None = None,
                           gap: windows.GapMode = "zero", batch_size: int = 256,
                           progress: bool | None = None) -> Path:
        """Write a training set: ``labels.parquet`` plus audio as ``.npz`` or ``.flac``.

        Read it back with :func:`rfcx_frames.audio.read_training_set`.

        Examples
        --------
        >>> client.write_training_set(table, "train", format="flac")  # doctest: +SKIP
        """
        return training.write_training_set(
            table, self.audio_source(), out_dir, format=format,  # type: ignore[arg-type]
            sample_rate=sample_rate, gap=gap, batch_size=batch_size,
            progress=self.progress if progress is None else progress)

    def to_kaggle_rfcx(self, annotations: pd.DataFrame, out_dir: str | os.PathLike[str],
                       detections: pd.DataFrame | None = None,
                       recording_duration: float = 60.0, sample_rate: int | None = 48_000,
                       songtype_id: int = 1,
                       progress: bool | None = None) -> dict[str, pd.DataFrame]:
        """Export like the Kaggle "Rainforest Connection species audio detection" data.

        Writes ``train_tp.csv``, ``train_fp.csv`` (``recording_id, species_id,
        songtype_id, t_min, f_min, t_max, f_max`` plus ``stream_id`` and ``start_utc``),
        ``species.csv`` and 60 s FLAC recordings (see
        :func:`rfcx_frames.audio.to_kaggle_rfcx`).

        Examples
        --------
        >>> client.to_kaggle_rfcx(annotations, "kaggle")  # doctest: +SKIP
        """
        return training.to_kaggle_rfcx(
            annotations, self.audio_source(), out_dir, detections=detections,
            recording_duration=recording_duration, sample_rate=sample_rate,
            songtype_id=songtype_id, progress=self.progress if progress is None else progress)
