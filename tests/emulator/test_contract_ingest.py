"""The ingest service (contract §4.10): upload requests, pre-signed PUTs, processing.

Each test ingests real audio files into a fresh one-day world and follows them through
``GET /uploads/{id}`` into ``/streams/{id}/segments`` and the stored blobs.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import requests
import soundfile as sf

from rfcx_frames.emulator import Emulator, running
from tests.emulator.helpers import iso, sql

T0 = 1706745600000  # 2024-02-01T00:00:00Z: before the world's recordings, in the past
RATE = 8000


def auth(emu: Emulator, who: str = "demo") -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.tokens[who]}"}


def own_stream(emu: Emulator) -> str:
    """A stream of a project the demo user owns (so it holds the U permission)."""
    return str(sql(emu, "SELECT s.id FROM streams s JOIN projects p ON p.id = s.project_id "
                        "JOIN tokens t ON t.user_id = p.created_by_id WHERE t.token = ? "
                        "ORDER BY s.id LIMIT 1", [emu.token])[0]["id"])


def noise(seconds: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-8000, 8000, (int(seconds * RATE), channels), dtype=np.int16)


def wav_bytes(samples: np.ndarray, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, RATE, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def request_upload(emu: Emulator, stream: str, filename: str, timestamp: str,
                   who: str = "demo", **extra: str) -> requests.Response:
    form = {"filename": filename, "timestamp": timestamp, "stream": stream, **extra}
    return requests.post(emu.ingest_url, data=form, headers=auth(emu, who), timeout=30)


def upload_status(emu: Emulator, upload_id: str, who: str = "demo") -> requests.Response:
    return requests.get(f"{emu.ingest_url}/{upload_id}", headers=auth(emu, who), timeout=30)


def ingest(emu: Emulator, stream: str, filename: str, data: bytes, at_ms: int,
           **extra: str) -> tuple[str, list[int], dict[str, Any]]:
    """Upload ``data`` and wait for the outcome: id, statuses seen, final document."""
    resp = request_upload(emu, stream, filename, iso(at_ms), **extra)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    seen = [upload_status(emu, body["uploadId"]).json()["status"]]
    ext = filename.rsplit(".", 1)[-1]
    put = requests.put(body["url"], data=data, headers={"Content-Type": f"audio/{ext}"},
                       timeout=60)
    assert put.status_code == 200, put.text
    deadline = time.monotonic() + 30
    while True:
        doc = upload_status(emu, body["uploadId"]).json()
        if doc["status"] != seen[-1]:
            seen.append(doc["status"])
        if doc["status"] >= 20 or time.monotonic() > deadline:
            return body["uploadId"], seen, doc
        time.sleep(0.02)


def segments(emu: Emulator, stream: str, start: int, end: int) -> list[dict[str, Any]]:
    resp = requests.get(f"{emu.api_url}/streams/{stream}/segments", headers=auth(emu),
                        params={"start": iso(start), "end": iso(end)}, timeout=30)
    assert resp.status_code == 200
    body: list[dict[str, Any]] = resp.json()
    return body


def segment_bytes(emu: Emulator, stream: str, start_iso: str) -> bytes:
    resp = requests.get(f"{emu.api_url}/streams/{stream}/segments/{start_iso}/file",
                        headers=auth(emu), timeout=60)
    assert resp.status_code == 200
    return resp.content


def test_wav_upload_lifecycle_and_flac_storage(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    stream = own_stream(emu)
    samples = noise(3.0)
    resp = request_upload(emu, stream, "rec.wav", "2024-02-01T00:00:00Z")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) >= {"uploadId", "url", "path", "bucket"}
    assert re.fullmatch(r"[0-9a-f]{24}", body["uploadId"])
    assert body["path"] == f"{stream}/{body['uploadId']}.wav"
    assert isinstance(body["bucket"], str) and body["url"].startswith("http://127.0.0.1:")
    waiting = upload_status(emu, body["uploadId"]).json()
    assert waiting["status"] == 0 and waiting["_id"] == body["uploadId"]
    assert waiting["streamId"] == stream and waiting["originalFilename"] == "rec.wav"
    assert waiting["timestamp"] == iso(T0) and "failureMessage" not in waiting
    assert set(waiting) >= {"_id", "streamId", "userId", "status", "createdAt", "updatedAt",
                            "timestamp", "originalFilename", "__v"}
    # the URL signs "audio/wav": an AudioMoth-style upper-case type breaks the signature
    upper = requests.put(body["url"], data=wav_bytes(samples),
                         headers={"Content-Type": "audio/WAV"}, timeout=30)
    assert upper.status_code == 403 and b"SignatureDoesNotMatch" in upper.content
    assert upload_status(emu, body["uploadId"]).json()["status"] == 0

    for worker in emu.app.workers:  # a slower queue makes status 10 observable on any machine
        worker.delay_s = 1.0
    upload_id, seen, doc = ingest(emu, stream, "rec.wav", wav_bytes(samples), T0 + 3_600_000)
    assert seen == [0, 10, 20]
    assert "failureMessage" not in doc
    listed = segments(emu, stream, T0 + 3_600_000, T0 + 3_600_000)
    assert listed == [{"id": listed[0]["id"], "start": iso(T0 + 3_600_000),
                       "end": iso(T0 + 3_603_000), "file_extension": ".flac"}]
    stored = segment_bytes(emu, stream, listed[0]["start"])
    assert stored[:4] == b"fLaC"
    decoded, rate = sf.read(io.BytesIO(stored), dtype="int16")
    assert rate == RATE and np.array_equal(decoded, samples[:, 0])
    assert doc["_id"] == upload_id and doc["ingestionResult"]["segments"][0]["id"] == listed[0]["id"]


def test_long_files_split_into_minutes(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    stream = own_stream(emu)
    long_audio = noise(150.0, channels=2, seed=1)
    _, seen, _ = ingest(emu, stream, "long.wav", wav_bytes(long_audio), T0)
    assert seen[-1] == 20
    listed = segments(emu, stream, T0, T0 + 150_000)
    assert [(s["start"], s["end"]) for s in listed] == [
        (iso(T0), iso(T0 + 60_000)), (iso(T0 + 60_000), iso(T0 + 120_000)),
        (iso(T0 + 120_000), iso(T0 + 150_000))]
    parts = [sf.read(io.BytesIO(segment_bytes(emu, stream, s["start"])), dtype="int16",
                     always_2d=True)[0] for s in listed]
    assert [p.shape for p in parts] == [(480_000, 1), (480_000, 1), (240_000, 1)]
    mono = long_audio.astype(np.float64).mean(axis=1)
    assert np.abs(np.concatenate(parts)[:, 0] - mono).max() <= 1.0  # mixed down to mono
    # shorter than 120 s: a single segment, even beyond 60 s
    _, seen, _ = ingest(emu, stream, "short.flac", wav_bytes(noise(90.0, seed=2), "FLAC"),
                        T0 + 3_600_000)
    assert seen[-1] == 20
    single = segments(emu, stream, T0 + 3_600_000, T0 + 3_700_000)
    assert [(s["start"], s["end"]) for s in single] == [(iso(T0 + 3_600_000),
                                                         iso(T0 + 3_690_000))]
    detail = requests.get(f"{emu.api_url}/streams/{stream}", headers=auth(emu), timeout=30)
    assert detail.json()["start"] == iso(T0)  # the stream now starts at the ingested file


def test_failures_have_status_and_message(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    stream = own_stream(emu)
    _, seen, doc = ingest(emu, stream, "song.mp3", b"ID3\x03\x00fake mp3", T0)
    assert seen[-1] == 30 and doc["failureMessage"] == "File extension is not supported"
    data = wav_bytes(noise(2.0, seed=3))
    _, seen, doc = ingest(emu, stream, "a.wav", data, T0 + 60_000)
    assert seen[-1] == 20
    _, seen, doc = ingest(emu, stream, "b.wav", data, T0 + 120_000)
    assert seen[-1] == 31
    assert doc["failureMessage"] == "Duplicate file. Matching sha1 signature already ingested."
    _, seen, doc = ingest(emu, stream, "c.wav", wav_bytes(noise(2.0, seed=4)), T0 + 180_000,
                          checksum="0" * 40)
    assert seen[-1] == 32 and doc["failureMessage"] == "Checksum mismatch."
    # a request naming the checksum of a file already ingested is refused up front
    dup = request_upload(emu, stream, "d.wav", iso(T0 + 240_000),
                         checksum=hashlib.sha1(data).hexdigest())
    assert dup.status_code == 400 and dup.json()["message"] == "Duplicate."
    assert segments(emu, stream, T0 + 120_000, T0 + 180_000) == []


def test_request_validation_and_permissions(fresh_emulator: Emulator) -> None:
    emu = fresh_emulator
    stream = own_stream(emu)
    # The emulator judges "future" by its own clock, as the platform does.
    future = (datetime.now(timezone.utc) + timedelta(days=2)).strftime(  # clock-ok
        "%Y-%m-%dT%H:%M:%SZ")
    late = request_upload(emu, stream, "x.wav", future)
    assert late.status_code == 400
    assert late.json() == {"message": f"Future date upload: {future}", "error": {"status": 400}}
    early = request_upload(emu, stream, "x.wav", "1960-01-01T00:00:00Z")
    assert early.status_code == 400 and early.json()["message"].startswith("Past date upload")
    missing = requests.post(emu.ingest_url, data={"filename": "x.wav"}, headers=auth(emu),
                            timeout=30)
    assert missing.status_code == 400 and missing.json()["error"] == {"status": 400}
    for resp in (requests.post(emu.ingest_url, data={"filename": "x.wav", "stream": stream,
                                                     "timestamp": iso(T0)}, timeout=30),
                 requests.get(f"{emu.ingest_url}/{'0' * 24}", timeout=30),
                 requests.get(f"{emu.ingest_url}/{'0' * 24}",
                              headers={"Authorization": "Bearer nope"}, timeout=30)):
        assert resp.status_code == 401
        assert resp.content == b"Unauthorized" and "Content-Type" not in resp.headers
    # the other user is a guest (read only) on the demo user's project
    guest = request_upload(emu, stream, "x.wav", iso(T0), who="other")
    assert guest.status_code == 403
    upload_id = request_upload(emu, stream, "x.wav", iso(T0)).json()["uploadId"]
    foreign = upload_status(emu, upload_id, who="other")
    assert foreign.status_code == 403 and foreign.json()["error"] == {"status": 403}
    assert upload_status(emu, upload_id, who="system").status_code == 200
    unknown = upload_status(emu, "f" * 24)
    assert unknown.status_code == 404 and unknown.json()["error"] == {"status": 404}
    assert request_upload(emu, "doesnotexist", "x.wav", iso(T0)).status_code == 404


def test_restart_keeps_ingested_segments(tmp_path: Path) -> None:
    data_dir = tmp_path / "world"
    samples = noise(4.0, seed=5)
    with running(world="demo", data_dir=data_dir, days=1) as emu:
        stream = own_stream(emu)
        _, seen, _ = ingest(emu, stream, "keep.wav", wav_bytes(samples), T0)
        assert seen[-1] == 20
        before = segments(emu, stream, T0, T0 + 10_000)
        token = emu.token
    with running(world="demo", data_dir=data_dir, days=1) as again:
        assert again.token == token
        assert segments(again, stream, T0, T0 + 10_000) == before
        stored = segment_bytes(again, stream, before[0]["start"])
        decoded, _ = sf.read(io.BytesIO(stored), dtype="int16")
        assert np.array_equal(decoded, samples[:, 0])
