"""Rendered synthetic segments kept by content, so one render serves every world that holds them.

Synthesis is deterministic: a segment's bytes follow from the world seed, the stream, its
start, length and sample rate, the codec and the calls it holds. Even a fast render takes
tens of milliseconds per minute of audio (Opus encoding most of it, see
:mod:`~rfcx_frames.emulator.opus`), and every test, notebook and benchmark builds fresh
worlds of the same seed, so the bytes are kept in one folder
(:func:`rfcx_frames.config.emulator_audio_path`) under a hash of everything that shapes
them: the synthesis's version (:data:`RENDER_VERSION`) and the encoder's included. A
render whose key is stored is a file read. Files are written atomically
(:func:`rfcx_frames.files.write_bytes`), so concurrent emulators and damaged writes never
hand out a partial segment; a folder that cannot be written only costs the render.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> cache = RenderCache(Path(tempfile.mkdtemp()))
>>> key = render_key(seed=0, stream_id="abc", start_ms=0, sample_count=10, sample_rate=8000,
...                  codec="flac", calls=[])
>>> cache.get(key, lambda: b"audio"), cache.get(key, lambda: b"never called")
(b'audio', b'audio')
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import soundfile as sf

from ..config import emulator_audio_path
from ..files import write_bytes

log = logging.getLogger(__name__)

#: Bump when synthesis or encoding changes what a key renders to (2: float32 background
#: noise; Opus encoded at low complexity when PyAV is installed), so a stored render of an
#: older synthesis is never served as a new one.
RENDER_VERSION = 2


def render_key(*, seed: int, stream_id: str, start_ms: int, sample_count: int,
               sample_rate: int, codec: str, calls: Sequence[Any], encoder: str = "") -> str:
    """The hash naming a rendered segment: every input of its bytes, and the encoder's version.

    Parameters
    ----------
    seed, stream_id, start_ms, sample_count, sample_rate
        As for :func:`rfcx_frames.emulator.audio.synthesize`.
    codec
        The encoding (``flac``, ``opus``, ``wav``, ``mp3``).
    calls
        The calls heard in the segment (:class:`~rfcx_frames.emulator.audio.CallSpec`
        dataclasses).
    encoder
        What encodes ``codec`` when there is a choice, with the versions its bytes depend
        on (:func:`rfcx_frames.emulator.opus.encoder_id` for Opus).

    Returns
    -------
    str
        64 hexadecimal characters.

    Examples
    --------
    >>> a = render_key(seed=0, stream_id="abc", start_ms=0, sample_count=10,
    ...                sample_rate=8000, codec="flac", calls=[])
    >>> b = render_key(seed=1, stream_id="abc", start_ms=0, sample_count=10,
    ...                sample_rate=8000, codec="flac", calls=[])
    >>> len(a), a == b
    (64, False)
    """
    described = {
        "version": RENDER_VERSION, "libsndfile": sf.__libsndfile_version__,
        "seed": seed, "stream": stream_id, "start": start_ms, "samples": sample_count,
        "rate": sample_rate, "codec": codec, "encoder": encoder,
        "calls": [dataclasses.astuple(call) for call in calls],
    }
    text = json.dumps(described, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RenderCache:
    """A folder of rendered segments by key (``None``: no folder, every render is new).

    Parameters
    ----------
    folder
        Where the files go; by default :func:`rfcx_frames.config.emulator_audio_path`.

    Examples
    --------
    >>> RenderCache(None).get("k", lambda: b"x")
    b'x'
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    @classmethod
    def default(cls) -> RenderCache:
        """The cache of the environment's folder (``RFCX_FRAMES_EMULATOR_AUDIO``)."""
        return cls(emulator_audio_path())

    def get(self, key: str, render: Callable[[], bytes]) -> bytes:
        """The stored bytes of ``key``, else ``render()``'s, stored for next time.

        Parameters
        ----------
        key
            From :func:`render_key`.
        render
            Renders the segment when it is not stored.
        """
        if self.folder is None:
            return render()
        path = self.folder / key[:2] / f"{key}.audio"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("emulator audio cache unreadable (%s); rendering", exc)
        data = render()
        try:
            write_bytes(path, data)
        except OSError as exc:
            log.warning("emulator audio cache not written (%s)", exc)
        return data
