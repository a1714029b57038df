"""Opus in Ogg for the emulator: libopus at its fastest setting through PyAV, else libsndfile.

libsndfile, the codec library every install has, runs libopus at its slowest complexity
and offers no way to change it: most of a second per minute of audio, two at 16 and
24 kHz. With the ``emulator`` extra (PyAV, whose wheels carry libopus) the same minute is
encoded at complexity 0 in CELT-only mode, 120 ms packets, 32 kbit/s (64 at 48 kHz), with
9 (8-12 kHz) to 25 (16-24 kHz) times less CPU, and put in Ogg pages written here, so the
decoded length is the input's exactly (the granule position of the last page trims the
padding, RFC 7845 §4). An input of 2 s or more is encoded as two halves on two threads
(libopus runs without the GIL), which takes the wall time of a fresh minute from 9 to about
13 times below libsndfile's at 8-12 kHz; the CPU spent stays the same. The halves join on a
packet boundary, the second encoder warmed up on the audio just before it, so the join is
as faithful as any other packet (``tests/emulator/test_audio.py``).

Both encoders are deterministic: the same samples give the same bytes (the Ogg stream
serial number, random in both libraries, is pinned). Their bytes differ from each other,
so the render cache's key names the encoder (:func:`encoder_id`).

Examples
--------
>>> import numpy as np
>>> data = encode_opus(np.zeros(8000, dtype=np.float32), 8000)
>>> data[:4], data[28:36]
(b'OggS', b'OpusHead')
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import soundfile as sf

OPUS_SAMPLE_RATES = (8000, 12000, 16000, 24000, 48000)
"""Input rates libopus encodes as they are (any other needs resampling first)."""

OPUS_ENCODERS = ("pyav", "libsndfile")
"""The encoders :func:`encode_opus` can use, fastest first."""

BITRATES = {8000: 32_000, 12000: 32_000, 16000: 32_000, 24000: 32_000, 48000: 64_000}
"""Bits per second of the PyAV encoder by input rate: about libsndfile's file sizes, and the
energy of every band within a decibel of the input's (below 20 kHz, Opus's ceiling)."""

_OPTIONS = {"compression_level": "0", "application": "lowdelay", "frame_duration": "120"}
_WARM_PACKETS = 2  # the second half's encoder warms up on 240 ms before its first kept packet
_MIN_HALF_PACKETS = 8  # shorter inputs (under about 2 s) are encoded in one piece
_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="opus-encode")
_SERIAL = 0x52464358  # "RFCX"
_PACKETS_PER_PAGE = 8  # about one second of audio per page, as libsndfile and ffmpeg write
_GRANULE_RATE = 48_000  # Ogg Opus counts samples at 48 kHz whatever the input rate
_BIT_REVERSE = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


@functools.cache
def _pyav() -> Any:
    try:
        import av
    except ImportError:
        return None
    return av


def opus_encoder() -> str:
    """The encoder :func:`encode_opus` uses by default: ``pyav`` when installed.

    Examples
    --------
    >>> opus_encoder() in OPUS_ENCODERS
    True
    """
    return "pyav" if _pyav() is not None else "libsndfile"


def encoder_id(encoder: str | None = None) -> str:
    """The encoder and the library versions its bytes depend on, for the render cache key.

    Parameters
    ----------
    encoder
        One of :data:`OPUS_ENCODERS`; ``None`` for :func:`opus_encoder`'s choice.

    Examples
    --------
    >>> encoder_id("libsndfile").startswith("libsndfile ")
    True
    """
    name = _check_encoder(encoder)
    if name == "pyav":
        av = _pyav()
        return (f"pyav {av.__version__} {av.library_versions['libavcodec']} {BITRATES} {_OPTIONS} "
                f"halves warmed {_WARM_PACKETS} above {_MIN_HALF_PACKETS}")
    return f"libsndfile {sf.__libsndfile_version__}"


def _check_encoder(encoder: str | None) -> str:
    name = opus_encoder() if encoder is None else encoder
    if name not in OPUS_ENCODERS:
        raise ValueError(f"encoder must be one of {OPUS_ENCODERS}, got {encoder!r}")
    if name == "pyav" and _pyav() is None:
        raise ImportError("the pyav Opus encoder needs PyAV: pip install 'rfcx-frames[emulator]'")
    return name


def encode_opus(samples: np.ndarray, sample_rate: int, encoder: str | None = None) -> bytes:
    """Mono samples (clipped to [-1, 1]) as an Ogg Opus file that decodes to as many samples.

    Parameters
    ----------
    samples
        Mono audio, full scale 1.0.
    sample_rate
        One of :data:`OPUS_SAMPLE_RATES`.
    encoder
        One of :data:`OPUS_ENCODERS`; ``None`` for the fastest installed.

    Examples
    --------
    >>> import numpy as np
    >>> encode_opus(np.zeros(100, dtype=np.float32), 44100)
    Traceback (most recent call last):
    ...
    ValueError: sample_rate must be one of (8000, 12000, 16000, 24000, 48000) for opus, got 44100
    """
    if sample_rate not in OPUS_SAMPLE_RATES:
        raise ValueError(f"sample_rate must be one of {OPUS_SAMPLE_RATES} for opus, "
                         f"got {sample_rate}")
    name = _check_encoder(encoder)
    if np.size(samples) == 0:
        raise ValueError("samples is empty: an Opus file holds at least one sample")
    data = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    if name == "pyav":
        return _encode_pyav(data, int(sample_rate))
    buf = io.BytesIO()
    sf.write(buf, data, sample_rate, format="OGG", subtype="OPUS")
    return pin_ogg_serial(buf.getvalue())


def _pyav_codec(rate: int) -> Any:
    codec = _pyav().CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = rate, "mono", "flt"
    codec.bit_rate = BITRATES[rate]
    codec.options = dict(_OPTIONS)
    return codec


def _pyav_packets(codec: Any, data: np.ndarray, rate: int, flush: bool) -> list[bytes]:
    frame = _pyav().AudioFrame.from_ndarray(np.ascontiguousarray(data).reshape(1, -1),
                                            format="flt", layout="mono")
    frame.sample_rate = rate
    # One frame in, a packet out per whole encoder frame; a flush pads the tail and empties
    # the encoder's look-ahead.
    packets = [bytes(p) for p in codec.encode(frame)]
    return packets + [bytes(p) for p in codec.encode(None)] if flush else packets


def _encode_pyav(data: np.ndarray, rate: int) -> bytes:
    av = _pyav()
    packet = rate * int(_OPTIONS["frame_duration"]) // 1000
    half = (data.size // packet) // 2 * packet
    second = _pyav_codec(rate)
    if half < _MIN_HALF_PACKETS * packet:
        packets = _pyav_packets(second, data, rate, flush=True)
    else:
        # libopus releases the GIL, so the halves encode on two cores. The second encoder
        # starts a few packets early and its first packets are dropped: its state then
        # matches the signal where it takes over, and its packets line up with the ones
        # the first encoder would have made (both start on a packet boundary).
        warm = _WARM_PACKETS * packet
        first = _THREADS.submit(_pyav_packets, _pyav_codec(rate), data[:half], rate, False)
        tail = _pyav_packets(second, data[half - warm:], rate, flush=True)[_WARM_PACKETS:]
        packets = first.result() + tail
    head = bytes(second.extradata)
    pre_skip = struct.unpack_from("<H", head, 10)[0]
    step = _GRANULE_RATE // rate
    vendor = f"libopus via PyAV {av.__version__}".encode()
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    return ogg_opus(head, tags, packets, second.frame_size * step,
                    pre_skip + data.size * step)


def _ogg_page(packets: list[bytes], flags: int, granule: int, sequence: int) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, _SERIAL, sequence, 0,
                         len(lacing))
    page = header + bytes(lacing) + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def ogg_opus(head: bytes, tags: bytes, packets: list[bytes], packet_samples: int,
             final_granule: int) -> bytes:
    """An Ogg Opus file from its headers and audio packets (RFC 7845), one stream.

    Parameters
    ----------
    head, tags
        The ``OpusHead`` and ``OpusTags`` packets.
    packets
        Audio packets of ``packet_samples`` samples each (at 48 kHz).
    final_granule
        Pre-skip plus the input's length at 48 kHz: the last page's granule position,
        which trims the padding of the last packet.

    Examples
    --------
    >>> ogg_opus(b"OpusHead", b"OpusTags", [b"x"], 960, 960)[:4]
    b'OggS'
    """
    pages = [_ogg_page([head], 0x02, 0, 0), _ogg_page([tags], 0x00, 0, 1)]
    for first in range(0, len(packets), _PACKETS_PER_PAGE):
        chunk = packets[first:first + _PACKETS_PER_PAGE]
        last = first + len(chunk) >= len(packets)
        granule = final_granule if last else (first + len(chunk)) * packet_samples
        pages.append(_ogg_page(chunk, 0x04 if last else 0x00, granule, len(pages)))
    return b"".join(pages)


def _ogg_crc(page: bytes) -> int:
    # Ogg uses the unreflected CRC-32 (poly 0x04C11DB7, init 0); zlib's reflected CRC on
    # bit-reversed bytes, bit-reversed back, is the same checksum at C speed.
    raw = zlib.crc32(page.translate(_BIT_REVERSE), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def pin_ogg_serial(data: bytes, serial: int = _SERIAL) -> bytes:
    """Rewrite every page's stream serial number and checksum (single-stream Ogg).

    Parameters
    ----------
    data
        An Ogg file of one logical stream.
    serial
        The serial number to write.

    Examples
    --------
    >>> pin_ogg_serial(b"nope")
    b'nope'
    """
    out = bytearray(data)
    pos = 0
    while pos + 27 <= len(out):
        if out[pos:pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        n_segments = out[pos + 26]
        size = 27 + n_segments + sum(out[pos + 27:pos + 27 + n_segments])
        out[pos + 14:pos + 18] = struct.pack("<I", serial)
        out[pos + 22:pos + 26] = b"\0\0\0\0"
        crc = _ogg_crc(bytes(out[pos:pos + size]))
        out[pos + 22:pos + 26] = struct.pack("<I", crc)
        pos += size
    return bytes(out)
