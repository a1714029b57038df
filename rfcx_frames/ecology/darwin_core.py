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

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from rfcx_frames.ecology.dwc_archive import LICENSES, Metadata, event_span, write_archive
from rfcx_frames.ecology.dwc_tables import event_table, occurrence_table
from rfcx_frames.ecology.history import DetectionHistory

DEFAULT_PROTOCOL = ("passive acoustic monitoring: autonomous recorders, detections by automated "
                    "classifiers on the RFCx/Arbimon platform")


def to_darwin_core(
    history: DetectionHistory, effort: pd.DataFrame, detections: pd.DataFrame,
    sites: pd.DataFrame, path: str | os.PathLike[str], *, dataset_title: str,
    classifications: pd.DataFrame | None = None, protocol: str = DEFAULT_PROTOCOL,
    min_confidence: float | None = None, review_statuses: Iterable[str] | None = None,
    creator: str | None = None, abstract: str | None = None, license: str = "CC-BY-4.0",
) -> Path:
    """Write a detection history as a Darwin Core Archive (Event core, Occurrence extension).

    Parameters
    ----------
    history
        :func:`~rfcx_frames.detection_history`: surveyed cells become events, its 1 and 0
        ``present`` and ``absent`` occurrences.
    effort, detections
        The effort (:meth:`~rfcx_frames.Client.effort_df`) and detections the history was
        built from: each event's periods and timezone; counts, review verdicts, names.
    sites
        ``streams_df()``: ``id``, ``name``, ``latitude``, ``longitude`` (every site needs
        coordinates), ``country_code`` and ``altitude`` when present.
    path, dataset_title
        The ``.zip`` to write (its folder is created if missing); the title in ``eml.xml``.
    classifications
        ``classifications_df()``: ``title`` becomes ``scientificName``, ``type``
        ``taxonRank``; non-taxa (``characteristic``) are left out. Default: names from
        ``detections`` (else the value), no ``taxonRank``.
    protocol
        ``samplingProtocol`` of every event.
    min_confidence, review_statuses
        The filter the history was built with (so counts and verdicts match it).
    creator, abstract
        The dataset's creator and abstract; default: the sites' projects, and a sentence
        saying what the archive holds.
    license
        One of ``"CC0-1.0"``, ``"CC-BY-4.0"``, ``"CC-BY-NC-4.0"`` (those GBIF accepts).

    Returns
    -------
    pathlib.Path
        The archive, written atomically: after a failure ``path`` is as it was.

    Raises
    ------
    TypeError, ValueError
        For a non-history, frames lacking columns or not matching the history, sites
        without coordinates, an unknown licence or empty title, naming the argument.

    Examples
    --------
    >>> rf.to_darwin_core(history, effort, det, streams, "owls.zip", dataset_title="Owls")  # doctest: +SKIP
    PosixPath('owls.zip')
    """
    target = _check_target(history, path, license)
    title, method = _text(dataset_title, "dataset_title"), _text(protocol, "protocol")
    events = event_table(history, effort, sites, method)
    occurrences = occurrence_table(history, effort, detections, events, classifications,
                                   min_confidence, review_statuses)
    who = _text(creator, "creator") if creator is not None else _projects(sites, events)
    summary = abstract if abstract is not None else _summary(events, occurrences, history)
    return write_archive(target, events, occurrences, Metadata(title, who, summary, method, license))


def _check_target(history: object, path: str | os.PathLike[str], license: str) -> Path:
    """The archive's path, after refusing a non-history, a folder or an unknown licence."""
    if not isinstance(history, DetectionHistory):
        raise TypeError(f"history must be a DetectionHistory (detection_history(...)), "
                        f"not {type(history).__name__}")
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"path={str(path)!r} is a folder; give the .zip file to write")
    if license not in LICENSES:
        raise ValueError(f"license={license!r} is not one GBIF accepts; use one of {sorted(LICENSES)}")
    return target


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value.strip()


def _projects(sites: pd.DataFrame, events: pd.DataFrame) -> str:
    """The default creator: the projects of the published sites."""
    mine = sites[sites["id"].astype(str).isin(set(events["site"]))]
    projects = (sorted(mine["project_name"].dropna().astype(str).unique())
                if "project_name" in mine.columns else [])
    return "; ".join(projects) or "unknown"


def _summary(events: pd.DataFrame, occurrences: pd.DataFrame, history: DetectionHistory) -> str:
    """The default abstract: what the archive holds and what present and absent mean."""
    first, last = event_span(events)
    return (
        f"Detection histories of {occurrences['scientificName'].nunique()} taxa at "
        f"{events['site'].nunique()} sites, "
        f"{len(events)} surveyed site-occasions from {first:%Y-%m-%d} to {last:%Y-%m-%d}, from "
        f"passive acoustic monitoring on the RFCx/Arbimon platform. Each event is one site and "
        f"occasion with at least {history.min_coverage:.0%} of its time recorded; each species "
        f"is present (detected) or absent (recorded and not detected) at it.")
