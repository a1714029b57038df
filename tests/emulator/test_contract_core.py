"""The emulator's core API speaks the platform contract (shared/api_contract.md §2-§5).

Every expectation is derived from SQL on the emulator's own database, so the tests hold
for any world the generator builds; the recorded real responses fix statuses, headers,
field names and formats.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import soundfile as sf

from rfcx_frames.emulator import Emulator
from tests.emulator.helpers import iso, sql

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
WIDE = {"start": "2000-01-01T00:00:00.000Z", "end": "2100-01-01T00:00:00.000Z"}
FORBIDDEN = {"message": "Not authorized to access this resource", "error": {"status": 403}}
JSON_TYPE = "application/json; charset=utf-8"
STREAM_KEYS = ["id", "name", "description", "start", "end", "project_id", "is_public", "hidden",
               "latitude", "longitude", "altitude", "timezone", "timezone_locked",
               "max_sample_rate", "external_id", "created_by_id", "country_code", "created_at",
               "updated_at", "created_by", "project"]
Params = dict[str, Any] | Sequence[tuple[str, Any]] | None
# responses recorded from the platform's server: a vendored copy if the project has one
SAMPLES = Path(__file__).parents[1] / "data" / "real_api_samples"


# -- helpers: SQL on the data directory, HTTP with a token -----------------------------------

def compact(ms: int) -> str:
    """Epoch ms in the compact ``YYYYMMDDTHHmmssSSSZ`` form of segment paths."""
    return re.sub(r"[-:.]", "", iso(ms))


def get(emu: Emulator, path: str, params: Params = None, token: str | None = "demo",
        **kwargs: Any) -> requests.Response:
    """GET ``path`` as the named world user (``token=None``: no Authorization header)."""
    headers = {} if token is None else {"Authorization": f"Bearer {emu.tokens[token]}"}
    return requests.get(emu.api_url + path, params=params, headers=headers, timeout=30, **kwargs)


def user_id(emu: Emulator, name: str = "demo") -> int:
    """Database id of a world user, from its token."""
    return int(sql(emu, "SELECT user_id FROM tokens WHERE token = ?", [emu.tokens[name]])[0]
               ["user_id"])


def readable_streams(emu: Emulator, uid: int) -> set[str]:
    """Streams a user may read as a member (creator or role on stream or project)."""
    rows = sql(emu, "SELECT s.id FROM streams s LEFT JOIN projects p ON p.id = s.project_id "
                    "WHERE s.deleted_at IS NULL AND (s.created_by_id = :u OR s.id IN "
                    "(SELECT stream_id FROM stream_roles WHERE user_id = :u) OR "
                    "(p.deleted_at IS NULL AND (p.created_by_id = :u OR p.id IN "
                    "(SELECT project_id FROM project_roles WHERE user_id = :u))))", {"u": uid})
    return {r["id"] for r in rows}


def public_streams(emu: Emulator) -> set[str]:
    """Streams readable by anyone signed in (public stream or public project)."""
    rows = sql(emu, "SELECT s.id FROM streams s LEFT JOIN projects p ON p.id = s.project_id "
                    "WHERE s.deleted_at IS NULL AND (s.is_public = 1 OR p.is_public = 1)")
    return {r["id"] for r in rows}


def marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values)) or "NULL"


@dataclass(frozen=True)
class Cast:
    """Streams of the demo world that play a role in the access rules."""

    demo: int
    readable: frozenset[str]
    own: str  # readable by demo, with the most segments
    public_other: str  # public, demo is no member
    private_other: str  # not public, demo is no member


@pytest.fixture(scope="module")
def cast(demo_emulator: Emulator) -> Cast:
    emu = demo_emulator
    demo = user_id(emu)
    readable = readable_streams(emu, demo)
    public = public_streams(emu)
    live = {r["id"] for r in sql(emu, "SELECT id FROM streams WHERE deleted_at IS NULL")}
    counts = sql(emu, "SELECT stream_id, count(*) AS n FROM segments GROUP BY stream_id "
                      "ORDER BY n DESC, stream_id")
    own = next(r["stream_id"] for r in counts if r["stream_id"] in readable)
    public_other = sorted(public - readable)
    private_other = sorted(live - readable - public)
    assert public_other, "the demo world needs a public stream of another user"
    assert private_other, "the demo world needs a private stream of another user"
    return Cast(demo, frozenset(readable), own, public_other[0], private_other[0])


def assert_platform_headers(resp: requests.Response) -> None:
    uuid.UUID(resp.headers["X-Request-Id"])
    assert resp.headers["X-Powered-By"] == "Express"


# -- authentication and error bodies -----------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Bearer ", "Basic abc"])
def test_unauthenticated_is_plain_401_without_content_type(demo_emulator: Emulator,
                                                           header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    # Authentication runs before routing for every route family, so an unknown path
    # under one (``/projects/no/such/route``) is 401 too.
    for path in ("/projects", "/streams/abc/segments", "/projects/no/such/route",
                 "/clustered-detections", "/internal/assets/streams/x.wav"):
        resp = requests.get(demo_emulator.api_url + path, headers=headers, timeout=30)
        assert resp.status_code == 401
        assert resp.content == b"Unauthorized"
        assert "Content-Type" not in resp.headers
        assert "WWW-Authenticate" not in resp.headers
        assert_platform_headers(resp)


def test_a_path_outside_every_route_family_is_404_even_without_a_token(
        demo_emulator: Emulator) -> None:
    # core/app.js mounts authentication per family; anything else falls to its 404.
    for path in ("/no/such/route", "/internal/nothing", "/Projects-not"):
        resp = requests.get(demo_emulator.api_url + path, timeout=30)
        assert resp.status_code == 404
        assert resp.json() == {"message": "Not Found", "error": {"status": 404}}


def test_health_check_needs_no_token(demo_emulator: Emulator) -> None:
    resp = get(demo_emulator, "/health-check", token=None)
    assert resp.status_code == 200
    body = resp.json()
    # the platform reports its database check: {"status", "timescaledb": {"status", "time"}}
    assert set(body) == {"status", "timescaledb"} and body["status"] is True
    assert set(body["timescaledb"]) == {"status", "time"}
    assert body["timescaledb"]["status"] is True
    assert isinstance(body["timescaledb"]["time"], int) and body["timescaledb"]["time"] >= 0


def test_health_check_echoes_headers_on_request(demo_emulator: Emulator) -> None:
    resp = requests.get(demo_emulator.api_url + "/health-check", params={"headers": "1"},
                        headers={"X-Probe": "yes"}, timeout=30)
    assert resp.status_code == 200
    assert resp.json()["http_headers"]["x-probe"] == "yes"


def test_unknown_route_is_404_json(demo_emulator: Emulator) -> None:
    resp = get(demo_emulator, "/no/such/route")
    assert resp.status_code == 404
    assert resp.json() == {"message": "Not Found", "error": {"status": 404}}
    assert resp.headers["Content-Type"] == JSON_TYPE


def test_request_ids_are_fresh_uuids(demo_emulator: Emulator) -> None:
    ids = {get(demo_emulator, "/projects").headers["X-Request-Id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(uuid.UUID(i).version == 4 for i in ids)


# -- projects ----------------------------------------------------------------------------------

def test_projects_default_shape_total_and_order(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    expected = sql(emu, "SELECT id, updated_at FROM projects WHERE deleted_at IS NULL AND "
                        "(created_by_id = :u OR id IN (SELECT project_id FROM project_roles "
                        "WHERE user_id = :u))", {"u": cast.demo})
    resp = get(emu, "/projects")
    assert resp.status_code == 200
    assert_platform_headers(resp)
    assert resp.headers["Content-Type"] == JSON_TYPE
    assert resp.headers["Total-Items"] == str(len(expected))
    body = resp.json()
    assert {p["id"] for p in body} == {r["id"] for r in expected}
    for p in body:
        assert list(p) == ["id", "name", "is_public", "external_id"]
        assert isinstance(p["id"], str) and len(p["id"]) == 12
        assert isinstance(p["is_public"], bool)
        assert p["external_id"] is None or isinstance(p["external_id"], int)
    updated = {r["id"]: r["updated_at"] for r in expected}
    stamps = [updated[p["id"]] for p in body]
    assert stamps == sorted(stamps, reverse=True)  # default sort -updated_at


def test_projects_pages_concatenate(demo_emulator: Emulator) -> None:
    full = get(demo_emulator, "/projects").json()
    pages = []
    for offset in range(0, len(full) + 2, 2):
        resp = get(demo_emulator, "/projects", {"limit": 2, "offset": offset})
        assert resp.headers["Total-Items"] == str(len(full))
        pages.extend(resp.json())
    assert pages == full


def test_projects_only_public_and_fields(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    public = {r["id"] for r in sql(emu, "SELECT id FROM projects WHERE is_public = 1 AND "
                                        "deleted_at IS NULL")}
    resp = get(emu, "/projects", {"only_public": "true"})
    assert {p["id"] for p in resp.json()} == public
    assert resp.headers["Total-Items"] == str(len(public))
    body = get(emu, "/projects", [("fields[]", "name"), ("fields[]", "created_by")]).json()
    assert body and all(list(p) == ["name", "created_by"] for p in body)
    assert all(set(p["created_by"]) == {"firstname", "lastname", "email", "picture"}
               for p in body)


# -- streams -----------------------------------------------------------------------------------

def test_streams_default_list_is_members_only(demo_emulator: Emulator, cast: Cast) -> None:
    resp = get(demo_emulator, "/streams")
    assert resp.status_code == 200
    body = resp.json()
    listed = {s["id"] for s in body}
    assert int(resp.headers["Total-Items"]) == len(cast.readable)
    assert listed == set(cast.readable) or len(listed) == 100
    assert listed <= cast.readable
    assert cast.public_other not in listed and cast.private_other not in listed
    for s in body:
        assert list(s) == STREAM_KEYS
        for key in ("start", "end", "created_at", "updated_at"):
            assert s[key] is None or ISO_MS.match(s[key]), (key, s[key])
        assert isinstance(s["is_public"], bool) and isinstance(s["hidden"], bool)
        assert set(s["created_by"]) == {"firstname", "lastname", "email", "picture"}
        if s["project"] is not None:
            assert list(s["project"]) == ["id", "name", "is_public", "external_id"]


def test_streams_only_public_lists_public_streams(demo_emulator: Emulator, cast: Cast) -> None:
    resp = get(demo_emulator, "/streams", {"only_public": "true", "limit": 1000})
    listed = {s["id"] for s in resp.json()}
    assert cast.public_other in listed
    assert listed <= public_streams(demo_emulator)
    assert cast.private_other not in listed


def test_stream_by_id_access_rules(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    own = get(emu, f"/streams/{cast.own}")
    assert own.status_code == 200
    assert list(own.json()) == STREAM_KEYS
    row = sql(emu, 'SELECT start, "end", name FROM streams WHERE id = ?', [cast.own])[0]
    assert own.json()["name"] == row["name"]
    assert own.json()["start"] == iso(row["start"]) and own.json()["end"] == iso(row["end"])
    assert get(emu, f"/streams/{cast.public_other}").status_code == 200
    private = get(emu, f"/streams/{cast.private_other}")
    assert private.status_code == 403
    assert private.json() == FORBIDDEN
    assert private.headers["Content-Type"] == JSON_TYPE
    assert get(emu, f"/streams/{cast.private_other}", token="system").status_code == 200
    missing = get(emu, "/streams/doesnotexist")
    assert missing.status_code == 404
    assert missing.json() == {"message": "Stream not found", "error": {"status": 404}}
    fields = get(emu, f"/streams/{cast.own}", [("fields[]", "id"), ("fields[]", "name")])
    assert fields.json() == {"id": cast.own, "name": row["name"]}


# -- segments ----------------------------------------------------------------------------------

def segments_of(emu: Emulator, stream: str) -> list[dict[str, Any]]:
    return sql(emu, 'SELECT id, start, "end", file_extension, sample_count FROM segments '
                    "WHERE stream_id = ? ORDER BY start", [stream])


def test_segments_list_shape_between_inclusive(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    segs = segments_of(emu, cast.own)
    assert len(segs) >= 4
    path = f"/streams/{cast.own}/segments"
    first, last = segs[1], segs[3]
    resp = get(emu, path, {"start": iso(first["start"]), "end": iso(last["start"])})
    assert resp.status_code == 200
    assert resp.headers["Total-Items"] == "undefined"
    body = resp.json()
    assert [s["id"] for s in body] == [s["id"] for s in segs[1:4]]
    assert body[0] == {"id": first["id"], "start": iso(first["start"]),
                       "end": iso(first["end"]), "file_extension": first["file_extension"]}
    assert all(s["file_extension"].startswith(".") for s in body)
    # start == end gives the segment starting exactly there; 1 ms later gives nothing
    one = get(emu, path, {"start": iso(first["start"]), "end": iso(first["start"])}).json()
    assert [s["id"] for s in one] == [first["id"]]
    after = first["start"] + 1
    nxt = [s["id"] for s in segs if after <= s["start"] <= segs[2]["start"] - 1]
    got = get(emu, path, {"start": iso(after), "end": iso(segs[2]["start"] - 1)}).json()
    assert [s["id"] for s in got] == nxt


def test_segments_unpaged_and_pages(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    segs = segments_of(emu, cast.own)
    path = f"/streams/{cast.own}/segments"
    full = get(emu, path, WIDE).json()
    assert [s["id"] for s in full] == [s["id"] for s in segs]  # no limit = every row, ASC
    starts = [s["start"] for s in full]
    assert starts == sorted(starts)
    pages: list[dict[str, Any]] = []
    window = {"start": iso(segs[0]["start"]), "end": iso(segs[min(len(segs), 25) - 1]["start"])}
    for offset in range(0, 30, 7):
        pages.extend(get(emu, path, {**window, "limit": 7, "offset": offset}).json())
    assert pages == full[: min(len(segs), 25)]


def test_segments_validation(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    path = f"/streams/{cast.own}/segments"
    missing = get(emu, path)
    assert missing.status_code == 400
    assert missing.json() == {"message": "Validation errors: Parameter 'start' the parameter is "
                              "required but was not provided; Parameter 'end' the parameter is "
                              "required but was not provided.", "error": {"status": 400}}
    reversed_ = get(emu, path, {"start": "2022-01-02", "end": "2022-01-01"})
    assert reversed_.status_code == 400
    assert reversed_.json()["message"] == '"end" attribute cannot be less than "start" attribute'
    bad = get(emu, path, {"start": "yesterday", "end": "2022-01-01", "limit": "x"})
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        "Validation errors: Parameter 'start' should be an ISO8601 timestamp or an UNIX epoch "
        "(ms); Parameter 'limit' should be an integer.")
    assert get(emu, f"/streams/{cast.private_other}/segments", WIDE).json() == FORBIDDEN
    assert get(emu, "/streams/doesnotexist/segments", WIDE).status_code == 404


def test_segments_overlap_when_not_strict(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    segs = segments_of(emu, cast.own)
    inside = segs[2]["start"] + 1_000  # after the start of segment 2: strict misses it
    params = {"start": iso(inside), "end": iso(segs[3]["start"] - 1)}
    path = f"/streams/{cast.own}/segments"
    assert get(emu, path, params).json() == []
    loose = get(emu, path, {**params, "strict": "false"}).json()
    assert [s["id"] for s in loose] == [s["id"] for s in segs
                                        if s["start"] < segs[3]["start"] - 1
                                        and s["end"] > inside]


def test_segments_limit_zero_returns_no_row(demo_emulator: Emulator, cast: Cast) -> None:
    """Sequelize sends ``LIMIT 0``; only an omitted limit means every row."""
    path = f"/streams/{cast.own}/segments"
    assert get(demo_emulator, path, WIDE).json()
    assert get(demo_emulator, path, {**WIDE, "limit": 0}).json() == []


@pytest.mark.parametrize("path", ["/projects", "/streams"])
def test_lists_limit_zero_count_what_they_returned(demo_emulator: Emulator, path: str) -> None:
    """``pagedQuery`` counts with ``findAll`` when limit and offset are both 0."""
    emu = demo_emulator
    assert int(get(emu, path).headers["Total-Items"]) > 0
    zero = get(emu, path, {"limit": 0})
    assert zero.json() == [] and zero.headers["Total-Items"] == "0"
    skipped = get(emu, path, {"limit": 0, "offset": 1})
    assert skipped.json() == []
    assert skipped.headers["Total-Items"] == get(emu, path).headers["Total-Items"]


def test_time_parameter_formats_agree(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    seg = segments_of(emu, cast.own)[2]
    start, end = seg["start"], seg["start"] + 3_600_000
    moment = datetime.fromtimestamp(start / 1000, timezone.utc)
    forms = [(iso(start), iso(end)), (str(start), str(end)),
             (moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
              iso(end).replace("T", " ").rstrip("Z")),
             ((moment + timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+07:00",
              iso(end))]
    bodies = [get(emu, f"/streams/{cast.own}/segments", {"start": s, "end": e}).json()
              for s, e in forms]
    assert bodies[0] and all(b == bodies[0] for b in bodies)


def test_single_segment_and_file(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    stream, seg = next((sid, s) for sid in sorted(cast.readable) for s in segments_of(emu, sid)
                       if s["file_extension"] == ".flac")
    base = f"/streams/{stream}/segments"
    forms = [compact(seg["start"]), str(seg["start"]), iso(seg["start"])]
    bodies = [get(emu, f"{base}/{f}").json() for f in forms]
    assert all(b == bodies[0] for b in bodies)
    ssf = sql(emu, "SELECT f.id, f.filename, f.duration, f.sample_rate FROM segments s JOIN "
                   "stream_source_files f ON f.id = s.stream_source_file_id WHERE s.id = ?",
              [seg["id"]])[0]
    assert bodies[0] == {"id": seg["id"], "start": iso(seg["start"]), "end": iso(seg["end"]),
                         "stream_source_file": ssf, "file_extension": ".flac"}
    gone = get(emu, f"{base}/{compact(seg['start'] + 1)}")
    assert gone.status_code == 404
    assert gone.json() == {"message": "Segment not found", "error": {"status": 404}}

    redirect = get(emu, f"{base}/{compact(seg['start'])}/file", allow_redirects=False)
    assert redirect.status_code == 302
    assert_platform_headers(redirect)
    location = redirect.headers["Location"]
    assert redirect.text == f"Found. Redirecting to {location}"
    assert redirect.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert recorded_header_names("segment_file_302") <= set(redirect.headers)
    assert re.search(rf"/\d{{4}}/\d{{2}}/\d{{2}}/{stream}/{seg['id']}\.flac\?", location)
    blob = requests.get(location, timeout=60)
    assert blob.status_code == 200
    assert blob.content[:4] == b"fLaC"
    stored = emu.data_dir / "blobs" / f"{seg['id']}.flac"
    assert blob.content == stored.read_bytes()
    info = sf.info(stored)
    assert info.frames == seg["sample_count"] and info.channels == 1
    assert info.samplerate == ssf["sample_rate"]
    forged = requests.get(location.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=30)
    assert forged.status_code == 403
    assert b"SignatureDoesNotMatch" in forged.content
    followed = get(emu, f"{base}/{iso(seg['start'])}/file")
    assert followed.status_code == 200 and followed.content == blob.content
    assert get(emu, f"{base}/{compact(seg['start'] + 1)}/file").status_code == 404


def test_opus_segment_file_is_ogg(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    stream, seg = next((sid, s) for sid in sorted(cast.readable) for s in segments_of(emu, sid)
                       if s["file_extension"] == ".opus")
    listed = get(emu, f"/streams/{stream}/segments", {"start": iso(seg["start"]),
                                                      "end": iso(seg["start"])}).json()
    assert listed[0]["file_extension"] == ".opus"
    blob = get(emu, f"/streams/{stream}/segments/{compact(seg['start'])}/file")
    assert blob.status_code == 200 and blob.content[:4] == b"OggS"
    data, rate = sf.read(io.BytesIO(blob.content), always_2d=True)
    assert data.shape[1] == 1
    assert abs(data.shape[0] - seg["sample_count"]) <= rate // 50  # codec frame padding


# -- detections --------------------------------------------------------------------------------

def detections_sql(emu: Emulator, streams: Sequence[str], start: int, end: int,
                   min_conf: float = 0.95) -> list[dict[str, Any]]:
    return sql(emu, f'SELECT d.id, d.stream_id, d.start, d."end", d.confidence, c.value FROM '
                    f"detections d JOIN classifications c ON c.id = d.classification_id WHERE "
                    f"d.stream_id IN ({marks(streams)}) AND d.start >= ? AND d.start < ? AND "
                    f"d.confidence >= ? ORDER BY d.start, d.id",
               [*streams, start, end, min_conf])


@pytest.fixture(scope="module")
def det_window(demo_emulator: Emulator, cast: Cast) -> tuple[int, int]:
    """A window holding a few dozen confident detections of readable streams."""
    rows = detections_sql(demo_emulator, sorted(cast.readable), 0, 2**62)
    assert len(rows) >= 30, "the demo world needs detections"
    return rows[0]["start"], rows[min(len(rows) - 1, 60)]["start"]


def test_detections_shape_default_confidence_and_order(demo_emulator: Emulator, cast: Cast,
                                                       det_window: tuple[int, int]) -> None:
    emu = demo_emulator
    start, end = det_window
    params = {"start": iso(start), "end": iso(end)}
    expected = detections_sql(emu, sorted(cast.readable), start, end)
    resp = get(emu, "/detections", params)
    assert resp.status_code == 200
    assert "Total-Items" not in resp.headers
    body = resp.json()
    assert [d["id"] for d in body] == [str(r["id"]) for r in expected]
    row = expected[0]
    assert body[0] == {"id": str(row["id"]), "stream_id": row["stream_id"],
                       "start": iso(row["start"]), "end": iso(row["end"]),
                       "confidence": row["confidence"], "classification": body[0]
                       ["classification"]}
    assert list(body[0]) == ["id", "stream_id", "start", "end", "confidence", "classification"]
    assert list(body[0]["classification"]) == ["value", "title", "image"]
    assert body[0]["classification"]["value"] == row["value"]
    every = get(emu, "/detections", {**params, "min_confidence": 0}).json()
    assert len(every) == len(detections_sql(emu, sorted(cast.readable), start, end, 0.0))
    assert len(every) > len(body), "the window should hold detections below 0.95"
    desc = get(emu, "/detections", {**params, "descending": "true"}).json()
    starts = [d["start"] for d in desc]
    assert starts == sorted(starts, reverse=True) and len(desc) == len(body)


def test_detections_interval_is_half_open(demo_emulator: Emulator, cast: Cast,
                                          det_window: tuple[int, int]) -> None:
    emu = demo_emulator
    rows = detections_sql(emu, sorted(cast.readable), *det_window, 0.0)
    at = rows[len(rows) // 2]["start"]
    same = [str(r["id"]) for r in rows if r["start"] == at]

    def ids(start: int, end: int) -> list[str]:
        found = get(emu, "/detections", {"start": iso(start), "end": iso(end),
                                         "min_confidence": 0}).json()
        return [d["id"] for d in found]

    assert ids(at, at) == []
    assert ids(at, at + 1) == same
    assert not set(same) & set(ids(at - 60_000, at))


def test_detections_pages_limit_and_array_forms(demo_emulator: Emulator, cast: Cast,
                                                det_window: tuple[int, int]) -> None:
    emu = demo_emulator
    params = {"start": iso(det_window[0]), "end": iso(det_window[1]), "min_confidence": "0"}
    full = get(emu, "/detections", params).json()
    pages: list[dict[str, Any]] = []
    for offset in range(0, len(full) + 9, 9):
        pages.extend(get(emu, "/detections", {**params, "limit": 9, "offset": offset}).json())
    assert pages == full
    too_many = get(emu, "/detections", {**params, "limit": 1001})
    assert too_many.status_code == 400
    assert too_many.json() == {"message": "Validation errors: Parameter 'limit' is larger than "
                               "the max 1000.", "error": {"status": 400}}
    assert len(get(emu, "/detections", {**params, "limit": "3abc"}).json()) == min(3, len(full))
    values = sorted({d["classification"]["value"] for d in full})[:2]
    base = list(params.items())
    bracketed = get(emu, "/detections", base + [("classifications[]", v) for v in values]).json()
    repeated = get(emu, "/detections", base + [("classifications", v) for v in values]).json()
    assert bracketed == repeated == [d for d in full if d["classification"]["value"] in values]
    single = get(emu, "/detections", [*base, ("classifications", values[0])]).json()
    single_b = get(emu, "/detections", [*base, ("classifications[]", values[0])]).json()
    assert single == single_b == [d for d in full if d["classification"]["value"] == values[0]]
    assert single


def test_detections_fields(demo_emulator: Emulator, det_window: tuple[int, int]) -> None:
    params = [("start", iso(det_window[0])), ("end", iso(det_window[1])), ("limit", "5"),
              ("fields[]", "id"), ("fields[]", "confidence"), ("fields[]", "classifier_id")]
    body = get(demo_emulator, "/detections", params).json()
    assert body
    for d in body:
        assert set(d) == {"id", "confidence", "classifier_id", "classification"}
        assert isinstance(d["id"], str) and isinstance(d["classifier_id"], int)


def test_detections_public_streams_rules(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    rows = detections_sql(emu, [cast.public_other], 0, 2**62)
    assert rows, "the public stream of another user needs confident detections"
    start, end = rows[0]["start"], rows[min(len(rows) - 1, 20)]["start"] + 1
    window = {"start": iso(start), "end": iso(end)}
    default = get(emu, "/detections", window).json()
    assert all(d["stream_id"] != cast.public_other for d in default)
    explicit = get(emu, "/detections", {**window, "streams[]": cast.public_other}).json()
    assert [d["id"] for d in explicit] == [str(r["id"]) for r in rows if r["start"] < end]
    # a private stream of someone else is dropped silently: 200 and nothing from it
    private = get(emu, "/detections", {**WIDE, "streams": cast.private_other, "limit": 10})
    assert private.status_code == 200 and private.json() == []
    system = get(emu, "/detections", {**WIDE, "streams": cast.private_other, "limit": 10,
                                      "min_confidence": 0}, token="system").json()
    assert len(system) == min(10, len(detections_sql(emu, [cast.private_other], 0, 2**62, 0)))


def test_detections_filters(demo_emulator: Emulator, cast: Cast,
                            det_window: tuple[int, int]) -> None:
    emu = demo_emulator
    start, end = det_window[0], det_window[0] + 7 * 86_400_000
    readable = sorted(cast.readable)
    rows = sql(emu, f"SELECT d.id, d.classifier_id, d.classifier_job_id, d.review_status, "
                    f"s.project_id FROM detections d JOIN streams s ON s.id = d.stream_id "
                    f"WHERE d.stream_id IN ({marks(readable)}) AND d.start >= ? AND d.start < ? "
                    f"ORDER BY d.start, d.id", [*readable, start, end])
    base = [("start", iso(start)), ("end", iso(end)), ("min_confidence", "0")]

    def ids(*extra: tuple[str, str]) -> list[str]:
        resp = get(emu, "/detections", [*base, *extra])
        assert resp.status_code == 200, resp.text
        return [d["id"] for d in resp.json()]

    def expect(keep: Any) -> list[str]:
        return [str(r["id"]) for r in rows if keep(r)]

    confirmed = expect(lambda r: r["review_status"] == 1)
    assert confirmed and ids(("review_statuses[]", "confirmed")) == confirmed
    assert ids(("review_statuses", "unreviewed"), ("review_statuses", "rejected")) == expect(
        lambda r: r["review_status"] in (None, -1))
    classifier = rows[0]["classifier_id"]
    assert ids(("classifiers[]", str(classifier))) == expect(
        lambda r: r["classifier_id"] == classifier)
    job = rows[0]["classifier_job_id"]
    assert ids(("classifier_jobs", str(job))) == expect(lambda r: r["classifier_job_id"] == job)
    project = rows[0]["project_id"]
    assert ids(("projects[]", project)) == expect(lambda r: r["project_id"] == project)
    bad = get(emu, "/detections", [*base, ("review_statuses", "maybe")])
    assert bad.status_code == 400
    assert bad.json()["message"] == ("Validation errors: Parameter 'review_statuses' should be "
                                     "one of these values: unreviewed, rejected, uncertain, "
                                     "confirmed.")
    related = get(emu, "/detections", [*base, ("limit", "1"), ("fields[]", "stream"),
                                       ("fields[]", "classifier")]).json()[0]
    assert list(related["stream"]) == ["id", "name", "start", "end", "latitude", "longitude",
                                       "altitude", "is_public", "hidden"]
    assert list(related["classifier"]) == ["id", "name", "version", "last_executed_at"]


def test_detections_validation_matches_platform(demo_emulator: Emulator) -> None:
    resp = get(demo_emulator, "/detections")
    assert resp.status_code == 400
    assert resp.text == (SAMPLES / "detections_400.body").read_text(encoding="utf-8")
    bad = get(demo_emulator, "/detections", {**WIDE, "min_confidence": "high"})
    assert bad.json()["message"] == "Validation errors: Parameter 'min_confidence' should be a " \
                                    "float."


# -- annotations -------------------------------------------------------------------------------

def test_annotations_shape_interval_order_and_access(demo_emulator: Emulator,
                                                     cast: Cast) -> None:
    emu = demo_emulator
    readable = sorted(cast.readable)
    rows = sql(emu, f'SELECT a.id, a.stream_id, a.start, a."end", a.frequency_min, '
                    f"a.frequency_max, c.value FROM annotations a JOIN classifications c ON "
                    f"c.id = a.classification_id WHERE a.stream_id IN ({marks(readable)}) "
                    f"ORDER BY a.start, a.id", readable)
    assert len(rows) >= 3, "the demo world needs annotations"
    start, end = rows[0]["start"], rows[-1]["start"]
    body = get(emu, "/annotations", {"start": iso(start), "end": iso(end)}).json()
    assert [a["id"] for a in body] == [r["id"] for r in rows if r["start"] < end]
    first = body[0]
    assert list(first) == ["id", "stream_id", "start", "end", "frequency_min", "frequency_max",
                           "classification"]
    assert first["start"] == iso(rows[0]["start"]) and first["end"] == iso(rows[0]["end"])
    assert first["classification"]["value"] == rows[0]["value"]
    assert get(emu, "/annotations", {"start": iso(start), "end": iso(start)}).json() == []
    page = get(emu, "/annotations", {"start": iso(start), "end": iso(end), "limit": 2,
                                     "offset": 1}).json()
    assert page == body[1:3]
    stream = rows[0]["stream_id"]
    only = get(emu, "/annotations", {**WIDE, "stream_id": stream}).json()
    assert [a["id"] for a in only] == [r["id"] for r in rows if r["stream_id"] == stream]
    denied = get(emu, "/annotations", {**WIDE, "stream_id": cast.private_other})
    assert denied.status_code == 403
    assert denied.json() == {"message": "You do not have permission to access this stream.",
                             "error": {"status": 403}}
    assert get(emu, "/annotations", {**WIDE, "stream_id": "doesnotexist"}).status_code == 404
    assert get(emu, "/annotations").status_code == 400


# -- classifications and classifiers ---------------------------------------------------------

def test_classifications_keyword_levels_and_single(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    row = sql(emu, "SELECT id, value, title, type FROM classifications WHERE type = 'species' "
                   "ORDER BY id LIMIT 1")[0]
    keyword = row["title"].split()[0][:5]
    expected = sql(emu, "SELECT DISTINCT c.value FROM classifications c LEFT JOIN "
                        "classification_alternative_names n ON n.classification_id = c.id "
                        "WHERE c.title LIKE :k OR n.name LIKE :k", {"k": f"%{keyword}%"})
    body = get(emu, "/classifications", {"keyword": keyword, "limit": 1000}).json()
    assert {c["value"] for c in body} == {r["value"] for r in expected}
    assert list(body[0]) == ["value", "title", "image", "type", "alternative_names"]
    titles = [c["title"] for c in body]
    assert titles == sorted(titles)
    species = get(emu, "/classifications", [("keyword", keyword), ("levels[]", "species")])
    assert all(c["type"] == {"value": "species"} for c in species.json())
    assert get(emu, "/classifications", {"keyword": keyword,
                                         "levels": "characteristics"}).json() == []
    single = get(emu, f"/classifications/{row['value']}").json()
    assert single["id"] == row["id"] and single["type"] == {"value": row["type"]}
    assert list(single) == ["id", "value", "title", "image", "description", "frequency_min",
                            "frequency_max", "type", "alternative_names",
                            "reference_annotations"]


def test_classifier_upload(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    values = [r["value"] for r in sql(emu, "SELECT value FROM classifications ORDER BY id")
              if re.fullmatch(r"\w+", r["value"])][:2]
    url = emu.api_url + "/classifiers"
    auth = {"Authorization": f"Bearer {emu.token}"}
    model = b"\x1f\x8b fake model bytes"
    data = [("name", "frog net"), ("version", "3"),
            ("classification_values", f"{values[0]}"),
            ("classification_values", f"out_1:{values[1]}:0.25")]
    resp = requests.post(url, headers=auth, data=data,
                         files={"file": ("model.tar.gz", model, "text/plain")}, timeout=30)
    assert resp.status_code == 201
    assert resp.text == "Created"
    match = re.fullmatch(r"/classifiers/(\d+)", resp.headers["Location"])
    assert match
    cid = int(match.group(1))
    outputs = sql(emu, "SELECT c.value, o.output_class_name, o.ignore_threshold FROM "
                       "classifier_outputs o JOIN classifications c ON c.id = "
                       "o.classification_id WHERE o.classifier_id = ? ORDER BY o.rowid", [cid])
    assert outputs == [{"value": values[0], "output_class_name": values[0],
                        "ignore_threshold": 0.5},
                       {"value": values[1], "output_class_name": "out_1",
                        "ignore_threshold": 0.25}]
    row = sql(emu, "SELECT name, version FROM classifiers WHERE id = ?", [cid])[0]
    assert row == {"name": "frog net", "version": 3}

    def post(values: list[str], filename: str = "model.tar.gz") -> requests.Response:
        fields = [("name", "x"), ("version", "1")] + [("classification_values", v)
                                                      for v in values]
        return requests.post(url, headers=auth, data=fields, timeout=30,
                             files={"file": (filename, model, "text/plain")})

    refusals = [("a-b", "classification_values is invalid format"),
                ("no_such_value_xyz", 'Classification "no_such_value_xyz" does not exist')]
    for bad, message in refusals:
        failed = post([bad])
        assert failed.status_code == 400
        assert failed.json() == {"message": message, "error": {"status": 400}}
    assert post([values[0]], "model.zip").json()["message"] == "File must be .tar.gz"
    missing = requests.post(url, headers=auth, data={"version": "1"}, timeout=30)
    assert missing.status_code == 400
    assert "Parameter 'name' the parameter is required" in missing.json()["message"]
    assert requests.post(url, data=data, timeout=30).status_code == 401


# -- shapes and headers against responses recorded from the platform ---------------------------


def same_shape(ours: Any, theirs: Any, where: str = "") -> None:
    """Same keys in the same order and the same JSON types wherever both sides are non-null."""
    if ours is None or theirs is None:
        return
    assert type(ours) is type(theirs), f"{where}: {type(ours).__name__} vs {theirs!r}"
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), where
        for key in theirs:
            same_shape(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list) and ours and theirs:
        same_shape(ours[0], theirs[0], f"{where}[0]")


def recorded_header_names(name: str) -> set[str]:
    lines = (SAMPLES / f"{name}.headers").read_text(encoding="utf-8").splitlines()[1:]
    return {line.split(":", 1)[0] for line in lines if ":" in line}


def test_shapes_and_headers_match_recorded_responses(demo_emulator: Emulator,
                                                     cast: Cast) -> None:
    emu = demo_emulator
    public_project = get(emu, "/projects", {"only_public": "true"}).json()[0]["id"]
    seg = segments_of(emu, cast.own)[0]
    det = detections_sql(emu, sorted(cast.readable), 0, 2**62)[0]
    note = sql(emu, "SELECT stream_id, start FROM annotations ORDER BY start LIMIT 1")[0]
    requests_by_sample: dict[str, tuple[str, Params]] = {
        "projects_list": ("/projects", {"limit": 3}),
        "project_get": (f"/projects/{public_project}", None),
        "streams_list": ("/streams", {"limit": 2}),
        "stream_get": (f"/streams/{cast.own}", None),
        "segments_list": (f"/streams/{cast.own}/segments", {"start": iso(seg["start"]),
                                                           "end": iso(seg["end"])}),
        "segment_get": (f"/streams/{cast.own}/segments/{compact(seg['start'])}", None),
        "detections_list": ("/detections", {"start": iso(det["start"]), "limit": 3,
                                            "end": iso(det["start"] + 86_400_000)}),
        "annotations_list": ("/annotations", {"start": iso(note["start"]), "limit": 3,
                                              "end": iso(note["start"] + 86_400_000),
                                              "stream_id": note["stream_id"]}),
        "classifications_list": ("/classifications", {"keyword": "a", "limit": 3}),
        "classification_get": (f"/classifications/{det['value']}", None),
        "stream_404": ("/streams/doesnotexist", None),
        "stream_403": (f"/streams/{cast.private_other}", None),
    }
    for sample, (path, params) in requests_by_sample.items():
        resp = get(emu, path, params)
        recorded = json.loads((SAMPLES / f"{sample}.body").read_text(encoding="utf-8"))
        same_shape(resp.json(), recorded, sample)
        missing = recorded_header_names(sample) - set(resp.headers)
        assert not missing, (sample, missing)
        if "Total-Items" in recorded_header_names(sample) or "Total-Items" in resp.headers:
            assert "Total-Items" in recorded_header_names(sample), sample
    unauth = get(emu, "/projects", token=None)
    assert unauth.content == (SAMPLES / "unauth.body").read_bytes().strip()
    assert recorded_header_names("unauth") <= set(unauth.headers)


# -- error wording, as the platform's routes word it -------------------------------------------

def error(status: int, message: str) -> dict[str, Any]:
    return {"message": message, "error": {"status": status}}


def test_stream_permission_middleware_wording(demo_emulator: Emulator, cast: Cast) -> None:
    """``/streams/{id}/permissions`` goes through ``hasStreamPermission``, not the stream route."""
    emu = demo_emulator
    denied = get(emu, f"/streams/{cast.private_other}/permissions")
    assert denied.status_code == 403
    assert denied.json() == error(403, "You do not have permission to access this item.")
    missing = get(emu, "/streams/doesnotexist/permissions")
    assert missing.status_code == 404
    assert missing.json() == error(404, "stream with given id doesn't exist.")
    unknown = get(emu, "/annotations", {**WIDE, "stream_id": "doesnotexist"})
    assert unknown.json() == error(404, "stream with given id doesn't exist.")


def test_segment_routes_look_up_the_segment_first(demo_emulator: Emulator, cast: Cast) -> None:
    emu = demo_emulator
    for suffix in ("", "/file"):
        missing = get(emu, f"/streams/doesnotexist/segments/20240101T000000000Z{suffix}",
                      allow_redirects=False)
        assert missing.status_code == 404
        assert missing.json() == error(404, "Segment not found")
    seg = segments_of(emu, cast.private_other)[0]
    denied = get(emu, f"/streams/{cast.private_other}/segments/{compact(seg['start'])}/file",
                 allow_redirects=False)
    assert denied.status_code == 403 and denied.json() == FORBIDDEN


def test_classification_and_classifier_not_found_wording(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    value = get(emu, "/classifications/no_such_value")
    assert value.status_code == 404
    assert value.json() == error(404, "Classification with given value not found.")
    missing = get(emu, "/classifiers/987654321")
    assert missing.status_code == 404
    assert missing.json() == error(404, "Classifier with given id not found.")
    not_int = get(emu, "/classifiers/abc")
    assert not_int.status_code == 404 and not_int.json() == error(404, "Not Found")


@pytest.mark.parametrize(("path", "message"), [("/projects", "Failed getting projects"),
                                               ("/streams", "Failed getting streams")])
def test_bad_sort_is_the_route_500(demo_emulator: Emulator, path: str, message: str) -> None:
    resp = get(demo_emulator, path, {"sort": "no_such_column"})
    assert resp.status_code == 500 and resp.json() == error(500, message)


def test_detections_by_project_carry_their_stream(demo_emulator: Emulator, cast: Cast) -> None:
    """Upstream adds the stream include (lite attributes) whenever ``projects`` filters."""
    emu = demo_emulator
    project = sql(emu, "SELECT project_id FROM streams WHERE id = ?", [cast.own])[0]["project_id"]
    streams = {r["id"]: r for r in sql(emu, "SELECT * FROM streams WHERE project_id = ?",
                                       [project])}
    body = get(emu, "/detections", [*WIDE.items(), ("projects[]", project),
                                    ("limit", "20")]).json()
    assert body
    for row in body:
        assert list(row) == ["id", "stream_id", "start", "end", "confidence", "stream",
                             "classification"]
        stream = streams[row["stream_id"]]
        assert row["stream"] == {
            "id": stream["id"], "name": stream["name"], "start": iso(stream["start"]),
            "end": iso(stream["end"]), "latitude": stream["latitude"],
            "longitude": stream["longitude"], "altitude": stream["altitude"],
            "is_public": bool(stream["is_public"]), "hidden": bool(stream["hidden"])}
    plain = get(emu, "/detections", {**WIDE, "streams": cast.own, "limit": 1}).json()
    assert plain and "stream" not in plain[0]


def test_annotations_without_stream_are_members_only_even_for_system(
        demo_emulator: Emulator, cast: Cast) -> None:
    """Upstream lists the caller's own streams here (``getAccessibleObjectsIDs``), no bypass."""
    emu = demo_emulator
    system = user_id(emu, "system")
    own = readable_streams(emu, system)
    expected = sql(emu, f"SELECT id FROM annotations WHERE stream_id IN ({marks(sorted(own))})",
                   sorted(own))
    body = get(emu, "/annotations", WIDE, token="system").json()
    assert sorted(a["id"] for a in body) == sorted(r["id"] for r in expected)
    assert sql(emu, "SELECT count(*) AS n FROM annotations")[0]["n"] > len(body)


def test_classifiers_private_to_their_creator(fresh_emulator: Emulator) -> None:
    """Upstream reads a classifier only if public, the caller's own, or the caller is system."""
    emu = fresh_emulator
    resp = requests.post(f"{emu.api_url}/classifiers", timeout=30,
                         headers={"Authorization": f"Bearer {emu.tokens['other']}"},
                         files={"file": ("m.tar.gz", b"model", "application/gzip")},
                         data={"name": "zz-private", "version": "1",
                               "classification_values": sql(emu, "SELECT value FROM "
                                                                 "classifications LIMIT 1")[0]
                               ["value"]})
    assert resp.status_code == 201
    path = resp.headers["Location"]
    denied = get(emu, path)
    assert denied.status_code == 403 and denied.json() == FORBIDDEN
    assert get(emu, path, token="other").status_code == 200
    assert get(emu, path, token="system").status_code == 200
    public = sql(emu, "SELECT id, name, version FROM classifiers WHERE is_public = 1 "
                      "ORDER BY name, version DESC, id")
    assert public
    listed = get(emu, "/classifiers")
    assert listed.status_code == 200
    assert listed.json() == [dict(r) for r in public]
    mine = get(emu, "/classifiers", {"fields": ["id", "is_public"]}, token="other").json()
    assert mine[-1] == {"id": int(path.rsplit("/", 1)[1]), "is_public": False}
    assert len(get(emu, "/classifiers", token="system").json()) == len(public) + 1
