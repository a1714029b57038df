"""What runs on a Dask worker: one partition's windows cut, handed to ``fn``, written.

A worker builds its own :class:`~rfcx_frames.Client` from a :class:`WorkerSpec` (the
driver client's settings, and its token held in memory: a spec's repr and pickled task
key never show it), once per worker process, with the cluster's rate limiter in its
session; then for a partition it cuts the windows exactly as
:func:`~rfcx_frames.audio.clips.iter_clips` does (the client's audio store, so each
segment file is downloaded once per machine), calls ``fn(audio, meta)`` per batch and
writes the result through :mod:`~rfcx_frames.distributed.results`.

Examples
--------
>>> spec = WorkerSpec(settings={"api_url": "http://127.0.0.1:1"}, token="secret")
>>> "secret" in repr(spec)
False
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
from rfcx_frames.client import Client
from rfcx_frames.distributed.results import write_partition
from rfcx_frames.ratelimit import Pacer

_CLIENTS: dict[str, Client] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class WorkerSpec:
    """How a worker builds its client: the driver's settings and token, in memory only.

    Parameters
    ----------
    settings
        Keyword arguments of :class:`~rfcx_frames.Client` (no token).
    token
        The bearer token (never shown by ``repr``).
    limiter
        The cluster's rate limiter, or ``None``.
    key
        Names this spec's client in a worker's memory (random, never the token).

    Examples
    --------
    >>> WorkerSpec(settings={}, token="t").key != WorkerSpec(settings={}, token="t").key
    True
    """

    settings: Mapping[str, Any]
    token: str = field(repr=False)
    limiter: Any = None
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_client(cls, client: Client, limiter: Any) -> WorkerSpec:
        """The spec of a driver's client (the token read now, refreshed if needed).

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
        return cls(settings=settings, token=client._bearer(), limiter=limiter)

    def client(self) -> Client:
        """This worker's client for the spec, built on first use.

        Examples
        --------
        >>> spec.client()  # doctest: +SKIP
        """
        with _LOCK:
            if self.key not in _CLIENTS:
                settings = dict(self.settings)
                if self.limiter is not None:
                    # Bound here, in a task, where the worker's distributed.Client is found;
                    # the session takes any Pacer as its rate limit.
                    bound = getattr(self.limiter, "bound", None)
                    settings["rate_limit"] = bound() if callable(bound) else self.limiter
                _CLIENTS[self.key] = Client(token=self.token, **settings)
            return _CLIENTS[self.key]


def run_partition(spec: WorkerSpec, name: str, windows: pd.DataFrame, fn: WindowFn,
                  out: str, options: Mapping[str, Any]) -> int:
    """Cut, compute and write one partition; the number of rows written.

    Parameters
    ----------
    spec
        The worker's client.
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
    >>> run_partition(spec, "stream_id=s/date=2024-03-01", windows, fn, "out", {})  # doctest: +SKIP
    3
    """
    frame = apply_windows(audio_source(spec.client()), windows, fn, **options)
    write_partition(Path(out), name, frame, windows)
    return len(frame)
