"""Segment tables: the columns every segment source returns, and which rows overlap a span.

A *segment table* is a DataFrame with one row per audio file: ``stream_id``, ``id`` (segment
uuid), ``start``, ``end`` (UTC), ``file_extension`` (``".flac"``, ``".opus"``, ``".wav"``) and,
when known from the file itself, ``sample_rate`` and ``sample_count``. When the last two are
missing the window loader reads them from the file's header.

Examples
--------
>>> len(empty_segments())
0
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rfcx_frames.audio.sample_time import NS_PER_S, series_ns

#: Columns every segment table has, in this order.
SEGMENT_COLUMNS = ("stream_id", "id", "start", "end", "file_extension")


def empty_segments() -> pd.DataFrame:
    """An empty segment table with the declared dtypes.

    Examples
    --------
    >>> list(empty_segments().columns)[:3]
    ['stream_id', 'id', 'start']
    """
    return pd.DataFrame(
        {
            "stream_id": pd.Series([], dtype="object"),
            "id": pd.Series([], dtype="object"),
            "start": pd.Series([], dtype="datetime64[ms, UTC]"),
            "end": pd.Series([], dtype="datetime64[ms, UTC]"),
            "file_extension": pd.Series([], dtype="object"),
            "sample_rate": pd.Series([], dtype="Int64"),
            "sample_count": pd.Series([], dtype="Int64"),
        }
    )


def overlapping(table: pd.DataFrame, start_ns: int, end_ns: int) -> np.ndarray:
    """Boolean mask of rows of a segment table overlapping ``[start_ns, end_ns)``.

    A segment's extent is ``[start, end)``; when ``sample_rate`` and ``sample_count`` are
    known the file's real length counts too, since ``end`` is rounded to milliseconds.

    Examples
    --------
    >>> t = pd.DataFrame({"start": pd.to_datetime(["1970-01-01"], utc=True),
    ...                   "end": pd.to_datetime(["1970-01-01 00:01"], utc=True)})
    >>> overlapping(t, 0, 1).tolist()
    [True]
    """
    if len(table) == 0:
        return np.zeros(0, dtype=bool)
    starts = series_ns(table["start"])
    ends = series_ns(table["end"])
    if "sample_rate" in table.columns and "sample_count" in table.columns:
        rate = pd.to_numeric(table["sample_rate"]).astype("Float64").to_numpy(np.float64, na_value=0)
        count = pd.to_numeric(table["sample_count"]).astype("Float64").to_numpy(
            np.float64, na_value=0
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            real = np.where(rate > 0, starts + np.ceil(count * NS_PER_S / np.maximum(rate, 1)), 0)
        ends = np.maximum(ends, real.astype("int64"))
    return np.asarray((starts < end_ns) & (ends > start_ns), dtype=bool)


def holding(table: pd.DataFrame, instants_ns: np.ndarray) -> np.ndarray:
    """Position in ``table`` of the segment holding each instant, ``-1`` where none does.

    ``table`` holds one stream's segments in start order. An instant is held by the last
    segment starting at or before it, if it has not ended yet (its ``end`` counts as inside:
    the platform rounds ends down to the millisecond).

    Parameters
    ----------
    table
        One stream's segment table, in start order.
    instants_ns
        Integer nanoseconds.

    Returns
    -------
    numpy.ndarray
        int64 row positions.

    Examples
    --------
    >>> t = pd.DataFrame({"start": pd.to_datetime(["1970-01-01"], utc=True),
    ...                   "end": pd.to_datetime(["1970-01-01 00:01"], utc=True)})
    >>> holding(t, np.array([0, 30 * NS_PER_S, 61 * NS_PER_S])).tolist()
    [0, 0, -1]
    """
    instants = np.asarray(instants_ns, dtype="int64")
    if len(table) == 0:
        return np.full(len(instants), -1, dtype="int64")
    starts, ends = series_ns(table["start"]), series_ns(table["end"])
    pos = np.searchsorted(starts, instants, side="right") - 1
    inside = (pos >= 0) & (instants <= ends[np.maximum(pos, 0)])
    return np.where(inside, pos, -1).astype("int64")
