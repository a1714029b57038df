"""Detection pages encoded by SQLite are byte for byte the Python rendering's."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
import requests

from rfcx_frames.emulator import Emulator, json_sql
from rfcx_frames.emulator import routes_labels as labels
from rfcx_frames.emulator.auth import user_for_token
from rfcx_frames.emulator.http import json_response
from rfcx_frames.emulator.params import iso
from rfcx_frames.emulator.render import column_value

ALL_FIELDS = ["id", "stream_id", "classifier_id", "classification_id", "classifier_job_id",
              "start", "end", "confidence", "review_status"]
QUERIES: list[dict[str, Any]] = [
    {"start": "2024-03-01", "end": "2024-03-03"},
    {"start": "2024-03-01", "end": "2024-03-03", "min_confidence": "0", "limit": "1000",
     "offset": "1000", "fields[]": ALL_FIELDS},
    {"start": "2024-03-01", "end": "2024-03-31", "min_confidence": "0.2", "limit": "500",
     "descending": "true", "fields[]": ["confidence", "id", "review_status", "end"]},
    {"start": "2024-03-05", "end": "2024-03-06", "review_statuses[]": ["confirmed", "rejected"],
     "min_confidence": "0", "fields[]": ALL_FIELDS},
]


def _python_rendering(emu: Emulator, params: dict[str, Any]) -> bytes:
    """The page as the route's Python rendering writes it (the reference)."""
    query = {k.removesuffix("[]"): v if isinstance(v, list) else [v] for k, v in params.items()}
    q = labels.DetectionQuery.parse(query)
    who = user_for_token(emu.app.store, emu.token)
    assert who is not None
    where = labels._detection_where(emu.app, who, q)
    direction = "DESC" if q.descending else "ASC"
    rows = emu.app.store.query(
        f"SELECT d.*, c.value AS c_value, c.title AS c_title, c.image AS c_image "
        f"FROM detections d JOIN classifications c ON c.id = d.classification_id "
        f"WHERE {where.sql} ORDER BY d.start {direction}, "
        f"{emu.app.tie_break('d.id', direction)}"
        f"{f' LIMIT {q.limit} OFFSET {q.offset}' if q.limit is not None else ''}",
        where.args)
    return json_response([labels._detection_item(emu.app, r, q) for r in rows]).body


@pytest.mark.parametrize("params", QUERIES, ids=range(len(QUERIES)))
def test_sqlite_page_is_the_python_page(demo_emulator: Emulator,
                                        params: dict[str, Any]) -> None:
    resp = requests.get(demo_emulator.api_url + "/detections", params=params, timeout=60,
                        headers={"Authorization": f"Bearer {demo_emulator.token}"})
    assert resp.status_code == 200
    assert len(resp.json()) > 0
    assert resp.content == _python_rendering(demo_emulator, params)


@pytest.mark.parametrize("value", [0.9749, 0.30000000000000004, 1.0, 0.0, 1e-07, None, 3])
def test_numbers_times_and_nulls_as_the_python_rendering(value: Any) -> None:
    conn = sqlite3.connect(":memory:")
    json_sql.register(conn)
    conn.execute("CREATE TABLE t (confidence REAL, start INTEGER, hidden INTEGER)")
    for start in (1709251200123, -1, 0, None):
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t VALUES (?, ?, ?)", (value, start, 1))
        sql = json_sql.object_sql([
            ("confidence", json_sql.column_sql("confidence", "t.confidence", "REAL")),
            ("start", json_sql.column_sql("start", "t.start", "INTEGER")),
            ("hidden", json_sql.column_sql("hidden", "t.hidden", "INTEGER"))])
        encoded = conn.execute(f"SELECT {sql} FROM t").fetchone()[0]
        expected = {"confidence": column_value("confidence", value),
                    "start": None if start is None else iso(start),
                    "hidden": column_value("hidden", 1)}
        assert encoded == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
