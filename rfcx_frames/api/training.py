"""The client's training-set calls: a TrainingSet from annotations, and its sharded writer.

Each runs the function of the same name in :mod:`rfcx_frames.audio` on the client's
downloading source (:func:`~rfcx_frames.api.audio.audio_source`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..audio import training_files
from ..audio.training import DEFAULT_STATUSES, ContextMode
from ..audio.training_files import AudioFormat
from ..audio.training_set import TrainingSet
from ..audio.training_set import training_set as build_training_set
from ..audio.windows import GapMode
from .audio import audio_source
from .context import Context


def training_set(ctx: Context, annotations: pd.DataFrame, clip_duration: float,
                 sample_rate: int | None = None, *, step: float | None = None,
                 min_overlap: float = 0.5, negatives: int | float = 1.0,
                 classes: Sequence[str] | None = None, detections: pd.DataFrame | None = None,
                 seed: int = 0, min_distance: float = 5.0, context: ContextMode = "drop",
                 review_statuses: Sequence[str] = DEFAULT_STATUSES, gap: GapMode = "zero",
                 batch_size: int = 256) -> TrainingSet:
    """A TrainingSet: labelled windows around annotations and reviewed detections.

    Audio is read lazily (``ts.audio[i]``, ``np.asarray(ts.audio)``), downloading each
    recording once into the client's audio store.

    Parameters
    ----------
    annotations
        ``stream_id``, ``start``, ``end``, ``classification_value``.
    clip_duration
        Window length in seconds.
    sample_rate
        Rate of the audio; ``None``: the native rate, which must be the same for every
        recording (checked from the segment listing before any download).
    step
        Grid step in seconds (default: half the clip).
    min_overlap
        Share of an event a window must cover to be positive for it.
    negatives
        Background windows: a count (int) or a ratio of positive windows (float).
    classes
        Classes to label (default: every class found).
    detections
        Detections with ``review_status``: confirmed ones are positives, rejected ones
        validated negatives (unreviewed ones only with ``review_statuses``).
    seed
        Seed of the background draw.
    min_distance
        Seconds kept between background windows and any event.
    context
        ``"drop"`` (default) or ``"keep"`` the context windows: windows near an event
        that carry no label (see :mod:`rfcx_frames.audio.training`).
    review_statuses
        Source rows used, among ``"annotation"``, ``"confirmed"``, ``"rejected"`` and
        ``"unreviewed"``; ``("annotation", "confirmed")`` keeps verified positives only.
    gap
        Missing audio inside a clip: ``"zero"``, ``"nan"`` or ``"raise"``.
    batch_size
        Clips decoded at a time when iterating.

    Returns
    -------
    TrainingSet
        ``labels``, lazy ``audio``, ``sample_rate``, ``clip_duration``, ``classes``.

    Examples
    --------
    >>> ts = client.training_set(annotations, clip_duration=3.0, sample_rate=16000)  # doctest: +SKIP
    >>> train, test = ts.split(by="recording", test_size=0.25)  # doctest: +SKIP
    """
    return build_training_set(
        audio_source(ctx), annotations, clip_duration, sample_rate, step=step,
        min_overlap=min_overlap, negatives=negatives, classes=classes, detections=detections,
        seed=seed, min_distance=min_distance, context=context,
        review_statuses=review_statuses, gap=gap, batch_size=batch_size)


def write_training_set(ctx: Context, ts: TrainingSet, out_dir: str | os.PathLike[str],
                       format: AudioFormat = "npz", shard_size: int = 512,
                       progress: bool | None = None) -> Path:
    """Write a TrainingSet in shards; the same call after a crash resumes it.

    Read it back with :func:`rfcx_frames.read_training_set`. The folder appears whole
    or not at all (a failed write keeps the previous set and the shards written so far).

    Parameters
    ----------
    ts
        From :meth:`~rfcx_frames.Client.training_set`.
    out_dir
        The folder to write.
    format
        ``"npz"`` (float32, one file per shard) or ``"flac"`` (24-bit, one per clip).
    shard_size
        Clips per shard (the unit a re-run skips); memory holds one batch of the set's
        ``batch_size`` clips, never more than ``shard_size``.
    progress
        Show a progress bar (default: the client's setting).

    Returns
    -------
    pathlib.Path
        The folder written.

    Examples
    --------
    >>> client.write_training_set(ts, "train", format="flac")  # doctest: +SKIP
    """
    return training_files.write_training_set(
        ts, out_dir, format=format, shard_size=shard_size,
        progress=ctx.progress if progress is None else progress)
