"""Values written to JSON by SQLite are the Python rendering's (pages: test_detection_pages)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from rfcx_frames.emulator import json_sql
from rfcx_frames.emulator.params import iso
from rfcx_frames.emulator.render import column_value


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
