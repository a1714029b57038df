"""Acoustic indices as a frame: ``indices_df``, one row per window of a plan.

The windows are cut from the client's audio store (each segment downloaded once) exactly
as :meth:`~rfcx_frames.Client.clips` cuts them, and ACI, ADI, AEI, BI, NDSI and H computed
per window with scikit-maad (:mod:`rfcx_frames.audio.indices`).

The frame is not kept in the Parquet cache: its input, the audio, already is (the
store), so a repeated call costs CPU and no request, and a cache entry would have to be
keyed by every index option and by the audio's version. For results that must survive
a crash or grow over months, ``rfcx_frames.distributed.map_windows`` with
``indices_fn()`` writes them as resumable Parquet partitions.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..audio.indices import indices_fn
from ..audio.window_apply import apply_windows
from .audio import audio_source
from .context import Context


def indices_df(ctx: Context, plan: pd.DataFrame, *, sample_rate: int | None = None,
               gap: str = "zero", channel: Any = "mix", batch_size: int = 64,
               **options: Any) -> pd.DataFrame:
    """ACI, ADI, AEI, BI, NDSI and H of every window of ``plan``.

    Parameters
    ----------
    plan
        ``stream_id``, ``start``, ``end`` of each window: per segment, the rows of
        ``segments_df(...)``; per regular window,
        ``rfcx_frames.distributed.window_grid(segments, 60)``; per event, a detections
        or annotations frame.
    sample_rate
        Rate to compute at (soxr); ``None``: the native rate (all windows must share it).
    gap
        Recording gaps: ``"zero"`` (a window with no audio gets NaN indices), ``"nan"``
        or ``"raise"``.
    channel
        ``"mix"`` or a channel index.
    batch_size
        Windows decoded at once (bounds memory).
    **options
        ``nperseg``, ``anthrophony``, ``biophony``, ``bi_band`` of
        :func:`rfcx_frames.audio.indices.acoustic_indices`.

    Returns
    -------
    pandas.DataFrame
        ``stream_id``, ``start``, ``end``, ``aci``, ``adi``, ``aei``, ``bi``, ``ndsi``,
        ``h`` and ``coverage`` (the recorded share of the window), in plan order.

    Examples
    --------
    >>> segments = client.segments_df("abc123abc123", "2024-03-01", "2024-03-02")  # doctest: +SKIP
    >>> client.indices_df(segments)  # doctest: +SKIP
    """
    fn = indices_fn(**options)
    return apply_windows(audio_source(ctx), plan, fn, sample_rate=sample_rate, gap=gap,
                         channel=channel, batch_size=batch_size)
