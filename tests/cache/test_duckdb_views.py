"""DuckDB over the cache: views of every cached entity, each row once, checked against pandas."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from rfcx_frames import cache
from rfcx_frames.emulator import Emulator
from tests.cache.test_s3_cache import aws_env, moto_url, root  # noqa: F401  (a local S3)

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
                     "classifications", "recordings", "effort"}
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


def test_the_effort_view_equals_effort_df_with_its_types(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as client:
        streams = client.streams_df()["id"].tolist()[:3]
        hourly = client.effort_df(START, END, streams=streams, freq="1h")
        daily = client.effort_df(START, END, streams=streams, freq="1D")
        # Two hours of another day: known by the hour, not by the day.
        client.effort_df("2024-03-06 06:30", "2024-03-06 08:00", streams=streams)
    con = cache.duckdb(tmp_path)
    got = con.sql(f"""
        SELECT * FROM effort
        WHERE period_start >= TIMESTAMPTZ '{START}' AND period_start < TIMESTAMPTZ '{END}'
        ORDER BY stream_id, period_start""").df()
    expected = hourly.sort_values(["stream_id", "period_start"], ignore_index=True)
    assert len(expected) == 3 * 48 and expected["recorded_seconds"].gt(0).any()
    assert expected["recorded_seconds"].eq(0).any()  # zeros are rows too
    # DuckDB hands times to pandas in microseconds: the values are compared.
    pd.testing.assert_frame_equal(got.astype(expected.dtypes.to_dict()), expected)
    types = dict(con.sql("SELECT column_name, column_type FROM (DESCRIBE effort)").fetchall())
    assert types == {"stream_id": "VARCHAR", "period_start": "TIMESTAMP WITH TIME ZONE",
                     "period_end": "TIMESTAMP WITH TIME ZONE", "period_start_local": "TIMESTAMP_MS",
                     "timezone": "VARCHAR", "period_seconds": "DOUBLE",
                     "recorded_seconds": "DOUBLE", "coverage": "DOUBLE"}
    assert con.sql("SELECT count(*) FROM effort WHERE period_start >= '2024-03-06'"
                   ).fetchall() == [(3 * 2,)]
    # Days: in SQL from the hours, or as the view's own period; a day known in part has none.
    summed = con.sql(f"""
        SELECT stream_id, date_trunc('day', period_start) AS day, sum(recorded_seconds) AS s
        FROM effort WHERE period_start < TIMESTAMPTZ '{END}' GROUP BY ALL ORDER BY ALL""").df()
    by_day = daily.sort_values(["stream_id", "period_start"], ignore_index=True)
    assert summed["s"].tolist() == pytest.approx(by_day["recorded_seconds"].tolist())
    days = cache.duckdb(tmp_path, entities=["effort"], effort_freq="1D").sql(
        "SELECT * FROM effort ORDER BY stream_id, period_start").df()
    pd.testing.assert_frame_equal(days.astype(by_day.dtypes.to_dict()), by_day)


def test_the_recordings_view_lists_each_run_once(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as client:
        stream = client.streams_df()["id"].iloc[0]
        segments = client.segments_df(stream, START, END)
        client.effort_df(START, END, streams=[stream], freq="1D")
        client.effort_df("2024-03-03", END, streams=[stream], freq="1h")  # the same day again
    runs = cache.duckdb(tmp_path, entities=["recordings"]).sql(
        "SELECT * FROM recordings ORDER BY start").df()
    assert runs["stream_id"].astype(str).unique().tolist() == [stream]
    assert (runs["start"].iloc[1:].to_numpy() > runs["end"].iloc[:-1].to_numpy()).all()
    recorded = (runs["end"] - runs["start"]).sum()
    first, last = pd.Timestamp(START, tz="UTC"), pd.Timestamp(END, tz="UTC")
    clipped = segments["end"].clip(upper=last) - segments["start"].clip(lower=first)
    assert recorded == clipped.sum()  # the demo's segments never overlap
    with pytest.raises(ValueError, match="effort_freq="):
        cache.duckdb(tmp_path, effort_freq="fortnightly")


def test_a_damaged_runs_file_leaves_its_stream_unknown_never_zero(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path) as client:
        streams = client.streams_df()["id"].tolist()[:2]
        effort = client.effort_df(START, END, streams=streams, freq="1D")
    damaged = sorted((tmp_path / "v2" / "recordings").rglob(f"stream_id={streams[0]}/*/*.parquet"))
    assert damaged
    damaged[0].write_bytes(damaged[0].read_bytes()[:-40])
    got = cache.duckdb(tmp_path, entities=["effort"], effort_freq="1D").sql(
        "SELECT stream_id, recorded_seconds FROM effort ORDER BY period_start").df()
    assert got["stream_id"].tolist() == [streams[1]] * 2
    assert got["recorded_seconds"].tolist() == effort[
        effort["stream_id"] == streams[1]]["recorded_seconds"].tolist()


def test_the_effort_view_reads_an_s3_cache_root(
        demo_emulator: Emulator, root: str) -> None:  # noqa: F811
    with demo_emulator.client(progress=False, cache_dir=root) as client:
        streams = client.streams_df()["id"].tolist()[:2]
        effort = client.effort_df(START, END, streams=streams, freq="1D")
    got = cache.duckdb(root, entities=["effort"], effort_freq="1D").sql(
        "SELECT * FROM effort ORDER BY stream_id, period_start").df()
    expected = effort.sort_values(["stream_id", "period_start"], ignore_index=True)
    pd.testing.assert_frame_equal(got.astype(expected.dtypes.to_dict()), expected)
