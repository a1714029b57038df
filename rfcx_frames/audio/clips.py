"""Clips for the rows of a detections or annotations table: spans, audio and metadata.

``clips(source, frame)`` returns ``(audio, meta)``: ``audio`` is ``float32 [N, samples]`` and
row ``i`` of ``meta`` describes ``audio[i]`` (the frame's own columns, copied, plus where
the clip is). Clip spans:

* ``duration=None``: each event's own ``[start - pad, end + pad)``; rows are then
  right-padded with zeros to the longest clip, and ``meta.n_samples`` says how many samples
  of each row are real.
* ``duration=d, align="center"``: ``d + 2*pad`` seconds centred on the event's middle.
* ``duration=d, align="start"``: from ``start - pad`` to ``start + d + pad``.

:func:`iter_clips` yields the same rows in batches (the concatenation of the batches equals
the ``clips`` result), so memory is bounded by ``batch_size``.

Examples
--------
>>> frame = pd.DataFrame({"stream_id": ["s1"], "start": ["2020-01-01T00:00:01Z"],
...                       "end": ["2020-01-01T00:00:02Z"]})
>>> w = clip_spans(frame, duration=4.0)
>>> str(w.loc[0, "clip_start"])
'2019-12-31 23:59:59.500000+00:00'
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import pandas as pd

from rfcx_frames.audio.bands import DEFAULT_TRANSITION_HZ, band_pass_filter
from rfcx_frames.audio.sample_time import ns_to_series, samples_between, seconds_to_ns, series_ns
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.audio.windows import Channel, GapMode, WindowRequest, load_windows
from rfcx_frames.progress import tqdm
from rfcx_frames.validate import check_sample_rate, check_seconds

Align = Literal["center", "start"]



def _classification_column(frame: pd.DataFrame) -> pd.DataFrame:
    """Accept a flattened ``classification.value`` as ``classification_value``."""
    if "classification_value" not in frame.columns and "classification.value" in frame.columns:
        frame = frame.assign(classification_value=frame["classification.value"])
    return frame


def clip_spans(
    frame: pd.DataFrame,
    duration: float | None = None,
    pad: float = 0.0,
    align: Align = "center",
) -> pd.DataFrame:
    """The clip span of every row: ``stream_id``, ``clip_start``, ``clip_end`` (ns, UTC).

    Pure: no audio is read. See the module docstring for the span rules.

    Parameters
    ----------
    frame
        Rows with ``stream_id``, ``start`` and (unless ``duration`` with ``align="start"``)
        ``end``.
    duration
        Fixed clip length in seconds, or ``None`` for each event's own span.
    pad
        Seconds added before and after every clip.
    align
        ``"center"`` or ``"start"``.

    Returns
    -------
    pandas.DataFrame
        ``stream_id``, ``clip_start``, ``clip_end``, on the frame's index.

    Examples
    --------
    >>> f = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:10Z"],
    ...                   "end": ["2020-01-01T00:00:12Z"]})
    >>> clip_spans(f, pad=0.5)["clip_end"].iloc[0]
    Timestamp('2020-01-01 00:00:12.500000+0000', tz='UTC')
    >>> clip_spans(f, duration=1.0, align="start")["clip_end"].iloc[0]
    Timestamp('2020-01-01 00:00:11+0000', tz='UTC')
    """
    for column in ("stream_id", "start"):
        if column not in frame.columns:
            raise ValueError(f"frame needs a {column!r} column")
    if align not in ("center", "start"):
        raise ValueError(f"align must be 'center' or 'start', not {align!r}")
    pad = check_seconds(pad, "pad", allow_zero=True)
    if duration is not None:
        duration = check_seconds(duration, "duration")
    start = series_ns(frame["start"])
    pad_ns = seconds_to_ns(pad)
    if duration is None or align == "center":
        if "end" not in frame.columns:
            raise ValueError("frame needs an 'end' column (or pass duration= with align='start')")
        end = series_ns(frame["end"])
        if (end < start).any():
            raise ValueError("some rows end before they start")
    if duration is None:
        clip_start, clip_end = start - pad_ns, end + pad_ns
    else:
        length = seconds_to_ns(duration) + 2 * pad_ns
        if align == "center":
            # Integer midpoint: (start + end) // 2 never loses a nanosecond to float rounding.
            clip_start = (start + end) // 2 - seconds_to_ns(duration) // 2 - pad_ns
        else:
            clip_start = start - pad_ns
        clip_end = clip_start + length
    if (clip_end <= clip_start).any():
        raise ValueError("some clips are empty (end == start and no duration or pad)")
    return pd.DataFrame(
        {
            "stream_id": frame["stream_id"].astype(str).to_numpy(),
            "clip_start": ns_to_series(clip_start).to_numpy(),
            "clip_end": ns_to_series(clip_end).to_numpy(),
        },
        index=frame.index,
    )


def iter_clips(
    source: SegmentSource,
    frame: pd.DataFrame,
    duration: float | None = None,
    pad: float = 0.0,
    align: Align = "center",
    sample_rate: int | None = None,
    gap: GapMode = "zero",
    band_pass: bool = False,
    channel: Channel = "mix",
    batch_size: int = 256,
    progress: bool = True,
    workers: int | None = None,
    transition: float = DEFAULT_TRANSITION_HZ,
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """Yield :func:`clips` in batches of ``batch_size`` rows, in the frame's order.

    Every batch has the same width (the longest clip of the whole frame), and its
    metadata index continues the row positions (0, 1, ... over the whole frame), so
    ``np.concatenate`` of the arrays and ``pd.concat`` of the metadata equal ``clips()``.
    Each batch opens each file it needs once and decodes files in parallel.

    Parameters
    ----------
    source, frame, duration, pad, align, sample_rate, gap, band_pass, channel
        As in :func:`clips`.
    batch_size
        Rows per batch (bounds memory).
    progress, workers, transition
        As in :func:`clips`.

    Yields
    ------
    audio, meta
        One batch: ``float32 [rows, width]`` and its metadata rows.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> f = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:00Z"],
    ...                   "end": ["2020-01-01T00:00:01Z"]})
    >>> [a.shape for a, m in iter_clips(TableSource(pd.DataFrame()), f, sample_rate=100,
    ...                                  progress=False)]
    [(1, 100)]
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    frame = _classification_column(frame)
    if band_pass and not {"frequency_min", "frequency_max"} & set(frame.columns):
        raise ValueError("band_pass needs frequency_min / frequency_max columns")
    spans = clip_spans(frame, duration, pad, align)
    starts, ends = series_ns(spans["clip_start"]), series_ns(spans["clip_end"])
    stream_ids = spans["stream_id"].tolist()
    requested = check_sample_rate(sample_rate)
    rate, width = requested, None
    with tqdm(total=len(frame), disable=not progress, unit="clip", desc="clips") as bar:
        for lo in range(0, len(frame), batch_size):
            hi = min(lo + batch_size, len(frame))
            requests = [WindowRequest(stream_ids[i], int(starts[i]), int(ends[i]))
                        for i in range(lo, hi)]
            audio, covs = load_windows(source, requests, requested, channel, gap, width, workers)
            rate = _same_rate(rate, covs[0].sample_rate, lo, hi)
            if width is None:
                width = max(samples_between(0, int(e - s), rate) for s, e in zip(
                    starts, ends, strict=True))
                audio = _widen(audio, width, gap)
            meta = _metadata(frame.iloc[lo:hi], starts[lo:hi], ends[lo:hi], covs, rate, lo)
            if band_pass:
                audio = band_pass_filter(audio, rate, meta.get("frequency_min"),
                                         meta.get("frequency_max"), transition)
            bar.update(hi - lo)
            yield audio, meta


def _same_rate(rate: int | None, batch_rate: int, lo: int, hi: int) -> int:
    """The clips' one rate: the first batch's, which every later batch must share."""
    if rate is not None and batch_rate != rate:
        raise ValueError(
            f"rows {lo}..{hi - 1} have native rate {batch_rate} Hz, earlier rows "
            f"{rate} Hz; pass sample_rate= to resample all clips to one rate"
        )
    return batch_rate if rate is None else rate


def _widen(audio: np.ndarray, width: int, gap: GapMode) -> np.ndarray:
    """``audio`` followed by fill columns up to ``width`` (the longest clip of the frame)."""
    if audio.shape[1] >= width:
        return audio
    padded = np.full((len(audio), width), np.nan if gap == "nan" else 0.0, dtype=np.float32)
    padded[:, : audio.shape[1]] = audio
    return padded


def _metadata(
    rows: pd.DataFrame,
    clip_start: np.ndarray,
    clip_end: np.ndarray,
    coverages: list[Any],
    rate: int,
    offset: int,
) -> pd.DataFrame:
    meta = rows.copy()
    meta.insert(0, "frame_index", rows.index.to_numpy())
    meta.index = pd.RangeIndex(offset, offset + len(rows))
    meta["clip_start"] = ns_to_series(clip_start).to_numpy()
    meta["clip_end"] = ns_to_series(clip_end).to_numpy()
    meta["sample_rate"] = np.full(len(rows), rate, dtype="int64")
    meta["n_samples"] = np.array(
        [samples_between(int(a), int(b), rate) for a, b in zip(clip_start, clip_end, strict=True)],
        dtype="int64",
    )
    event_start = series_ns(rows["start"])
    meta["event_start_sample"] = np.array(
        [samples_between(int(c), int(s), rate) for c, s in zip(clip_start, event_start,
                                                                 strict=True)],
        dtype="int64",
    )
    if "end" in rows.columns:
        event_end = series_ns(rows["end"])
        meta["event_end_sample"] = np.array(
            [samples_between(int(c), int(e), rate) for c, e in zip(clip_start, event_end,
                                                                     strict=True)],
            dtype="int64",
        )
    meta["coverage"] = np.array([c.fraction for c in coverages], dtype="float64")
    return meta


def clips(
    source: SegmentSource,
    frame: pd.DataFrame,
    duration: float | None = None,
    pad: float = 0.0,
    align: Align = "center",
    sample_rate: int | None = None,
    gap: GapMode = "zero",
    band_pass: bool = False,
    channel: Channel = "mix",
    progress: bool = True,
    workers: int | None = None,
    transition: float = DEFAULT_TRANSITION_HZ,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Audio clips for every row of a detections/annotations frame.

    Parameters
    ----------
    source
        Where the audio comes from.
    frame
        Rows with ``stream_id``, ``start``, ``end`` and optionally ``frequency_min``,
        ``frequency_max``, ``classification_value``, ``id``, ... (all copied to the metadata).
    duration
        Fixed clip length in seconds, or ``None`` for each event's own span.
    pad
        Seconds added before and after every clip.
    align
        ``"center"`` (on the event's middle) or ``"start"`` (at the event's start).
    sample_rate
        Output rate; ``None`` keeps the native rate (all clips must share it).
    gap
        ``"zero"``, ``"nan"`` or ``"raise"``, as in :func:`~rfcx_frames.audio.load_window`.
    band_pass
        Keep only each row's ``frequency_min..frequency_max`` (zero-phase FFT mask).
    channel
        ``"mix"`` or a channel index.
    progress
        Show a progress bar.
    workers
        Decoding threads (default :func:`~rfcx_frames.audio.windows.default_workers`).
    transition
        Width in Hz of the band-pass edges.

    Returns
    -------
    audio, meta
        ``float32 [N, samples]`` and one metadata row per clip: the frame's columns plus
        ``frame_index``, ``clip_start``, ``clip_end`` (UTC), ``sample_rate``, ``n_samples``,
        ``event_start_sample``, ``event_end_sample`` (offsets of the event inside the clip)
        and ``coverage`` (fraction of the clip with audio).

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> f = pd.DataFrame({"stream_id": ["s", "s"], "start": ["2020-01-01T00:00:00Z"] * 2,
    ...                   "end": ["2020-01-01T00:00:01Z", "2020-01-01T00:00:02Z"]})
    >>> audio, meta = clips(TableSource(pd.DataFrame()), f, sample_rate=100, progress=False)
    >>> audio.shape, meta["n_samples"].tolist()
    ((2, 200), [100, 200])
    """
    batches = list(
        iter_clips(
            source, frame, duration, pad, align, sample_rate, gap, band_pass, channel,
            batch_size=max(1, min(len(frame), 256)), progress=progress, workers=workers,
            transition=transition,
        )
    )
    if not batches:
        rate = 0 if sample_rate is None else int(sample_rate)
        empty = frame.iloc[0:0].copy()
        return np.zeros((0, 0), dtype=np.float32), empty.assign(sample_rate=rate)
    audio = np.concatenate([a for a, _ in batches], axis=0)
    meta = pd.concat([m for _, m in batches])
    return audio, meta


def shift(frame: pd.DataFrame, seconds: float) -> pd.DataFrame:
    """The same events moved by ``seconds`` (for "same band, elsewhere" comparisons).

    Parameters
    ----------
    frame
        Rows with ``start`` and/or ``end``.
    seconds
        The shift (negative moves earlier).

    Returns
    -------
    pandas.DataFrame
        A copy with ``start``/``end`` moved (UTC).

    Examples
    --------
    >>> f = pd.DataFrame({"stream_id": ["s"], "start": pd.to_datetime(["2020-01-01"], utc=True),
    ...                   "end": pd.to_datetime(["2020-01-01 00:00:01"], utc=True)})
    >>> shift(f, 5)["start"].iloc[0]
    Timestamp('2020-01-01 00:00:05+0000', tz='UTC')
    """
    delta = pd.Timedelta(seconds_to_ns(seconds), unit="ns")
    out = frame.copy()
    for column in ("start", "end"):
        if column in out.columns:
            out[column] = pd.to_datetime(out[column], utc=True, format="ISO8601") + delta
    return out


__all__ = [
    "clip_spans",
    "clips",
    "iter_clips",
    "shift",
]
