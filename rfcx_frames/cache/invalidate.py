"""Forgetting cached windows a write changed, in every filter signature, so they are fetched anew.

A review or an upload changes rows on the platform; the cached windows that held (or
would hold) them are forgotten for those streams in every entry of the entity (every
filter signature, user and platform), and nothing else is: other streams and other
times stay cached.

Examples
--------
>>> import tempfile, pyarrow as pa
>>> invalidate("detections", pa.schema([]), ["s"], "2024-03-01", "2024-03-02",
...            root=tempfile.mkdtemp())
0
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa

from rfcx_frames.cache.disk import LAYOUT, children
from rfcx_frames.cache.entry import Entry
from rfcx_frames.cache.intervals import Interval, normalize
from rfcx_frames.config import RootArg, cache_root
from rfcx_frames.timeutil import to_ns, to_utc


def invalidate(entity: str, schema: pa.Schema, streams: Sequence[str] = (),
               start: pd.Timestamp | str | None = None, end: pd.Timestamp | str | None = None,
               *, windows: Sequence[tuple[str, pd.Timestamp | str, pd.Timestamp | str]] = (),
               root: RootArg = None, time_column: str = "start",
               stream_column: str = "stream_id", now: pd.Timestamp | None = None) -> int:
    """Forget ``[start, end)`` of ``streams`` in every cached entry of ``entity``.

    Parameters
    ----------
    entity
        The entity name (``"detections"``).
    schema
        The entity's Arrow schema (files holding other windows are rewritten with it).
    streams
        The streams written to, in ``[start, end)``.
    start, end
        The half-open window the written rows start in (required with ``streams``).
    windows
        Other ``(stream, start, end)`` windows to forget in the same pass.
    root
        The cache folder; default :func:`~rfcx_frames.config.cache_path`.
    time_column, stream_column
        The columns placing a row in a window and a stream.
    now
        The time recorded on the rewritten manifests (default: the system clock).

    Returns
    -------
    int
        How many entries held any of the windows.

    Examples
    --------
    >>> import tempfile
    >>> invalidate("detections", pa.schema([]), root=tempfile.mkdtemp(),
    ...            windows=[("s", "2024-03-01", "2024-03-01 00:01")])
    0
    """
    if streams and (start is None or end is None):
        raise ValueError("start and end are required with streams")
    spans: dict[str, list[Interval]] = {}
    for sid, begin, finish in [*((s, start, end) for s in streams), *windows]:
        assert begin is not None and finish is not None
        spans.setdefault(str(sid), []).append((to_ns(to_utc(begin)), to_ns(to_utc(finish))))
    spans = {sid: normalize(found) for sid, found in spans.items()}
    folder = cache_root(root)
    if not spans:
        return 0
    entries = [Entry(folder, entity, d.name, stream_column)
               for d in children(folder / LAYOUT / entity) if d.is_dir()]
    return sum(e.forget(spans, schema=schema, time_column=time_column, now=now) for e in entries)
