"""Detection histories: the site x occasion matrices occupancy models take.

Each cell says, for one species at one site (stream) and occasion (a period of effort):
``1`` detected; ``0`` recorded enough and not detected; ``NaN`` not recorded enough
(coverage below ``min_coverage``), so a model treats it as missing rather than as an
absence. A detection in an occasion without enough effort still leaves the cell NaN:
what counts as a survey is decided by effort alone, which keeps the design balanced.

Occasions are labelled by their start in each site's local wall time, so sites on
different continents share columns (a local day is a local day everywhere).

Examples
--------
>>> import pandas as pd
>>> from rfcx_frames.ecology.effort import effort_from_segments
>>> seg = pd.DataFrame({"stream_id": ["a", "b"],
...                     "start": pd.to_datetime(["2024-03-01", "2024-03-01"], utc=True),
...                     "end": pd.to_datetime(["2024-03-03 00:00", "2024-03-01 06:00"], utc=True)})
>>> effort = effort_from_segments(seg, "2024-03-01", "2024-03-03", "1D")
>>> det = pd.DataFrame({"stream_id": ["a"], "classification_value": ["owl"],
...                     "start": [pd.Timestamp("2024-03-02 03:00", tz="UTC")]})
>>> h = detection_history(det, effort, min_coverage=0.5)
>>> h.y["owl"].to_numpy().tolist()
[[0.0, 1.0], [nan, nan]]
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.offsets import Tick

from rfcx_frames.ecology.columns import require_columns
from rfcx_frames.ecology.effort import parse_freq
from rfcx_frames.ecology.rates import assign_periods, filter_detections
from rfcx_frames.ecology.sites import streams_by_id
from rfcx_frames.files import write_bytes

#: Stream columns carried as site covariates when a streams frame is given.
SITE_COVARIATES = ("name", "latitude", "longitude", "altitude", "timezone", "project_id",
                   "project_name")


@dataclass
class DetectionHistory:
    """Detection matrices per species, with the effort and the site covariates beside them.

    Attributes
    ----------
    y
        ``{classification_value: site x occasion frame}`` of 1.0 / 0.0 / NaN.
    coverage
        Site x occasion recorded fraction (0-1).
    recorded_hours
        Site x occasion recorded hours (an observation covariate).
    site_covariates
        One row per site (index ``site``): the stream metadata given, else empty.
    min_coverage
        The coverage an occasion needed to count as surveyed.
    species
        The classification values of ``y``, in order.
    """

    y: dict[str, pd.DataFrame]
    coverage: pd.DataFrame
    recorded_hours: pd.DataFrame
    site_covariates: pd.DataFrame
    min_coverage: float
    species: list[str] = field(default_factory=list)

    def to_long(self) -> pd.DataFrame:
        """The history as one long (tidy) table, for plots and models that take long data.

        Returns
        -------
        pandas.DataFrame
            One row per species, site and occasion: ``classification_value, site,
            occasion, detected`` (1.0 / 0.0 / NaN), ``coverage`` and ``recorded_hours``.

        Examples
        --------
        >>> h.to_long()  # doctest: +SKIP
        """
        frames = []
        for value, matrix in self.y.items():
            long = matrix.stack(future_stack=True).rename("detected").reset_index()
            long.insert(0, "classification_value", value)
            frames.append(long)
        if not frames:
            return pd.DataFrame(columns=["classification_value", "site", "occasion", "detected",
                                         "coverage", "recorded_hours"])
        out = pd.concat(frames, ignore_index=True)
        cov = self.coverage.stack(future_stack=True).rename("coverage").reset_index()
        hours = self.recorded_hours.stack(future_stack=True).rename("recorded_hours").reset_index()
        return out.merge(cov, on=["site", "occasion"]).merge(hours, on=["site", "occasion"])

    def to_csv(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write the CSV files R's ``unmarked`` and ``spOccupancy`` read.

        One ``y_<species>.csv`` per species (sites as rows, occasions as columns, ``NA`` where
        not surveyed), ``site_covariates.csv`` and ``obs_recorded_hours.csv`` (an observation
        covariate of the same shape as ``y``), rows in the same site order in every file.

        Parameters
        ----------
        folder
            Where to write; created if missing.

        Returns
        -------
        list of Path
            The files written.

        Examples
        --------
        >>> h.to_csv("occupancy")  # doctest: +SKIP
        """
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        tables = {f"y_{_safe(value)}.csv": matrix for value, matrix in self.y.items()}
        tables["obs_recorded_hours.csv"] = self.recorded_hours
        tables["site_covariates.csv"] = self.site_covariates.reindex(self.coverage.index)
        for name, table in tables.items():
            frame = table.copy()
            frame.columns = [str(c) for c in frame.columns]
            path = out / name
            write_bytes(path, frame.to_csv(na_rep="NA", index_label="site").encode())
            written.append(path)
        return written


def detection_history(
    detections: pd.DataFrame, effort: pd.DataFrame, *, occasion: str | None = None,
    min_coverage: float = 0.5,
    species: Iterable[str] | None = None, min_confidence: float | None = None,
    review_statuses: Iterable[str] | None = None, sites: pd.DataFrame | None = None,
) -> DetectionHistory:
    """The site x occasion detection matrix of each species, NaN where effort fell short.

    Parameters
    ----------
    detections
        ``stream_id``, ``start`` and ``classification_value`` (``detections_df``,
        ``annotations_df`` or a model's output).
    effort
        The effort of the window (:meth:`~rfcx_frames.Client.effort_df`); without
        ``occasion`` each of its periods is one occasion (``freq="1D", local_time=True``
        makes local days).
    occasion
        Group the effort periods into longer occasions: a pandas frequency (``"1D"``,
        ``"7D"``, ``"MS"``) no finer than the effort's. Occasions start on the sites' local
        clock like effort periods (weeks at the first day's midnight); coverage is the
        recorded share of the whole occasion.
    min_coverage
        The recorded fraction of an occasion that makes it a survey (0-1).
    species
        Classification values to build (default: every one in ``detections``). A species
        never detected gets a matrix of 0 and NaN.
    min_confidence, review_statuses
        What counts as a detection, e.g. ``review_statuses=["confirmed"]``.
    sites
        A streams frame (``streams_df``) whose metadata becomes the site covariates.

    Returns
    -------
    DetectionHistory
        ``y`` per species, ``coverage``, ``recorded_hours`` and ``site_covariates``.

    Raises
    ------
    ValueError
        For ``min_coverage`` outside [0, 1] or frames missing their columns.

    Examples
    --------
    >>> h = detection_history(client.detections_df(...), client.effort_df(..., freq="1D"))  # doctest: +SKIP
    """
    threshold = _fraction(min_coverage, "min_coverage")
    require_columns(detections, ["classification_value"], "detections", "detections_df(...)")
    cells = _effort_cells(effort, occasion)
    coverage, hours = _coverage_and_hours(cells)
    hits = _detected_cells(filter_detections(detections, min_confidence, review_statuses),
                           effort, cells)
    values = (list(dict.fromkeys(str(s) for s in species)) if species is not None
              else sorted(hits["classification_value"].unique()))
    y = {value: _matrix(hits[hits["classification_value"] == value], coverage >= threshold)
         for value in values}
    return DetectionHistory(y=y, coverage=coverage, recorded_hours=hours,
                            site_covariates=_site_covariates(sites, coverage.index),
                            min_coverage=threshold, species=values)


def _fraction(value: float, name: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0 or np.isnan(number):
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return number


def _effort_cells(effort: pd.DataFrame, occasion: str | None) -> pd.DataFrame:
    """The effort periods with the cell each falls in: ``site``, ``occasion`` and the
    occasion's whole length (``occasion_seconds``)."""
    labels, lengths = occasion_labels(effort, occasion)
    return effort.assign(site=effort["stream_id"].astype(str), occasion=labels,
                         occasion_seconds=lengths)


def _coverage_and_hours(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Site x occasion recorded fraction (NaN where the window cut the occasion) and hours."""
    sums = cells.pivot_table(index="site", columns="occasion",
                             values=["recorded_seconds", "period_seconds"], aggfunc="sum",
                             dropna=False)
    hours = sums["recorded_seconds"] / 3600.0
    coverage = sums["recorded_seconds"] / sums["period_seconds"]
    # An occasion the effort reaches only in part (the window cut it) was not asked for.
    whole = cells.pivot_table(index="site", columns="occasion", values="occasion_seconds",
                              aggfunc="first", dropna=False)
    coverage = coverage.where(sums["period_seconds"] >= whole - 3600)
    hours.columns.name = coverage.columns.name = "occasion"
    return coverage, hours


def _detected_cells(chosen: pd.DataFrame, effort: pd.DataFrame,
                    cells: pd.DataFrame) -> pd.DataFrame:
    """The distinct ``classification_value, site, occasion`` with at least one detection."""
    row = assign_periods(chosen, effort)
    placed = chosen[row >= 0]
    return pd.DataFrame({
        "classification_value": placed["classification_value"].astype(str).to_numpy(),
        "site": cells["site"].to_numpy()[row[row >= 0]],
        "occasion": cells["occasion"].to_numpy()[row[row >= 0]],
    }).drop_duplicates()


def _matrix(hits: pd.DataFrame, surveyed: pd.DataFrame) -> pd.DataFrame:
    """One species' matrix: 1 where detected, 0 elsewhere, NaN where not surveyed."""
    matrix = pd.DataFrame(0.0, index=surveyed.index, columns=surveyed.columns)
    for site, occasion in zip(hits["site"], hits["occasion"], strict=True):
        matrix.loc[site, occasion] = 1.0
    return matrix.where(surveyed)


def occasion_labels(effort: pd.DataFrame, occasion: str | None) -> tuple[pd.Series, pd.Series]:
    """Each effort period's occasion, as the occasion's local start (naive wall time), and
    the occasion's length in seconds on the wall clock (a DST day may differ by an hour).

    Examples
    --------
    >>> effort = pd.DataFrame({"period_start_local": pd.to_datetime(
    ...     ["2024-03-01 00:00", "2024-03-01 12:00", "2024-03-02 00:00"]),
    ...     "period_seconds": [43200.0] * 3})
    >>> labels, seconds = occasion_labels(effort, "1D")
    >>> [str(t.date()) for t in labels], seconds.tolist()
    (['2024-03-01', '2024-03-01', '2024-03-02'], [86400.0, 86400.0, 86400.0])
    """
    local = pd.to_datetime(effort["period_start_local"])
    if occasion is None or local.empty:
        return local, effort["period_seconds"].astype("float64")
    offset = parse_freq(occasion, "occasion")
    if isinstance(offset, Tick):
        longest = float(effort["period_seconds"].max())
        if pd.Timedelta(offset).total_seconds() < longest - 7200:  # a DST day may run 25 h
            raise ValueError(f"occasion={occasion!r} is shorter than the effort's periods; "
                             f"build effort with a finer freq")
        first = local.min()
        anchor = first.floor(pd.Timedelta(offset)) if pd.Timedelta(offset) < pd.Timedelta(
            days=1) else first.normalize()
    else:
        anchor = offset.rollback(local.min().normalize())
    edges = pd.date_range(anchor, local.max() + offset + offset, freq=offset)
    at = edges.searchsorted(local, side="right") - 1
    length = (edges[at + 1] - edges[at]).total_seconds()
    return (pd.Series(edges[at], index=effort.index),
            pd.Series(np.asarray(length, dtype="float64"), index=effort.index))


def _site_covariates(sites: pd.DataFrame | None, index: pd.Index) -> pd.DataFrame:
    if sites is None:
        return pd.DataFrame(index=index)
    table = streams_by_id(sites, name="sites")
    return table[[c for c in SITE_COVARIATES if c in table.columns]].reindex(index)


def _safe(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in value)
