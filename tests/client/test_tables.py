"""DataFrames over real HTTP equal the emulator's database for the same query."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import rfcx_frames as rf
from rfcx_frames import Client
from rfcx_frames.convert import empty_frame
from rfcx_frames.emulator import Emulator
from rfcx_frames.schemas import (
    ANNOTATION,
    CLASSIFICATION,
    DETECTION,
    PROJECT,
    SEGMENT,
    STREAM,
)
from rfcx_frames.timeutil import to_epoch_ms, to_utc

START, END = "2024-03-01", "2024-04-01"


def assert_schema(frame: pd.DataFrame, entity: object) -> None:
    expected = empty_frame(entity)  # type: ignore[arg-type]
    assert list(frame.columns) == list(expected.columns)
    assert [str(t) for t in frame.dtypes] == [str(t) for t in expected.dtypes]


@pytest.mark.slow
def test_detections_df_equals_database_at_100k_rows(truth: Any, big_emulator: Emulator) -> None:
    with big_emulator.client(progress=False) as c:
        got = c.detections_df(START, END, min_confidence=0)
    expected = truth.detections(big_emulator, truth.readable_streams(big_emulator), START, END, 0.0)
    assert len(got) >= 100_000
    pd.testing.assert_frame_equal(got, expected)
    assert_schema(got, DETECTION)


@pytest.mark.slow
def test_detections_df_filters_equal_database(truth: Any, big_emulator: Emulator) -> None:
    streams = truth.readable_streams(big_emulator)[:3]
    value = big_emulator.store.query(
        "SELECT c.value FROM detections d JOIN classifications c ON c.id = d.classification_id "
        "GROUP BY c.value ORDER BY count(*) DESC LIMIT 1")[0]["value"]
    with big_emulator.client(progress=False, max_workers=3) as c:
        got = c.detections_df("2024-03-03T06:00:00", "2024-03-20 18:30", classifications=value,
                              streams=iter(streams), min_confidence=0.3,
                              review_statuses=["unreviewed", "confirmed"])
    expected = truth.detections(
        big_emulator, streams, "2024-03-03T06:00:00", "2024-03-20 18:30", 0.3,
        "AND c.value = ? AND (d.review_status IS NULL OR d.review_status = 1)", (value,))
    assert len(got) > 100
    pd.testing.assert_frame_equal(got, expected)


def test_detections_df_default_confidence_and_attrs(truth: Any,
        client: Client, demo_emulator: Emulator) -> None:
    streams = truth.readable_streams(demo_emulator)
    got = client.detections_df(START, "2024-03-05", streams=streams[0])
    expected = truth.detections(demo_emulator, streams[:1], START, "2024-03-05", 0.95)
    pd.testing.assert_frame_equal(got, expected)
    query = got.attrs["query"]
    assert query["endpoint"] == "/detections"
    assert query["start"] == "2024-03-01T00:00:00.000Z"
    assert query["end"] == "2024-03-05T00:00:00.000Z"
    assert query["params"]["streams"] == streams[:1]
    assert query["api_url"] == demo_emulator.api_url
    assert query["fetched_at"].endswith("Z")
    assert demo_emulator.token not in repr(query)


def test_detections_df_descending_and_local_time(client: Client, demo_emulator: Emulator) -> None:
    asc = client.detections_df(START, "2024-03-03", min_confidence=0.5)
    desc = client.detections_df(START, "2024-03-03", min_confidence=0.5, descending=True,
                                local_time=True)
    assert desc["id"].tolist() == asc["id"].tolist()[::-1]
    zones = {r["id"]: r["timezone"] for r in demo_emulator.store.query(
        "SELECT id, timezone FROM streams")}
    row = desc.iloc[0]
    wall = row["start"].tz_convert(zones[row["stream_id"]]).tz_localize(None)
    assert row["start_local"] == wall
    assert str(desc["start_local"].dtype) == "datetime64[ms]"
    assert len({zones[s] for s in desc["stream_id"].unique()}) > 1


def test_public_stream_detections_need_naming(truth: Any, client: Client, demo_emulator: Emulator) -> None:
    public = [r["id"] for r in demo_emulator.store.query(
        "SELECT s.id FROM streams s JOIN projects p ON p.id = s.project_id "
        "WHERE p.is_public = 1 AND s.created_by_id != 1")]
    got = client.detections_df(START, END, streams=public, min_confidence=0)
    expected = truth.detections(demo_emulator, public, START, END, 0.0)
    pd.testing.assert_frame_equal(got, expected)
    assert len(got) > 0


def test_empty_results_keep_the_schema(client: Client) -> None:
    frames = {
        DETECTION: client.detections_df("2020-01-01", "2020-01-02"),
        ANNOTATION: client.annotations_df("2020-01-01", "2020-01-02"),
        SEGMENT: client.segments_df(client.streams_df()["id"][0], "2020-01-01", "2020-01-02"),
        PROJECT: client.projects_df(keyword="no such project anywhere"),
        STREAM: client.streams_df(keyword="no such stream anywhere"),
        CLASSIFICATION: client.classifications_df("no such classification"),
    }
    for entity, frame in frames.items():
        assert len(frame) == 0
        assert_schema(frame, entity)
    full = client.detections_df(START, "2024-03-02")
    assert [str(t) for t in full.dtypes] == [str(t) for t in frames[DETECTION].dtypes]
    local = client.detections_df("2020-01-01", "2020-01-02", local_time=True)
    assert str(local["start_local"].dtype) == "datetime64[ms]"
    assert client.detections_df(START, START).empty
    assert client.detections_df(START, END, streams=[]).empty


def test_annotations_df_equals_database(truth: Any, client: Client, demo_emulator: Emulator) -> None:
    got = client.annotations_df(START, END)
    streams = truth.readable_streams(demo_emulator)
    rows = demo_emulator.store.query(
        f"SELECT a.id, a.stream_id, a.start, a.frequency_min, c.value FROM annotations a "
        f"JOIN classifications c ON c.id = a.classification_id WHERE a.stream_id IN "
        f"({','.join('?' * len(streams))}) AND a.start >= ? AND a.start < ? "
        f"ORDER BY a.start, a.stream_id, c.value, a.id",
        (*streams, to_epoch_ms(to_utc(START)), to_epoch_ms(to_utc(END))))
    assert len(got) == len(rows) > 100
    assert got["id"].tolist() == [r["id"] for r in rows]
    assert got["classification_value"].astype(str).tolist() == [r["value"] for r in rows]
    assert (got["start"].astype("int64") == np.array([r["start"] for r in rows])).all()
    assert got["frequency_min"].astype("Int64").tolist() == [r["frequency_min"] for r in rows]
    assert_schema(got, ANNOTATION)
    one = client.annotations_df(START, END, streams=streams[1], classifications=rows[0]["value"])
    assert set(one["stream_id"].astype(str)) <= {streams[1]}
    assert set(one["classification_value"].astype(str)) == {rows[0]["value"]}


def test_segments_df_equals_database_with_half_open_window(truth: Any,
        client: Client, demo_emulator: Emulator) -> None:
    streams = truth.readable_streams(demo_emulator)[:2]
    first = demo_emulator.store.query(
        "SELECT start FROM segments WHERE stream_id = ? ORDER BY start LIMIT 1 OFFSET 100",
        (streams[0],))[0]["start"]
    end = pd.Timestamp(first, unit="ms", tz="UTC")
    got = client.segments_df(streams, "2024-03-01", end)
    rows = demo_emulator.store.query(
        "SELECT id, stream_id, start, file_extension FROM segments WHERE stream_id IN (?, ?) "
        "AND start >= ? AND start < ? ORDER BY start, stream_id, id",
        (*streams, to_epoch_ms(to_utc("2024-03-01")), first))
    assert got["id"].tolist() == [r["id"] for r in rows]
    assert got["stream_id"].astype(str).tolist() == [r["stream_id"] for r in rows]
    assert got["file_extension"].astype(str).tolist() == [r["file_extension"] for r in rows]
    assert (got["start"] < end).all()
    assert_schema(got, SEGMENT)


def test_streams_and_projects_df_equal_database(truth: Any, client: Client, demo_emulator: Emulator) -> None:
    streams = client.streams_df()
    assert sorted(streams["id"]) == truth.readable_streams(demo_emulator)
    assert streams["timezone"].notna().all()
    assert_schema(streams, STREAM)
    with_public = client.streams_df(include_public=True)
    public = {r["id"] for r in demo_emulator.store.query(
        "SELECT s.id FROM streams s LEFT JOIN projects p ON p.id = s.project_id "
        "WHERE s.deleted_at IS NULL AND (s.is_public = 1 OR p.is_public = 1)")}
    assert set(with_public["id"]) == set(streams["id"]) | public
    projects = client.projects_df()
    assert_schema(projects, PROJECT)
    assert len(projects) >= 2
    assert projects["name"].tolist() == sorted(projects["name"].tolist())


def test_classifications_df_all_pages(client: Client, demo_emulator: Emulator) -> None:
    got = client.classifications_df()
    count = demo_emulator.store.query("SELECT count(*) AS n FROM classifications")[0]["n"]
    assert len(got) == count >= 30
    assert got["value"].is_unique
    species = client.classifications_df(levels="species")
    assert set(species["type"].astype(str)) == {"species"}


def test_module_level_functions_use_the_default_client(client: Client) -> None:
    rf.set_default_client(client)
    try:
        assert rf.get_default_client() is client
        assert rf.streams_df().equals(client.streams_df())
        assert len(rf.detections_df(start=START, end="2024-03-02")) > 0
    finally:
        rf.set_default_client(None)
    with pytest.raises(TypeError, match="client"):
        rf.set_default_client("not a client")  # type: ignore[arg-type]


