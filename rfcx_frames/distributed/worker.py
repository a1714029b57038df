"""What runs on a Dask worker: one partition's windows cut, handed to ``fn``, written.

A worker builds its own :class:`~rfcx_frames.Client` from a :class:`WorkerSpec` (the
driver client's settings, no token) and the driver's
:meth:`~rfcx_frames.Client.credentials`, which reach it as scattered data (in memory,
outside the task graph), once per worker process and run, with the cluster's rate limiter
in its session; then for a partition it cuts the windows exactly as
:func:`~rfcx_frames.audio.clips.iter_clips` does (the client's audio store, so each
segment file is downloaded once per machine), calls ``fn(audio, meta)`` per batch and
writes the result through :mod:`~rfcx_frames.distributed.results`. When the run ends,
:func:`free_clients` closes and forgets the run's client on every worker.

Examples
--------
>>> spec = WorkerSpec(settings={"api_url": "http://127.0.0.1:1"})
>>> spec.limiter is None
True
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rfcx_frames.api.audio import audio_source
from rfcx_frames.audio.window_apply import WindowFn, apply_windows
from rfcx_frames.auth import Credentials
from rfcx_frames.client import Client
from rfcx_frames.distributed.results import write_partition
from rfcx_frames.ratelimit import Pacer

_CLIENTS: dict[str, Client] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class WorkerSpec:
    """How a worker builds its client: the driver's settings, without any token.

    Parameters
    ----------
    settings
        Keyword arguments of :class:`~rfcx_frames.Client` (no token).
    limiter
        The cluster's rate limiter, or ``None``.
    key
        Names this spec's client in a worker's memory (random, never the token).

    Examples
    --------
    >>> WorkerSpec(settings={}).key != WorkerSpec(settings={}).key
    True
    """

    settings: Mapping[str, Any]
    limiter: Any = None
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_client(cls, client: Client, limiter: Any) -> WorkerSpec:
        """The spec of a driver's client (its token travels apart: ``client.credentials()``).

        Examples
        --------
        >>> WorkerSpec.from_client(client, None)  # doctest: +SKIP
        """
        session = client.session
        # A process-local bucket cannot travel to (or be shared by) workers: the cluster's
        # limiter replaces it, else the workers go unpaced.
        local = isinstance(session.rate_limit, Pacer)
        settings = {"api_url": client.api_url, "ingest_url": client.ingest_url,
                    "auth_url": client.auth_url, "cache_dir": str(client.cache_root),
                    "max_workers": client.max_workers, "rate_limit": None if local else session.rate_limit,
                    "timeout": session.timeout, "retries": session.retries,
                    "backoff_factor": session.backoff_factor, "deadline": session.deadline,
                    "clock": client.clock, "progress": False,
                    "cache": client.cache_mode(None)}
        return cls(settings=settings, limiter=limiter)

    def client(self, credentials: Credentials) -> Client:
        """This worker's client for the spec, built on first use with ``credentials``.

        Examples
        --------
        >>> spec.client(credentials)  # doctest: +SKIP
        """
        with _LOCK:
            if self.key not in _CLIENTS:
                settings = dict(self.settings)
                if self.limiter is not None:
                    # Bound here, in a task, where the worker's distributed.Client is found;
                    # the session takes any Pacer as its rate limit.
                    bound = getattr(self.limiter, "bound", None)
                    settings["rate_limit"] = bound() if callable(bound) else self.limiter
                _CLIENTS[self.key] = Client(token=credentials.token, **settings)
            return _CLIENTS[self.key]


def free_clients(key: str) -> list[str]:
    """Close and forget this process's client of the spec ``key``; the keys still held.

    ``map_windows`` runs it on every worker when a run ends, so no worker keeps a run's
    token or connections.

    Parameters
    ----------
    key
        A :attr:`WorkerSpec.key`.

    Examples
    --------
    >>> free_clients("no-such-run")
    []
    """
    with _LOCK:
        client = _CLIENTS.pop(key, None)
        held = sorted(_CLIENTS)
    if client is not None:
        client.close()
    return held


def run_partition(spec: WorkerSpec, credentials: Credentials, name: str, windows: pd.DataFrame,
                  fn: WindowFn, out: str, options: Mapping[str, Any]) -> int:
    """Cut, compute and write one partition; the number of rows written.

    Parameters
    ----------
    spec
        The worker's client.
    credentials
        The driver's token (scattered data, not part of the task).
    name
        The partition (``stream_id=<id>/date=<day>``).
    windows
        Its windows (``stream_id``, ``start``, ``end``).
    fn
        ``fn(audio, meta)`` per batch.
    out
        The results folder.
    options
        ``sample_rate``, ``gap``, ``channel``, ``batch_size`` of the clips.

    Examples
    --------
    >>> run_partition(spec, creds, "stream_id=s/date=2024-03-01", windows, fn, "out", {})  # doctest: +SKIP
    3
    """
    frame = apply_windows(audio_source(spec.client(credentials)), windows, fn, **options)
    write_partition(Path(out), name, frame, windows)
    return len(frame)
