"""What the differential against the platform's own server found, held by the emulator.

Each test is one difference the request-by-request comparison with rfcx-api (run locally
by ``../shared/realserver``, see ``tests/realserver``) showed and the emulator now answers
as the platform does; docs/emulator.md, "Differential against the platform's server",
gives the reason of each.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from rfcx_frames.emulator import Emulator
from tests.emulator.helpers import sql

DAY = {"start": "2024-03-01T00:00:00.000Z", "end": "2024-03-02T00:00:00.000Z"}


def get(emu: Emulator, path: str, params: Any = None) -> requests.Response:
    return requests.get(emu.api_url + path, params=params, timeout=30,
                        headers={"Authorization": f"Bearer {emu.tokens['demo']}"})


def own_stream(emu: Emulator) -> str:
    return str(sql(emu, "SELECT id FROM streams WHERE created_by_id = "
                        "(SELECT id FROM users WHERE email = 'ada@example.org') "
                        "ORDER BY id LIMIT 1")[0]["id"])


def failure(resp: requests.Response) -> tuple[int, Any]:
    return resp.status_code, resp.json()


@pytest.mark.parametrize(("path", "message"), [
    ("/projects", "Failed getting projects"),
    ("/streams", "Failed getting streams"),
])
@pytest.mark.parametrize("page", [{"limit": "-1"}, {"offset": "-1"}])
def test_a_negative_page_fails_in_sql_with_the_routes_500(
        demo_emulator: Emulator, path: str, message: str, page: dict[str, str]) -> None:
    assert failure(get(demo_emulator, path, page)) == (
        500, {"message": message, "error": {"status": 500}})


def test_negative_pages_of_detections_and_segments(demo_emulator: Emulator) -> None:
    stream = own_stream(demo_emulator)
    detections = get(demo_emulator, "/detections",
                     {**DAY, "streams[]": stream, "limit": "-1"})
    assert failure(detections) == (500, {"message": "Failed getting detections",
                                         "error": {"status": 500}})
    segments = get(demo_emulator, f"/streams/{stream}/segments", {**DAY, "offset": "-3"})
    assert failure(segments) == (500, {"message": "Failed getting stream segments",
                                       "error": {"status": 500}})


@pytest.mark.parametrize(("value", "status"), [("x", 500), ("1abc", 500), ("1.5", 500),
                                               (" 01", 200), ("+1", 200)])
def test_classifier_ids_reach_sql_unchecked(demo_emulator: Emulator, value: str,
                                            status: int) -> None:
    # The platform passes classifiers[] to Postgres as text: what Postgres reads as an
    # integer works, anything else fails the whole query.
    resp = get(demo_emulator, "/detections", {**DAY, "streams[]": own_stream(demo_emulator),
                                              "classifiers[]": value, "limit": "5"})
    assert resp.status_code == status
    if status == 500:
        assert resp.json()["message"] == "Failed getting detections"


@pytest.mark.parametrize(("suffix", "message"), [
    ("", "Failed getting stream segment"),
    ("/file", "Failed getting stream segment file"),
])
def test_a_segment_start_that_is_no_time_is_the_routes_500(
        demo_emulator: Emulator, suffix: str, message: str) -> None:
    for stream in (own_stream(demo_emulator), "zzzzzzzzzzzz"):
        resp = get(demo_emulator, f"/streams/{stream}/segments/notadate{suffix}")
        assert failure(resp) == (500, {"message": message, "error": {"status": 500}})


def test_keyword_keeps_only_the_matching_alternative_names(demo_emulator: Emulator) -> None:
    body = get(demo_emulator, "/classifications", {"keyword": "frog"}).json()
    for item in body:
        if "frog" not in item["title"].lower():
            names = [n["name"] for n in item["alternative_names"]]
            assert names and all("frog" in n.lower() for n in names), item


def test_keyword_limit_counts_the_filtered_rows(demo_emulator: Emulator) -> None:
    # limit applies to classification x matching-name rows, so a page of n rows holds
    # at most n names plus the titles that matched on their own.
    every = get(demo_emulator, "/classifications", {"keyword": "a", "limit": "1000"}).json()
    rows = sum(max(1, len(item["alternative_names"])) for item in every)
    page = get(demo_emulator, "/classifications", {"keyword": "a", "limit": str(rows - 1)})
    assert len(page.json()) <= len(every)
    assert sum(max(1, len(i["alternative_names"])) for i in page.json()) == rows - 1


def test_whole_numbers_are_written_as_javascript_does(demo_emulator: Emulator) -> None:
    raw = get(demo_emulator, f"/streams/{own_stream(demo_emulator)}").content
    assert b'"altitude":' in raw
    stored = sql(demo_emulator, "SELECT altitude FROM streams WHERE id = ?",
                 (own_stream(demo_emulator),))[0]["altitude"]
    assert float(stored).is_integer()
    assert f'"altitude":{int(stored)},'.encode() in raw


def test_rows_sharing_the_sort_key_come_in_storage_order(demo_emulator: Emulator) -> None:
    # Every demo project shares updated_at: Postgres answers them in insertion order.
    token = demo_emulator.tokens["demo"]
    body = requests.get(demo_emulator.api_url + "/projects", timeout=30,
                        headers={"Authorization": f"Bearer {token}"}).json()
    readable = {p["id"] for p in body}
    stored = [r["id"] for r in sql(demo_emulator, "SELECT id FROM projects ORDER BY rowid")
              if r["id"] in readable]
    assert [p["id"] for p in body] == stored
    assert stored != sorted(stored), "the world should insert projects out of id order"
