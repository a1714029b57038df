"""``map_windows``: a function over every window of a plan, on a Dask cluster, resumable.

The plan is cut into stream-day partitions (:func:`~rfcx_frames.distributed.plan.partitions`);
each partition not yet written is one Dask task, named ``rfcx-frames-<run>-<n>`` (never
after its arguments), that cuts its windows, calls
``fn`` and writes a Parquet file and its success marker
(:mod:`~rfcx_frames.distributed.results`). A task that raises is retried; a worker that
dies is replaced by Dask and its task rerun; a partition still failing is reported by
name in :class:`~rfcx_frames.exceptions.PartitionsFailedError` once every other one is
written. A re-run skips the partitions already written for the same windows.

The token is in no task: the driver's :meth:`~rfcx_frames.Client.credentials` are
scattered to every worker under a random key (data held in workers' memory, never in the
graph, a key or a file), and released with each worker's client when the run ends, failed
or interrupted included.

Examples
--------
>>> report = map_windows(plan, indices_fn(), "out/", client=client)  # doctest: +SKIP
>>> read_results("out/")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rfcx_frames.client import Client
from rfcx_frames.distributed.limiter import ClusterRateLimiter, _distributed
from rfcx_frames.distributed.plan import partitions
from rfcx_frames.distributed.results import done
from rfcx_frames.distributed.worker import WindowFn, WorkerSpec, free_clients, run_partition
from rfcx_frames.exceptions import PartitionsFailedError
from rfcx_frames.ratelimit import PLATFORM, AutoRateLimit, RateLimit, check_setting
from rfcx_frames.urls import is_platform_host
from rfcx_frames.validate import check_sample_rate

REPORT_COLUMNS = ("partition", "stream_id", "date", "windows", "status", "rows", "error")


def cluster_limiter(client: Client) -> ClusterRateLimiter | None:
    """The cluster-wide bucket for a client's ``rate_limit`` (``None``: none to share).

    ``AUTO`` on the platform's hosts is the ingress's 300/min with its burst; a number or
    a :class:`~rfcx_frames.ratelimit.RateLimit` is that limit. ``AUTO`` elsewhere (an
    emulator, a proxy) and ``None`` have no figure to share: workers pace themselves from
    the first 429/503 (``AUTO``) or not at all.

    Examples
    --------
    >>> cluster_limiter(Client(api_url="https://api.rfcx.org", token="t", rate_limit=60))
    ... # doctest: +ELLIPSIS
    ClusterRateLimiter(per_minute=60, ...)
    """
    setting = client.session.rate_limit
    if isinstance(setting, ClusterRateLimiter):
        return setting
    if isinstance(setting, AutoRateLimit):
        if not is_platform_host(client.api_url):
            return None
        limit: RateLimit | None = PLATFORM
    else:
        checked = check_setting(setting)
        limit = checked if isinstance(checked, RateLimit) else None
    if limit is None:
        return None
    return ClusterRateLimiter(limit.per_minute, burst=max(1, limit.burst_size))


def _options(sample_rate: int | None, gap: str, channel: Any, batch_size: int) -> dict[str, Any]:
    if gap not in ("zero", "nan", "raise"):
        raise ValueError(f"gap must be 'zero', 'nan' or 'raise', not {gap!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, not {batch_size!r}")
    return {"sample_rate": check_sample_rate(sample_rate), "gap": gap, "channel": channel,
            "batch_size": batch_size}


def _report_row(name: str, windows: pd.DataFrame, status: str, rows: int | None,
                error: str | None) -> dict[str, Any]:
    stream, day = (part.split("=", 1)[1] for part in name.split("/"))
    return {"partition": name, "stream_id": stream, "date": day, "windows": len(windows),
            "status": status, "rows": rows, "error": error}


def map_windows(plan: pd.DataFrame, fn: WindowFn, out: str | os.PathLike[str], *,
                client: Client, cluster: Any = None, sample_rate: int | None = None,
                gap: str = "zero", channel: Any = "mix", batch_size: int = 64,
                retries: int = 2, limiter: Any = "auto") -> pd.DataFrame:
    """Run ``fn`` over every window of ``plan`` on a Dask cluster; results as Parquet.

    Parameters
    ----------
    plan
        ``stream_id``, ``start``, ``end`` of each window (``window_grid(...)``, a clip
        table, detections); other columns reach ``fn`` in ``meta``.
    fn
        ``fn(audio, meta) -> DataFrame`` on a batch: ``audio`` is ``float32 [rows,
        samples]`` and ``meta`` its rows, as :func:`~rfcx_frames.audio.clips.clips`
        returns them (``n_samples`` real samples per row). A result with one row per
        window may leave out ``stream_id``/``start``/``end``: they are added.
    out
        Folder of the results: ``stream_id=<id>/date=<day>/part.parquet`` and a
        ``_SUCCESS.json`` marker each; read them with
        :func:`~rfcx_frames.distributed.read_results`.
    client
        The rfcx_frames client whose settings and token the workers use (the token
        travels in memory, never in a file or a task key).
    cluster
        A ``distributed.Client`` (default: the current one): ``LocalCluster``,
        dask-jobqueue, a cloud cluster.
    sample_rate, gap, channel
        As for :func:`~rfcx_frames.audio.clips.clips`.
    batch_size
        Windows per ``fn`` call.
    retries
        Extra attempts of a partition whose task raised.
    limiter
        The cluster's rate limiter: ``"auto"`` (one bucket for the whole cluster at the
        client's ``rate_limit``), a :class:`ClusterRateLimiter`, or ``None`` (none).

    Returns
    -------
    pandas.DataFrame
        One row per partition: ``partition``, ``stream_id``, ``date``, ``windows``,
        ``status`` (``written`` or ``skipped``: written by an earlier run), ``rows``.

    Raises
    ------
    PartitionsFailedError
        Naming each partition that still failed after its retries (all others written).
    ValueError, TypeError
        For a bad plan, ``fn`` or option, before any task starts.

    Examples
    --------
    >>> map_windows(plan, indices_fn(), "indices/", client=client)  # doctest: +SKIP
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable fn(audio, meta), not {type(fn).__name__}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, not {retries!r}")
    options = _options(sample_rate, gap, channel, batch_size)
    parts, folder = partitions(plan), Path(out)
    dask = cluster if cluster is not None else _distributed().get_client()
    todo = {name: w for name, w in parts.items() if not done(folder, name, w)}
    rows = {name: _report_row(name, w, "skipped", None, None)
            for name, w in parts.items() if name not in todo}
    spec = WorkerSpec.from_client(client, cluster_limiter(client) if limiter == "auto"
                                  else limiter)
    errors: dict[str, BaseException] = {}
    if todo:
        if hasattr(spec.limiter, "start"):
            spec.limiter.start(dask)
        try:
            errors = _run(dask, spec, client, todo, rows, (fn, str(folder), options, retries))
        finally:
            if limiter == "auto" and spec.limiter is not None:
                spec.limiter.close(dask)  # made for this run: nothing left on the scheduler
    report = pd.DataFrame([rows[name] for name in parts], columns=list(REPORT_COLUMNS))
    if errors:
        raise PartitionsFailedError(
            f"{len(errors)} of {len(parts)} partitions failed after {retries} retries: "
            + ", ".join(sorted(errors)), errors, report)
    return report.drop(columns="error")


def _run(dask: Any, spec: WorkerSpec, client: Client, todo: Mapping[str, pd.DataFrame],
         rows: dict[str, dict[str, Any]], task: tuple[Any, ...]) -> dict[str, BaseException]:
    """Submit a task per partition, wait for all; the exceptions of those that failed."""
    fn, folder, options, retries = task
    run = uuid.uuid4().hex[:12]
    # Scattered, not hashed: the key is random, and every worker holds a copy, so a worker
    # that replaces a dead one finds the credentials at its peers.
    credentials = dask.scatter(client.credentials(), broadcast=True, hash=False)
    futures: dict[str, Any] = {}
    try:
        futures = {name: dask.submit(run_partition, spec, credentials, name, windows, fn,
                                     folder, options, key=f"rfcx-frames-{run}-{i}",
                                     retries=retries, pure=False)
                   for i, (name, windows) in enumerate(todo.items())}
        return _collect(futures, todo, rows)
    finally:
        # Interrupted or not, no task goes on and no worker keeps the token or a client.
        dask.cancel([*futures.values(), credentials])
        dask.run(free_clients, spec.key, on_error="ignore")


def _collect(futures: Mapping[str, Any], todo: Mapping[str, pd.DataFrame],
             rows: dict[str, dict[str, Any]]) -> dict[str, BaseException]:
    """Wait for every task; its row of the report; the exceptions of those that failed."""
    errors: dict[str, BaseException] = {}
    for name, future in futures.items():
        try:
            count = future.result()
        except Exception as exc:  # a task's own error, or a worker lost too often
            errors[name] = exc
            rows[name] = _report_row(name, todo[name], "failed", None,
                                     f"{type(exc).__name__}: {exc}")
        else:
            rows[name] = _report_row(name, todo[name], "written", int(count), None)
    return errors
