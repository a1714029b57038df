"""A function over batches of windows: cut as ``clips`` cuts them, ``fn`` per batch, one frame.

:func:`apply_windows` is what ``indices_df`` and each ``map_windows`` partition run: the
windows of a plan (``stream_id``, ``start``, ``end``) are cut sample-exactly by
:func:`~rfcx_frames.audio.clips.iter_clips` (each window's own span), ``fn(audio, meta)``
runs on every batch, and the results become one frame.

Examples
--------
>>> from rfcx_frames.audio.sources import TableSource
>>> plan = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:00Z"],
...                      "end": ["2020-01-01T00:00:01Z"]})
>>> peak = lambda audio, meta: pd.DataFrame({"peak": audio.max(axis=1)})
>>> apply_windows(TableSource(pd.DataFrame()), plan, peak, sample_rate=100).columns.tolist()
['stream_id', 'start', 'end', 'peak']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from rfcx_frames.audio.clips import iter_clips
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.frames import concat

#: The columns every plan of windows has.
PLAN_COLUMNS = ("stream_id", "start", "end")

#: ``fn(audio, meta) -> DataFrame``: what runs on each batch of windows.
WindowFn = Callable[[Any, pd.DataFrame], pd.DataFrame]


def with_windows(result: Any, meta: pd.DataFrame) -> pd.DataFrame:
    """``fn``'s frame, led by the window columns of ``meta`` when it has one row per window.

    Raises
    ------
    TypeError
        When ``result`` is not a DataFrame.
    ValueError
        When it lacks the window columns and has another number of rows than ``meta``.

    Examples
    --------
    >>> meta = pd.DataFrame({"stream_id": ["s"], "start": [1], "end": [2]})
    >>> with_windows(pd.DataFrame({"x": [0.5]}), meta).columns.tolist()
    ['stream_id', 'start', 'end', 'x']
    """
    if not isinstance(result, pd.DataFrame):
        raise TypeError(f"fn must return a pandas DataFrame, not {type(result).__name__}")
    missing = [c for c in PLAN_COLUMNS if c not in result.columns]
    if not missing:
        return result.reset_index(drop=True)
    if len(result) != len(meta):
        raise ValueError(f"fn returned {len(result)} rows without {missing} for "
                         f"{len(meta)} windows; return one row per window or those columns")
    front = meta[missing].reset_index(drop=True)
    return pd.concat([front, result.reset_index(drop=True)], axis=1)


def apply_windows(source: SegmentSource, plan: pd.DataFrame, fn: WindowFn,
                  **options: Any) -> pd.DataFrame:
    """``fn(audio, meta)`` over every batch of the plan's windows, as one frame.

    Parameters
    ----------
    source
        Where the audio comes from.
    plan
        ``stream_id``, ``start``, ``end`` per window (other columns reach ``meta``).
    fn
        Called per batch with the audio ``float32 [rows, samples]`` and its metadata,
        as :func:`~rfcx_frames.audio.clips.iter_clips` yields them.
    **options
        ``sample_rate``, ``gap``, ``channel``, ``batch_size``, ``workers`` of
        :func:`~rfcx_frames.audio.clips.iter_clips`.

    Returns
    -------
    pandas.DataFrame
        The batches' frames, in plan order.

    Examples
    --------
    >>> apply_windows(source, plan, indices_fn())  # doctest: +SKIP
    """
    frames = [with_windows(fn(audio, meta), meta)
              for audio, meta in iter_clips(source, plan, progress=False, **options)]
    if not frames:
        raise ValueError("plan has no windows")
    return concat(frames) if len(frames) > 1 else frames[0]
