"""The Darwin Core Archive of a detection history, read back with python-dwca-reader."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dwca.read import DwCAReader

import rfcx_frames as rf
from rfcx_frames.ecology.dwc_tables import (
    DWC,
    EVENT_REQUIRED,
    EVENT_TERMS,
    OCCURRENCE_REQUIRED,
    OCCURRENCE_TERMS,
)
from rfcx_frames.emulator import Emulator

START, END = "2024-03-02", "2024-03-16"  # the twelve-day world ends on 13 March
MIN_COVERAGE = 0.02  # the demo schedule records a few minutes an hour


@pytest.fixture(scope="module")
def tables(dst_world: Emulator, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[dict[str, pd.DataFrame]]:
    folder = tmp_path_factory.mktemp("dwc-cache")
    with dst_world.client(progress=False, cache_dir=folder) as client:
        yield {"detections": client.detections_df(START, END),
               "effort": client.effort_df(START, END, freq="1D", local_time=True),
               "streams": client.streams_df(),
               "classifications": client.classifications_df()}


@pytest.fixture(scope="module")
def history(tables: dict[str, pd.DataFrame]) -> rf.DetectionHistory:
    return rf.detection_history(tables["detections"], tables["effort"], min_coverage=MIN_COVERAGE,
                                sites=tables["streams"])


def _write(tables: dict[str, pd.DataFrame], history: rf.DetectionHistory, path: Path,
           **options: Any) -> Path:
    options.setdefault("classifications", tables["classifications"])
    return rf.to_darwin_core(history, tables["effort"], tables["detections"], tables["streams"],
                             path, dataset_title="Puerto Rico and pantropical soundscapes",
                             **options)


@pytest.fixture(scope="module")
def archive(tables: dict[str, pd.DataFrame], history: rf.DetectionHistory,
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The archive written once, read back with python-dwca-reader."""
    path = _write(tables, history, tmp_path_factory.mktemp("dwca") / "history.zip",
                  creator="Soundscape team")
    with DwCAReader(str(path)) as dwca:
        events = [{"id": row.id, **_short(row.data),
                   "occurrences": [{"coreid": ext.core_id, "rowtype": ext.rowtype, **_short(ext.data)}
                                   for ext in row.extensions]}
                  for row in dwca]
        return {
            "path": path, "events": events,
            "core_type": dwca.descriptor.core.type,
            "core_terms": list(dwca.descriptor.core.terms),
            "extension_types": [e.type for e in dwca.descriptor.extensions],
            "extension_terms": [list(e.terms) for e in dwca.descriptor.extensions],
            "title": dwca.metadata.findtext("dataset/title"),
            "creator": dwca.metadata.findtext("dataset/creator/organizationName"),
            "license": dwca.metadata.findtext("dataset/licensed/identifier"),
            "orphans": dwca.orphaned_extension_rows(),
        }


def _short(data: dict[str, str]) -> dict[str, str]:
    assert all(term.startswith(DWC) for term in data)
    return {term[len(DWC):]: value for term, value in data.items()}


def _occurrences(archive: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([o for e in archive["events"] for o in e["occurrences"]])


def _local_day(tables: dict[str, pd.DataFrame]) -> pd.Series:
    det = tables["detections"]
    zones = tables["streams"].set_index("id")["timezone"]
    return pd.Series([pd.Timestamp(t).tz_convert(zones[str(s)]).tz_localize(None).normalize()
                      for s, t in zip(det["stream_id"], det["start"], strict=True)], index=det.index)


def test_archive_round_trips_with_every_required_term(archive: dict[str, Any]) -> None:
    assert archive["core_type"] == "http://rs.tdwg.org/dwc/terms/Event"
    assert archive["extension_types"] == ["http://rs.tdwg.org/dwc/terms/Occurrence"]
    assert set(archive["core_terms"]) == {DWC + t for t in EVENT_TERMS}
    assert set(archive["extension_terms"][0]) == {DWC + t for t in OCCURRENCE_TERMS}
    assert archive["title"] == "Puerto Rico and pantropical soundscapes"
    assert archive["creator"] == "Soundscape team" and archive["license"] == "CC-BY-4.0"
    assert archive["orphans"] == {"occurrence.txt": {}}
    assert archive["events"] and all(e["occurrences"] for e in archive["events"])
    for event in archive["events"]:
        assert all(event[term] for term in EVENT_REQUIRED), event
        assert event["id"] == event["eventID"]
        for occ in event["occurrences"]:
            assert occ["rowtype"] == "http://rs.tdwg.org/dwc/terms/Occurrence"
            assert all(occ[term] for term in OCCURRENCE_REQUIRED), occ
            assert occ["taxonRank"]  # a classifications frame was given
            assert occ["coreid"] == occ["eventID"] == event["id"]
            assert occ["basisOfRecord"] == "MachineObservation"
            assert occ["occurrenceStatus"] in {"present", "absent"}
    with zipfile.ZipFile(archive["path"]) as z:
        assert sorted(z.namelist()) == ["eml.xml", "event.txt", "meta.xml", "occurrence.txt"]


def test_events_are_the_surveyed_cells_where_and_when(
        archive: dict[str, Any], tables: dict[str, pd.DataFrame],
        history: rf.DetectionHistory) -> None:
    events = pd.DataFrame(archive["events"])
    surveyed = history.coverage >= MIN_COVERAGE
    assert len(events) == int(surveyed.to_numpy().sum())
    assert events["eventID"].is_unique
    streams = tables["streams"].set_index("id")
    effort = tables["effort"].assign(stream_id=tables["effort"]["stream_id"].astype(str)).set_index(
        ["stream_id", "period_start_local"])
    saw_dst_day = False
    for event in events.itertuples():
        site = streams.loc[event.locationID]
        assert float(event.decimalLatitude) == site["latitude"]
        assert float(event.decimalLongitude) == site["longitude"]
        assert event.locality == site["name"] and event.geodeticDatum == "WGS84"
        begin_text, end_text = event.eventDate.split("/")
        begin, finish = pd.Timestamp(begin_text), pd.Timestamp(end_text)
        local_day = begin.tz_localize(None)  # the wall time written is the site's own
        assert bool(surveyed.loc[event.locationID, local_day])
        period = effort.loc[(event.locationID, local_day)]
        assert begin == period["period_start"] and finish == period["period_end"]
        assert begin.utcoffset() == period["period_start"].tz_convert(site["timezone"]).utcoffset()
        assert float(event.sampleSizeValue) == pytest.approx(period["recorded_seconds"] / 3600,
                                                             abs=1e-6)
        assert event.sampleSizeUnit == "hour" and event.samplingEffort.startswith(
            f"{event.sampleSizeValue} hours")
        if site["timezone"] == "America/New_York" and local_day == pd.Timestamp("2024-03-10"):
            # The local day summer time starts on lasts 23 hours, and says so.
            assert event.eventDate == "2024-03-10T00:00:00-05:00/2024-03-11T00:00:00-04:00"
            saw_dst_day = True
    assert saw_dst_day


def test_occurrences_follow_the_history(archive: dict[str, Any], tables: dict[str, pd.DataFrame],
                                        history: rf.DetectionHistory) -> None:
    occ = _occurrences(archive)
    events = pd.DataFrame(archive["events"]).set_index("eventID")
    locations, dates = events["locationID"].to_dict(), events["eventDate"].to_dict()
    classes = tables["classifications"].set_index("value")
    not_taxa = {v for v in history.y if classes.loc[v, "type"] == "characteristic"}
    assert not_taxa  # the demo world hears rain and chainsaws; they are no occurrences
    assert occ["occurrenceID"].is_unique
    for value, y in history.y.items():
        title = classes.loc[value, "title"]
        mine = occ[occ["scientificName"] == title]
        if value in not_taxa:
            assert mine.empty
            continue
        assert len(mine) == int(y.notna().to_numpy().sum())
        assert (mine["taxonRank"] == classes.loc[value, "type"]).all()
        present = mine[mine["occurrenceStatus"] == "present"]
        assert len(present) == int((y == 1).to_numpy().sum())
        cells = y.stack().to_dict()
        for row in mine.itertuples():
            site, date = locations[row.eventID], pd.Timestamp(dates[row.eventID][:19])
            assert cells[(site, date)] == (1.0 if row.occurrenceStatus == "present" else 0.0)


def test_counts_and_verification_match_the_detections(
        archive: dict[str, Any], tables: dict[str, pd.DataFrame]) -> None:
    det = tables["detections"]
    # By hand: each detection's cell is its stream and the local day its start falls in.
    cells = pd.DataFrame({"site": det["stream_id"].astype(str), "day": _local_day(tables),
                          "value": det["classification_value"].astype(str),
                          "status": det["review_status"].astype(str)})
    by_cell = {key: set(group["status"]) for key, group in cells.groupby(["site", "day", "value"])}
    counts = cells.groupby(["site", "day", "value"]).size().to_dict()
    values = tables["classifications"].set_index("title")["value"]
    events = pd.DataFrame(archive["events"]).set_index("eventID")
    occ = _occurrences(archive)
    assert (occ["organismQuantityType"] == "detections").all()
    for row in occ.itertuples():
        event = events.loc[row.eventID]
        key = (event["locationID"], pd.Timestamp(event["eventDate"][:19]), values[row.scientificName])
        assert int(row.organismQuantity) == counts.get(key, 0)
        statuses = by_cell.get(key, set())
        expected = ("unverified" if row.occurrenceStatus == "absent"
                    else "verified" if "confirmed" in statuses
                    else "rejected" if statuses == {"rejected"}
                    else "uncertain" if "uncertain" in statuses else "unverified")
        assert row.identificationVerificationStatus == expected
    assert {"verified", "unverified", "uncertain"} <= set(occ["identificationVerificationStatus"])


def test_review_filter_governs_presence(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    det, effort = tables["detections"], tables["effort"]
    kept = ["unreviewed", "uncertain", "confirmed"]
    history = rf.detection_history(det, effort, min_coverage=MIN_COVERAGE, review_statuses=kept)
    path = _write(tables, history, tmp_path / "reviewed.zip", review_statuses=kept)
    with DwCAReader(str(path)) as dwca:
        occ = pd.DataFrame([_short(ext.data) for row in dwca for ext in row.extensions])
    assert "rejected" not in set(occ["identificationVerificationStatus"])
    assert (occ["occurrenceStatus"] == "present").sum() == sum(
        int((y == 1).to_numpy().sum()) for v, y in history.y.items()
        if v in set(tables["classifications"].query("type != 'characteristic'")["value"]))
    # Counting other detections than the history did is refused, and writes nothing.
    with pytest.raises(ValueError, match="detections do not match history"):
        _write(tables, history, tmp_path / "mismatch.zip")
    assert not (tmp_path / "mismatch.zip").exists()


def test_without_classifications_names_come_from_the_detections(
        tables: dict[str, pd.DataFrame], history: rf.DetectionHistory, tmp_path: Path) -> None:
    streams = tables["streams"]
    # A tab or a line break in a name would break the tab-separated files: they become spaces.
    awkward = streams.assign(name=streams["name"].where(streams.index != 0, "Ridge\tNorth\r\nside"))
    path = rf.to_darwin_core(history, tables["effort"], tables["detections"], awkward,
                             tmp_path / "plain.zip", dataset_title="t", license="CC0-1.0")
    with DwCAReader(str(path)) as dwca:
        occ = pd.DataFrame([_short(ext.data) for row in dwca for ext in row.extensions])
        places = {_short(row.data)["locationID"]: _short(row.data)["locality"] for row in dwca}
        assert dwca.metadata.findtext("dataset/licensed/identifier") == "CC0-1.0"
    assert places[str(streams["id"].iloc[0])] == "Ridge North side"
    titles = tables["detections"].drop_duplicates("classification_value").set_index(
        "classification_value")["classification_title"].astype(str)
    assert set(occ["scientificName"]) == {titles[v] for v in history.y}  # rain included
    assert (occ["taxonRank"] == "").all()
    assert len(occ) == sum(int(y.notna().to_numpy().sum()) for y in history.y.values())


def test_same_data_same_bytes(tables: dict[str, pd.DataFrame], history: rf.DetectionHistory,
                              archive: dict[str, Any], tmp_path: Path) -> None:
    again = _write(tables, history, tmp_path / "sub" / "again.zip", creator="Soundscape team")
    assert again.read_bytes() == archive["path"].read_bytes()


def test_bad_input_names_the_argument(tables: dict[str, pd.DataFrame],
                                      history: rf.DetectionHistory, tmp_path: Path) -> None:
    det, effort, streams = tables["detections"], tables["effort"], tables["streams"]
    path = tmp_path / "bad.zip"
    one_stream = str(streams["id"].iloc[0])
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"effort": effort[effort["stream_id"].astype(str) != one_stream]}, ValueError,
         "effort does not match history"),
        ({"effort": effort.assign(recorded_seconds=effort["recorded_seconds"] * 2)}, ValueError,
         "effort does not match history"),
        ({"effort": effort.drop(columns="timezone")}, ValueError, r"effort lacks the columns \['timezone'\]"),
        ({"sites": streams.drop(columns="latitude")}, ValueError, "sites lacks the columns"),
        ({"sites": streams[streams["id"] != one_stream]}, ValueError, "sites lacks the streams"),
        ({"sites": streams.assign(latitude=np.nan)}, ValueError, "sites has no valid latitude"),
        ({"detections": det.drop(columns="classification_value")}, ValueError, "detections lacks"),
        ({"detections": det.iloc[:0]}, ValueError, "detections do not match history"),
        ({"classifications": tables["classifications"].iloc[:3]}, ValueError,
         "classifications lacks"),
        ({"license": "all rights reserved"}, ValueError, r"license=.*CC-BY-4\.0"),
        ({"dataset_title": "  "}, ValueError, "dataset_title must not be empty"),
        ({"protocol": None}, TypeError, "protocol must be a str"),
        ({"history": history.y}, TypeError, "history must be a DetectionHistory"),
        ({"history": rf.detection_history(det, effort)}, ValueError, "no surveyed occasion"),
        ({"path": tmp_path}, ValueError, "is a folder"),
    ]
    for change, error, message in cases:
        args: dict[str, Any] = {"history": history, "effort": effort, "detections": det,
                                "sites": streams, "path": path,
                                "dataset_title": "t", "classifications": tables["classifications"]}
        args.update(change)
        with pytest.raises(error, match=message):
            rf.to_darwin_core(**args)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_partial_file(
        tables: dict[str, pd.DataFrame], history: rf.DetectionHistory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "history.zip"
    written: list[str] = []
    real_writestr = zipfile.ZipFile.writestr

    def writestr_then_fail(self: zipfile.ZipFile, info: Any, data: Any, *a: Any, **k: Any) -> None:
        if written:  # the second member breaks the archive midway
            raise OSError("disk full")
        written.append(str(info))
        real_writestr(self, info, data, *a, **k)

    with monkeypatch.context() as patch:
        patch.setattr(zipfile.ZipFile, "writestr", writestr_then_fail)
        with pytest.raises(OSError, match="disk full"):
            _write(tables, history, path)
    assert written and list(tmp_path.iterdir()) == []

    # An archive already there survives a failure to replace it, and no temporary is left.
    _write(tables, history, path)
    before = path.read_bytes()

    def replace_fails(src: Any, dst: Any) -> None:
        raise OSError("interrupted")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", replace_fails)
        with pytest.raises(OSError, match="interrupted"):
            _write(tables, history, path, license="CC0-1.0")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["history.zip"]
