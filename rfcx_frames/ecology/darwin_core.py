"""Darwin Core Archive export of detection histories, for GBIF and other biodiversity portals.

A detection history is sampling-event data: each surveyed site x occasion is an *event*
(where, when, how much audio), and each species is present or absent at it. The archive
written here says exactly that, in the star schema of the Darwin Core text guide:

- ``event.txt``, the **Event core**: one row per surveyed site x occasion (cells of the
  history that are NaN were not surveyed and have no event), with ``eventDate`` as an ISO
  8601 interval in the site's local time, coordinates, ``samplingProtocol`` and the
  recorded hours as ``samplingEffort`` / ``sampleSizeValue``.
- ``occurrence.txt``, the **Occurrence extension**: one row per event and species,
  ``occurrenceStatus`` ``present`` (history 1) or ``absent`` (history 0),
  ``basisOfRecord`` ``MachineObservation``, the number of detections behind it as
  ``organismQuantity`` and the reviewers' verdict as ``identificationVerificationStatus``.
- ``meta.xml`` maps every column to its Darwin Core term; ``eml.xml`` is the dataset's
  metadata (title, creator, abstract, licence, coverage, method).

Presence comes from the history alone, so the archive says what the occupancy model saw.
Build the history with ``review_statuses=["unreviewed", "uncertain", "confirmed"]`` (or
``["confirmed"]``) if rejected detections must not make a species present; cells whose
every detection was rejected are marked ``rejected`` so that a reader can still tell.

Examples
--------
>>> import pandas as pd, tempfile, zipfile, pathlib
>>> from rfcx_frames.ecology import detection_history, effort_from_segments
>>> seg = pd.DataFrame({"stream_id": ["a"], "start": [pd.Timestamp("2024-03-01", tz="UTC")],
...                     "end": [pd.Timestamp("2024-03-03", tz="UTC")]})
>>> effort = effort_from_segments(seg, "2024-03-01", "2024-03-03", "1D")
>>> det = pd.DataFrame({"stream_id": ["a"], "classification_value": ["strix_varia"],
...                     "classification_title": ["Strix varia"],
...                     "start": [pd.Timestamp("2024-03-02 03:00", tz="UTC")]})
>>> sites = pd.DataFrame({"id": ["a"], "name": ["Ridge"], "latitude": [18.3], "longitude": [-65.8]})
>>> history = detection_history(det, effort)
>>> out = to_darwin_core(history, effort, det, sites, pathlib.Path(tempfile.mkdtemp()) / "dwca.zip",
...                      dataset_title="Owls of the ridge")
>>> sorted(zipfile.ZipFile(out).namelist())
['eml.xml', 'event.txt', 'meta.xml', 'occurrence.txt']
>>> text = zipfile.ZipFile(out).read("occurrence.txt").decode()
>>> rows = [line.split("\\t") for line in text.splitlines()]
>>> rows[0][:4]
['eventID', 'occurrenceID', 'basisOfRecord', 'occurrenceStatus']
>>> for r in rows[1:]:  # eventID, occurrenceStatus, scientificName, organismQuantity
...     print(r[0], r[3], r[4], r[7])
a_2024-03-01T00:00:00 absent Strix varia 0
a_2024-03-02T00:00:00 present Strix varia 1
"""

from __future__ import annotations

import io
import os
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from rfcx_frames.ecology.history import DetectionHistory
from rfcx_frames.ecology.rates import assign_periods, filter_detections
from rfcx_frames.files import write_bytes as write_bytes_atomic

DWC = "http://rs.tdwg.org/dwc/terms/"
EVENT_ROW_TYPE = DWC + "Event"
OCCURRENCE_ROW_TYPE = DWC + "Occurrence"
TEXT_NS = "http://rs.tdwg.org/dwc/text/"
EML_NS = "https://eml.ecoinformatics.org/eml-2.2.0"

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

#: Licences GBIF accepts, with their deeds.
LICENSES: Mapping[str, tuple[str, str]] = {
    "CC0-1.0": ("Creative Commons Zero v1.0 Universal",
                "https://creativecommons.org/publicdomain/zero/1.0/legalcode"),
    "CC-BY-4.0": ("Creative Commons Attribution 4.0 International",
                  "https://creativecommons.org/licenses/by/4.0/legalcode"),
    "CC-BY-NC-4.0": ("Creative Commons Attribution Non Commercial 4.0 International",
                     "https://creativecommons.org/licenses/by-nc/4.0/legalcode"),
}
DEFAULT_PROTOCOL = ("passive acoustic monitoring: autonomous recorders, detections by automated "
                    "classifiers on the RFCx/Arbimon platform")
#: Classification types that are not taxa (a chainsaw is no occurrence).
NOT_TAXA = frozenset({"characteristic"})

_EFFORT_NEEDS = ("stream_id", "period_start", "period_end", "period_start_local", "timezone",
                 "period_seconds", "recorded_seconds")
_SITES_NEED = ("id", "name", "latitude", "longitude")
_DETECTIONS_NEED = ("stream_id", "start", "classification_value")
_CLASSIFICATIONS_NEED = ("value", "title", "type")
# A fixed timestamp for every zip member, so the same data makes the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def to_darwin_core(
    history: DetectionHistory, effort: pd.DataFrame, detections: pd.DataFrame,
    sites: pd.DataFrame, path: str | os.PathLike[str], *, dataset_title: str,
    classifications: pd.DataFrame | None = None, protocol: str = DEFAULT_PROTOCOL,
    min_confidence: float | None = None, review_statuses: Iterable[str] | None = None,
    creator: str | None = None, abstract: str | None = None, license: str = "CC-BY-4.0",
) -> Path:
    """Write a detection history as a Darwin Core Archive (Event core, Occurrence extension).

    The zip is built in memory and written atomically: a failure leaves no file at
    ``path`` (an archive already there stays as it was).

    Parameters
    ----------
    history
        The history to publish (:func:`~rfcx_frames.detection_history`). Its surveyed cells
        become events; its 1 and 0 become ``present`` and ``absent`` occurrences.
    effort
        The effort the history was built from (:meth:`~rfcx_frames.Client.effort_df`); it
        gives each event its period and timezone. Occasions merged in the history (the
        repeated hour when DST ends) make one event spanning all their periods.
    detections
        The detections the history was built from: they give the detection counts, the
        review verdicts and the scientific names (``classification_title``).
    sites
        The streams (``streams_df``): ``id``, ``name``, ``latitude``, ``longitude``, and
        ``country_code`` and ``altitude`` when present. Every site needs coordinates.
    path
        The ``.zip`` to write; its folder is created if missing.
    dataset_title
        The dataset's title in ``eml.xml``.
    classifications
        ``classifications_df()`` rows of the history's species: their ``title`` becomes
        ``scientificName`` and their ``type`` ``taxonRank``; classes that are not taxa
        (``characteristic``: rain, chainsaw) are left out. Without it, names come from
        ``detections`` (else the value itself) and ``taxonRank`` stays empty.
    protocol
        ``samplingProtocol`` of every event.
    min_confidence, review_statuses
        The filter the history was built with, so that the counts and verdicts are those
        of the detections that made it.
    creator
        The dataset's creator (an organisation or a person); default: the sites' projects.
    abstract
        The dataset's abstract; default: a sentence saying what the archive holds.
    license
        One of ``"CC0-1.0"``, ``"CC-BY-4.0"``, ``"CC-BY-NC-4.0"`` (those GBIF accepts).

    Returns
    -------
    pathlib.Path
        The archive written.

    Raises
    ------
    TypeError
        For a ``history`` that is not a :class:`~rfcx_frames.DetectionHistory`.
    ValueError
        For frames without their columns, an ``effort`` or ``detections`` that do not match
        the history, sites without coordinates, an unknown licence or an empty title, each
        naming the argument.

    Examples
    --------
    >>> det = client.detections_df("2024-03-01", "2024-03-15")  # doctest: +SKIP
    >>> effort = client.effort_df("2024-03-01", "2024-03-15", freq="1D", local_time=True)  # doctest: +SKIP
    >>> history = rf.detection_history(det, effort)  # doctest: +SKIP
    >>> rf.to_darwin_core(history, effort, det, client.streams_df(), "owls.zip",
    ...                   dataset_title="Owls of El Yunque, March 2024",
    ...                   classifications=client.classifications_df())  # doctest: +SKIP
    PosixPath('owls.zip')
    """
    if not isinstance(history, DetectionHistory):
        raise TypeError(f"history must be a DetectionHistory (detection_history(...)), "
                        f"not {type(history).__name__}")
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"path={str(path)!r} is a folder; give the .zip file to write")
    title = _text(dataset_title, "dataset_title")
    method = _text(protocol, "protocol")
    if license not in LICENSES:
        raise ValueError(f"license={license!r} is not one GBIF accepts; use one of {sorted(LICENSES)}")
    events = _events(history, effort, sites, method)
    occurrences = _occurrences(history, effort, detections, events, classifications,
                               min_confidence, review_statuses)
    eml = _eml(title, events, occurrences, sites, history, method, creator, abstract, license)
    members = {
        "meta.xml": _meta_xml(),
        "eml.xml": eml,
        "event.txt": _tsv(events[list(EVENT_TERMS)]),
        "occurrence.txt": _tsv(occurrences[list(OCCURRENCE_TERMS)]),
    }
    write_bytes_atomic(target, _zip(members))
    return target


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value.strip()


def _need(frame: object, columns: Iterable[str], name: str, hint: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame ({hint}), not {type(frame).__name__}")
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}; pass {hint}")
    return frame


def _cells(effort: pd.DataFrame) -> pd.DataFrame:
    """The effort per history cell: site, occasion, and the span of the periods in it."""
    eff = effort.assign(site=effort["stream_id"].astype(str), occasion=effort["period_start_local"])
    return eff.groupby(["site", "occasion"], sort=True, observed=True).agg(
        period_start=("period_start", "min"), period_end=("period_end", "max"),
        timezone=("timezone", "first"), recorded_seconds=("recorded_seconds", "sum"),
        period_seconds=("period_seconds", "sum"),
    ).reset_index()


def _events(history: DetectionHistory, effort: pd.DataFrame, sites: pd.DataFrame,
            protocol: str) -> pd.DataFrame:
    _need(effort, _EFFORT_NEEDS, "effort", "effort_df(...), the effort the history was built from")
    _need(sites, _SITES_NEED, "sites", "streams_df()")
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
    table = _sites(sites, merged["site"].unique())
    merged = merged.merge(table, left_on="site", right_index=True, how="left")
    period_hours = merged["period_seconds"].to_numpy(dtype=float) / 3600.0
    out = pd.DataFrame({
        "site": merged["site"].to_numpy(),
        "occasion": merged["occasion"].to_numpy(),
        "eventID": merged["site"] + "_" + merged["occasion"].dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "eventDate": _local_iso(merged["period_start"], merged["timezone"]) + "/"
        + _local_iso(merged["period_end"], merged["timezone"]),
        "samplingProtocol": protocol,
        "samplingEffort": [f"{_number(h)} hours of audio recorded in a {_number(p)}-hour occasion"
                           for h, p in zip(hours, period_hours, strict=True)],
        "sampleSizeValue": [_number(h) for h in hours],
        "sampleSizeUnit": "hour",
        "locationID": merged["site"].to_numpy(),
        "locality": merged["locality"].to_numpy(),
        "countryCode": merged["countryCode"].to_numpy(),
        "decimalLatitude": merged["decimalLatitude"].to_numpy(),
        "decimalLongitude": merged["decimalLongitude"].to_numpy(),
        "geodeticDatum": "WGS84",
        "minimumElevationInMeters": merged["elevation"].to_numpy(),
        "maximumElevationInMeters": merged["elevation"].to_numpy(),
        "period_start": merged["period_start"].to_numpy(),
        "period_end": merged["period_end"].to_numpy(),
    })
    return out.sort_values("eventID", kind="stable").reset_index(drop=True)


def _sites(sites: pd.DataFrame, wanted: np.ndarray) -> pd.DataFrame:
    """Darwin Core location columns (text) per site id, refusing unknown or unplaced sites."""
    table = sites.assign(site=sites["id"].astype(str)).drop_duplicates("site").set_index("site")
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


def _occurrences(history: DetectionHistory, effort: pd.DataFrame, detections: pd.DataFrame,
                 events: pd.DataFrame, classifications: pd.DataFrame | None,
                 min_confidence: float | None, review_statuses: Iterable[str] | None,
                 ) -> pd.DataFrame:
    _need(detections, _DETECTIONS_NEED, "detections",
          "detections_df(...), the detections the history was built from")
    names, ranks = _taxa(history, detections, classifications)
    keep = [value for value in history.y if value in names]
    long = _history_cells(history, keep)
    merged = long.merge(events[["site", "occasion", "eventID"]], on=["site", "occasion"],
                        how="left")
    if merged["eventID"].isna().any():
        raise ValueError("history has 0/1 cells where its coverage says not surveyed; pass a "
                         "history made by detection_history(...)")
    counts = _detection_counts(detections, effort, min_confidence, review_statuses)
    merged = merged.merge(counts, on=["value", "site", "occasion"], how="left")
    n = merged["detections"].fillna(0).astype("int64").to_numpy()
    present = merged["y"].to_numpy() == 1.0
    if (present & (n == 0)).any() or (~present & (n > 0)).any():
        raise ValueError("detections do not match history: cells it marks present have no "
                         "detection, or cells it marks absent have some; pass the detections, "
                         "min_confidence and review_statuses the history was built from")
    status = np.select(
        [~present, merged["confirmed"].eq(True).to_numpy(),
         merged["all_rejected"].eq(True).to_numpy(),
         merged["uncertain"].eq(True).to_numpy()],
        ["unverified", "verified", "rejected", "uncertain"], default="unverified")
    values = merged["value"].to_numpy()
    out = pd.DataFrame({
        "eventID": merged["eventID"].to_numpy(),
        "occurrenceID": merged["eventID"] + "_" + merged["value"],
        "basisOfRecord": "MachineObservation",
        "occurrenceStatus": np.where(present, "present", "absent"),
        "scientificName": [names[v] for v in values],
        "taxonRank": [ranks.get(v, "") for v in values],
        "identificationVerificationStatus": status,
        "organismQuantity": n.astype(str),
        "organismQuantityType": "detections",
    })
    return out.sort_values(["eventID", "occurrenceID"], kind="stable").reset_index(drop=True)


def _taxa(history: DetectionHistory, detections: pd.DataFrame,
          classifications: pd.DataFrame | None) -> tuple[dict[str, str], dict[str, str]]:
    """``scientificName`` and ``taxonRank`` of each species to publish."""
    values = [str(v) for v in history.y]
    if classifications is not None:
        _need(classifications, _CLASSIFICATIONS_NEED, "classifications", "classifications_df()")
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
    parts: dict[str, list[np.ndarray]] = {"value": [], "site": [], "occasion": [], "y": []}
    for value in values:
        matrix = history.y[value]
        grid = matrix.to_numpy(dtype=float)
        rows, cols = np.nonzero(~np.isnan(grid))
        parts["value"].append(np.full(len(rows), value, dtype=object))
        parts["site"].append(matrix.index.to_numpy(dtype=object)[rows])
        parts["occasion"].append(pd.DatetimeIndex(matrix.columns).as_unit("ms").to_numpy()[cols])
        parts["y"].append(grid[rows, cols])
    return pd.DataFrame({
        "value": np.concatenate(parts["value"]) if values else np.array([], dtype=object),
        "site": np.concatenate(parts["site"]) if values else np.array([], dtype=object),
        "occasion": (np.concatenate(parts["occasion"]) if values
                     else np.array([], dtype="datetime64[ms]")),
        "y": np.concatenate(parts["y"]) if values else np.array([], dtype=float),
    })


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


def _tsv(frame: pd.DataFrame) -> bytes:
    """Tab-separated UTF-8 with a header line; no quoting, so no tab or newline in values."""
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    text = text.apply(lambda col: col.str.replace(r"[\t\r\n]+", " ", regex=True))
    lines = [("\t".join(frame.columns))]
    if len(text):
        first, *rest = (text[c] for c in text.columns)
        lines.extend(first.str.cat(rest, sep="\t").tolist() if rest else first.tolist())
    return ("\n".join(lines) + "\n").encode("utf-8")


def _file_element(tag: str, row_type: str, location: str, terms: tuple[str, ...]) -> ET.Element:
    node = ET.Element(tag, {
        "encoding": "UTF-8", "fieldsTerminatedBy": "\\t", "linesTerminatedBy": "\\n",
        "fieldsEnclosedBy": "", "ignoreHeaderLines": "1", "rowType": row_type,
    })
    ET.SubElement(ET.SubElement(node, "files"), "location").text = location
    ET.SubElement(node, "id" if tag == "core" else "coreid", {"index": "0"})
    for index, term in enumerate(terms):
        ET.SubElement(node, "field", {"index": str(index), "term": DWC + term})
    return node


def _meta_xml() -> bytes:
    archive = ET.Element("archive", {"xmlns": TEXT_NS, "metadata": "eml.xml"})
    archive.append(_file_element("core", EVENT_ROW_TYPE, "event.txt", EVENT_TERMS))
    archive.append(_file_element("extension", OCCURRENCE_ROW_TYPE, "occurrence.txt",
                                 OCCURRENCE_TERMS))
    return _xml_bytes(archive)


def _xml_bytes(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _eml(title: str, events: pd.DataFrame, occurrences: pd.DataFrame, sites: pd.DataFrame,
         history: DetectionHistory, protocol: str, creator: str | None, abstract: str | None,
         license: str) -> bytes:
    site_ids = set(events["site"])
    mine = sites[sites["id"].astype(str).isin(site_ids)]
    projects = (sorted(mine["project_name"].dropna().astype(str).unique())
                if "project_name" in mine.columns else [])
    who = _text(creator, "creator") if creator is not None else ("; ".join(projects) or "unknown")
    first = pd.Timestamp(events["period_start"].min()).tz_convert("UTC")
    last = pd.Timestamp(events["period_end"].max()).tz_convert("UTC")
    species = occurrences["scientificName"].nunique()
    summary = abstract if abstract is not None else (
        f"Detection histories of {species} taxa at {len(site_ids)} sites, "
        f"{len(events)} surveyed site-occasions from {first:%Y-%m-%d} to {last:%Y-%m-%d}, from "
        f"passive acoustic monitoring on the RFCx/Arbimon platform. Each event is one site and "
        f"occasion with at least {history.min_coverage:.0%} of its time recorded; each species "
        f"is present (detected) or absent (recorded and not detected) at it.")
    packed = "\n".join([title, *sorted(events["eventID"])])
    root = ET.Element("eml:eml", {
        "xmlns:eml": EML_NS, "packageId": str(uuid.uuid5(uuid.NAMESPACE_URL, packed)),
        "system": "rfcx_frames", "xml:lang": "en",
    })
    dataset = ET.SubElement(root, "dataset")
    ET.SubElement(dataset, "title").text = title
    ET.SubElement(ET.SubElement(dataset, "creator"), "organizationName").text = who
    ET.SubElement(ET.SubElement(dataset, "abstract"), "para").text = summary
    name, url = LICENSES[license]
    rights = ET.SubElement(ET.SubElement(dataset, "intellectualRights"), "para")
    rights.text = "This dataset is published under the "
    link = ET.SubElement(rights, "ulink", {"url": url})
    ET.SubElement(link, "citetitle").text = f"{name} ({license})"
    link.tail = "."
    licensed = ET.SubElement(dataset, "licensed")
    ET.SubElement(licensed, "licenseName").text = name
    ET.SubElement(licensed, "url").text = url
    ET.SubElement(licensed, "identifier").text = license
    coverage = ET.SubElement(dataset, "coverage")
    where = ET.SubElement(coverage, "geographicCoverage")
    ET.SubElement(where, "geographicDescription").text = f"{len(site_ids)} recording sites"
    box = ET.SubElement(where, "boundingCoordinates")
    lat = pd.to_numeric(events["decimalLatitude"])
    lon = pd.to_numeric(events["decimalLongitude"])
    for tag, value in (("westBoundingCoordinate", lon.min()), ("eastBoundingCoordinate", lon.max()),
                       ("northBoundingCoordinate", lat.max()),
                       ("southBoundingCoordinate", lat.min())):
        ET.SubElement(box, tag).text = repr(float(value))
    dates = ET.SubElement(ET.SubElement(coverage, "temporalCoverage"), "rangeOfDates")
    ET.SubElement(ET.SubElement(dates, "beginDate"), "calendarDate").text = f"{first:%Y-%m-%d}"
    ET.SubElement(ET.SubElement(dates, "endDate"), "calendarDate").text = f"{last:%Y-%m-%d}"
    ET.SubElement(ET.SubElement(dataset, "contact"), "organizationName").text = who
    step = ET.SubElement(ET.SubElement(dataset, "methods"), "methodStep")
    ET.SubElement(ET.SubElement(step, "description"), "para").text = protocol
    return _xml_bytes(root)


def _zip(members: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()
