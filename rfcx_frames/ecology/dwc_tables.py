"""Darwin Core event and occurrence rows of a detection history, checked against its inputs.

The two tables of the archive (see :mod:`rfcx_frames.ecology.darwin_core`): one event per
surveyed site x occasion, one occurrence per event and species. Each is built from the
history and checked against the effort and detections it was made from, so that a
mismatched input is refused rather than published. Values are text, as the archive
writes them.

Examples
--------
>>> from rfcx_frames.ecology import detection_history, effort_from_segments
>>> seg = pd.DataFrame({"stream_id": ["a"], "start": [pd.Timestamp("2024-03-01", tz="UTC")],
...                     "end": [pd.Timestamp("2024-03-01 12:00", tz="UTC")]})
>>> effort = effort_from_segments(seg, "2024-03-01", "2024-03-02", "1D")
>>> det = pd.DataFrame({"stream_id": ["a"], "classification_value": ["owl"],
...                     "start": [pd.Timestamp("2024-03-01 03:00", tz="UTC")]})
>>> sites = pd.DataFrame({"id": ["a"], "name": ["Ridge"], "latitude": [18.3], "longitude": [-65.8]})
>>> history = detection_history(det, effort)
>>> events = event_table(history, effort, sites, "autonomous recorders")
>>> events[["eventID", "eventDate", "sampleSizeValue"]].to_numpy().tolist()
[['a_2024-03-01T00:00:00', '2024-03-01T00:00:00+00:00/2024-03-02T00:00:00+00:00', '12']]
>>> occurrences = occurrence_table(history, effort, det, events, None, None, None)
>>> occurrences[["occurrenceStatus", "scientificName", "organismQuantity"]].to_numpy().tolist()
[['present', 'owl', '1']]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from rfcx_frames.ecology.columns import require_columns
from rfcx_frames.ecology.history import DetectionHistory
from rfcx_frames.ecology.rates import assign_periods, filter_detections
from rfcx_frames.ecology.sites import streams_by_id

DWC = "http://rs.tdwg.org/dwc/terms/"

#: Columns of ``event.txt``, in order (all Darwin Core terms).
EVENT_TERMS = ("eventID", "eventDate", "samplingProtocol", "samplingEffort", "sampleSizeValue",
               "sampleSizeUnit", "locationID", "locality", "countryCode", "decimalLatitude",
               "decimalLongitude", "geodeticDatum", "minimumElevationInMeters",
               "maximumElevationInMeters")
#: Event terms filled in every row; the others are empty where the stream lacks them.
EVENT_REQUIRED = ("eventID", "eventDate", "samplingProtocol", "samplingEffort", "sampleSizeValue",
                  "sampleSizeUnit", "locationID", "decimalLatitude", "decimalLongitude",
                  "geodeticDatum")
#: Columns of ``occurrence.txt``, in order; ``eventID`` links each row to its event.
OCCURRENCE_TERMS = ("eventID", "occurrenceID", "basisOfRecord", "occurrenceStatus",
                    "scientificName", "taxonRank", "identificationVerificationStatus",
                    "organismQuantity", "organismQuantityType")
#: Occurrence terms filled in every row (``taxonRank`` needs a classifications frame).
OCCURRENCE_REQUIRED = tuple(t for t in OCCURRENCE_TERMS if t != "taxonRank")
#: Classification types that are not taxa (a chainsaw is no occurrence).
NOT_TAXA = frozenset({"characteristic"})

_EFFORT_NEEDS = ("stream_id", "period_start", "period_end", "period_start_local", "timezone",
                 "period_seconds", "recorded_seconds")
_SITES_NEED = ("id", "name", "latitude", "longitude")
_DETECTIONS_NEED = ("stream_id", "start", "classification_value")
_CLASSIFICATIONS_NEED = ("value", "title", "type")
_EFFORT_HINT = "effort_df(...), the effort the history was built from"


def event_table(history: DetectionHistory, effort: pd.DataFrame, sites: pd.DataFrame,
                protocol: str) -> pd.DataFrame:
    """One event per surveyed cell: the :data:`EVENT_TERMS` plus ``site``, ``occasion``,
    ``period_start`` and ``period_end`` (for the metadata), sorted by ``eventID``.

    Parameters
    ----------
    history
        The history to publish.
    effort
        The effort it was built from (gives each cell its periods and timezone).
    sites
        ``streams_df()`` rows of its sites (coordinates, name, country, altitude).
    protocol
        ``samplingProtocol`` of every event.

    Returns
    -------
    pandas.DataFrame
        The events, text columns as the archive writes them.

    Raises
    ------
    ValueError
        For missing columns, no surveyed cell, effort that does not match the history, or
        sites without coordinates.

    Examples
    --------
    >>> events = event_table(history, effort, client.streams_df(), "recorders")  # doctest: +SKIP
    """
    require_columns(effort, _EFFORT_NEEDS, "effort", _EFFORT_HINT)
    require_columns(sites, _SITES_NEED, "sites", "streams_df()")
    cells = _surveyed_cells(history, effort)
    located = cells.merge(_locations(sites, cells["site"].unique()), left_on="site",
                          right_index=True, how="left")
    hours = located["recorded_seconds"].to_numpy(dtype=float) / 3600.0
    period_hours = located["period_seconds"].to_numpy(dtype=float) / 3600.0
    out = pd.DataFrame({
        "site": located["site"].to_numpy(),
        "occasion": located["occasion"].to_numpy(),
        "eventID": located["site"] + "_" + located["occasion"].dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "eventDate": _local_iso(located["period_start"], located["timezone"]) + "/"
        + _local_iso(located["period_end"], located["timezone"]),
        "samplingProtocol": protocol,
        "samplingEffort": [f"{_number(h)} hours of audio recorded in a {_number(p)}-hour occasion"
                           for h, p in zip(hours, period_hours, strict=True)],
        "sampleSizeValue": [_number(h) for h in hours],
        "sampleSizeUnit": "hour",
        "locationID": located["site"].to_numpy(),
        "geodeticDatum": "WGS84",
        "minimumElevationInMeters": located["elevation"].to_numpy(),
        "maximumElevationInMeters": located["elevation"].to_numpy(),
        "period_start": located["period_start"].to_numpy(),
        "period_end": located["period_end"].to_numpy(),
    })
    for term in ("locality", "countryCode", "decimalLatitude", "decimalLongitude"):
        out[term] = located[term].to_numpy()
    return out.sort_values("eventID", kind="stable").reset_index(drop=True)


def _cells(effort: pd.DataFrame) -> pd.DataFrame:
    """The effort per history cell: site, occasion, and the span of the periods in it."""
    eff = effort.assign(site=effort["stream_id"].astype(str), occasion=effort["period_start_local"])
    return eff.groupby(["site", "occasion"], sort=True, observed=True).agg(
        period_start=("period_start", "min"), period_end=("period_end", "max"),
        timezone=("timezone", "first"), recorded_seconds=("recorded_seconds", "sum"),
        period_seconds=("period_seconds", "sum"),
    ).reset_index()


def _surveyed_cells(history: DetectionHistory, effort: pd.DataFrame) -> pd.DataFrame:
    """The history's surveyed cells with their effort, refusing effort that does not match."""
    coverage = history.coverage.stack(future_stack=True).rename("coverage").reset_index()
    coverage.columns = ["site", "occasion", "coverage"]
    surveyed = coverage[coverage["coverage"] >= history.min_coverage]
    if surveyed.empty:
        raise ValueError("history has no surveyed occasion (every cell is NaN); nothing to publish")
    cells = _cells(effort)
    surveyed = surveyed.assign(occasion=pd.to_datetime(surveyed["occasion"]).astype(
        cells["occasion"].dtype))
    merged = surveyed.merge(cells, on=["site", "occasion"], how="left", indicator=True)
    lost = merged[merged["_merge"] == "left_only"]
    if len(lost):
        raise ValueError(f"effort does not match history: {len(lost)} surveyed occasions have no "
                         f"effort period, e.g. site {lost['site'].iloc[0]!r} at "
                         f"{lost['occasion'].iloc[0]}; pass the effort the history was built from")
    hours = merged["recorded_seconds"].to_numpy(dtype=float) / 3600.0
    expected = history.recorded_hours.stack(future_stack=True).reindex(
        pd.MultiIndex.from_frame(merged[["site", "occasion"]])).to_numpy(dtype=float)
    if not np.allclose(hours, expected, rtol=1e-9, atol=1e-6):
        raise ValueError("effort does not match history: its recorded hours differ from the "
                         "history's; pass the effort the history was built from")
    return merged.drop(columns="_merge")


def _locations(sites: pd.DataFrame, wanted: np.ndarray) -> pd.DataFrame:
    """Darwin Core location columns (text) per site id, refusing unknown or unplaced sites."""
    table = streams_by_id(sites, name="sites")
    unknown = sorted(set(wanted) - set(table.index))
    if unknown:
        raise ValueError(f"sites lacks the streams {unknown[:5]} of the history; pass streams_df() "
                         f"covering every site")
    table = table.loc[list(wanted)]
    lat = pd.to_numeric(table["latitude"], errors="coerce")
    lon = pd.to_numeric(table["longitude"], errors="coerce")
    bad = table.index[~(lat.between(-90, 90) & lon.between(-180, 180))].tolist()
    if bad:
        raise ValueError(f"sites has no valid latitude/longitude for the streams {bad[:5]}; every "
                         f"event needs coordinates")
    country = table["country_code"] if "country_code" in table.columns else pd.Series(
        pd.NA, index=table.index)
    altitude = pd.to_numeric(table["altitude"], errors="coerce") if "altitude" in table.columns \
        else pd.Series(np.nan, index=table.index)
    return pd.DataFrame({
        "locality": table["name"].astype(object).where(table["name"].notna(), ""),
        "countryCode": country.astype(object).where(country.notna(), ""),
        "decimalLatitude": [repr(float(v)) for v in lat],
        "decimalLongitude": [repr(float(v)) for v in lon],
        "elevation": ["" if np.isnan(v) else repr(float(v)) for v in altitude],
    }, index=table.index)


def _local_iso(instants: pd.Series, zones: pd.Series) -> pd.Series:
    """ISO 8601 wall times with the zone's offset (``2024-03-10T00:00:00-05:00``)."""
    out = pd.Series("", index=instants.index, dtype=object)
    utc = pd.to_datetime(instants, utc=True)
    for zone, rows in zones.astype(str).groupby(zones.astype(str)).groups.items():
        text = utc.loc[rows].dt.tz_convert(str(zone)).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
        out.loc[rows] = text.str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
    return out


def _number(value: float) -> str:
    """A decimal with at most six places and no trailing zeros (``3.5``, ``24``)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def occurrence_table(history: DetectionHistory, effort: pd.DataFrame, detections: pd.DataFrame,
                     events: pd.DataFrame, classifications: pd.DataFrame | None,
                     min_confidence: float | None, review_statuses: Iterable[str] | None,
                     ) -> pd.DataFrame:
    """One occurrence per event and species (the :data:`OCCURRENCE_TERMS`), sorted by event.

    Parameters
    ----------
    history, effort, detections
        The history and the effort and detections it was built from (counts, verdicts).
    events
        :func:`event_table` of the same history.
    classifications
        ``classifications_df()`` rows of the species, or ``None``.
    min_confidence, review_statuses
        The filter the history was built with.

    Returns
    -------
    pandas.DataFrame
        The occurrences, text columns as the archive writes them.

    Raises
    ------
    ValueError
        For missing columns, or detections that do not match the history.

    Examples
    --------
    >>> occurrence_table(history, effort, det, events, None, None, None)  # doctest: +SKIP
    """
    require_columns(detections, _DETECTIONS_NEED, "detections",
                    "detections_df(...), the detections the history was built from")
    names, ranks = _taxa(history, detections, classifications)
    cells = _history_cells(history, [value for value in history.y if value in names]).merge(
        events[["site", "occasion", "eventID"]], on=["site", "occasion"], how="left")
    if cells["eventID"].isna().any():
        raise ValueError("history has 0/1 cells where its coverage says not surveyed; pass a "
                         "history made by detection_history(...)")
    counts = _detection_counts(detections, effort, min_confidence, review_statuses)
    cells = cells.merge(counts, on=["value", "site", "occasion"], how="left")
    n = cells["detections"].fillna(0).astype("int64").to_numpy()
    present = cells["y"].to_numpy() == 1.0
    if (present & (n == 0)).any() or (~present & (n > 0)).any():
        raise ValueError("detections do not match history: cells it marks present have no "
                         "detection, or cells it marks absent have some; pass the detections, "
                         "min_confidence and review_statuses the history was built from")
    values = cells["value"].to_numpy()
    out = pd.DataFrame({
        "eventID": cells["eventID"].to_numpy(),
        "occurrenceID": cells["eventID"] + "_" + cells["value"],
        "basisOfRecord": "MachineObservation",
        "occurrenceStatus": np.where(present, "present", "absent"),
        "scientificName": [names[v] for v in values],
        "taxonRank": [ranks.get(v, "") for v in values],
        "identificationVerificationStatus": _verification(cells, present),
        "organismQuantity": n.astype(str),
        "organismQuantityType": "detections",
    })
    return out.sort_values(["eventID", "occurrenceID"], kind="stable").reset_index(drop=True)


def _verification(cells: pd.DataFrame, present: np.ndarray) -> np.ndarray:
    """``identificationVerificationStatus``: what reviewers said of a present cell's detections."""
    return np.select(
        [~present, cells["confirmed"].eq(True).to_numpy(),
         cells["all_rejected"].eq(True).to_numpy(), cells["uncertain"].eq(True).to_numpy()],
        ["unverified", "verified", "rejected", "uncertain"], default="unverified")


def _taxa(history: DetectionHistory, detections: pd.DataFrame,
          classifications: pd.DataFrame | None) -> tuple[dict[str, str], dict[str, str]]:
    """``scientificName`` and ``taxonRank`` of each species to publish."""
    values = [str(v) for v in history.y]
    if classifications is not None:
        require_columns(classifications, _CLASSIFICATIONS_NEED, "classifications",
                        "classifications_df()")
        table = classifications.assign(value=classifications["value"].astype(str)).drop_duplicates(
            "value").set_index("value")
        unknown = sorted(set(values) - set(table.index))
        if unknown:
            raise ValueError(f"classifications lacks {unknown[:5]} of the history's species; pass "
                             f"classifications_df() covering them")
        kinds = {v: str(table.at[v, "type"]) for v in values}
        taxa = [v for v in values if kinds[v] not in NOT_TAXA]
        return ({v: str(table.at[v, "title"]) for v in taxa}, {v: kinds[v] for v in taxa})
    titles: dict[str, str] = {}
    if "classification_title" in detections.columns:
        pairs = detections[["classification_value", "classification_title"]].dropna().astype(str)
        titles = dict(zip(pairs["classification_value"], pairs["classification_title"], strict=True))
    return {v: titles.get(v, v) for v in values}, {}


def _history_cells(history: DetectionHistory, values: list[str]) -> pd.DataFrame:
    """The surveyed (non-NaN) cells of each species: ``value, site, occasion, y``."""
    parts: dict[str, list[np.ndarray]] = {
        "value": [np.array([], dtype=object)], "site": [np.array([], dtype=object)],
        "occasion": [np.array([], dtype="datetime64[ms]")], "y": [np.array([], dtype=float)]}
    for value in values:
        matrix = history.y[value]
        grid = matrix.to_numpy(dtype=float)
        rows, cols = np.nonzero(~np.isnan(grid))
        parts["value"].append(np.full(len(rows), value, dtype=object))
        parts["site"].append(matrix.index.to_numpy(dtype=object)[rows])
        parts["occasion"].append(pd.DatetimeIndex(matrix.columns).as_unit("ms").to_numpy()[cols])
        parts["y"].append(grid[rows, cols])
    return pd.DataFrame({name: np.concatenate(arrays) for name, arrays in parts.items()})


def _detection_counts(detections: pd.DataFrame, effort: pd.DataFrame,
                      min_confidence: float | None,
                      review_statuses: Iterable[str] | None) -> pd.DataFrame:
    """Per species and cell: detections counted and what reviewers said of them."""
    chosen = filter_detections(detections, min_confidence, review_statuses)
    row = assign_periods(chosen, effort)
    placed = chosen[row >= 0]
    row = row[row >= 0]
    status = (placed["review_status"].astype(object).to_numpy() if "review_status" in placed.columns
              else np.full(len(placed), "unreviewed", dtype=object))
    hits = pd.DataFrame({
        "value": placed["classification_value"].astype(str).to_numpy(),
        "site": effort["stream_id"].astype(str).to_numpy()[row],
        "occasion": pd.to_datetime(effort["period_start_local"]).astype("datetime64[ms]").to_numpy()[row],
        "confirmed": status == "confirmed",
        "uncertain": status == "uncertain",
        "rejected": status == "rejected",
    })
    return hits.groupby(["value", "site", "occasion"], sort=False).agg(
        detections=("confirmed", "size"), confirmed=("confirmed", "any"),
        uncertain=("uncertain", "any"), all_rejected=("rejected", "all"),
    ).reset_index()
