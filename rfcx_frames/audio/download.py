"""Segment downloads over HTTP into a folder, each file whole or absent.

A file is fetched, checked with :func:`~rfcx_frames.audio.segment_check.check_segment_audio`
(it decodes, it is whole, it is as long as its segment), converted if another format was
asked for (with soundfile: never FLAC bytes under a ``.wav`` name), and written with
:func:`rfcx_frames.files.write_bytes`, so a crash or a cut connection never leaves half a
file under the final name. Names come from :func:`~rfcx_frames.audio.naming.file_name`,
which checks ids, so a stream name like ``../../x`` cannot write outside the destination.

A batch fsyncs each folder it wrote to once, at its end, rather than each file: every
re-run checks a file before keeping it, so one a power cut left short is fetched again.
Against a server on this machine more threads run than requests may be in flight, so a
thread checking and writing its file never holds a request slot idle.

Examples
--------
>>> segment_url("https://api.rfcx.org", "abc", "2022-04-17T11:00:00Z")
'https://api.rfcx.org/streams/abc/segments/20220417T110000000Z/file'
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import requests
import soundfile as sf

from rfcx_frames import config
from rfcx_frames.api.context import Context
from rfcx_frames.audio.naming import FORMATS, check_format, check_id, file_name
from rfcx_frames.audio.segment_check import AudioVerificationError, check_segment_audio
from rfcx_frames.cache.disk import remove_quietly, stale_files
from rfcx_frames.exceptions import DownloadError
from rfcx_frames.files import TMP_PREFIX, atomic_path, fsync_dir, write_bytes
from rfcx_frames.progress import tqdm
from rfcx_frames.timeutil import to_compact, to_utc
from rfcx_frames.urls import is_loopback

#: Leftovers of writers killed long ago, swept before a download: temporaries of
#: :mod:`rfcx_frames.files`, and ``.part`` files of versions that wrote those instead.
_LEFTOVERS = (f"{TMP_PREFIX}*", ".*.part")
#: Download threads per request slot against a server on this machine (see the module
#: docstring); measured in ``bench/bench_downloads.py``.
_LOOPBACK_THREADS_PER_SLOT = 2


def segment_url(api_url: str, stream_id: str, start: Any) -> str:
    """The platform URL that redirects to a segment's stored file.

    Parameters
    ----------
    api_url
        The platform's API root.
    stream_id
        The stream (a safe id).
    start
        The segment's start.

    Returns
    -------
    str
        The URL.

    Examples
    --------
    >>> segment_url("https://api.rfcx.org", "abc", "2022-04-17T11:00:00.5Z")
    'https://api.rfcx.org/streams/abc/segments/20220417T110000500Z/file'
    """
    compact = to_compact(to_utc(start))
    return f"{api_url}/streams/{check_id(stream_id, 'stream id')}/segments/{compact}/file"


def fetch_bytes(client: Context, stream_id: str, start: Any) -> bytes:
    """The stored bytes of one segment (retried on faults and cut bodies).

    Parameters
    ----------
    client
        The client to fetch with.
    stream_id
        The stream.
    start
        The segment's start.

    Returns
    -------
    bytes
        The file as the platform stores it, not yet checked.

    Examples
    --------
    >>> data = fetch_bytes(client, "abc123abc123", "2024-03-01T05:00:00Z")  # doctest: +SKIP
    """
    return client.session.request("GET", segment_url(client.api_url, stream_id, start),
                                  parse=_content)


def _content(response: requests.Response) -> bytes:
    return response.content


def convert(data: bytes, ext: str) -> bytes:
    """Re-encode audio bytes to the format of ``ext`` (mixing nothing, keeping the rate).

    Parameters
    ----------
    data
        Audio bytes in any format soundfile reads.
    ext
        One of :data:`~rfcx_frames.audio.naming.FORMATS`.

    Returns
    -------
    bytes
        The re-encoded file.

    Examples
    --------
    >>> buf = io.BytesIO()
    >>> sf.write(buf, np.zeros(80, dtype="float32"), 8000, format="FLAC")
    >>> convert(buf.getvalue(), "wav")[:4]
    b'RIFF'
    """
    fmt, subtype = FORMATS[check_format(ext)]
    samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    if fmt == "OGG" and subtype == "OPUS" and rate not in (8000, 12000, 16000, 24000, 48000):
        raise ValueError(f"opus cannot store {rate} Hz audio; choose file_ext 'flac' or 'wav'")
    out = io.BytesIO()
    sf.write(out, np.clip(samples, -1, 1), rate, format=fmt, subtype=subtype)
    return out.getvalue()


def _existing_ok(path: Path, segment: Mapping[str, Any]) -> bool:
    if not path.exists():
        return False
    try:
        check_segment_audio(path, segment)
    except AudioVerificationError:
        return False
    return True


def download_one(client: Context, segment: Mapping[str, Any], dest: Path,
                 file_ext: str | None = None, *, overwrite: bool = False,
                 sync_folder: bool = True) -> tuple[Path, bool]:
    """Download one segment row into ``dest``; returns ``(path, downloaded)``.

    An existing file that passes the check is kept (``downloaded`` is False) unless
    ``overwrite``.

    Parameters
    ----------
    client
        The client to download with.
    segment
        A segment-table row: ``stream_id``, ``start``, ``end``, ``file_extension``.
    dest
        The folder to write into.
    file_ext
        ``None`` keeps the file's real format; else one of
        :data:`~rfcx_frames.audio.naming.FORMATS`.
    overwrite
        Download again even when a whole file is already there.
    sync_folder
        Fsync the folder after the rename; a batch passes ``False`` and fsyncs each of
        its folders once at its end.

    Returns
    -------
    tuple
        The file's path, and whether it was downloaded now.

    Examples
    --------
    >>> path, fresh = download_one(client, segs.iloc[0], Path("out"))  # doctest: +SKIP
    """
    real_ext = str(segment.get("file_extension") or ".flac")
    ext = check_format(file_ext or real_ext)
    path = dest / file_name(str(segment["stream_id"]), segment["start"], ext)
    if not overwrite and _existing_ok(path, segment):
        return path, False
    if ext == check_format(real_ext):
        _fetch_checked(client, segment, path)
    else:
        data = fetch_bytes(client, str(segment["stream_id"]), segment["start"])
        check_segment_audio(data, segment)
        # No fsync of the file, as in _fetch_checked.
        write_bytes(path, convert(data, ext), durable=False)
    if sync_folder:
        fsync_dir(path.parent)
    return path, True


def _fetch_checked(client: Context, segment: Mapping[str, Any], path: Path) -> None:
    """Stream a segment's file to a temporary beside ``path``, check it, then rename it.

    No fsync of the file: every re-run checks each file before keeping it, which replaces
    one a power cut left short; the rename keeps a crashed run from leaving half a file.
    """
    url = segment_url(client.api_url, str(segment["stream_id"]), segment["start"])
    with atomic_path(path, durable=False) as tmp, open(tmp, "wb") as handle:
        # Written as it arrives (the session empties the file before a retry): a body
        # held whole in memory costs fresh pages per file, which many threads fault in.
        client.session.request("GET", url, parse=_nothing, into=handle)
        handle.flush()
        # From a path libsndfile reads the file itself, without the GIL: from bytes every
        # read is a Python callback, holding up the other download threads.
        try:
            check_segment_audio(tmp, segment)
        except AudioVerificationError as exc:  # named as the user knows it; tmp is removed
            raise AudioVerificationError(str(exc).replace(tmp.name, path.name)) from None


def _nothing(response: requests.Response) -> None:
    return None


def _checked_rows(segments: pd.DataFrame, root: Path, by_stream: bool
                  ) -> list[tuple[dict[str, Any], Path]]:
    """Each row with its destination folder, ids checked before anything is written."""
    rows: list[dict[str, Any]] = segments.to_dict("records")  # type: ignore[assignment]
    jobs = [(row, root / check_id(row["stream_id"], "stream id") if by_stream else root)
            for row in rows]
    for folder in {folder for _, folder in jobs}:
        remove_quietly(stale_files(folder, list(_LEFTOVERS)))
    return jobs


def _run_downloads(client: Context, jobs: list[tuple[dict[str, Any], Path]],
                   file_ext: str | None, overwrite: bool, workers: int, show: bool
                   ) -> tuple[list[str | None], list[bool], dict[str, BaseException]]:
    """Download every job in a thread pool; failures are collected, not raised."""
    paths: list[str | None] = [None] * len(jobs)
    fresh: list[bool] = [False] * len(jobs)
    errors: dict[str, BaseException] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
            total=len(jobs), desc="segments", unit="file", delay=1.0,
            disable=not show or not config.progress_enabled_by_env()) as bar:
        futures = {pool.submit(download_one, client, row, folder, file_ext,
                               overwrite=overwrite, sync_folder=False): i
                   for i, (row, folder) in enumerate(jobs)}
        for future in as_completed(futures):
            i = futures[future]
            try:
                path, did = future.result()
                paths[i], fresh[i] = str(path), did
            except Exception as exc:  # collected and raised together by the caller
                row = jobs[i][0]
                errors[f"{row['stream_id']}/{to_utc(row['start']).isoformat()}"] = exc
            bar.update(1)
    return paths, fresh, errors


def _workers(client: Context) -> int:
    """Default download threads: the client's, or more against a server on this machine."""
    if is_loopback(urlsplit(client.api_url).hostname or ""):
        return max(client.max_workers, config.LOOPBACK_WORKERS) * _LOOPBACK_THREADS_PER_SLOT
    return client.max_workers


def _sync_folders(root: Path, jobs: list[tuple[dict[str, Any], Path]],
                  fresh: list[bool]) -> None:
    """Fsync every folder the batch wrote a file to (and ``root``, which gained them)."""
    written = {folder for (_, folder), did in zip(jobs, fresh, strict=True) if did}
    for folder in sorted(written):
        fsync_dir(folder)
    if written - {root}:
        fsync_dir(root)


def download(client: Context, segments: pd.DataFrame, dest: str | os.PathLike[str], *,
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
    by_stream
        One sub-folder per stream (default), or every file directly in ``dest``.
    max_workers
        Download threads (default: the client's ``max_workers``; against a server on this
        machine, two per request slot, ``config.LOOPBACK_WORKERS``). Requests in
        flight stay within the client's limit whatever this is.
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
    if file_ext is not None:
        check_format(file_ext)
    jobs = _checked_rows(segments, Path(dest), by_stream)
    show = client.progress if progress is None else progress
    paths, fresh, errors = _run_downloads(client, jobs, file_ext, overwrite,
                                          max_workers or _workers(client), show)
    _sync_folders(Path(dest), jobs, fresh)
    if errors:
        first = next(iter(errors.values()))
        raise DownloadError(f"{len(errors)} of {len(jobs)} downloads failed; first: {first}",
                            errors)
    return segments.assign(path=pd.Series(paths, index=segments.index, dtype="string"),
                           downloaded=pd.Series(fresh, index=segments.index, dtype=bool))
