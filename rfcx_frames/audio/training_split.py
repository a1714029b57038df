"""Leak-free splits of a clip table: whole groups to one side, overlapping windows together.

A split assigns whole *groups* to the test side: a stream, a recording (segment) or a
UTC day. Windows on a grid overlap their neighbours, and a window whose middle lies in
one recording may reach into the next (or across midnight), so any two groups that
share overlapping windows are merged first: no test window ever overlaps a train
window of the same stream. Groups are shuffled (``seed``) and moved to the test side
until it holds at least ``test_size`` of the windows.

Examples
--------
>>> t = pd.DataFrame({"stream_id": ["a", "a", "b"],
...                   "start": pd.to_datetime([0, 10**9, 0], utc=True),
...                   "end": pd.to_datetime([2 * 10**9, 3 * 10**9, 10**9], utc=True)})
>>> split_groups(t, "recording").tolist()  # a's two windows overlap: one group
[0, 0, 1]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from rfcx_frames.audio.sample_time import series_ns

SplitBy = Literal["stream", "recording", "day"]
SPLIT_BY = ("stream", "recording", "day")


def _keys(table: pd.DataFrame, by: str) -> pd.Series:
    stream = table["stream_id"].astype(str)
    if by == "stream":
        return stream
    if by == "day":
        return stream + "|" + table["start"].dt.strftime("%Y-%m-%d")
    column = "recording_start" if "recording_start" in table.columns else "start"
    return stream + "|" + table[column].astype(str)


def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i


def split_groups(table: pd.DataFrame, by: SplitBy) -> np.ndarray:
    """A group number per row: rows of one group must stay on one side of a split.

    Parameters
    ----------
    table
        ``stream_id``, ``start``, ``end`` (and ``recording_start`` for ``"recording"``).
    by
        ``"stream"``, ``"recording"`` or ``"day"`` (UTC).

    Returns
    -------
    numpy.ndarray
        ``int64`` group numbers, overlapping windows always in one group.

    Examples
    --------
    >>> t = pd.DataFrame({"stream_id": ["a", "b"], "start": pd.to_datetime([0, 0], utc=True),
    ...                   "end": pd.to_datetime([1, 1], utc=True)})
    >>> split_groups(t, "stream").tolist()
    [0, 1]
    """
    if by not in SPLIT_BY:
        raise ValueError(f"by must be one of {SPLIT_BY}, not {by!r}")
    codes, _ = pd.factorize(_keys(table, by), sort=True)
    parent = np.arange(codes.max() + 1 if len(codes) else 0)
    starts, ends = series_ns(table["start"]), series_ns(table["end"])
    stream = table["stream_id"].astype(str).to_numpy()
    order = np.lexsort((starts, stream))
    reach_end, reach_code = -1, -1
    for previous, i in zip([-1, *order[:-1]], order, strict=True):
        if previous < 0 or stream[previous] != stream[i] or starts[i] >= reach_end:
            reach_end, reach_code = int(ends[i]), int(codes[i])
            continue
        a, b = _find(parent, reach_code), _find(parent, int(codes[i]))
        parent[max(a, b)] = min(a, b)
        if ends[i] > reach_end:
            reach_end, reach_code = int(ends[i]), int(codes[i])
    roots = np.array([_find(parent, int(c)) for c in codes], dtype="int64")
    return pd.factorize(roots, sort=True)[0].astype("int64")


def held_out_mask(table: pd.DataFrame, by: SplitBy, test_size: float, seed: int) -> np.ndarray:
    """Which rows go to the test side (see the module docstring).

    Raises
    ------
    ValueError
        ``test_size`` outside (0, 1), or fewer than two groups to share out.

    Examples
    --------
    >>> t = pd.DataFrame({"stream_id": ["a", "b"], "start": pd.to_datetime([0, 0], utc=True),
    ...                   "end": pd.to_datetime([1, 1], utc=True)})
    >>> int(held_out_mask(t, "stream", 0.5, seed=0).sum())
    1
    """
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not (
            0 < float(test_size) < 1):
        raise ValueError(f"test_size must be a fraction in (0, 1), not {test_size!r}")
    groups = split_groups(table, by)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    if n_groups < 2:
        raise ValueError(f"cannot split by {by!r}: the windows form {n_groups} group(s) of "
                         "overlapping windows; split by a finer unit or add data")
    sizes = np.bincount(groups, minlength=n_groups)
    chosen = np.zeros(n_groups, dtype=bool)
    total = 0
    for g in np.random.default_rng(seed).permutation(n_groups):
        if total >= float(test_size) * len(groups) or chosen.sum() == n_groups - 1:
            break
        chosen[g] = True
        total += int(sizes[g])
    return np.asarray(chosen[groups], dtype=bool)


__all__ = ["SPLIT_BY", "SplitBy", "held_out_mask", "split_groups"]
