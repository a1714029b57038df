"""The emulator's counting routes answer as the platform's (docs/emulator.md "Counts").

``GET /clustered-detections`` and ``GET /detections/summary`` are checked against counts
computed here from the emulator's own database, so the tests hold for any world.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest
import requests

from rfcx_frames.emulator import Emulator
from tests.emulator.helpers import iso, sql

DAY = 86_400_000
ORIGIN = 946_857_600_000  # 2000-01-03T00:00Z, TimescaleDB's default bucket origin
KEYS = ["time_bucket", "aggregated_value", "first_start", "last_start", "classification"]


def get(emu: Emulator, path: str, params: Any = None, token: str | None = "demo") -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {emu.tokens[token]}"}
    return requests.get(emu.api_url + path, params=params, headers=headers, timeout=30)


def readable(emu: Emulator, name: str = "demo") -> list[str]:
    uid = sql(emu, "SELECT user_id FROM tokens WHERE token = ?", [emu.tokens[name]])[0]["user_id"]
    rows = sql(emu, "SELECT s.id FROM streams s LEFT JOIN projects p ON p.id = s.project_id "
                    "WHERE s.deleted_at IS NULL AND (s.created_by_id = :u OR s.id IN "
                    "(SELECT stream_id FROM stream_roles WHERE user_id = :u) OR "
                    "(p.deleted_at IS NULL AND (p.created_by_id = :u OR p.id IN "
                    "(SELECT project_id FROM project_roles WHERE user_id = :u))))", {"u": uid})
    return sorted(r["id"] for r in rows)


@pytest.fixture(scope="module")
def window(demo_emulator: Emulator) -> tuple[int, int]:
    """Three whole UTC days holding detections of the demo user's streams."""
    first = sql(demo_emulator, "SELECT min(start) AS s FROM detections")[0]["s"]
    start = first - first % DAY
    return start, start + 3 * DAY


def rows(emu: Emulator, streams: list[str], start: int, end: int,
         min_confidence: float = 0.95) -> list[dict[str, Any]]:
    marks = ",".join("?" * len(streams))
    return sql(emu, f"SELECT d.*, c.value AS cv FROM detections d JOIN classifications c "
                    f"ON c.id = d.classification_id WHERE d.stream_id IN ({marks}) AND "
                    f"d.start >= ? AND d.start < ? AND d.confidence >= ?",
               [*streams, start, end, min_confidence])


def expected_counts(found: list[dict[str, Any]], width: int) -> Counter[tuple[str, str]]:
    return Counter((iso(r["start"] - (r["start"] - ORIGIN) % width), r["cv"]) for r in found)


def test_default_is_daily_count_per_classification_of_readable_streams(
        demo_emulator: Emulator, window: tuple[int, int]) -> None:
    start, end = window
    resp = get(demo_emulator, "/clustered-detections",
               {"start": iso(start), "end": iso(end), "limit": 100000})
    assert resp.status_code == 200
    body = resp.json()
    assert body and all(list(item) == KEYS for item in body)
    assert list(body[0]["classification"]) == ["value", "title", "image"]
    got = Counter({(b["time_bucket"], b["classification"]["value"]): b["aggregated_value"]
                   for b in body})
    assert got == expected_counts(rows(demo_emulator, readable(demo_emulator), start, end), DAY)
    assert [b["time_bucket"] for b in body] == sorted(b["time_bucket"] for b in body)


@pytest.mark.parametrize("interval,width", [("1h", 3_600_000), ("7h", 7 * 3_600_000),
                                            ("90m", 5_400_000), ("2days", 2 * DAY)])
def test_intervals_filters_and_first_last(demo_emulator: Emulator, window: tuple[int, int],
                                          interval: str, width: int) -> None:
    start, end = window
    stream = readable(demo_emulator)[0]
    found = rows(demo_emulator, [stream], start, end, 0.5)
    value = Counter(r["cv"] for r in found).most_common(1)[0][0]
    found = [r for r in found if r["cv"] == value]
    resp = get(demo_emulator, "/clustered-detections",
               {"start": iso(start), "end": iso(end), "streams[]": stream, "interval": interval,
                "classifications[]": value, "min_confidence": 0.5, "limit": 100000})
    assert resp.status_code == 200
    body = resp.json()
    got = {(b["time_bucket"], b["classification"]["value"]): b["aggregated_value"] for b in body}
    assert Counter(got) == expected_counts(found, width)
    by_bucket: dict[str, list[int]] = defaultdict(list)
    for r in found:
        by_bucket[iso(r["start"] - (r["start"] - ORIGIN) % width)].append(r["start"])
    for b in body:
        assert b["first_start"] == iso(min(by_bucket[b["time_bucket"]]))
        assert b["last_start"] == iso(max(by_bucket[b["time_bucket"]]))


def test_aggregates_of_fields(demo_emulator: Emulator, window: tuple[int, int]) -> None:
    start, end = window
    stream = readable(demo_emulator)[0]
    found = rows(demo_emulator, [stream], start, end)
    base = {"start": iso(start), "end": iso(end), "streams": stream, "limit": 100000}
    avg = get(demo_emulator, "/clustered-detections",
              {**base, "aggregate": "avg", "field": "confidence"}).json()
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in found:
        groups[(iso(r["start"] - (r["start"] - ORIGIN) % DAY), r["cv"])].append(r["confidence"])
    for b in avg:
        values = groups[(b["time_bucket"], b["classification"]["value"])]
        assert b["aggregated_value"] == pytest.approx(sum(values) / len(values))
    # A timestamp aggregate is parsed as a float by the platform: null.
    mins = get(demo_emulator, "/clustered-detections", {**base, "aggregate": "min"}).json()
    assert mins and all(b["aggregated_value"] is None for b in mins)
    # count(review_status) leaves unreviewed (NULL) rows out
    reviewed = get(demo_emulator, "/clustered-detections",
                   {**base, "field": "review_status"}).json()
    assert sum(b["aggregated_value"] for b in reviewed) == sum(
        r["review_status"] is not None for r in found)


def test_paging_and_descending(demo_emulator: Emulator, window: tuple[int, int]) -> None:
    start, end = window
    base = {"start": iso(start), "end": iso(end), "interval": "1h"}
    whole = get(demo_emulator, "/clustered-detections", {**base, "limit": 100000}).json()
    assert len(get(demo_emulator, "/clustered-detections", base).json()) == min(100, len(whole))
    page = get(demo_emulator, "/clustered-detections", {**base, "limit": 5, "offset": 3}).json()
    assert page == whole[3:8]
    desc = get(demo_emulator, "/clustered-detections",
               {**base, "limit": 100000, "descending": "true"}).json()
    assert [b["time_bucket"] for b in desc] == sorted((b["time_bucket"] for b in whole),
                                                      reverse=True)
    assert get(demo_emulator, "/clustered-detections", {**base, "limit": 0}).json() == []


@pytest.mark.parametrize("params,message", [
    ({"start": "2024-03-01"},
     "Validation errors: Parameter 'end' the parameter is required but was not provided."),
    ({"interval": "1w"}, "Validation errors: Parameter 'interval' should be a time interval "
                         "(e.g. \"1d\" for 1 day, \"20m\" for 20 minutes)."),
    ({"aggregate": "median", "field": "score"},
     "Validation errors: Parameter 'aggregate' should be count, sum, avg, min, max; Parameter "
     "'field' should be one of these values: id, stream_id, classifier_id, classification_id, "
     "classifier_job_id, start, end, confidence, review_status."),
    ({"min_confidence": "high"}, "Validation errors: Parameter 'min_confidence' should be a float."),
])
def test_clustered_validation(demo_emulator: Emulator, params: dict[str, str],
                              message: str) -> None:
    query = {"start": "2024-03-01", "end": "2024-03-02", **params}
    if params.get("start") and "end" not in params:
        query.pop("end")
    resp = get(demo_emulator, "/clustered-detections", query)
    assert resp.status_code == 400
    assert resp.json() == {"message": message, "error": {"status": 400}}


@pytest.mark.parametrize("params", [{"aggregate": "avg"}, {"aggregate": "sum", "field": "end"},
                                    {"interval": "1x|"}, {"interval": "0d"}, {"limit": "-1"}])
def test_clustered_database_failures_are_500(demo_emulator: Emulator,
                                             params: dict[str, str]) -> None:
    resp = get(demo_emulator, "/clustered-detections",
               {"start": "2024-03-01", "end": "2024-03-02", **params})
    assert resp.status_code == 500
    assert resp.json()["message"] == "Failed getting detections"


def test_clustered_permissions(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    mine = set(readable(emu))
    others = [r["id"] for r in sql(emu, "SELECT s.id FROM streams s LEFT JOIN projects p ON "
                                        "p.id = s.project_id WHERE s.is_public = 0 AND "
                                        "(p.is_public IS NULL OR p.is_public = 0)")
              if r["id"] not in mine]
    wide = {"start": "2000-01-01", "end": "2100-01-01", "limit": 100000}
    # Streams the caller cannot read are dropped without an error, as on /detections.
    assert get(emu, "/clustered-detections", {**wide, "streams[]": others}).json() == []
    assert get(emu, "/clustered-detections", wide, token=None).status_code == 401
    public = {r["id"] for r in sql(emu, "SELECT s.id FROM streams s LEFT JOIN projects p ON "
                                        "p.id = s.project_id WHERE s.is_public = 1 OR "
                                        "p.is_public = 1")}
    only_public = get(emu, "/clustered-detections", {**wide, "streams_public": "true"}).json()
    expected = expected_counts(rows(emu, sorted(public), 0, 2**62), DAY)
    assert Counter({(b["time_bucket"], b["classification"]["value"]): b["aggregated_value"]
                    for b in only_public}) == expected


def test_summary_counts_each_review_status(demo_emulator: Emulator,
                                           window: tuple[int, int]) -> None:
    start, end = window
    emu = demo_emulator
    found = rows(emu, readable(emu), start, end, 0.5)
    names = {None: "unreviewed", -1: "rejected", 0: "uncertain", 1: "confirmed"}
    expected = Counter({name: 0 for name in names.values()})
    expected.update(names[r["review_status"]] for r in found)
    base = {"start": iso(start), "end": iso(end), "min_confidence": 0.5}
    resp = get(emu, "/detections/summary", base)
    assert resp.status_code == 200
    assert list(resp.json()) == ["unreviewed", "rejected", "uncertain", "confirmed"]
    assert resp.json() == dict(expected)
    only = get(emu, "/detections/summary",
               {**base, "review_statuses[]": ["confirmed", "unreviewed"]}).json()
    assert only == {**dict(expected), "rejected": 0, "uncertain": 0}
    classifier = found[0]["classifier_id"]
    by_classifier = get(emu, "/detections/summary", {**base, "classifiers[]": classifier}).json()
    assert sum(by_classifier.values()) == sum(r["classifier_id"] == classifier for r in found)


@pytest.mark.parametrize("params,status,message", [
    ({"review_statuses": "approved"}, 400,
     "Validation errors: Parameter 'review_statuses' should be one of these values: "
     "unreviewed, rejected, uncertain, confirmed."),
    ({"classifiers[]": "x"}, 500, "Failed getting detections summary"),
])
def test_summary_bad_input(demo_emulator: Emulator, params: dict[str, str], status: int,
                           message: str) -> None:
    resp = get(demo_emulator, "/detections/summary",
               {"start": "2024-03-01", "end": "2024-03-02", **params})
    assert resp.status_code == status
    assert resp.json() == {"message": message, "error": {"status": status}}
