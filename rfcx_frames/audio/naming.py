"""Audio file names built from checked ids and times: store paths and download names.

Names are built from ids and timestamps only, and ids must match ``^[A-Za-z0-9_-]+$``, so
no stream or segment id can make rfcx_frames write outside the folder it was given.

Examples
--------
>>> segment_path({"stream_id": "s1", "id": "a1", "start": "2020-05-24T09:21:00Z",
...               "file_extension": ".opus"}).as_posix()
's1/2020/05/24/20200524T092100000Z_a1.opus'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rfcx_frames.timeutil import to_compact, to_utc

_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
#: Extensions the audio store keeps.
STORE_EXTENSIONS = frozenset({".flac", ".opus", ".ogg", ".wav", ".mp3"})
#: soundfile ``(format, subtype)`` of the extensions a user may ask a download in.
FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "opus": ("OGG", "OPUS"),
           "ogg": ("OGG", "VORBIS")}


def check_id(value: Any, what: str) -> str:
    """Return ``value`` as a string if it is a safe id, else raise ``ValueError``.

    Parameters
    ----------
    value
        The id.
    what
        How the error names it (``"stream_id"``, ``"segment id"``...).

    Returns
    -------
    str
        The id.

    Examples
    --------
    >>> check_id("ev69cht895gc", "stream_id")
    'ev69cht895gc'
    >>> check_id("../../x", "stream_id")
    Traceback (most recent call last):
    ...
    ValueError: stream_id '../../x' may only contain letters, digits, '_' and '-'
    """
    text = str(value)
    if not _ID_RE.fullmatch(text):
        raise ValueError(f"{what} {text!r} may only contain letters, digits, '_' and '-'")
    return text


def check_extension(value: Any) -> str:
    """Normalise a file extension to ``.xxx`` and accept only audio formats the store keeps.

    Parameters
    ----------
    value
        ``"flac"``, ``".FLAC"``...

    Returns
    -------
    str
        Lower case, with its dot.

    Examples
    --------
    >>> check_extension("flac")
    '.flac'
    """
    text = str(value).lower()
    if not text.startswith("."):
        text = "." + text
    if text not in STORE_EXTENSIONS:
        raise ValueError(
            f"unsupported audio file extension {value!r}; allowed: {sorted(STORE_EXTENSIONS)}")
    return text


def check_format(ext: str) -> str:
    """A download's file extension without its dot, validated against :data:`FORMATS`.

    Parameters
    ----------
    ext
        ``"wav"``, ``".FLAC"``, ``"opus"`` or ``"ogg"``.

    Returns
    -------
    str
        Lower case, without its dot.

    Examples
    --------
    >>> check_format(".FLAC")
    'flac'
    """
    value = str(ext).lower().lstrip(".")
    if value not in FORMATS:
        raise ValueError(f"file_ext must be one of {sorted(FORMATS)}, got {ext!r}")
    return value


def segment_path(segment: Mapping[str, Any]) -> Path:
    """Where the audio store keeps a segment's file, relative to its root.

    ``<stream_id>/<YYYY>/<MM>/<DD>/<YYYYMMDDTHHMMSSmmmZ>_<segment id><ext>``.

    Parameters
    ----------
    segment
        A segment-table row: ``stream_id``, ``id``, ``start``, ``file_extension``.

    Returns
    -------
    Path
        The relative path.

    Examples
    --------
    >>> segment_path({"stream_id": "s", "id": "a", "start": "2020-01-02",
    ...               "file_extension": "wav"}).name
    '20200102T000000000Z_a.wav'
    """
    stream_id = check_id(segment["stream_id"], "stream_id")
    segment_id = check_id(segment["id"], "segment id")
    ext = check_extension(segment["file_extension"])
    start = to_utc(segment["start"])
    return Path(
        stream_id,
        f"{start.year:04d}",
        f"{start.month:02d}",
        f"{start.day:02d}",
        f"{to_compact(start)}_{segment_id}{ext}",
    )


def file_name(stream_id: str, start: Any, ext: str) -> str:
    """The local name of a downloaded segment file, as the official client names it.

    ``{stream}_{YYYY-MM-DD_HH-MM-SS}[-mmm].{ext}``; milliseconds appear only when not zero.
    This is the one place that time format is written.

    Parameters
    ----------
    stream_id
        The stream (a safe id).
    start
        The segment's start.
    ext
        One of :data:`FORMATS`, with or without its dot.

    Returns
    -------
    str
        The file name.

    Examples
    --------
    >>> file_name("abc123", "2022-04-17T11:00:00.000Z", ".flac")
    'abc123_2022-04-17_11-00-00.flac'
    >>> file_name("abc123", "2022-04-17T11:00:00.250Z", "wav")
    'abc123_2022-04-17_11-00-00-250.wav'
    >>> file_name("../x", "2022-04-17", "wav")
    Traceback (most recent call last):
    ...
    ValueError: stream id '../x' may only contain letters, digits, '_' and '-'
    """
    check_id(stream_id, "stream id")
    ts = to_utc(start)
    stamp = ts.strftime("%Y-%m-%d_%H-%M-%S")
    if ts.microsecond // 1000:
        stamp += f"-{ts.microsecond // 1000:03d}"
    return f"{stream_id}_{stamp}.{check_format(ext)}"
