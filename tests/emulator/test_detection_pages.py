"""Detection pages from kept JSON and bookmarks are byte for byte the Python rendering's.

The reference here renders each row as the route did before pages were written by SQLite:
a Python dict per row (nested stream and classifier objects from :func:`lite_object`),
serialised by :func:`json_response`, over a plain ``LIMIT``/``OFFSET`` query. Every write
path (a review, uploaded detections, a job's results, plain SQL) shows in the next page.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
import requests

from rfcx_frames.emulator import Emulator, running
from rfcx_frames.emulator import detection_pages as pages
from rfcx_frames.emulator import routes_labels as labels
from rfcx_frames.emulator.auth import user_for_token
from rfcx_frames.emulator.http import json_response
from rfcx_frames.emulator.render import STREAM_LITE, column_value, lite_object

from .helpers import iso, sql

ALL = list(pages.DETECTION_STORED)
WINDOW = {"start": "2024-03-01", "end": "2024-03-31", "min_confidence": "0"}
#: Shapes of a row: every ``fields`` choice the route treats differently.
SHAPES: list[dict[str, Any]] = [
    {},
    {"fields[]": ALL},
    {"fields[]": list(reversed(ALL))},
    {"fields[]": ["confidence", "id", "confidence", "nonsense", "review_status"]},
    {"fields[]": ["stream"]},
    {"fields[]": ["classifier", "start"]},
    {"fields[]": ["stream", "classifier", *ALL]},
    *({"fields[]": [f]} for f in ALL),
]


def reference(emu: Emulator, params: dict[str, Any], token: str = "demo") -> bytes:
    """The page as the route's Python rendering wrote it."""
    query = {k.removesuffix("[]"): v if isinstance(v, list) else [v] for k, v in params.items()}
    q = labels.DetectionQuery.parse(query)
    who = user_for_token(emu.app.store, emu.tokens[token])
    assert who is not None
    where = labels._detection_where(emu.app, who, q)
    direction = "DESC" if q.descending else "ASC"
    page = f" LIMIT {q.limit} OFFSET {q.offset}" if q.limit is not None else ""
    rows = emu.app.store.query(
        f"SELECT d.*, c.value AS c_value, c.title AS c_title, c.image AS c_image "
        f"FROM detections d JOIN classifications c ON c.id = d.classification_id "
        f"WHERE {where.sql} ORDER BY d.start {direction}, d.id {direction}{page}", where.args)
    items = []
    for r in rows:
        wanted = [f for f in (q.fields or labels.DETECTION_DEFAULT) if f in labels.DETECTION_FIELDS]
        item = {f: str(r[f]) if f == "id" else column_value(f, r[f]) for f in wanted}
        if (q.fields and "stream" in q.fields) or q.projects is not None:
            item["stream"] = lite_object(emu.app.store, "streams", STREAM_LITE, r["stream_id"])
        if q.fields and "classifier" in q.fields:
            item["classifier"] = lite_object(emu.app.store, "classifiers", pages.CLASSIFIER_LITE,
                                             r["classifier_id"])
        item["classification"] = {"value": r["c_value"], "title": r["c_title"],
                                  "image": r["c_image"]}
        items.append(item)
    return json_response(items).body


def served(emu: Emulator, params: dict[str, Any], token: str = "demo") -> bytes:
    resp = requests.get(emu.api_url + "/detections", params=params, timeout=60,
                        headers={"Authorization": f"Bearer {emu.tokens[token]}"})
    assert resp.status_code == 200, resp.text
    return resp.content


@pytest.mark.parametrize("shape", SHAPES, ids=range(len(SHAPES)))
def test_every_fields_choice_is_the_python_page(demo_emulator: Emulator,
                                                shape: dict[str, Any]) -> None:
    params = {**WINDOW, "limit": "40", "offset": "1500", **shape}
    body = served(demo_emulator, params)
    assert body.count(b'"classification":') == 40
    assert body == reference(demo_emulator, params)


def test_projects_filter_nests_the_stream_in_every_row(demo_emulator: Emulator) -> None:
    project = sql(demo_emulator, "SELECT project_id FROM streams s JOIN detections d "
                                 "ON d.stream_id = s.id LIMIT 1")[0]["project_id"]
    for shape in ({}, {"fields[]": ["id", "stream", "classifier"]}):
        params = {**WINDOW, "projects[]": [project], "limit": "30", **shape}
        body = served(demo_emulator, params)
        assert body.count(b'"stream":{"id":') == 30
        assert body == reference(demo_emulator, params)


@pytest.mark.parametrize("descending", ["false", "true"])
def test_pages_in_order_and_out_of_order_are_the_offset_pages(demo_emulator: Emulator,
                                                              descending: str) -> None:
    # In order, each page starts at the bookmark the one before left; then jumps back
    # and forth start from the nearest bookmark below, or from the first row.
    base = {**WINDOW, "descending": descending, "limit": "700", "fields[]": ALL}
    for offset in (0, 700, 1400, 2100, 350, 2000, 1400, 0, 2800):
        params = {**base, "offset": str(offset)}
        assert served(demo_emulator, params) == reference(demo_emulator, params), offset


def test_ties_at_a_page_cut_are_neither_lost_nor_repeated(demo_emulator: Emulator) -> None:
    expected: list[dict[str, Any]] = []
    for row in sql(demo_emulator, "SELECT start FROM detections GROUP BY start "
                                  "HAVING count(*) >= 2 ORDER BY start LIMIT 20"):
        window = {"start": iso(row["start"]), "end": iso(row["start"] + 1),
                  "min_confidence": "0"}
        expected = json.loads(reference(demo_emulator, window))
        if len(expected) >= 2:
            break
    assert len(expected) >= 2
    got = []
    for offset in range(len(expected)):  # pages of one row: every cut falls in the tie
        got += json.loads(served(demo_emulator, {**window, "limit": "1", "offset": str(offset)}))
    assert got == expected


@pytest.fixture()
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running(world="demo", data_dir=tmp_path_factory.mktemp("pages"), days=2) as emu:
        yield emu


def _first_pages(emu: Emulator) -> list[bytes]:
    """Three pages in order, so that bookmarks are set; each checked against the reference."""
    out = []
    for offset in (0, 50, 100):
        params = {**WINDOW, "limit": "50", "offset": str(offset), "fields[]": ALL}
        body = served(emu, params)
        assert body == reference(emu, params)
        out.append(body)
    return out


def _visible(emu: Emulator, offset: int, served: list[bytes] | None = None) -> dict[str, Any]:
    """The stored detection at ``offset`` of the demo user's pages (``served``, or fetched)."""
    page = json.loads((served or _first_pages(emu))[offset // 50])
    return sql(emu, "SELECT d.*, c.value FROM detections d JOIN classifications c "
                    "ON c.id = d.classification_id WHERE d.id = ?",
               (int(page[offset % 50]["id"]),))[0]


def test_a_review_shows_in_the_next_page(world: Emulator) -> None:
    before = _first_pages(world)
    rows = [_visible(world, i, before) for i in range(100, 150)]
    row = next(r for r in rows if r["review_status"] is None and not sql(
        world, "SELECT 1 FROM detection_reviews WHERE detection_id = ?", (r["id"],)))
    resp = requests.post(
        f"{world.api_url}/streams/{row['stream_id']}/detections/{iso(row['start'])}/review",
        json={"status": "rejected", "classification": row["value"],
              "classifier": row["classifier_id"]}, timeout=30,
        headers={"Authorization": f"Bearer {world.token}"})
    assert resp.status_code in (200, 201), resp.text
    after = _first_pages(world)
    assert after[:2] == before[:2] and after[2] != before[2]


def test_uploaded_detections_move_the_next_pages(world: Emulator) -> None:
    before = _first_pages(world)
    first = _visible(world, 0, before)
    name = sql(world, "SELECT output_class_name FROM classifier_outputs WHERE classifier_id = ? "
                      "AND classification_id = ?",
               (first["classifier_id"], first["classification_id"]))[0]["output_class_name"]
    resp = requests.post(f"{world.api_url}/streams/{first['stream_id']}/detections", json=[{
        "start": iso(first["start"] + 1), "end": iso(first["start"] + 1000),
        "classifier": first["classifier_id"], "classification": name,
        "confidence": 0.99991}], timeout=30, headers={"Authorization": f"Bearer {world.token}"})
    assert resp.status_code == 201, resp.text
    after = _first_pages(world)  # each compared to the reference: the new row is on page 1
    assert b"0.99991" in after[0] and after[1] != before[1] and after[2] != before[2]


def test_a_change_by_plain_sql_drops_the_kept_json(world: Emulator) -> None:
    target = _visible(world, 60)["id"]
    with closing(sqlite3.connect(world.data_dir / "platform.sqlite3")) as conn, conn:
        conn.execute("UPDATE detections SET confidence = 0.123456789, \"end\" = \"end\" + 1 "
                     "WHERE id = ?", (target,))
    assert sql(world, "SELECT count(*) AS n FROM detection_json WHERE detection_id = ?",
               (target,))[0]["n"] == 0
    assert b"0.123456789" in _first_pages(world)[1]


def test_a_renamed_classification_shows_in_the_next_page(world: Emulator) -> None:
    row = _visible(world, 70)
    with closing(sqlite3.connect(world.data_dir / "platform.sqlite3")) as conn, conn:
        conn.execute("UPDATE classifications SET title = 'Renamed \"bird\"' WHERE id = ?",
                     (row["classification_id"],))
    assert b'"title":"Renamed \\"bird\\""' in _first_pages(world)[1]


def test_pages_without_kept_json_are_the_same(world: Emulator) -> None:
    before = _first_pages(world)
    for table in ("classification_json", "detection_json"):
        with closing(sqlite3.connect(world.data_dir / "platform.sqlite3")) as conn, conn:
            conn.execute(f"DELETE FROM {table}")
        assert _first_pages(world) == before, table


def test_a_new_world_keeps_the_json_of_every_detection(world: Emulator) -> None:
    counts = sql(world, "SELECT (SELECT count(*) FROM detections) AS d, "
                        "(SELECT count(*) FROM detection_json) AS j")[0]
    assert counts["d"] == counts["j"] > 0


def test_shuffled_ties_page_every_row_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running(world="demo", data_dir=tmp_path_factory.mktemp("ties"), days=1,
                 tie_order="random") as emu:
        total = len(json.loads(reference(emu, WINDOW)))
        seen: list[str] = []
        starts: list[str] = []
        for offset in range(0, total, 400):
            page = requests.get(emu.api_url + "/detections", timeout=60, params={
                **WINDOW, "limit": "400", "offset": str(offset)},
                headers={"Authorization": f"Bearer {emu.token}"}).json()
            seen += [d["id"] for d in page]
            starts += [d["start"] for d in page]
        assert starts == sorted(starts) and len(seen) == total


@pytest.mark.parametrize("params", [
    {"start": "2024-03-01T00:00:00.000Z", "end": "2024-03-31T00:00:00.000Z", "limit": "300",
     "offset": "200"},
    {"start": "2024-03-02T00:00:00.000Z", "end": "2024-03-05T00:00:00.000Z", "strict": "false"},
])
def test_segment_pages_are_the_python_rendering(demo_emulator: Emulator,
                                                params: dict[str, str]) -> None:
    stream = sql(demo_emulator, "SELECT stream_id FROM segments GROUP BY stream_id "
                                "ORDER BY count(*) DESC LIMIT 1")[0]["stream_id"]
    resp = requests.get(f"{demo_emulator.api_url}/streams/{stream}/segments", params=params,
                        timeout=60, headers={"Authorization": f"Bearer {demo_emulator.token}"})
    assert resp.status_code == 200 and resp.headers["Total-Items"] == "undefined"
    start, end = (labels.DetectionQuery.parse({"start": [params["start"]],
                                               "end": [params["end"]]}).__dict__[k]
                  for k in ("start", "end"))
    where = ("start BETWEEN ? AND ?" if "strict" not in params else 'start < ? AND "end" > ?')
    bounds = (start, end) if "strict" not in params else (end, start)
    rows = sql(demo_emulator, f'SELECT id, start, "end", file_extension FROM segments '
                              f"WHERE stream_id = ? AND {where} ORDER BY start, rowid"
                              f"{' LIMIT 300 OFFSET 200' if 'limit' in params else ''}",
               (stream, *bounds))
    assert len(rows) > 10
    expected = [{"id": r["id"], "start": iso(r["start"]), "end": iso(r["end"]),
                 "file_extension": r["file_extension"]} for r in rows]
    assert resp.content == json_response(expected).body


def test_an_older_data_directory_gets_its_json_kept(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("older")
    with running(world="demo", data_dir=folder, days=1):
        pass
    with closing(sqlite3.connect(folder / "platform.sqlite3")) as conn, conn:
        conn.execute("DELETE FROM detection_json")  # as a world built before they were kept
    with running(world="demo", data_dir=folder, days=1) as emu:
        counts = sql(emu, "SELECT (SELECT count(*) FROM detections) AS d, "
                          "(SELECT count(*) FROM detection_json) AS j")[0]
        assert counts["d"] == counts["j"] > 0
