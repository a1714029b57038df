"""Segment downloads over HTTP, and the :class:`ClientSource` that feeds the window loader.

Every file is written to a temporary name in its target folder and moved into place only
after it holds the number of frames its segment's duration implies and its first and last
frames decode, so a crash or a cut connection never leaves half a file under the final
name. Files keep their
real format unless another one is asked for, in which case they are converted with
soundfile (never FLAC bytes under a ``.wav`` name). Names are built from ids and
timestamps only, which are checked, so a stream name like ``../../x`` cannot write outside
the destination.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import requests
import soundfile as sf

from rfcx_frames.progress import tqdm
from rfcx_frames.timeutil import to_utc

from .. import config
from ..cache.disk import remove_quietly, stale_files
from ..cache.manage import AUDIO
from ..config import cache_path
from ..exceptions import DownloadError
from .source import empty_segments, overlapping
from .store import AudioStore, AudioVerificationError, check_id, expected_frame_range

if TYPE_CHECKING:
    from ..client import Client

#: soundfile formats for the extensions a user may ask for.
FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "opus": ("OGG", "OPUS"),
           "ogg": ("OGG", "VORBIS")}
#: Longest segment the platform makes (a file just under 120 s is kept whole).
MAX_SEGMENT = pd.Timedelta(seconds=120)


def file_name(stream_id: str, start: Any, ext: str) -> str:
    """The local name of a segment file, as the official client names it.

    ``{stream}_{YYYY-MM-DD_HH-MM-SS}[-mmm].{ext}``; milliseconds appear only when not zero.

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


def check_format(ext: str) -> str:
    """A file extension without its dot, validated against :data:`FORMATS`.

    Examples
    --------
    >>> check_format(".FLAC")
    'flac'
    """
    value = str(ext).lower().lstrip(".")
    if value not in FORMATS:
        raise ValueError(f"file_ext must be one of {sorted(FORMATS)}, got {ext!r}")
    return value


def segment_url(api_url: str, stream_id: str, start: Any) -> str:
    """The platform URL that redirects to a segment's stored file.

    Examples
    --------
    >>> segment_url("https://api.rfcx.org", "abc", "2022-04-17T11:00:00Z")
    'https://api.rfcx.org/streams/abc/segments/20220417T110000000Z/file'
    """
    ts = to_utc(start)
    compact = ts.strftime("%Y%m%dT%H%M%S") + f"{ts.microsecond // 1000:03d}Z"
    return f"{api_url}/streams/{check_id(stream_id, 'stream id')}/segments/{compact}/file"


def fetch_bytes(client: Client, stream_id: str, start: Any) -> bytes:
    """The stored bytes of one segment (retried on faults and cut bodies)."""
    return client.session.request("GET", segment_url(client.api_url, stream_id, start),
                                  parse=_content)


def _content(response: requests.Response) -> bytes:
    return response.content


# Containers whose frame count is exact: FLAC's STREAMINFO, WAV's data size, Ogg's last
# granule position.
_EXACT_LENGTH = frozenset({"FLAC", "WAV", "WAVEX", "W64", "RF64", "AIFF", "OGG"})


def _decoded_frames(data: bytes) -> tuple[int, int]:
    """``(frames, rate)`` of audio bytes, checked cheaply where the format allows.

    The header's frame count is trusted only once the first and the last frames decode:
    a body cut short by a dropped connection cannot deliver its end. Where seeking fails
    (a cut file, or a format libsndfile cannot seek), and for formats whose length in
    the header is an estimate (MP3), every frame is decoded instead.
    """
    with sf.SoundFile(io.BytesIO(data)) as fh:
        rate, frames = fh.samplerate, fh.frames
        if fh.format in _EXACT_LENGTH and fh.seekable() and frames > 0:
            edge = min(frames, 4096)
            try:
                head = len(fh.read(edge, dtype="int16"))
                fh.seek(frames - edge)
                tail = len(fh.read(edge, dtype="int16"))
            except (sf.LibsndfileError, RuntimeError):
                head = tail = -1
            if head == edge and tail == edge:
                return frames, rate
    with sf.SoundFile(io.BytesIO(data)) as fh:
        return sum(len(b) for b in fh.blocks(blocksize=1 << 16, dtype="int16")), rate


def verify_bytes(data: bytes, start: Any, end: Any) -> tuple[int, int]:
    """Check that ``data`` decodes and that its length fits ``end - start``; ``(frames, rate)``.

    Raises
    ------
    AudioVerificationError
        The bytes do not decode, end early, or hold a different number of frames.
    """
    try:
        frames, rate = _decoded_frames(data)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioVerificationError(f"downloaded file does not decode: {exc}") from exc
    duration_ms = int((to_utc(end) - to_utc(start)) / pd.Timedelta(milliseconds=1))
    low, high = expected_frame_range(duration_ms, rate)
    if not low <= frames <= high:
        raise AudioVerificationError(
            f"downloaded file decodes to {frames} frames, expected {low}..{high} for "
            f"{duration_ms} ms at {rate} Hz")
    return frames, rate


def convert(data: bytes, ext: str) -> bytes:
    """Re-encode audio bytes to the format of ``ext`` (mixing nothing, keeping the rate)."""
    fmt, subtype = FORMATS[check_format(ext)]
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    if fmt == "OGG" and subtype == "OPUS" and rate not in (8000, 12000, 16000, 24000, 48000):
        raise ValueError(f"opus cannot store {rate} Hz audio; choose file_ext 'flac' or 'wav'")
    out = io.BytesIO()
    sf.write(out, np.clip(samples, -1, 1), rate, format=fmt, subtype=subtype)
    return out.getvalue()


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _existing_ok(path: Path, start: Any, end: Any) -> bool:
    if not path.exists():
        return False
    try:
        verify_bytes(path.read_bytes(), start, end)
    except AudioVerificationError:
        return False
    return True


def download_one(client: Client, segment: Mapping[str, Any], dest: Path,
                 file_ext: str | None = None, *, overwrite: bool = False) -> tuple[Path, bool]:
    """Download one segment row into ``dest``; returns ``(path, downloaded)``.

    An existing file that verifies is kept (``downloaded`` is False) unless ``overwrite``.
    """
    real_ext = str(segment.get("file_extension") or ".flac")
    ext = check_format(file_ext or real_ext)
    path = dest / file_name(str(segment["stream_id"]), segment["start"], ext)
    if not overwrite and _existing_ok(path, segment["start"], segment["end"]):
        return path, False
    data = fetch_bytes(client, str(segment["stream_id"]), segment["start"])
    verify_bytes(data, segment["start"], segment["end"])
    if ext != check_format(real_ext):
        data = convert(data, ext)
    write_atomic(path, data)
    return path, True


def download(client: Client, segments: pd.DataFrame, dest: str | os.PathLike[str], *,
             file_ext: str | None = None, by_stream: bool = True, max_workers: int | None = None,
             overwrite: bool = False, progress: bool | None = None) -> pd.DataFrame:
    """Download the files of a segments DataFrame.

    Parameters
    ----------
    client
        The client to download with (its rate limit and retries apply).
    segments
        Rows of :meth:`Client.segments_df` (``stream_id``, ``start``, ``end``,
        ``file_extension``).
    dest
        Destination folder; with ``by_stream`` each stream gets a sub-folder named by id.
    file_ext
        ``None`` keeps each file's real format; ``"wav"``, ``"flac"``, ``"opus"`` or
        ``"ogg"`` converts.
    max_workers
        Concurrent downloads (default: the client's ``max_workers``).
    overwrite
        Download again even when a verified file is already there.
    progress
        Show a progress bar (default: the client's setting).

    Returns
    -------
    pandas.DataFrame
        The input rows plus ``path`` and ``downloaded`` (False where a verified file was
        already present).

    Raises
    ------
    DownloadError
        After every other file was attempted, if any failed; ``errors`` maps
        ``"<stream>/<start>"`` to each exception.

    Examples
    --------
    >>> from rfcx_frames.emulator import running
    >>> import tempfile
    >>> with running(days=1) as emu:  # doctest: +SKIP
    ...     c = emu.client()
    ...     segs = c.segments_df(c.streams_df().id[0], "2024-03-01", "2024-03-01T06:00")
    ...     files = download(c, segs.head(2), tempfile.mkdtemp())
    """
    root = Path(dest)
    if file_ext is not None:
        check_format(file_ext)
    rows: list[dict[str, Any]] = segments.to_dict("records")  # type: ignore[assignment]
    for row in rows:
        check_id(row["stream_id"], "stream id")
    for folder in {root / str(row["stream_id"]) if by_stream else root for row in rows}:
        # .part files of downloads killed long ago (none is kept open that long).
        remove_quietly(stale_files(folder, [".*.part"]))
    workers = max_workers or client.max_workers
    show = client.progress if progress is None else progress
    paths: list[str | None] = [None] * len(rows)
    fresh: list[bool] = [False] * len(rows)
    errors: dict[str, BaseException] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
            total=len(rows), desc="segments", unit="file", delay=1.0,
            disable=not show or not config.progress_enabled_by_env()) as bar:
        futures = {pool.submit(download_one, client, row,
                               root / row["stream_id"] if by_stream else root,
                               file_ext, overwrite=overwrite): i for i, row in enumerate(rows)}
        for future in as_completed(futures):
            i = futures[future]
            try:
                path, did = future.result()
                paths[i], fresh[i] = str(path), did
            except Exception as exc:  # collected and raised together below
                errors[f"{rows[i]['stream_id']}/{to_utc(rows[i]['start']).isoformat()}"] = exc
            bar.update(1)
    if errors:
        first = next(iter(errors.values()))
        raise DownloadError(f"{len(errors)} of {len(rows)} downloads failed; first: {first}",
                            errors)
    return segments.assign(path=pd.Series(paths, index=segments.index, dtype="string"),
                           downloaded=pd.Series(fresh, index=segments.index, dtype=bool))


def default_store(client: Client) -> AudioStore:
    """The client's audio store: ``audio/`` in its cache folder, or, for a client made
    with ``cache=False`` (or ``RFCX_FRAMES_CACHE_MODE=off``), a temporary folder that is
    deleted with the store, so the cache folder is never touched.

    Examples
    --------
    >>> from rfcx_frames import Client
    >>> store = default_store(Client(cache=False))
    >>> store.root.name.startswith("rfcx_frames-audio-")
    True
    """
    if client._cache_mode(None) == "off":
        folder = tempfile.mkdtemp(prefix="rfcx_frames-audio-")
        store = AudioStore(folder)
        # The index connection is closed first (finalizers run last-registered first).
        weakref.finalize(store, shutil.rmtree, folder, ignore_errors=True)
        return store
    return AudioStore(cache_path(client.cache_dir) / AUDIO)


class ClientSource:
    """A :class:`~rfcx_frames.audio.source.SegmentSource` that downloads into an AudioStore.

    Segments are listed through the client (cached like any ``segments_df``) and files
    are fetched on first use, verified, and kept in the store for every later window.

    Parameters
    ----------
    client
        The client to list and download with.
    store
        The local audio store (default: the one under the cache folder).

    Examples
    --------
    >>> from rfcx_frames.emulator import running
    >>> with running(days=1) as emu:  # doctest: +SKIP
    ...     src = ClientSource(emu.client())
    """

    def __init__(self, client: Client, store: AudioStore | None = None) -> None:
        self.client = client
        self.store = store if store is not None else default_store(client)

    def segments(self, stream_id: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Segments of ``stream_id`` overlapping ``[start, end)``, ordered by start."""
        # The list endpoint filters on segment start, so look back one maximal segment.
        table = self.client.segments_df(stream_id, to_utc(start) - MAX_SEGMENT, to_utc(end),
                                        progress=False)
        if len(table) == 0:
            return empty_segments()
        table = table.assign(stream_id=table["stream_id"].astype(str))
        mask = overlapping(table, int(to_utc(start).value), int(to_utc(end).value))
        return table[mask].reset_index(drop=True)

    def fetch(self, segment: Mapping[str, Any]) -> Path:
        """A local, verified file for ``segment``, downloaded on first use."""
        row = dict(segment)
        row["stream_id"] = str(row["stream_id"])
        if self.store.has(row):
            return self.store.path_for(row)
        data = fetch_bytes(self.client, row["stream_id"], row["start"])
        return self.store.add(row, data)
