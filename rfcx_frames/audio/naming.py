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

import pandas as pd

from rfcx_frames.timeutil import to_compact, to_utc

_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
#: Extensions the audio store keeps.
STORE_EXTENSIONS = frozenset({".flac", ".opus", ".ogg", ".wav", ".mp3"})
#: soundfile ``(format, subtype)`` of the extensions a user may ask a download in.
#: What Raven adds to a sound file's stem to name the selection table it saves for it.
RAVEN_SUFFIX = ".Table.1.selections.txt"
_NAME_RE = re.compile(r"^(?P<stream>[A-Za-z0-9_-]+)_(?P<day>\d{4}-\d{2}-\d{2})_"
                      r"(?P<time>\d{2}-\d{2}-\d{2})(?:-(?P<ms>\d{3}))?\.")
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
    return f"{_stem(stream_id, start)}.{check_format(ext)}"


def _stem(stream_id: str, start: Any) -> str:
    check_id(stream_id, "stream id")
    ts = to_utc(start)
    stamp = ts.strftime("%Y-%m-%d_%H-%M-%S")
    if ts.microsecond // 1000:
        stamp += f"-{ts.microsecond // 1000:03d}"
    return f"{stream_id}_{stamp}"


def raven_table_name(stream_id: str, start: Any) -> str:
    """The name of a recording's Raven selection table: its audio file's name, then Raven's suffix.

    Raven opens ``<sound file stem>.Table.1.selections.txt`` beside the sound file, so a
    table named after :func:`file_name` sits next to the segment a download wrote.

    Parameters
    ----------
    stream_id, start
        The recording's stream and start, as for :func:`file_name`.

    Returns
    -------
    str
        ``<file_name stem>.Table.1.selections.txt``.

    Examples
    --------
    >>> raven_table_name("abc123", "2022-04-17T11:00:00.250Z")
    'abc123_2022-04-17_11-00-00-250.Table.1.selections.txt'
    """
    return f"{_stem(stream_id, start)}{RAVEN_SUFFIX}"


def clip_file_name(stream_id: str, start_ns: int, end_ns: int, ext: str) -> str:
    """The name of one exported clip: its stream, start and length in milliseconds.

    Parameters
    ----------
    stream_id
        The stream (a safe id).
    start_ns, end_ns
        The clip's span, integer nanoseconds.
    ext
        One of :data:`FORMATS`, with or without its dot.

    Returns
    -------
    str
        ``<stream>_<YYYYMMDDTHHMMSSmmmZ>_<duration>ms.<ext>``.

    Examples
    --------
    >>> clip_file_name("abc123", 1_500_000_000, 4_500_000_000, "wav")
    'abc123_19700101T000001500Z_3000ms.wav'
    """
    check_id(stream_id, "stream id")
    length_ms = (int(end_ns) - int(start_ns)) // 1_000_000
    stamp = to_compact(pd.Timestamp(int(start_ns), unit="ns", tz="UTC"))
    return f"{stream_id}_{stamp}_{length_ms}ms.{check_format(ext)}"


def parse_file_name(name: str) -> tuple[str, pd.Timestamp] | None:
    """The stream and start a name of :func:`file_name` or :func:`raven_table_name` encodes.

    Parameters
    ----------
    name
        A file name (a folder part is ignored).

    Returns
    -------
    tuple or None
        ``(stream_id, start)``, or ``None`` when the name is not one rfcx_frames writes.

    Examples
    --------
    >>> parse_file_name("abc_1_2022-04-17_11-00-00-250.Table.1.selections.txt")
    ('abc_1', Timestamp('2022-04-17 11:00:00.250000+0000', tz='UTC'))
    >>> parse_file_name("notes.txt") is None
    True
    """
    match = _NAME_RE.match(Path(name).name)
    if match is None:
        return None
    stamp = f"{match['day']}T{match['time'].replace('-', ':')}.{match['ms'] or '000'}Z"
    return match["stream"], to_utc(stamp)
