"""Schemas and JSON → DataFrame conversion, on responses recorded from the real platform."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from rfcx_frames.convert import empty_frame, entity_frame, ordered
from rfcx_frames.schemas import (
    ANNOTATION,
    CLASSIFICATION,
    DETECTION,
    ENTITIES,
    PROJECT,
    SEGMENT,
    STREAM,
    Entity,
    arrow_schema,
    pandas_dtypes,
)
from rfcx_frames.wire import parse_page, rows_to_struct, to_table, wire_type, with_constant


def to_frame(entity: Entity, chunks: list[pa.StructArray]) -> pd.DataFrame:
    """Parsed pages as the user sees them, without ordering (the conversion path of every frame)."""
    return entity_frame(entity, to_table(entity, chunks))


SAMPLES = Path(__file__).parents[1] / "data" / "real_api_samples"
RECORDED = {
    "detections_list": DETECTION,
    "streams_list": STREAM,
    "projects_list": PROJECT,
    "annotations_list": ANNOTATION,
    "classifications_list": CLASSIFICATION,
    "segments_list": SEGMENT,
}


def dtypes(frame: pd.DataFrame) -> list[str]:
    return [str(t) for t in frame.dtypes]


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_responses_convert_to_the_declared_schema(name: str) -> None:
    entity = RECORDED[name]
    body = (SAMPLES / f"{name}.body").read_bytes()
    frame = to_frame(entity, [parse_page(entity, body)])
    assert len(frame) == len(json.loads(body))
    assert list(frame.columns) == list(entity.names)
    assert dtypes(frame) == dtypes(empty_frame(entity))


def test_detection_columns_are_typed_and_flattened() -> None:
    body = (SAMPLES / "detections_list.body").read_bytes()
    raw = json.loads(body)
    frame = to_frame(DETECTION, [parse_page(DETECTION, body)])
    assert frame["id"].tolist() == [int(r["id"]) for r in raw]
    assert str(frame["start"].dtype) == "datetime64[ms, UTC]"
    assert frame["start"][0] == pd.Timestamp(raw[0]["start"])
    assert frame["confidence"].dtype == np.float32
    assert frame["classification_value"].astype(str).tolist() == [
        r["classification"]["value"] for r in raw]
    assert list(frame["classification_value"].cat.categories) == sorted(
        {r["classification"]["value"] for r in raw})
    # review_status was not requested in that recording: unreviewed
    assert set(frame["review_status"]) == {"unreviewed"}


def test_review_status_wire_values_map_to_fixed_categories() -> None:
    rows = [dict(id=str(i), stream_id="s", start="2024-03-01T00:00:00.000Z",
                 end="2024-03-01T00:00:01.000Z", confidence=0.5, review_status=v,
                 classification={"value": "x", "title": "X", "image": None})
            for i, v in enumerate([None, -1, 0, 1])]
    frame = to_frame(DETECTION, [rows_to_struct(DETECTION, rows)])
    assert frame["review_status"].tolist() == ["unreviewed", "rejected", "uncertain", "confirmed"]
    assert list(frame["review_status"].cat.categories) == [
        "unreviewed", "rejected", "uncertain", "confirmed"]
    assert frame["classifier_id"].isna().all() and str(frame["classifier_id"].dtype) == "Int32"


@pytest.mark.parametrize("body", [
    b'[{"id": "1", "stream_id": "s", "start": "2024-03-01T00:00:00.000Z"',  # truncated
    b"<html><body>503 Service Temporarily Unavailable</body></html>",
    b'{"message": "x"}',
    b"",
])
def test_bad_bodies_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_page(DETECTION, body)


def test_non_integer_detection_id_is_an_error() -> None:
    body = b'[{"id": "abc", "stream_id": "s", "start": "2024-03-01T00:00:00.000Z"}]'
    with pytest.raises(ValueError, match="id"):
        to_frame(DETECTION, [parse_page(DETECTION, body)])


def test_pretty_printed_json_parses() -> None:
    body = b'[\n  {"id": "p", "name": "N\\nline",\n "is_public": false}\n]\n'
    assert parse_page(PROJECT, body).to_pylist()[0]["name"] == "N\nline"


def test_ordered_deduplicates_and_orders() -> None:
    rows = [dict(id=str(i), stream_id=s, start=t, end=t, confidence=0.9,
                 classification={"value": v, "title": v, "image": None})
            for i, (s, t, v) in enumerate([
                ("b", "2024-03-01T00:00:01.000Z", "x"),
                ("a", "2024-03-01T00:00:01.000Z", "y"),
                ("a", "2024-03-01T00:00:01.000Z", "x"),
                ("a", "2024-03-01T00:00:00.000Z", "z")])]
    chunk = rows_to_struct(DETECTION, rows)
    table = ordered(DETECTION, to_table(DETECTION, [chunk, chunk]))
    assert entity_frame(DETECTION, table)["id"].tolist() == [3, 2, 1, 0]


def test_with_constant_fills_client_side_columns() -> None:
    body = (SAMPLES / "segments_list.body").read_bytes()
    frame = to_frame(SEGMENT, [with_constant(parse_page(SEGMENT, body), "stream_id", "abc")])
    assert set(frame["stream_id"]) == {"abc"}


@pytest.mark.parametrize("entity", list(ENTITIES.values()), ids=list(ENTITIES))
def test_one_declaration_drives_every_schema(entity: Entity) -> None:
    schema = arrow_schema(entity)
    assert schema.names == list(entity.names)
    assert list(pandas_dtypes(entity)) == list(entity.names)
    assert isinstance(wire_type(entity), pa.StructType)
    assert list(empty_frame(entity).columns) == list(entity.names)
    # the empty frame survives a Parquet-style round trip through the arrow schema
    table = pa.Table.from_pandas(empty_frame(entity), preserve_index=False)
    assert table.num_rows == 0


def test_arrow_schema_carries_review_status_categories() -> None:
    field = arrow_schema(DETECTION).field("review_status")
    assert json.loads(field.metadata[b"categories"]) == [
        "unreviewed", "rejected", "uncertain", "confirmed"]
