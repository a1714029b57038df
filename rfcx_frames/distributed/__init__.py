"""Audio at project scale on a Dask cluster: plans of windows, ``map_windows``, a shared rate limit.

``map_windows(plan, fn, out, client=...)`` runs ``fn(audio, meta)`` over every window of a
plan on any ``dask.distributed`` cluster, one stream-day partition per task, and writes
the results as Parquet partitioned by stream and date, resumably. Dask is an optional
dependency (``pip install 'rfcx-frames[dask]'``), imported only when a cluster is used.

Examples
--------
>>> import pandas as pd
>>> seg = pd.DataFrame({"stream_id": ["s1"], "start": ["2024-03-01T00:00:00Z"],
...                     "end": ["2024-03-01T00:02:00Z"]})
>>> len(window_grid(seg, 60))
2
"""

from __future__ import annotations

from rfcx_frames.distributed.fns import DETECTION_COLUMNS, IndicesFn, ModelFn, indices_fn, model_fn
from rfcx_frames.distributed.limiter import ClusterRateLimiter
from rfcx_frames.distributed.map import cluster_limiter, map_windows
from rfcx_frames.distributed.plan import check_plan, partition_name, partitions, window_grid
from rfcx_frames.distributed.results import read_results, written
from rfcx_frames.distributed.worker import WorkerSpec

__all__ = [
    "DETECTION_COLUMNS",
    "ClusterRateLimiter",
    "IndicesFn",
    "ModelFn",
    "WorkerSpec",
    "check_plan",
    "cluster_limiter",
    "indices_fn",
    "map_windows",
    "model_fn",
    "partition_name",
    "partitions",
    "read_results",
    "window_grid",
    "written",
]
