"""The one check of a segment file: it decodes, it is whole, and it is as long as its segment.

Every audio file rfcx_frames keeps (the audio store, downloads, the client's downloading
source) passes :func:`check_segment_audio` before it gets its final name. The check reads
the header and decodes only the first and the last frames: a body cut short by a dropped
connection cannot deliver its end, so a header that promises more frames than arrived is
caught without decoding the whole file. Formats whose header length is an estimate (MP3),
or files that cannot seek, are decoded to the end instead.

Examples
--------
>>> expected_frame_range(1000, 8000)
(7999, 8017)
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import soundfile as sf

from rfcx_frames.audio.sample_time import NS_PER_MS
from rfcx_frames.timeutil import to_ns

#: Containers whose header frame count is exact: FLAC's STREAMINFO, WAV's data size, Ogg's
#: last granule position.
_EXACT_LENGTH = frozenset({"FLAC", "WAV", "WAVEX", "W64", "RF64", "AIFF", "OGG"})
#: Frames decoded at each end of a file to prove that its header's length is real.
_EDGE = 4096
_BLOCK = 1 << 16


class AudioVerificationError(ValueError):
    """A segment file is not decodable or its length does not match the segment.

    Parameters
    ----------
    message
        What is wrong.
    path
        The file that was checked (already removed when it was a temporary file), or
        ``None`` for bytes that were never written; kept as ``path``.
    """

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class AudioFacts(NamedTuple):
    """What the check learnt of a whole file."""

    sample_rate: int
    frames: int
    channels: int


def expected_frame_range(duration_ms: int, sample_rate: int) -> tuple[int, int]:
    """Frame counts accepted for a segment ``duration_ms`` long (``end - start``).

    The platform stores ``end = start + floor(duration)`` in milliseconds (older data:
    ``next start - 1 ms``), so the true length lies within 2 ms above ``end - start``; one
    sample of slack is allowed each side.

    Parameters
    ----------
    duration_ms
        ``end - start`` of the segment, in milliseconds.
    sample_rate
        The file's rate.

    Returns
    -------
    tuple of int
        The lowest and highest accepted frame counts.

    Examples
    --------
    >>> expected_frame_range(60_000, 48_000)
    (2879999, 2880097)
    """
    low = (duration_ms * sample_rate) // 1000 - 1
    high = math.ceil((duration_ms + 2) * sample_rate / 1000) + 1
    return low, high


def _edges_decode(fh: sf.SoundFile) -> bool:
    """Whether the first and the last frames the header announces decode."""
    frames = fh.frames
    edge = min(frames, _EDGE)
    try:
        head = len(fh.read(edge, dtype="int16"))
        fh.seek(frames - edge)
        tail = len(fh.read(edge, dtype="int16"))
    except (sf.LibsndfileError, RuntimeError):
        return False
    return head == edge and tail == edge


def _decode_all(fh: sf.SoundFile) -> int:
    fh.seek(0)
    return sum(len(b) for b in fh.blocks(blocksize=_BLOCK, dtype="int16"))


def read_facts(data: bytes | Path, name: str) -> AudioFacts:
    """Rate, whole frame count and channels of audio, decoding only what proves it whole.

    Parameters
    ----------
    data
        The file's bytes, or its path.
    name
        How error messages name the audio.

    Returns
    -------
    AudioFacts
        ``(sample_rate, frames, channels)``.

    Raises
    ------
    AudioVerificationError
        It does not decode, is cut short, or holds no audio.

    Examples
    --------
    >>> import numpy as np
    >>> buf = io.BytesIO()
    >>> sf.write(buf, np.zeros(100, dtype="float32"), 8000, format="FLAC")
    >>> read_facts(buf.getvalue(), "a.flac")
    AudioFacts(sample_rate=8000, frames=100, channels=1)
    """
    path = data if isinstance(data, Path) else None
    opened: str | io.BytesIO = str(data) if isinstance(data, Path) else io.BytesIO(data)
    try:
        with sf.SoundFile(opened) as fh:
            announced, exact = fh.frames, fh.format in _EXACT_LENGTH
            if exact and fh.seekable() and announced > 0 and _edges_decode(fh):
                frames = announced
            else:
                frames = _decode_all(fh)
            facts = AudioFacts(int(fh.samplerate), int(frames), int(fh.channels))
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
        raise AudioVerificationError(f"{name} does not decode: {exc}", path) from exc
    if exact and facts.frames != announced:
        raise AudioVerificationError(
            f"{name} decodes {facts.frames} frames but announces {announced} (cut short?)", path)
    if facts.frames == 0:
        raise AudioVerificationError(f"{name} holds no audio", path)
    return facts


def check_segment_audio(data: bytes | Path, segment: Mapping[str, Any]) -> AudioFacts:
    """Check that ``data`` is a whole recording of ``segment``; return what it holds.

    The frame count must equal the row's ``sample_count`` when it has one (within one
    sample), else fit ``end - start`` at the file's own rate (see
    :func:`expected_frame_range`); a row without either is only checked to be whole.

    Parameters
    ----------
    data
        The file's bytes, or its path.
    segment
        A segment-table row: ``start`` and optionally ``end`` and ``sample_count``.

    Returns
    -------
    AudioFacts
        ``(sample_rate, frames, channels)``.

    Raises
    ------
    AudioVerificationError
        It does not decode, is cut short, or has the wrong length.

    Examples
    --------
    >>> import numpy as np
    >>> buf = io.BytesIO()
    >>> sf.write(buf, np.zeros(8000, dtype="float32"), 8000, format="FLAC")
    >>> check_segment_audio(buf.getvalue(), {"start": "2020-01-01T00:00:00Z",
    ...                                      "end": "2020-01-01T00:00:01Z"}).frames
    8000
    """
    name = data.name if isinstance(data, Path) else "downloaded file"
    path = data if isinstance(data, Path) else None
    facts = read_facts(data, name)
    count = segment.get("sample_count")
    if count is not None and not pd.isna(count):
        if abs(int(count) - facts.frames) > 1:
            raise AudioVerificationError(
                f"{name} has {facts.frames} frames, segment says sample_count={int(count)}",
                path)
        return facts
    end = segment.get("end")
    if end is not None and not pd.isna(end):
        duration_ms = (to_ns(end) - to_ns(segment["start"])) // NS_PER_MS
        low, high = expected_frame_range(duration_ms, facts.sample_rate)
        if not low <= facts.frames <= high:
            raise AudioVerificationError(
                f"{name} has {facts.frames} frames at {facts.sample_rate} Hz; a {duration_ms} "
                f"ms segment needs {low}..{high}", path)
    return facts
