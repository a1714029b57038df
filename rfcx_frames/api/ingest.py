"""Uploads: audio files through the ingest service, and classifier models.

Examples
--------
>>> ingest_file(client, "abc123abc123", "20240301_060000.WAV", "2024-03-01T06:00")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import config, ids, timeutil, validate
from ..exceptions import RFCxError
from ..timeutil import TimeLike
from .context import Context


def _json_body(response: Any) -> Any:
    return response.json()


def _upload_deadline(ctx: Context) -> float | None:
    # An upload's size is the user's own file: give it at least UPLOAD_DEADLINE.
    own = ctx.session.deadline
    return None if own is None else max(own, config.UPLOAD_DEADLINE)


def ingest_file(ctx: Context, stream: str, filepath: str | os.PathLike[str],
                timestamp: TimeLike) -> str:
    """Upload one audio file to a stream; returns the upload (ingest) id.

    Requests an upload URL (``POST`` to the ingest endpoint), then ``PUT`` s the bytes
    there with ``Content-Type: audio/<lower-case extension>``. ``timestamp`` is the
    recording start; naive times are UTC.

    Parameters
    ----------
    stream
        Stream id.
    filepath
        The audio file (WAV, FLAC, OPUS ...).
    timestamp
        When the recording starts; naive = UTC.

    Returns
    -------
    str
        The upload id (give it to :func:`check_ingest`).

    Examples
    --------
    >>> client.ingest_file("abc123abc123", "20240301_060000.WAV", "2024-03-01T06:00")  # doctest: +SKIP
    '65f0c1e2a3b4c5d6e7f80912'
    """
    if not stream or not isinstance(stream, str):
        raise TypeError("stream is required (a stream id string)")
    path = Path(filepath)
    if not path.is_file():
        raise FileNotFoundError(f"filepath {str(path)!r} is not a file")
    when = timeutil.to_wire(timeutil.to_utc(timestamp, "timestamp"))
    form = {"filename": path.name, "timestamp": when, "stream": stream}
    ticket = ctx.session.request("POST", ctx.ingest_url, data=form, parse=_json_body)
    if not isinstance(ticket, dict) or "url" not in ticket or "uploadId" not in ticket:
        # Name the keys only: the answer may hold a pre-signed (secret) upload URL.
        keys = sorted(ticket) if isinstance(ticket, dict) else type(ticket).__name__
        raise RFCxError(f"unexpected answer from the ingest service (keys: {keys})")
    content_type = f"audio/{path.suffix.lstrip('.').lower()}"
    ctx.session.request("PUT", str(ticket["url"]), data=path.read_bytes(),
                         headers={"Content-Type": content_type}, auth=False,
                         timeout=config.UPLOAD_TIMEOUT, deadline=_upload_deadline(ctx),
                         parse=lambda r: None)
    return str(ticket["uploadId"])

def check_ingest(ctx: Context, ingest_id: str, wait_for_completion: bool = False,
                 timeout: float = config.CHECK_INGEST_TIMEOUT_S,
                 poll_interval: float = config.CHECK_INGEST_POLL_S
                 ) -> tuple[int, str, str | None]:
    """Status of an upload: ``(status, status_name, failure_message)``.

    Statuses: 0 WAITING (URL issued), 10 UPLOADED (received, queued), 20 INGESTED,
    30 FAILED, 31 DUPLICATE, 32 CHECKSUM. With ``wait_for_completion`` polls every
    ``poll_interval`` seconds until the status is final (>= 20).

    Parameters
    ----------
    ingest_id
        The id returned by :func:`ingest_file`.
    wait_for_completion
        Poll until the status is final.
    timeout, poll_interval
        Seconds to wait at most, and between polls.

    Returns
    -------
    tuple
        ``(status, status_name, failure_message)``.

    Raises
    ------
    TimeoutError
        If ``wait_for_completion`` and the upload is not final within ``timeout`` s.
    NotFoundError
        Unknown or expired (14 days) upload id.

    Examples
    --------
    >>> client.check_ingest(upload_id, wait_for_completion=True, timeout=120)  # doctest: +SKIP
    (20, 'INGESTED', None)
    """
    if not ingest_id or not isinstance(ingest_id, str):
        raise TypeError("ingest_id is required (the id returned by ingest_file)")
    deadline = time.monotonic() + float(timeout)
    while True:
        doc = ctx.session.request("GET", f"{ctx.ingest_url}/{ids.path_part(ingest_id)}",
                                   parse=_json_body)
        status = int(doc.get("status", -1))
        name = config.INGEST_STATUS_NAMES.get(status, "UNKNOWN")
        result = (status, name, doc.get("failureMessage"))
        if not wait_for_completion or status >= config.INGEST_DONE_STATUS:
            return result
        if time.monotonic() + poll_interval > deadline:
            raise TimeoutError(f"upload {ingest_id} still {name} (status {status}) "
                               f"after {timeout:g} s")
        time.sleep(poll_interval)

def upload_classifier(ctx: Context, filepath: str | os.PathLike[str], name: str, version: int,
                      classification_values: Sequence[str], *,
                      active_streams: Sequence[str] | None = None) -> int:
    """Upload a classifier model (``.tar.gz``); returns the new classifier's id.

    ``classification_values`` items are ``from[:to][:threshold]``, e.g.
    ``"bird_song:sciurus_carolinensis:0.5"``. ``active_streams`` (not in the official
    client) asks the platform to run the classifier on those streams.

    Parameters
    ----------
    filepath
        The model archive.
    name, version
        The classifier's name and version.
    classification_values
        Output mappings ``from[:to][:threshold]``.
    active_streams
        Streams to run the classifier on.

    Returns
    -------
    int
        The new classifier's id.

    Examples
    --------
    >>> values = ["song:sciurus_carolinensis"]
    >>> client.upload_classifier("model.tar.gz", "birds", 1, values)  # doctest: +SKIP
    3
    """
    path = Path(filepath)
    if not path.is_file():
        raise FileNotFoundError(f"filepath {str(path)!r} is not a file")
    values = validate.as_str_list(classification_values, "classification_values")
    if not values:
        raise ValueError("classification_values must hold at least one mapping")
    upload_name = path.name if path.name.endswith(".tar.gz") else "model.tar.gz"
    # "x[]" parts reach the platform as a list even when there is one: a single plain
    # "classification_values" part is a string there, and its request logger then
    # crashes the server after answering (docs/emulator.md, "Hardening and tie order").
    form: dict[str, Any] = {"name": str(name), "version": str(version),
                            "classification_values[]": values}
    streams = validate.as_str_list(active_streams, "active_streams")
    if streams:
        form["active_streams[]"] = streams
    with path.open("rb") as fh:
        location = ctx.session.request(
            "POST", f"{ctx.api_url}/classifiers", data=form,
            files={"file": (upload_name, fh, "application/gzip")},
            timeout=config.UPLOAD_TIMEOUT, deadline=_upload_deadline(ctx),
            allow_redirects=False,
            parse=lambda r: r.headers.get("Location", ""))
    match = re.search(r"/([0-9]+)$", location or "")
    if match is None:
        raise RFCxError(f"the platform did not return the new classifier's id "
                        f"(Location: {location!r})")
    return int(match.group(1))
