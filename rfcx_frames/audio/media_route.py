"""Windows cut by the platform: its media asset route instead of whole segment files.

``GET /internal/assets/streams/{stream}_t{start}.{end}_rfull_g1_fwav.wav`` returns mono audio
for up to 15 minutes, resampled by the platform to the stream's highest rate, with gaps filled
with silence. This saves bandwidth when clips are short and segments long, at the cost of one
request per clip and millisecond (not sample) alignment: the route takes whole milliseconds.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import requests
import soundfile as sf
import soxr

from rfcx_frames.api.context import Context

from ..timeutil import to_compact, to_ns, to_utc
from ..validate import check_sample_rate
from .clips import Align, clip_spans
from .naming import check_id
from .sample_time import NS_PER_MS, samples_between

if TYPE_CHECKING:
    pass

#: Audio fetched on each side of a window that will be resampled (ms).
RESAMPLE_MARGIN_MS = 50
#: The longest window the media route serves.
MAX_WINDOW = pd.Timedelta(minutes=15)


def asset_url(api_url: str, stream_id: str, start: Any, end: Any) -> str:
    """The media route URL of a mono WAV window ``[start, end)``.

    Examples
    --------
    >>> asset_url("https://api.rfcx.org", "abc123", "2020-05-24T09:21:30Z",
    ...           "2020-05-24T09:22:30Z")
    'https://api.rfcx.org/internal/assets/streams/abc123_t20200524T092130000Z.20200524T092230000Z_rfull_g1_fwav.wav'
    """
    begin, finish = to_utc(start, "start"), to_utc(end, "end")
    if finish - begin > MAX_WINDOW:
        raise ValueError(f"the media route serves at most 15 minutes; got {finish - begin}")
    name = (f"{check_id(stream_id, 'stream id')}_t{to_compact(begin)}.{to_compact(finish)}"
            f"_rfull_g1_fwav.wav")
    return f"{api_url}/internal/assets/streams/{name}"


def _decode(response: requests.Response) -> tuple[np.ndarray, int]:
    data, rate = sf.read(io.BytesIO(response.content), dtype="float32", always_2d=True)
    return data.mean(axis=1).astype(np.float32), int(rate)


def fetch_window(client: Context, stream_id: str, start: Any, end: Any,
                 sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Mono float32 audio of ``[start, end)`` cut by the platform; ``(samples, rate)``.

    The span is widened to whole milliseconds for the request (plus a margin when
    resampling), then cut back to ``round((end - start) * rate)`` samples. ``sample_rate``
    resamples with soxr.

    Examples
    --------
    >>> audio, rate = fetch_window(client, "abc123abc123", "2024-03-01T05:00:10Z",  # doctest: +SKIP
    ...                            "2024-03-01T05:00:13Z")
    """
    sample_rate = check_sample_rate(sample_rate)
    start_ns, end_ns = to_ns(start), to_ns(end)
    # A margin on both sides keeps the resampler's edge transients out of the window.
    margin_ms = RESAMPLE_MARGIN_MS if sample_rate else 0
    first_ms = start_ns // NS_PER_MS - margin_ms
    last_ms = -(-end_ns // NS_PER_MS) + margin_ms
    url = asset_url(client.api_url, stream_id, pd.Timestamp(first_ms, unit="ms", tz="UTC"),
                    pd.Timestamp(last_ms, unit="ms", tz="UTC"))
    audio, native = client.session.request("GET", url, parse=_decode)
    rate = sample_rate or native
    if rate != native:
        audio = soxr.resample(audio, native, rate).astype(np.float32)
    skip = samples_between(first_ms * NS_PER_MS, start_ns, rate)
    n = samples_between(start_ns, end_ns, rate)
    out = audio[skip:skip + n]
    if out.size < n:
        out = np.pad(out, (0, n - out.size))
    return out, rate


def server_clips(client: Context, frame: pd.DataFrame, duration: float | None = None,
                 pad: float = 0.0, align: Align = "center", sample_rate: int | None = None,
                 max_workers: int | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """:func:`~rfcx_frames.audio.clips` through the media route (``source="server"``).

    Returns the same ``(audio[N, samples], metadata)`` pair: clips are right-padded with
    zeros to the longest, and ``metadata`` holds the frame's columns plus ``clip_start``,
    ``clip_end``, ``sample_rate`` and ``n_samples``. Without ``sample_rate`` every clip
    must come back at the same rate (the streams' highest), else ``ValueError``.

    Examples
    --------
    >>> audio, meta = server_clips(client, annotations.head(4), duration=3.0)  # doctest: +SKIP
    """
    sample_rate = check_sample_rate(sample_rate)
    spans = clip_spans(frame, duration=duration, pad=pad, align=align)
    jobs = list(zip(spans["stream_id"], spans["clip_start"], spans["clip_end"], strict=True))
    with ThreadPoolExecutor(max_workers=max_workers or client.max_workers) as pool:
        results = list(pool.map(
            lambda job: fetch_window(client, job[0], job[1], job[2], sample_rate=sample_rate),
            jobs))
    rates = {rate for _, rate in results}
    if len(rates) > 1:
        raise ValueError(f"clips came back at different rates {sorted(rates)}; pass "
                         "sample_rate= to resample them to one rate")
    width = max((a.size for a, _ in results), default=0)
    audio = np.zeros((len(results), width), dtype=np.float32)
    for i, (clip, _) in enumerate(results):
        audio[i, :clip.size] = clip
    meta = frame.reset_index(drop=True).copy()
    meta["clip_start"] = spans["clip_start"].to_numpy()
    meta["clip_end"] = spans["clip_end"].to_numpy()
    meta["sample_rate"] = np.full(len(meta), rates.pop() if rates else 0, dtype="int64")
    meta["n_samples"] = np.array([a.size for a, _ in results], dtype="int64")
    return audio, meta
