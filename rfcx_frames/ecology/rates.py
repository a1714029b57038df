"""Detection rates: detections per recorded hour, with the effort beside every count.

A count alone cannot tell a silent site from a site that recorded nothing; a rate divides
by the audio that exists. Here every detection is placed in the effort period (of its own
stream) that holds its start, counts are summed per group, and the recorded hours of the
same periods are summed beside them. A group whose periods hold no audio gets a NaN rate,
never 0; a class heard nowhere in a recorded group gets 0.

Examples
--------
>>> import pandas as pd
>>> from rfcx_frames.ecology.effort import effort_from_segments
>>> seg = pd.DataFrame({"stream_id": ["a"], "start": [pd.Timestamp("2024-03-01", tz="UTC")],
...                     "end": [pd.Timestamp("2024-03-01 02:00", tz="UTC")]})
>>> effort = effort_from_segments(seg, "2024-03-01", "2024-03-01 03:00", "1h")
>>> det = pd.DataFrame({"stream_id": ["a", "a"], "classification_value": ["x", "x"],
...                     "start": pd.to_datetime(["2024-03-01 00:10", "2024-03-01 01:10"], utc=True)})
>>> rates = detection_rates(det, effort, by=["stream_id", "period_start"])
>>> print(rates[["detections", "recorded_hours", "rate_per_hour"]].to_string(index=False))
 detections  recorded_hours  rate_per_hour
          1             1.0            1.0
          1             1.0            1.0
          0             0.0            NaN
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from rfcx_frames.ecology.columns import require_columns
from rfcx_frames.ecology.effort import column_ns as _ns

#: Keys computed from an effort period rather than read from a column.
DERIVED_KEYS = {
    "local_date": lambda e: e["period_start_local"].dt.normalize(),
    "local_hour": lambda e: e["period_start_local"].dt.hour,
    "utc_date": lambda e: e["period_start"].dt.normalize(),
    "utc_hour": lambda e: e["period_start"].dt.hour,
}
_EFFORT_COLUMNS = ("stream_id", "period_start", "period_end", "period_start_local", "timezone")


def assign_periods(detections: pd.DataFrame, effort: pd.DataFrame) -> np.ndarray:
    """For each detection, the row of ``effort`` whose period of its stream holds its start.

    ``-1`` where no period does (a detection outside the effort window, or of a stream
    the effort does not list).

    Examples
    --------
    >>> effort = pd.DataFrame({"stream_id": ["a", "a"],
    ...     "period_start": pd.to_datetime(["2024-03-01 00:00", "2024-03-01 01:00"], utc=True),
    ...     "period_end": pd.to_datetime(["2024-03-01 01:00", "2024-03-01 02:00"], utc=True)})
    >>> det = pd.DataFrame({"stream_id": ["a", "a", "b"],
    ...     "start": pd.to_datetime(["2024-03-01 01:30", "2024-03-01 05:00", "2024-03-01 01:30"], utc=True)})
    >>> assign_periods(det, effort).tolist()
    [1, -1, -1]
    """
    out = np.full(len(detections), -1, dtype=np.int64)
    if len(detections) == 0 or len(effort) == 0:
        return out
    det_stream = detections["stream_id"].astype(str).to_numpy()
    det_start = _ns(detections["start"])
    eff_stream = effort["stream_id"].astype(str).to_numpy()
    eff_start, eff_end = _ns(effort["period_start"]), _ns(effort["period_end"])
    det_groups = pd.Series(np.arange(len(det_stream))).groupby(det_stream).indices
    for stream, eff_rows in pd.Series(np.arange(len(eff_stream))).groupby(eff_stream).indices.items():
        rows = det_groups.get(stream)
        if rows is None:
            continue
        order = eff_rows[np.argsort(eff_start[eff_rows], kind="stable")]
        k = np.searchsorted(eff_start[order], det_start[rows], side="right") - 1
        hit = (k >= 0) & (det_start[rows] < eff_end[order[np.maximum(k, 0)]])
        out[rows[hit]] = order[k[hit]]
    return out


def detection_rates(
    detections: pd.DataFrame, effort: pd.DataFrame,
    by: str | Sequence[str] = ("stream_id", "classification_value"), *,
    classes: Iterable[str] | None = None, min_confidence: float | None = None,
    review_statuses: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Detections per recorded hour in each group, with the count and the hours beside it.

    Parameters
    ----------
    detections
        A frame with ``stream_id`` and ``start`` (``detections_df``, ``annotations_df``, or a
        model's output), plus the columns named in ``by``.
    effort
        The effort of the same window (:meth:`~rfcx_frames.Client.effort_df`); its periods
        set the finest grouping.
    by
        Group keys: effort columns (``stream_id``, ``period_start``, ``period_start_local``,
        ``timezone``), derived keys ``local_date``, ``local_hour``, ``utc_date``,
        ``utc_hour`` (from each period's start), and any detection column
        (``classification_value``, ``classifier_id``, ``review_status``).
    classes
        Values of the ``classification_value`` key that get rows even where never detected
        (default: those present in ``detections``).
    min_confidence, review_statuses
        Count only detections with at least this confidence / with one of these statuses
        (e.g. ``["confirmed"]``).

    Returns
    -------
    pandas.DataFrame
        The keys, then ``detections`` (count), ``recorded_hours``, ``periods`` (how many
        effort periods the group spans) and ``rate_per_hour`` (NaN where nothing was
        recorded). Detections outside every effort period are not counted; their number
        is in ``attrs["unplaced"]``.

    Raises
    ------
    ValueError
        For a key that is neither an effort column, a derived key nor a detection column.

    Examples
    --------
    >>> rates = detection_rates(client.detections_df(...), client.effort_df(...))  # doctest: +SKIP
    """
    keys, effort_keys, det_keys = _split_keys(by, detections)
    chosen = filter_detections(detections, min_confidence, review_statuses)
    eff = _with_derived(effort, effort_keys)
    row = assign_periods(chosen, eff)
    placed = chosen[row >= 0]
    counted = pd.DataFrame({k: eff[k].to_numpy()[row[row >= 0]] for k in effort_keys})
    for k in det_keys:
        counted[k] = placed[k].astype(object).to_numpy()
    grid = _grid(_effort_totals(eff, effort_keys), counted, det_keys, classes)
    out = _with_rate(grid.merge(_counts(counted, keys, effort_keys, grid), on=keys, how="left"))
    out = out[[*keys, "detections", "recorded_hours", "periods", "rate_per_hour"]]
    out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    out.attrs["unplaced"] = int(len(chosen) - len(placed))
    return out


def _split_keys(by: str | Sequence[str],
                detections: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
    """``by`` as a list, and split into effort keys and detection columns (checked)."""
    keys = [by] if isinstance(by, str) else list(by)
    if not keys:
        raise ValueError("by must name at least one key, e.g. ['stream_id']")
    effort_keys = [k for k in keys if k in _EFFORT_COLUMNS or k in DERIVED_KEYS]
    det_keys = [k for k in keys if k not in effort_keys]
    unknown = [k for k in det_keys if k not in detections.columns]
    if unknown:
        raise ValueError(
            f"by={unknown!r}: not a column of detections nor an effort key; allowed: "
            f"{sorted([*_EFFORT_COLUMNS, *DERIVED_KEYS])} or a detection column")
    return keys, effort_keys, det_keys


def _effort_totals(eff: pd.DataFrame, effort_keys: list[str]) -> pd.DataFrame:
    """Recorded seconds and the number of periods per group of effort keys (or in all)."""
    if not effort_keys:
        return pd.DataFrame({"recorded_seconds": [eff["recorded_seconds"].sum()],
                             "periods": [len(eff)]})
    return eff.groupby(effort_keys, observed=True, dropna=False, sort=True).agg(
        recorded_seconds=("recorded_seconds", "sum"), periods=("recorded_seconds", "size"),
    ).reset_index()


def _grid(totals: pd.DataFrame, counted: pd.DataFrame, det_keys: list[str],
          classes: Iterable[str] | None) -> pd.DataFrame:
    """Every effort group crossed with every detection-key value seen (and ``classes``)."""
    if not det_keys:
        return totals
    values = counted[det_keys].drop_duplicates()
    if classes is not None and "classification_value" in det_keys:
        extra = pd.DataFrame({"classification_value": list(dict.fromkeys(classes))})
        other = [k for k in det_keys if k != "classification_value"]
        extra = extra.merge(values[other].drop_duplicates(), how="cross") if other else extra
        values = pd.concat([values, extra]).drop_duplicates()
    return totals.merge(values, how="cross")


def _counts(counted: pd.DataFrame, keys: list[str], effort_keys: list[str],
            grid: pd.DataFrame) -> pd.DataFrame:
    """Detections per group, effort keys typed as in ``grid`` so that the two merge."""
    if not len(counted):
        counts = pd.DataFrame(columns=[*keys, "detections"])
        for k in effort_keys:
            counts[k] = grid[k].iloc[:0]
        return counts
    counts = counted.groupby(keys, observed=True, dropna=False).size().rename(
        "detections").reset_index()
    for k in effort_keys:
        counts[k] = counts[k].astype(grid[k].dtype)
    return counts


def _with_rate(out: pd.DataFrame) -> pd.DataFrame:
    """Counts as integers, hours from seconds, and the rate (NaN where nothing was recorded)."""
    out["detections"] = out["detections"].fillna(0).astype("int64")
    out["recorded_hours"] = out.pop("recorded_seconds") / 3600.0
    hours = out["recorded_hours"].to_numpy()
    out["rate_per_hour"] = np.where(hours > 0, out["detections"] / np.where(hours > 0, hours, 1),
                                    np.nan)
    return out


def filter_detections(detections: pd.DataFrame, min_confidence: float | None,
                      review_statuses: Iterable[str] | None) -> pd.DataFrame:
    """The detections that count: at least ``min_confidence``, one of ``review_statuses``.

    Examples
    --------
    >>> det = pd.DataFrame({"confidence": [0.2, 0.9], "review_status": ["confirmed", "rejected"]})
    >>> len(filter_detections(det, 0.5, None)), len(filter_detections(det, None, ["confirmed"]))
    (1, 1)
    """
    mask = np.ones(len(detections), dtype=bool)
    if min_confidence is not None:
        if "confidence" not in detections.columns:
            raise ValueError("min_confidence needs a 'confidence' column in detections")
        # Compared in the column's own precision: a float32 0.9 passes min_confidence=0.9.
        values = detections["confidence"].to_numpy()
        mask &= values >= np.asarray(min_confidence, dtype=values.dtype)
    if review_statuses is not None:
        wanted = [review_statuses] if isinstance(review_statuses, str) else list(review_statuses)
        if "review_status" not in detections.columns:
            raise ValueError("review_statuses needs a 'review_status' column in detections")
        mask &= detections["review_status"].astype(object).isin(wanted).to_numpy()
    return detections[mask]


def _with_derived(effort: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    require_columns(effort, ("stream_id", "period_start", "period_end", "recorded_seconds"),
                    "effort", "effort_df(...)")
    eff = effort.copy()
    for k in keys:
        if k in DERIVED_KEYS:
            eff[k] = DERIVED_KEYS[k](eff)
    return eff
