"""Seed-parity methods over real HTTP, settings resolution and bad input."""

from __future__ import annotations

import datetime as dt
import io
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from rfcx_frames import AuthenticationError, Client, NotFoundError
from rfcx_frames.emulator import Emulator

START, END = "2024-03-01", "2024-04-01"


def test_settings_from_arguments_then_environment_then_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RFCX_API_URL", "RFCX_INGEST_URL", "RFCX_TOKEN", "RFCX_AUTH_URL"):
        monkeypatch.delenv(name, raising=False)
    c = Client()
    assert (c.api_url, c.ingest_url, c.auth_url) == (
        "https://api.rfcx.org", "https://ingest.rfcx.org/uploads", "https://auth.rfcx.org")
    assert not c.authenticated
    monkeypatch.setenv("RFCX_API_URL", "http://env-api/")
    monkeypatch.setenv("RFCX_INGEST_URL", "http://env-ingest")
    monkeypatch.setenv("RFCX_TOKEN", "env-token-value")
    c = Client()
    assert (c.api_url, c.ingest_url) == ("http://env-api", "http://env-ingest/uploads")
    assert c.authenticated and "env-token-value" not in repr(c)
    c = Client(api_url="http://arg", ingest_url="http://arg/uploads", token="arg-token")
    assert (c.api_url, c.ingest_url) == ("http://arg", "http://arg/uploads")
    assert "arg-token" not in repr(c) and "http://arg" in repr(c)
    with pytest.raises(ValueError, match="max_workers"):
        Client(max_workers=0)


def test_no_token_raises_authentication_error(
        demo_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RFCX_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    c = Client(api_url=demo_emulator.api_url, progress=False)
    with pytest.raises(AuthenticationError, match="authenticate"):
        c.projects()


def test_projects_and_streams(client: Client, demo_emulator: Emulator) -> None:
    projects = client.projects()
    assert projects and set(projects[0]) == {"id", "name", "is_public", "external_id"}
    assert len(client.projects(limit=1)) == 1
    assert client.projects(keyword="zzz-no-match") == []
    own = client.streams()
    assert {s["id"] for s in own} == {s for s in client.streams_df()["id"]}
    assert "timezone" in own[0] and "created_by" in own[0]
    with_public = client.streams(include_public=True)
    public_ids = {s["id"] for s in with_public} - {s["id"] for s in own}
    assert public_ids and {s["id"] for s in own} <= {s["id"] for s in with_public}
    assert all(s["is_public"] or (s["project"] or {}).get("is_public")
               for s in with_public if s["id"] in public_ids)
    assert len({s["id"] for s in with_public}) == len(with_public)
    assert next(s["name"] for s in client.streams(fields=["name"], limit=2))


def test_stream_works(client: Client) -> None:
    sid = client.streams_df()["id"][0]
    stream = client.stream(sid)
    assert stream["id"] == sid and stream["timezone"]
    with pytest.raises(TypeError, match="stream_id"):
        client.stream()
    with pytest.raises(NotFoundError):
        client.stream("nosuchstream")


def test_stream_segments_detections_annotations(client: Client) -> None:
    sid = client.streams_df()["id"][0]
    segments = client.stream_segments(sid, dt.datetime(2024, 3, 1), END, limit=5)
    assert len(segments) == 5
    assert segments[0]["file_extension"].startswith(".")
    assert client.stream_segments(sid, START, END, limit=5, offset=5)[0] != segments[0]
    # the seed's default window (the last 30 days) is kept: no 2024 data there
    assert client.stream_segments(sid) == []
    strict = client.detections(START, "2024-03-02", limit=1000)
    everything = client.detections(START, "2024-03-02", min_confidence=0, limit=1000)
    assert min(d["confidence"] for d in strict) >= 0.95
    assert min(d["confidence"] for d in everything) < 0.95
    assert isinstance(everything[0]["id"], str) and "classification" in everything[0]
    one = client.detections(START, END, streams=sid, min_confidence=0, limit=3)
    assert len(one) == 3 and {d["stream_id"] for d in one} == {sid}
    annotations = client.annotations(START, END, stream=sid, limit=4)
    assert len(annotations) == 4 and {a["stream_id"] for a in annotations} == {sid}
    assert "frequency_min" in annotations[0]


def test_classifications(client: Client) -> None:
    everything = client.classifications(None)
    assert len(everything) >= 30
    species = client.classifications("a", levels=["species"], limit=5)
    assert 0 < len(species) <= 5
    assert {c["type"]["value"] for c in species} == {"species"}


def _flac(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.1 * np.sin(2 * np.pi * 440 * t), rate, format="FLAC")
    return path


def test_ingest_file_and_check_ingest(fresh_emulator: Emulator, tmp_path: Path) -> None:
    with fresh_emulator.client(progress=False) as c:
        sid = c.streams_df()["id"][0]
        path = _flac(tmp_path / "20240301_060000.FLAC")
        upload_id = c.ingest_file(sid, path, dt.datetime(2024, 3, 1, 6, 0, 0))
        status, name, failure = c.check_ingest(upload_id, wait_for_completion=True,
                                               timeout=60, poll_interval=0.2)
        assert (status, name, failure) == (20, "INGESTED", None)
        segs = c.segments_df(sid, "2024-03-01T06:00:00", "2024-03-01T06:00:01")
        assert len(segs) == 1
        # a ticket whose file never arrives stays WAITING: the wait is bounded
        ticket = c.session.request(
            "POST", c.ingest_url, parse=lambda r: r.json(),
            data={"filename": "x.flac", "timestamp": "2024-03-01T07:00:00Z", "stream": sid})
        assert c.check_ingest(ticket["uploadId"])[:2] == (0, "WAITING")
        with pytest.raises(TimeoutError, match="WAITING"):
            c.check_ingest(ticket["uploadId"], wait_for_completion=True, timeout=0.5,
                           poll_interval=0.2)
        with pytest.raises(NotFoundError):
            c.check_ingest("0" * 24)
        with pytest.raises(FileNotFoundError):
            c.ingest_file(sid, tmp_path / "missing.flac", "2024-03-01")


def test_upload_classifier(fresh_emulator: Emulator, tmp_path: Path) -> None:
    model = tmp_path / "model.tar.gz"
    with tarfile.open(model, "w:gz") as tar:
        data = b"weights"
        info = tarfile.TarInfo("saved_model.pb")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with fresh_emulator.client(progress=False) as c:
        value = c.classifications(None, limit=1)[0]["value"]
        new_id = c.upload_classifier(model, "birds", 3, [f"song:{value}:0.4", value])
        assert isinstance(new_id, int)
        row = fresh_emulator.store.query("SELECT name, version FROM classifiers WHERE id = ?",
                                         (new_id,))
        assert tuple(row[0]) == ("birds", 3)
        from rfcx_frames import ValidationError

        with pytest.raises(ValidationError, match="classification"):
            c.upload_classifier(model, "bad", 1, ["no-such-thing"])


@pytest.mark.parametrize(("call", "match"), [
    (lambda c: c.detections_df("2024-03-02", "2024-03-01"), r"start .* is after end"),
    (lambda c: c.detections_df("not a date", "2024-03-01"), "start"),
    (lambda c: c.annotations_df("2024-03-01", "31/02/2024x"), "end"),
    (lambda c: c.segments_df("abc", "2024-03-05", "2024-03-01"), "start"),
    (lambda c: c.detections_df(START, END, review_statuses=["maybe"]), "review_statuses"),
    (lambda c: c.detections_df(START, END, min_confidence=1.5), "min_confidence"),
    (lambda c: c.detections_df(START, END, min_confidence=-0.1), "min_confidence"),
    (lambda c: c.detections(START, END, limit=1001), "limit"),
    (lambda c: c.detections(START, END, limit=0), "limit"),
    (lambda c: c.annotations(START, END, limit=5000), "limit"),
    (lambda c: c.stream_segments("abc", START, END, limit=0), "limit"),
    (lambda c: c.projects(limit=1001), "limit"),
    (lambda c: c.streams(limit=-1), "limit"),
    (lambda c: c.classifications(None, limit=2000), "limit"),
    (lambda c: c.detections("2024-03-02", "2024-03-01"), "min_date"),
    (lambda c: c.projects(offset=-1), "offset"),
    (lambda c: c.detections_df(START, 12345.0), "end"),
])
def test_bad_input_raises_value_error(client: Client, call: Any, match: str) -> None:
    before = client.session.requests_sent
    with pytest.raises(ValueError, match=match):
        call(client)
    assert client.session.requests_sent == before


@pytest.mark.parametrize(("call", "match"), [
    (lambda c: c.detections_df(None, END), "start"),
    (lambda c: c.detections_df(START, END, streams=5), "streams"),
    (lambda c: c.detections_df(START, END, classifiers=["x"]), "classifiers"),
    (lambda c: c.detections_df(START, END, descending="yes"), "descending"),
    (lambda c: c.detections(START, END, limit=10.5), "limit"),
    (lambda c: c.segments_df(None, START, END), "stream"),
])
def test_bad_input_raises_type_error(client: Client, call: Any, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        call(client)
