"""Audio bytes: pre-signed segment files and the media API's transcoded windows.

``GET /_blobs/...`` plays the object store that the platform's ``/segments/{start}/file``
redirects to. ``GET /internal/assets/streams/{name}`` is the media route (contract §4.5):
a window of at most 15 minutes, mono, resampled to the highest segment rate, gaps padded
with silence and reported in ``RFCx-Stream-Gaps``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import soxr

from . import access
from . import audio as synth
from .http import HTTPError, Request, Response, s3_error, signature_mismatch
from .opus import OPUS_SAMPLE_RATES
from .params import compact, js_date_string, parse_time
from .server import App

MAX_ASSET_MS = 15 * 60 * 1000
ASSET_NAME = re.compile(
    r"^(?P<stream>[A-Za-z0-9]+)_t(?P<start>[0-9TZ]+)\.(?P<end>[0-9TZ]+)"
    r"_r(?P<range>full|\d+\.\d+)_g(?P<gain>[0-9.]+)_f(?P<type>[a-z0-9]+)"
    r"(?P<extra>(?:_[a-z][^_.]*)*)\.(?P<ext>[a-z0-9]+)$")
AUDIO_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "opus": "audio/ogg",
               "mp3": "audio/mpeg"}
BLOB_TYPES = {".flac": "audio/flac", ".opus": "audio/ogg", ".wav": "audio/wav"}


def get_blob(app: App, req: Request) -> Response:
    if not app.presigned(req):
        return signature_mismatch()
    segment_id = req.path.rsplit("/", 1)[-1].split(".")[0]
    try:
        path = synth.ensure_blob(app.store, segment_id)
    except FileNotFoundError:
        return s3_error(404, "NoSuchKey", "The specified key does not exist.")
    resp = Response(status=200, body=path)
    resp.header("Content-Type", BLOB_TYPES.get(path.suffix, "application/octet-stream"))
    resp.header("Accept-Ranges", "bytes")
    return resp


def _parse_asset(name: str) -> dict[str, Any]:
    m = ASSET_NAME.match(name)
    if not m:
        raise HTTPError(400, "Invalid file name format")
    start, end = parse_time(m.group("start")), parse_time(m.group("end"))
    if start is None or end is None:
        raise HTTPError(400, "Invalid file name format")
    kind, ext = m.group("type"), m.group("ext")
    if kind == "spec" or kind not in AUDIO_TYPES:
        raise HTTPError(400, f'Unsupported file type "{kind}"')
    if kind != ext:
        raise HTTPError(400, "File type and extension do not match")
    if end <= start:
        raise HTTPError(400, '"end" attribute cannot be less than "start" attribute')
    if end - start > MAX_ASSET_MS:
        raise HTTPError(400, "Maximum range between start and end should be less than 15 minutes")
    band = None if m.group("range") == "full" else tuple(float(x) for x in
                                                         m.group("range").split("."))
    return {"stream": m.group("stream"), "start": start, "end": end, "type": kind,
            "gain": float(m.group("gain")), "band": band}


def band_pass(samples: np.ndarray, rate: int, low: float, high: float) -> np.ndarray:
    """Zero-phase band-pass by masking the spectrum (smooth 50 Hz edges).

    Examples
    --------
    >>> x = np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000).astype(np.float32)
    >>> y = band_pass(x, 8000, 2000, 3000)
    >>> float(np.abs(y).max()) < 0.05
    True
    """
    spectrum = np.fft.rfft(samples.astype(np.float64))
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    edge = 50.0
    mask = np.clip((freqs - (low - edge)) / edge, 0, 1) * np.clip(((high + edge) - freqs) / edge,
                                                                   0, 1)
    return np.fft.irfft(spectrum * mask, n=samples.size).astype(np.float32)


def asset(app: App, req: Request) -> Response:
    spec = _parse_asset(req.params["name"])
    assert req.user is not None
    access.require_stream(app.store, req.user, spec["stream"])
    start, end = spec["start"], spec["end"]
    segments = [dict(r) for r in app.store.query(
        'SELECT s.*, f.sample_rate FROM segments s JOIN stream_source_files f '
        'ON f.id = s.stream_source_file_id WHERE s.stream_id = ? AND s.start < ? AND s."end" > ? '
        'ORDER BY s.start', (spec["stream"], end, start))]
    if not segments:
        raise HTTPError(404, "No audio files found for selected time range.")
    if any(s["availability"] != 1 for s in segments):
        raise HTTPError(404, "Unavailable")
    rate = max(int(s["sample_rate"]) for s in segments)
    total = (end - start) * rate // 1000
    out = np.zeros(total, dtype=np.float32)
    gaps: list[tuple[int, int]] = []
    cursor = start
    for seg in segments:
        if seg["start"] > cursor:
            gaps.append((cursor, seg["start"]))
        samples, seg_rate = synth.decode(synth.ensure_blob(app.store, seg["id"]))
        if seg_rate != rate:
            samples = soxr.resample(samples, seg_rate, rate).astype(np.float32)
        # Positions come from each segment's own start in integer ms, never a running sum,
        # rounded to the nearest sample (half up) like rfcx_frames' own window loader.
        first = ((max(seg["start"], start) - seg["start"]) * rate + 500) // 1000
        dest = ((max(seg["start"], start) - start) * rate + 500) // 1000
        count = min(samples.size - first, total - dest)
        if count > 0:
            out[dest:dest + count] = samples[first:first + count]
        cursor = max(cursor, min(seg["end"], end))
    if cursor < end:
        gaps.append((cursor, end))
    if spec["band"] is not None:
        out = band_pass(out, rate, *spec["band"])
    out = np.clip(out * spec["gain"], -1.0, 1.0).astype(np.float32)
    if spec["type"] == "opus" and rate not in OPUS_SAMPLE_RATES:
        # Opus has a fixed set of rates; the platform's ffmpeg resamples to 48 kHz.
        out = soxr.resample(out, rate, 48000).astype(np.float32)
        rate = 48000
    body = synth.encode(out, rate, spec["type"])
    filename = req.params["name"]
    resp = Response(status=200, body=body)
    resp.header("Content-Type", AUDIO_TYPES[spec["type"]])
    resp.header("Accept-Ranges", f"bytes 0-{len(body) - 1}/{len(body)}")
    resp.header("Content-Disposition", f"attachment; filename={filename}")
    resp.header("Cache-Control", "max-age=600")
    resp.header("Access-Control-Expose-Headers", "RFCx-Stream-Next-Timestamp, RFCx-Stream-Gaps")
    if segments[-1]["end"] > end:
        # Audio continues past the window: the next window starts where this one ends.
        resp.header("RFCx-Stream-Next-Timestamp", str(end))
    else:
        nxt = app.store.query("SELECT start FROM segments WHERE stream_id = ? AND start >= ? "
                              "ORDER BY start LIMIT 1", (spec["stream"], end))
        if nxt:
            resp.header("RFCx-Stream-Next-Timestamp", js_date_string(int(nxt[0]["start"])))
    for gap_start, gap_end in gaps:
        resp.header("RFCx-Stream-Gaps", gap_header(gap_start, gap_end, start, end))
    return resp


def gap_header(gap_start: int, gap_end: int, window_start: int, window_end: int) -> str:
    """One ``RFCx-Stream-Gaps`` line, formatted as upstream does for each kind of gap.

    Upstream builds ``[start, end]`` pairs mixing epoch ms (the window's own edges) and
    ``Date`` objects (segment edges), and Node writes each pair with ``String()``.

    Examples
    --------
    >>> gap_header(0, 60000, 0, 120000)
    '0,Thu Jan 01 1970 00:01:00 GMT+0000 (Coordinated Universal Time)'
    """
    left = str(gap_start) if gap_start == window_start else js_date_string(gap_start)
    right = str(gap_end) if gap_end == window_end else js_date_string(gap_end)
    return f"{left},{right}"


def asset_name(stream_id: str, start_ms: int, end_ms: int, fmt: str = "wav",
               band: tuple[int, int] | None = None, gain: float = 1) -> str:
    """The media route's file name for a window.

    Examples
    --------
    >>> asset_name("abc", 1590312090000, 1590312150000)
    'abc_t20200524T092130000Z.20200524T092230000Z_rfull_g1_fwav.wav'
    """
    r = "full" if band is None else f"{band[0]}.{band[1]}"
    g = f"{gain:g}"
    return f"{stream_id}_t{compact(start_ms)}.{compact(end_ms)}_r{r}_g{g}_f{fmt}.{fmt}"


def register(app: App) -> None:
    """Add the blob and media routes."""
    app.storage.add("GET", "/_blobs/...", lambda req: get_blob(app, req),
                    pattern=r"^/_blobs/.+$")
    app.core.add("GET", "/internal/assets/streams/{name}", lambda req: asset(app, req))
