"""DuckDB over the cache: views of every cached entity, each row once, checked against pandas."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from rfcx_frames import cache
from rfcx_frames.emulator import Emulator

START, END = "2024-03-02", "2024-03-04"


def test_a_duckdb_group_by_equals_the_pandas_group_by_of_detections_df(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as client:
        streams = client.streams_df()["id"].tolist()[:3]
        frame = client.detections_df(START, END, streams=streams, min_confidence=0.5)
        # A looser pull of a longer window stores the same rows again in another entry.
        client.detections_df("2024-03-01", END, streams=streams)
        listed = client.streams_df()
    con = cache.duckdb(tmp_path)
    sql = con.sql(f"""
        SELECT stream_id, classification_value, count(*) AS n, avg(confidence) AS mean
        FROM detections
        WHERE start >= TIMESTAMPTZ '{START}' AND start < TIMESTAMPTZ '{END}'
          AND confidence >= 0.5 AND stream_id IN {tuple(streams)}
        GROUP BY ALL ORDER BY stream_id, classification_value""").df()
    expected = (frame.groupby(["stream_id", "classification_value"], observed=True)
                .agg(n=("id", "size"), mean=("confidence", "mean")).reset_index()
                .sort_values(["stream_id", "classification_value"], ignore_index=True))
    assert len(expected) > 3
    assert sql["n"].sum() == len(frame)
    assert sql["stream_id"].astype(str).tolist() == expected["stream_id"].astype(str).tolist()
    assert (sql["classification_value"].astype(str).tolist()
            == expected["classification_value"].astype(str).tolist())
    assert sql["n"].tolist() == expected["n"].tolist()
    assert sql["mean"].to_numpy() == pytest.approx(expected["mean"].to_numpy(), rel=1e-6)
    # Each row once, though two entries hold it; the listing is there too, as listed.
    [(rows, distinct)] = con.sql("SELECT count(*), count(DISTINCT id) FROM detections").fetchall()
    assert rows == distinct
    ids = con.sql("SELECT id FROM streams ORDER BY id").df()["id"].tolist()
    assert ids == sorted(listed["id"].tolist())


def test_views_carry_the_schema_types_and_every_entity_is_a_view(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as client:
        stream = client.streams_df()["id"].iloc[0]
        segments = client.segments_df(stream, START, END)
    con = cache.duckdb(tmp_path)
    views = {row[0] for row in con.sql("SHOW TABLES").fetchall()}
    assert views == {"detections", "annotations", "segments", "projects", "streams",
                     "classifications"}
    types = dict(con.sql("SELECT column_name, column_type FROM (DESCRIBE segments)").fetchall())
    assert types["start"] == "TIMESTAMP WITH TIME ZONE" and len(segments) > 100
    assert con.sql("SELECT count(*) FROM segments").fetchall() == [(len(segments),)]
    assert con.sql("SELECT count(*) FROM annotations").fetchall() == [(0,)]
    table = cache.dataset("streams", tmp_path)
    assert table.num_rows == len(set(table["id"].to_pylist())) > 0


def test_bad_entities_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="entities must be a list of"):
        cache.duckdb(tmp_path, entities=["detections", "jobs"])
    with pytest.raises(ValueError, match="entities must be a list of"):
        cache.duckdb(tmp_path, entities="detections")
    with pytest.raises(ValueError, match="entity must be one of"):
        cache.dataset("effort", tmp_path)
    empty = cache.duckdb(tmp_path, entities=["detections"]).sql("SELECT * FROM detections").df()
    assert empty.empty and "confidence" in empty.columns


def test_an_existing_connection_gets_the_views(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "mine.duckdb"))
    assert cache.duckdb(tmp_path, entities=["projects"], connection=con) is con
    assert con.sql("SELECT count(*) FROM projects").fetchall() == [(0,)]
