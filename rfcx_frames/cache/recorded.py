"""Recorded time and effort over the cache: the runs effort queries left, and effort from them.

``effort_df`` keeps the recorded runs of segments in the cache (the ``recordings`` entity
for partial months, ``recordings-monthly`` for whole ones; their layout is described in
:mod:`rfcx_frames.ecology.recordings`). Here they are read back without a request:
:func:`recordings_table` gives every run, each stream's runs merged across both entities
and every platform user, and :func:`effort_table` the effort of every period the cache
knows whole, computed by :func:`~rfcx_frames.ecology.effort.effort_from_segments` as
``effort_df`` does, so the rows of a window equal ``effort_df`` of that window.

A period is known when complete cache windows (of either entity) cover it entirely: a
stream then has a row for it, 0 where nothing was recorded, as ``effort_df`` has. Periods
the cache knows only in part get no row, so a missing row means "not fetched", never
"not recorded".

Examples
--------
>>> import tempfile
>>> recordings_table(tempfile.mkdtemp()).column_names
['stream_id', 'start', 'end']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.tseries.offsets import BaseOffset

from rfcx_frames.cache.assemble import file_schema, schema_fingerprint
from rfcx_frames.cache.dataset import entries_of, pick_platform, platform_of
from rfcx_frames.cache.disk import store_errors
from rfcx_frames.cache.parquet import UnreadableFilesError, read_parts
from rfcx_frames.config import CacheRoot, RootArg, cache_root
from rfcx_frames.ecology.effort import (
    EFFORT_COLUMNS,
    effort_from_segments,
    parse_freq,
    recorded_intervals,
)

#: The cache entity of recorded runs placed by their start (partial months).
ENTITY = "recordings"
SCHEMA = pa.schema([
    ("stream_id", pa.dictionary(pa.int32(), pa.string())),
    ("start", pa.timestamp("ns", tz="UTC")),
    ("end", pa.timestamp("ns", tz="UTC")),
])
#: The cache entity of recorded runs of whole UTC months, placed by ``month``.
MONTHLY_ENTITY = "recordings-monthly"
MONTHLY_SCHEMA = pa.schema([SCHEMA.field("stream_id"), ("month", pa.timestamp("ns", tz="UTC")),
                            SCHEMA.field("start"), SCHEMA.field("end")])

# Per stream: the runs read, and the complete windows that hold them (int64 ns pairs).
_Known = dict[str, tuple[list[np.ndarray], list[np.ndarray], list[int], list[int]]]


def _ns(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64())
                      .to_numpy(zero_copy_only=False), dtype=np.int64)


def _read(files: list[tuple[str, CacheRoot, int]], stored: pa.Schema
          ) -> tuple[list[tuple[str, pa.Table]], set[str]]:
    """Each readable file's rows, with its stream; and the streams with a damaged file."""
    try:
        parts = read_parts([path for _, path, _ in files], stored,
                           rows=[rows for _, _, rows in files])
    except UnreadableFilesError as exc:
        bad = set(exc.paths)
        broken = {stream for stream, path, _ in files if path in bad}
        kept, _ = _read([f for f in files if f[0] not in broken], stored)
        return kept, broken
    return [(stream, part) for (stream, _, _), part in zip(files, parts, strict=True)], set()


def _known(root: RootArg, platform: str | None) -> _Known:
    """Every stream's cached runs and complete windows, of one platform, both entities."""
    folder = cache_root(root)
    with store_errors(folder):
        return _read_known(folder, platform)


def _read_known(folder: CacheRoot, platform: str | None) -> _Known:
    entries = [(entry, manifest) for entity, schema in ((ENTITY, SCHEMA),
                                                        (MONTHLY_ENTITY, MONTHLY_SCHEMA))
               for entry, manifest in entries_of(folder, entity, schema_fingerprint(schema))]
    chosen = pick_platform({platform_of(m) for _, m in entries}, platform, folder)
    stored = file_schema(SCHEMA)
    known: _Known = {}
    for entry, manifest in entries:
        if platform_of(manifest) != chosen:
            continue
        files = [(stream, entry.path(part.path), part.rows)
                 for stream, state in manifest.streams.items() for part in state.files]
        parts, broken = _read(files, stored)
        for stream, state in manifest.streams.items():
            # A damaged file's runs are lost: its stream's windows here count as unknown
            # (no rows, never zeros) until the next effort query fetches them again.
            if stream not in broken:
                lows, highs = known.setdefault(stream, ([], [], [], []))[2:]
                lows.extend(s for s, _ in state.complete)
                highs.extend(e for _, e in state.complete)
        for stream, part in parts:
            starts, ends = known[stream][:2]
            starts.append(_ns(part["start"]))
            ends.append(_ns(part["end"]))
    return known


def _merged(stream_known: tuple[list[np.ndarray], list[np.ndarray], list[int], list[int]]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One stream's disjoint runs inside its disjoint known spans (all int64 ns)."""
    starts, ends, lows, highs = stream_known
    span_lo, span_hi = recorded_intervals(np.array(lows, dtype=np.int64),
                                          np.array(highs, dtype=np.int64))
    run_lo, run_hi = recorded_intervals(np.concatenate([np.zeros(0, np.int64), *starts]),
                                        np.concatenate([np.zeros(0, np.int64), *ends]))
    # Rows a later query dropped from the complete windows no longer count.
    pieces = [(np.maximum(run_lo, a), np.minimum(run_hi, b))
              for a, b in zip(span_lo, span_hi, strict=True)]
    clipped_lo = np.concatenate([np.zeros(0, np.int64), *(p[0] for p in pieces)])
    clipped_hi = np.concatenate([np.zeros(0, np.int64), *(p[1] for p in pieces)])
    keep = clipped_hi > clipped_lo
    return clipped_lo[keep], clipped_hi[keep], span_lo, span_hi


def recordings_table(root: RootArg = None, *,
                     platform: str | None = None) -> pa.Table:
    """Every recorded run the cache holds: ``stream_id``, ``start``, ``end``, disjoint.

    Parameters
    ----------
    root, platform
        Which cache, and whose runs, as for :func:`~rfcx_frames.cache.dataset.dataset`.

    Returns
    -------
    pyarrow.Table
        One row per run of audio (touching or overlapping segments merged), by stream
        and start, with :data:`SCHEMA`'s types.

    Raises
    ------
    ValueError
        When the cache holds several platforms and ``platform`` is not given.

    Examples
    --------
    >>> recordings_table(platform=client.platform())  # doctest: +SKIP
    """
    known = _known(root, platform)
    streams, starts, ends = [], [], []
    for stream in sorted(known):
        lo, hi, _, _ = _merged(known[stream])
        streams += [stream] * len(lo)
        starts.append(lo)
        ends.append(hi)
    times = [pa.array(np.concatenate([np.zeros(0, np.int64), *column]), pa.int64())
             .cast(pa.timestamp("ns", tz="UTC")) for column in (starts, ends)]
    return pa.table([pa.array(streams, pa.string()), *times],
                    names=SCHEMA.names).cast(SCHEMA)


def _whole_periods(runs: pd.DataFrame, a: int, b: int, offset: BaseOffset,
                   streams: list[str]) -> pd.DataFrame:
    """Effort of ``streams`` in the periods wholly inside ``[a, b)`` (ns)."""
    start, end = pd.Timestamp(a, tz="UTC"), pd.Timestamp(b, tz="UTC")
    frame = effort_from_segments(runs, start, end, offset, streams=streams)
    return frame[(frame["period_start"] >= start) & (frame["period_end"] <= end)]


def effort_table(root: RootArg = None, *, freq: str = "1h",
                 platform: str | None = None) -> pa.Table:
    """Recording effort of every UTC period the cache knows whole, as ``effort_df`` gives it.

    Parameters
    ----------
    root, platform
        As for :func:`recordings_table`.
    freq
        The period, a pandas frequency (``"1h"``, ``"1D"``, ``"7D"``, ``"MS"``), aligned
        as :mod:`rfcx_frames.ecology.effort` aligns UTC periods.

    Returns
    -------
    pyarrow.Table
        ``effort_df``'s columns (``stream_id, period_start, period_end,
        period_start_local, timezone, period_seconds, recorded_seconds, coverage``), one
        row per stream and known period, in UTC (``timezone`` is ``"UTC"``).

    Raises
    ------
    ValueError
        For a frequency pandas does not know, or several platforms and no ``platform``.

    Examples
    --------
    >>> import tempfile
    >>> effort_table(tempfile.mkdtemp(), freq="1D").num_rows
    0
    """
    offset = parse_freq(freq)
    runs: list[pd.DataFrame] = []
    spans: dict[tuple[int, int], list[str]] = {}
    for stream, stream_known in sorted(_known(root, platform).items()):
        lo, hi, span_lo, span_hi = _merged(stream_known)
        runs.append(pd.DataFrame({"stream_id": stream, "start": pd.to_datetime(lo, utc=True),
                                  "end": pd.to_datetime(hi, utc=True)}))
        for span in zip(span_lo.tolist(), span_hi.tolist(), strict=True):
            spans.setdefault(span, []).append(stream)
    every = pd.concat([pd.DataFrame({"stream_id": [], "start": [], "end": []}), *runs])
    # Streams fetched over the same windows share one grid of periods: one call for them.
    frames = [_whole_periods(every, a, b, offset, streams) for (a, b), streams in spans.items()]
    empty = effort_from_segments(every.head(0), "2000-01-01", "2000-01-02", offset, streams=[])
    frame = pd.concat([empty, *frames], ignore_index=True)[list(EFFORT_COLUMNS)]
    frame["stream_id"] = pd.Categorical(frame["stream_id"].astype(str))
    frame = frame.sort_values(["stream_id", "period_start"], ignore_index=True)
    return pa.Table.from_pandas(frame, preserve_index=False)
