"""Audio of the emulated platform: synthesis, encoding, decoding and lazy blob rendering.

A segment's audio is a pure function of the world seed, the stream id, the segment start
and the ground-truth calls (table ``calls``) overlapping it:

* the background is white Gaussian noise seeded by ``(seed, stream_id, start_ms)``;
* every call is a smooth band-limited sound written as a function of *absolute* time, so a
  call crossing the boundary of two contiguous segments is seamless once they are joined.

Blobs are rendered on first request by :func:`ensure_blob` and then kept on disk; encoding
is byte-deterministic (the Ogg serial number of Opus files is fixed), so a data directory
rebuilt from the same seed serves identical bytes.
"""

from __future__ import annotations

import io
import os
import sqlite3
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..files import write_bytes
from .opus import encode_opus, encoder_id
from .render_cache import RenderCache, render_key
from .store import Store
from .taxonomy import call_kind

NOISE_STD = 0.004
"""Standard deviation of the white background noise (full scale = 1.0)."""

MAX_CALL_DURATION_MS = 60_000
"""Longest call :func:`ensure_blob` looks back for when collecting calls of a segment."""

CALL_KINDS = ("sweep", "trill", "pulses", "noise")
"""Shapes a call can take; each keeps its energy inside ``[frequency_min, frequency_max]``."""

CODEC_EXTENSIONS = {"flac": ".flac", "opus": ".opus", "wav": ".wav"}

_RAMP_S = 0.03  # envelope ramps: short enough to keep the call inside its interval
_EDGE = 0.12  # fraction of the band kept free at each edge (room for FM/AM sidebands)
_NOISE_PARTIALS = 24
_LOCKS = tuple(threading.Lock() for _ in range(64))


@dataclass(frozen=True)
class CallSpec:
    """One sound to render: an interval, a frequency band, an amplitude and a shape.

    ``amplitude`` is the peak of a sinusoid with the same mean power as the call (see
    :func:`amplitude_for_snr`); ``seed`` varies phases, directions and rates between calls
    of the same kind.

    Examples
    --------
    >>> CallSpec(start_ms=1000, end_ms=2500, frequency_min=1000, frequency_max=3000,
    ...          amplitude=0.2).kind
    'sweep'
    """

    start_ms: int
    end_ms: int
    frequency_min: float
    frequency_max: float
    amplitude: float
    kind: str = "sweep"
    seed: int = 0


def amplitude_for_snr(snr_db: float, frequency_min: float, frequency_max: float,
                      sample_rate: int, noise_std: float = NOISE_STD) -> float:
    """Call amplitude giving ``snr_db`` of in-band signal-to-noise ratio over the background.

    White noise of standard deviation ``noise_std`` puts ``noise_std**2 * B / (sr / 2)`` of
    power into a band of width ``B``; a call of amplitude ``A`` carries ``A**2 / 2``.

    Examples
    --------
    >>> round(amplitude_for_snr(30.0, 1000, 4000, 24000), 4)
    0.0894
    """
    band = max(float(frequency_max) - float(frequency_min), 1.0)
    noise_power = noise_std**2 * band / (sample_rate / 2)
    return float(np.sqrt(2.0 * noise_power * 10.0 ** (snr_db / 10.0)))


def _seed_words(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _background(seed: int, stream_id: str, start_ms: int, sample_count: int) -> np.ndarray:
    rng = np.random.default_rng([seed & 0xFFFFFFFF, _seed_words(stream_id), start_ms & (2**63 - 1)])
    # float32 draws take half the time of float64 ones, and the samples end as float32
    noise = rng.standard_normal(sample_count, dtype=np.float32)
    noise *= np.float32(NOISE_STD)
    return noise


def _envelope(t: np.ndarray, duration: float) -> np.ndarray:
    ramp = min(_RAMP_S, duration / 4)
    rise = np.clip(t / ramp, 0.0, 1.0)
    fall = np.clip((duration - t) / ramp, 0.0, 1.0)
    return np.sin(0.5 * np.pi * np.minimum(rise, fall)) ** 2


def _call_wave(call: CallSpec, t: np.ndarray) -> np.ndarray:
    """The call at times ``t`` (seconds since the call start, within its duration)."""
    duration = (call.end_ms - call.start_ms) / 1000.0
    low, high = float(call.frequency_min), float(call.frequency_max)
    margin = _EDGE * (high - low)
    lo, hi = low + margin, high - margin
    rng = np.random.default_rng([call.seed & 0xFFFFFFFF, _seed_words(call.kind)])
    phase0 = rng.uniform(0, 2 * np.pi)
    if call.kind == "trill":
        centre, depth = (lo + hi) / 2, 0.45 * (hi - lo)
        rate = rng.uniform(8.0, 25.0)
        phase = 2 * np.pi * centre * t - depth / rate * np.cos(2 * np.pi * rate * t)
        wave = np.sin(phase + phase0)
    elif call.kind == "pulses":
        freq = rng.uniform(lo + 0.3 * (hi - lo), hi - 0.3 * (hi - lo))
        rate = rng.uniform(6.0, 20.0)
        # sin^4 gating has mean square 3/8; rescale so mean power matches a plain tone
        gate = np.sin(np.pi * rate * t) ** 2 * np.sqrt(8.0 / 3.0)
        wave = gate * np.sin(2 * np.pi * freq * t + phase0)
    elif call.kind == "noise":
        freqs = rng.uniform(lo, hi, _NOISE_PARTIALS)
        phases = rng.uniform(0, 2 * np.pi, _NOISE_PARTIALS)
        wave = np.zeros_like(t)
        for f, p in zip(freqs, phases, strict=True):
            wave += np.sin(2 * np.pi * f * t + p)
        wave *= np.sqrt(1.0 / _NOISE_PARTIALS)
    else:  # sweep, up or down
        f_a, f_b = (lo, hi) if rng.random() < 0.5 else (hi, lo)
        phase = 2 * np.pi * (f_a * t + (f_b - f_a) * t * t / (2 * duration))
        wave = np.sin(phase + phase0)
    return call.amplitude * _envelope(t, duration) * wave


def synthesize(*, seed: int, stream_id: str, start_ms: int, sample_count: int,
               sample_rate: int, calls: Sequence[CallSpec]) -> np.ndarray:
    """Render ``sample_count`` samples of a stream starting at ``start_ms`` (epoch ms).

    Sample ``n`` sits at absolute time ``start_ms / 1000 + n / sample_rate``; each call is
    evaluated at exact offsets from its own start, so renders of adjacent spans agree.

    Examples
    --------
    >>> call = CallSpec(start_ms=1_000, end_ms=2_000, frequency_min=1000,
    ...                 frequency_max=3000, amplitude=0.3)
    >>> x = synthesize(seed=0, stream_id="abc", start_ms=0, sample_count=24000,
    ...                sample_rate=8000, calls=[call])
    >>> x.dtype, x.shape, float(abs(x[8000:16000]).max()) > 0.2
    (dtype('float32'), (24000,), True)
    """
    out = _background(seed, stream_id, start_ms, sample_count)
    sr = int(sample_rate)
    for call in calls:
        if call.end_ms <= call.start_ms:
            continue
        # integer sample range covering [call.start, call.end]: n*1000 >= (c0 - s0)*sr
        first = max(0, -(-(call.start_ms - start_ms) * sr // 1000))
        last = min(sample_count, (call.end_ms - start_ms) * sr // 1000 + 1)
        if last <= first:
            continue
        n = np.arange(first, last, dtype=np.int64)
        # exact integer numerator, one division: identical for the same instant in any span
        t = ((start_ms - call.start_ms) * sr + n * 1000) / (1000.0 * sr)
        out[first:last] += _call_wave(call, t)
    return np.clip(out, -1.0, 1.0, out=out)


def _to_pcm16(samples: np.ndarray) -> np.ndarray:
    # quantise ourselves: libsndfile's float->int conversion does not clip by default
    scaled = np.round(np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0) * 32767.0)
    return scaled.astype(np.int16)


def encode(samples: np.ndarray, sample_rate: int, codec: str) -> bytes:
    """Encode mono samples as ``flac`` (PCM_16), ``opus`` (Ogg), ``wav`` (PCM_16) or ``mp3``.

    The same input always gives byte-identical output (for Opus, with the same encoder:
    see :func:`~rfcx_frames.emulator.opus.encode_opus`).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros(1200, dtype=np.float32)
    >>> encode(x, 12000, "flac")[:4], encode(x, 12000, "opus")[:4]
    (b'fLaC', b'OggS')
    """
    buf = io.BytesIO()
    if codec == "flac":
        sf.write(buf, _to_pcm16(samples), sample_rate, format="FLAC", subtype="PCM_16")
        return buf.getvalue()
    if codec == "wav":
        sf.write(buf, _to_pcm16(samples), sample_rate, format="WAV", subtype="PCM_16")
        return buf.getvalue()
    if codec == "opus":
        return encode_opus(samples, sample_rate)
    if codec == "mp3":
        data = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
        sf.write(buf, data, sample_rate, format="MP3", subtype="MPEG_LAYER_III")
        return buf.getvalue()
    raise ValueError(f"unknown codec {codec!r}; expected one of {sorted(CODEC_EXTENSIONS)}")


def decode(source: bytes | str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Decode an audio file (bytes or path) to float32 mono samples and the sample rate.

    Multichannel audio is mixed down by averaging the channels.

    Examples
    --------
    >>> import numpy as np
    >>> x, sr = decode(encode(np.zeros(800, dtype=np.float32), 8000, "wav"))
    >>> x.shape, sr
    ((800,), 8000)
    """
    handle: io.BytesIO | str | os.PathLike[str] = (
        io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    data, rate = sf.read(handle, dtype="float32", always_2d=True)
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def segment_calls(store: Store, stream_id: str, start_ms: int, end_ms: int) -> list[CallSpec]:
    """Ground-truth calls of a stream overlapping ``[start_ms, end_ms)``, ready to render.

    The call shape comes from the classification (see
    :data:`rfcx_frames.emulator.taxonomy.CALL_KIND`) and the per-call seed from its id.

    Examples
    --------
    >>> import tempfile
    >>> segment_calls(Store(tempfile.mkdtemp()), "abc", 0, 60_000)
    []
    """
    rows = store.query(
        'SELECT c.id, c.start, c."end", c.frequency_min, c.frequency_max, c.amplitude, '
        "k.value, k.type FROM calls c JOIN classifications k ON k.id = c.classification_id "
        'WHERE c.stream_id = ? AND c.start < ? AND c.start > ? AND c."end" > ? '
        "ORDER BY c.start",
        (stream_id, end_ms, start_ms - MAX_CALL_DURATION_MS, start_ms))
    return [CallSpec(start_ms=int(r[1]), end_ms=int(r[2]), frequency_min=float(r[3]),
                     frequency_max=float(r[4]), amplitude=float(r[5]),
                     kind=call_kind(str(r[6]), str(r[7])), seed=int(r[0]))
            for r in rows]


def _segment_row(store: Store, segment_id: str, sql: str) -> sqlite3.Row:
    """The one row ``sql`` selects for ``segment_id``; an unknown segment is FileNotFoundError."""
    rows = store.query(sql, (segment_id,))
    if not rows:
        raise FileNotFoundError(f"no segment {segment_id!r}")
    return rows[0]


def segment_spec(store: Store, segment_id: str) -> tuple[dict[str, Any], str, str]:
    """What a synthetic segment is made of: :func:`synthesize`'s arguments, codec, extension.

    Parameters
    ----------
    store
        The world's database.
    segment_id
        The segment.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     segment_spec(Store(tempfile.mkdtemp()), "missing")
    ... except FileNotFoundError as exc:
    ...     print(exc)
    no segment 'missing'
    """
    row = _segment_row(
        store, segment_id,
        'SELECT s.stream_id, s.start, s."end", s.sample_count, s.file_extension, '
        "COALESCE(f.sample_rate, st.max_sample_rate) AS sr FROM segments s "
        "JOIN streams st ON st.id = s.stream_id "
        "LEFT JOIN stream_source_files f ON f.id = s.stream_source_file_id WHERE s.id = ?")
    stream_id, start, end, count, ext, rate = (row[i] for i in range(6))
    codec = {v: k for k, v in CODEC_EXTENSIONS.items()}.get(str(ext))
    if codec is None:
        raise ValueError(f"cannot synthesise {ext!r} segments")
    spec: dict[str, Any] = {"seed": int(store.meta("seed", "0") or 0), "stream_id": str(stream_id),
            "start_ms": int(start), "sample_count": int(count), "sample_rate": int(rate),
            "calls": segment_calls(store, str(stream_id), int(start), int(end))}
    return spec, codec, str(ext)


def render_segment(store: Store, segment_id: str) -> tuple[bytes, str]:
    """Encoded bytes and file extension of a synthetic segment (nothing is written here).

    A segment rendered before, by any world of the same seed, comes from the shared
    folder of :mod:`~rfcx_frames.emulator.render_cache` instead of being encoded again.

    Examples
    --------
    >>> import tempfile
    >>> empty_world = Store(tempfile.mkdtemp())
    >>> render_segment(empty_world, "missing")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: no segment ...
    """
    spec, codec, ext = segment_spec(store, segment_id)

    def render() -> bytes:
        return encode(synthesize(**spec), spec["sample_rate"], codec)

    # Opus bytes depend on which encoder is installed; the other codecs have one encoder.
    encoder = encoder_id() if codec == "opus" else ""
    key = render_key(codec=codec, encoder=encoder, **spec)
    return RenderCache.default().get(key, render), ext


def ensure_blob(store: Store, segment_id: str) -> Path:
    """Path of a segment's stored file, rendering a synthetic segment on first use.

    Safe to call from many threads (and processes) at once: the file is written through
    :func:`rfcx_frames.files.write_bytes` (a temporary name, then an atomic move).

    Raises
    ------
    FileNotFoundError
        The segment does not exist, or it is not synthetic and its file is missing.

    Examples
    --------
    >>> import tempfile
    >>> ensure_blob(Store(tempfile.mkdtemp()), "missing")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no segment 'missing'
    """
    ext, synthetic = _segment_row(
        store, segment_id, "SELECT file_extension, synth FROM segments WHERE id = ?")
    path = store.blob_dir / f"{segment_id}{ext}"
    if path.exists():
        return path
    if not synthetic:
        raise FileNotFoundError(f"audio of segment {segment_id!r} is missing: {path}")
    with _LOCKS[zlib.crc32(segment_id.encode()) % len(_LOCKS)]:
        if path.exists():
            return path
        data, _ = render_segment(store, segment_id)
        write_bytes(path, data)
    return path
