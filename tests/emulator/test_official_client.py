"""The official ``rfcx`` 0.3.1 client works against the emulator unchanged (contract §8).

The client reads its base URLs into module globals at import time, so they are patched in
place; authentication uses a pre-written ``.rfcx_credentials`` file (contract §2.1) in a
temporary working directory. Results are compared with SQL on the emulator's database.
"""

from __future__ import annotations

import gc
import re
import time
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import rfcx  # type: ignore[import-untyped]
import rfcx._api_auth  # type: ignore[import-untyped]
import rfcx._api_rfcx  # type: ignore[import-untyped]
import rfcx._authentication  # type: ignore[import-untyped]
import rfcx._classifiers  # type: ignore[import-untyped]
import rfcx._ingest  # type: ignore[import-untyped]
import soundfile as sf

from rfcx_frames.emulator import Emulator
from tests.emulator.helpers import iso, naive_utc, sql

T0 = 1706745600000  # 2024-02-01T00:00:00Z, before the world's recordings

# httplib2, under the official client, never closes its sockets: that is upstream's leak
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def write_credentials(folder: Path, token: str) -> None:
    # five lines, microseconds required, empty id token so the access token is sent
    text = f"version 1\n{token}\n\n2100-01-01T00:00:00.000000Z\n\n"
    (folder / ".rfcx_credentials").write_text(text, encoding="utf-8")


@pytest.fixture()
def pointed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Work in a temporary folder; the module globals are set per test by ``client``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTH0_CLIENT_SECRET", raising=False)
    yield
    gc.collect()  # release the client's leaked sockets while their warning is ignored


def connect(emu: Emulator, monkeypatch: pytest.MonkeyPatch, token: str | None = None) -> Any:
    """An authenticated official client aimed at ``emu``."""
    monkeypatch.setattr(rfcx._api_rfcx, "base_url", emu.api_url)
    monkeypatch.setattr(rfcx._classifiers, "base_url", emu.api_url)
    monkeypatch.setattr(rfcx._ingest, "upload_endpoint", emu.ingest_url)
    monkeypatch.setattr(rfcx._api_auth, "AUTH_DOMAIN", emu.auth_url)
    write_credentials(Path.cwd(), token or emu.token)
    client = rfcx.Client()
    client.authenticate()
    assert client.credentials.token == (token or emu.token)
    return client


def demo_id(emu: Emulator) -> int:
    return int(sql(emu, "SELECT user_id FROM tokens WHERE token = ?", [emu.token])[0]["user_id"])


def readable(emu: Emulator) -> list[str]:
    rows = sql(emu, "SELECT s.id FROM streams s LEFT JOIN projects p ON p.id = s.project_id "
                    "WHERE s.deleted_at IS NULL AND (s.created_by_id = :u OR p.created_by_id "
                    "= :u OR p.id IN (SELECT project_id FROM project_roles WHERE user_id = :u)) "
                    "ORDER BY s.id".replace(":u", str(demo_id(emu))))
    return [r["id"] for r in rows]


def flac_stream(emu: Emulator) -> str:
    """The readable FLAC stream with the lowest sample rate (cheapest to render)."""
    rows = sql(emu, "SELECT id FROM streams WHERE codec = 'flac' ORDER BY max_sample_rate, id")
    return next(r["id"] for r in rows if r["id"] in readable(emu))


def sdk_name(stream: str, start: str) -> str:
    """The local file stem the official client derives from a start time (contract §4.5)."""
    return stream + "_" + (start.replace(".000Z", "").replace("Z", "").replace(":", "-")
                           .replace(".", "-").replace("T", "_"))


@pytest.mark.usefixtures("pointed")
def test_projects_and_streams(demo_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emu = demo_emulator
    client = connect(emu, monkeypatch)
    uid = demo_id(emu)
    projects = client.projects()
    expected = sql(emu, "SELECT id, name, is_public, external_id FROM projects WHERE "
                        "deleted_at IS NULL AND (created_by_id = ? OR id IN (SELECT project_id "
                        "FROM project_roles WHERE user_id = ?)) ORDER BY id", [uid, uid])
    assert sorted(projects, key=lambda p: p["id"]) == [
        {**r, "is_public": bool(r["is_public"])} for r in expected]
    public = client.projects(only_public=True)
    assert {p["id"] for p in public} == {r["id"] for r in sql(
        emu, "SELECT id FROM projects WHERE is_public = 1 AND deleted_at IS NULL")}
    streams = client.streams()
    assert sorted(s["id"] for s in streams) == readable(emu)
    row = sql(emu, 'SELECT id, name, start, "end", max_sample_rate FROM streams WHERE id = ?',
              [streams[0]["id"]])[0]
    assert (streams[0]["name"], streams[0]["start"], streams[0]["end"]) == (
        row["name"], iso(row["start"]), iso(row["end"]))
    assert streams[0]["max_sample_rate"] == row["max_sample_rate"]
    only_public = client.streams(include_public=True)  # upstream: *only* public streams
    assert only_public and all(s["id"] not in readable(emu) for s in only_public)
    named = client.streams(name=streams[0]["name"].upper())
    assert [s["id"] for s in named] == [streams[0]["id"]]
    assert client.streams(created_by="collaborators") == []


@pytest.mark.usefixtures("pointed")
def test_stream_is_broken_upstream(demo_emulator: Emulator,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client = connect(demo_emulator, monkeypatch)
    with pytest.raises(TypeError, match="Credentials"):
        client.stream(readable(demo_emulator)[0])


@pytest.mark.usefixtures("pointed")
def test_segments_detections_annotations(demo_emulator: Emulator,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    emu = demo_emulator
    client = connect(emu, monkeypatch)
    stream = readable(emu)[0]
    segs = sql(emu, 'SELECT id, start, "end", file_extension FROM segments WHERE stream_id = ? '
                    "ORDER BY start LIMIT 40", [stream])
    lo, hi = segs[0]["start"], segs[-1]["start"]
    # datetimes go on the wire as str(datetime); BETWEEN includes both ends
    listed = client.stream_segments(stream, naive_utc(lo), naive_utc(hi), limit=1000)
    assert listed == [{"id": s["id"], "start": iso(s["start"]), "end": iso(s["end"]),
                       "file_extension": s["file_extension"]} for s in segs]
    page = client.stream_segments(stream, iso(lo), iso(hi), limit=10, offset=5)
    assert page == listed[5:15]

    day_lo, day_hi = lo, lo + 86_400_000
    rows = sql(emu, 'SELECT d.id, d.stream_id, d.start, d."end", d.confidence, c.value '
                    "FROM detections d JOIN classifications c ON c.id = d.classification_id "
                    "WHERE d.stream_id = ? AND d.start >= ? AND d.start < ? ORDER BY d.start, "
                    "d.id", [stream, day_lo, day_hi])

    def simple(found: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(d["id"], d["stream_id"], d["start"], d["end"], d["confidence"],
                 d["classification"]["value"]) for d in found]

    def expect(min_conf: float, values: set[str] | None = None) -> list[tuple[Any, ...]]:
        return [(str(r["id"]), r["stream_id"], iso(r["start"]), iso(r["end"]), r["confidence"],
                 r["value"]) for r in rows if r["confidence"] >= min_conf
                and (values is None or r["value"] in values)]

    found = client.detections(iso(day_lo), iso(day_hi), streams=[stream], limit=1000)
    assert simple(found) == expect(0.95) and found
    # min_confidence=0 is falsy, so the client drops it and the server default 0.95 applies
    assert simple(client.detections(iso(day_lo), iso(day_hi), streams=[stream],
                                    min_confidence=0, limit=1000)) == expect(0.95)
    loose = client.detections(iso(day_lo), iso(day_hi), streams=[stream], min_confidence=0.5,
                              limit=1000)
    assert simple(loose) == expect(0.5) and len(loose) > len(found)
    value = found[0]["classification"]["value"]
    assert simple(client.detections(iso(day_lo), iso(day_hi), classifications=[value],
                                    streams=[stream], limit=1000)) == expect(0.95, {value})
    with pytest.raises(Exception, match="<= 1000"):
        client.detections(iso(day_lo), iso(day_hi), limit=1001)

    notes = sql(emu, 'SELECT a.id, a.start, a."end", a.frequency_min, a.frequency_max, c.value '
                     "FROM annotations a JOIN classifications c ON c.id = a.classification_id "
                     "WHERE a.stream_id = ? ORDER BY a.start, a.id", [notes_stream := next(
                         s for s in readable(emu) if sql(emu, "SELECT 1 FROM annotations "
                                                              "WHERE stream_id = ?", [s]))])
    a_lo, a_hi = notes[0]["start"], notes[min(len(notes) - 1, 30)]["start"]
    got = client.annotations(iso(a_lo), iso(a_hi), stream=notes_stream, limit=1000)
    assert [(a["id"], a["start"], a["end"], a["frequency_min"], a["frequency_max"],
             a["classification"]["value"]) for a in got] == [
        (n["id"], iso(n["start"]), iso(n["end"]), n["frequency_min"], n["frequency_max"],
         n["value"]) for n in notes if n["start"] < a_hi]


@pytest.mark.usefixtures("pointed")
def test_classifications(demo_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emu = demo_emulator
    client = connect(emu, monkeypatch)
    row = sql(emu, "SELECT value, title FROM classifications WHERE type = 'species' ORDER BY id "
                   "LIMIT 1")[0]
    keyword = row["title"].split()[0]
    expected = sql(emu, "SELECT DISTINCT c.value FROM classifications c LEFT JOIN "
                        "classification_alternative_names n ON n.classification_id = c.id "
                        "WHERE c.title LIKE ? OR n.name LIKE ?", [f"%{keyword}%"] * 2)
    found = client.classifications(keyword)
    assert {c["value"] for c in found} == {r["value"] for r in expected}
    assert row["value"] in {c["value"] for c in found}
    names = sql(emu, "SELECT n.name, n.language_id FROM classification_alternative_names n JOIN "
                     "classifications c ON c.id = n.classification_id WHERE c.value = ? "
                     "ORDER BY n.rank, n.id", [row["value"]])
    mine = next(c for c in found if c["value"] == row["value"])
    assert mine["alternative_names"] == names and mine["title"] == row["title"]
    species = client.classifications(row["title"][:3], levels=["species"])
    assert species and all(c["type"]["value"] == "species" for c in species)
    assert client.classifications(row["title"], levels=["characteristics"]) == []


@pytest.mark.usefixtures("pointed")
def test_download_segment_and_segments(demo_emulator: Emulator,
                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    emu = demo_emulator
    client = connect(emu, monkeypatch)
    stream = flac_stream(emu)
    name = sql(emu, "SELECT name FROM streams WHERE id = ?", [stream])[0]["name"]
    seg = sql(emu, "SELECT id, start FROM segments WHERE stream_id = ? ORDER BY start LIMIT 1",
              [stream])[0]
    # a start string is passed through as it is (here with milliseconds)
    path = client.download_segment(stream, str(tmp_path / "one"), iso(seg["start"]), "flac")
    assert Path(path).name == sdk_name(stream, iso(seg["start"])) + ".flac"
    blob = emu.data_dir / "blobs" / f"{seg['id']}.flac"
    assert Path(path).read_bytes() == blob.read_bytes()
    assert sf.info(path).channels == 1
    # a datetime is sent without microseconds: fine for a segment on a whole second
    mine = readable(emu)
    whole = sql(emu, f"SELECT stream_id, id, start, file_extension FROM segments WHERE "
                     f"start % 1000 = 0 AND stream_id IN ({','.join('?' * len(mine))}) "
                     f"ORDER BY start LIMIT 1", mine)[0]
    path = client.download_segment(whole["stream_id"], str(tmp_path / "one"),
                                   naive_utc(whole["start"]), "wav")  # the client's default name
    blob = emu.data_dir / "blobs" / f"{whole['id']}{whole['file_extension']}"
    assert Path(path).name == sdk_name(whole["stream_id"], iso(whole["start"])) + ".wav"
    assert Path(path).read_bytes() == blob.read_bytes()  # bytes as stored: no conversion

    window = sql(emu, "SELECT id, start, file_extension FROM segments WHERE stream_id = ? AND "
                      "start >= ? ORDER BY start LIMIT 4", [stream, seg["start"]])
    lo = naive_utc(window[0]["start"]).replace(microsecond=0)
    hi = naive_utc(window[-1]["start"]).replace(microsecond=0)
    expected = [w for w in window if lo <= naive_utc(w["start"]) <= hi]
    client.download_segments(stream, str(tmp_path / "many"), lo, hi, file_ext="flac")
    folder = tmp_path / "many" / name
    saved = sorted(p.name for p in folder.iterdir())
    assert saved == sorted(sdk_name(stream, iso(w["start"])) + ".flac" for w in expected)
    for w in expected:
        data = (folder / (sdk_name(stream, iso(w["start"])) + ".flac")).read_bytes()
        assert data == (emu.data_dir / "blobs" / f"{w['id']}.flac").read_bytes()


@pytest.mark.usefixtures("pointed")
def test_ingest_file_and_check_ingest(fresh_emulator: Emulator,
                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    emu = fresh_emulator
    client = connect(emu, monkeypatch)
    stream = sql(emu, "SELECT s.id FROM streams s JOIN projects p ON p.id = s.project_id "
                      "WHERE p.created_by_id = ? ORDER BY s.id LIMIT 1", [demo_id(emu)])[0]["id"]
    samples = np.random.default_rng(7).integers(-9000, 9000, 3 * 16000, dtype=np.int16)
    wav = tmp_path / "rec.wav"
    sf.write(wav, samples, 16000, subtype="PCM_16")
    upload_id = client.ingest_file(stream, str(wav), naive_utc(T0))
    assert re.fullmatch(r"[0-9a-f]{24}", upload_id)
    status = wait_ingest(client, upload_id)
    assert status == (20, "INGESTED", None)
    rows = sql(emu, 'SELECT s.id, s.start, s."end", s.file_extension, s.sample_count FROM '
                    "segments s WHERE s.stream_id = ? AND s.start = ?", [stream, T0])
    assert [(r["end"], r["file_extension"], r["sample_count"]) for r in rows] == [
        (T0 + 3000, ".flac", samples.size)]
    stored, rate = sf.read(emu.data_dir / "blobs" / f"{rows[0]['id']}.flac", dtype="int16")
    assert rate == 16000 and np.array_equal(stored, samples)

    mp3 = tmp_path / "song.mp3"
    mp3.write_bytes(b"ID3\x03\x00 not really audio")
    failed = wait_ingest(client, client.ingest_file(stream, str(mp3), naive_utc(T0 + 60_000)))
    assert failed == (30, "FAILED", "File extension is not supported")
    # AudioMoth names end in .WAV: the client sends audio/WAV, which the signed URL refuses
    moth = tmp_path / "20240201_000200.WAV"
    moth.write_bytes(wav.read_bytes())
    with pytest.raises(requests.HTTPError) as info:
        client.ingest_file(stream, str(moth), naive_utc(T0 + 120_000))
    assert info.value.response.status_code == 403
    assert "Failed to upload file" in getattr(info.value, "__notes__", [])


def wait_ingest(client: Any, upload_id: str) -> tuple[int, str, str | None]:
    """Poll ``check_ingest`` without its 5 s sleep until the upload is processed."""
    for _ in range(500):
        status: tuple[int, str, str | None] = client.check_ingest(upload_id)
        if status[0] >= 20:
            return status
        time.sleep(0.02)
    raise AssertionError(f"upload {upload_id} still at status {status}")


@pytest.mark.usefixtures("pointed")
def test_upload_classifier(fresh_emulator: Emulator, monkeypatch: pytest.MonkeyPatch,
                           tmp_path: Path) -> None:
    emu = fresh_emulator
    client = connect(emu, monkeypatch)
    values = [r["value"] for r in sql(emu, "SELECT value FROM classifications WHERE type = "
                                           "'species' ORDER BY id") if re.fullmatch(r"\w+",
                                                                                    r["value"])]
    model = tmp_path / "my-model.tar.gz"
    model.write_bytes(b"\x1f\x8b\x08\x00 pretend tarball")
    cid = client.upload_classifier(str(model), "coqui detector", 2,
                                   [values[0], f"call_b:{values[1]}:0.75"])
    assert isinstance(cid, int)
    row = sql(emu, "SELECT name, version, model_url FROM classifiers WHERE id = ?", [cid])[0]
    assert (row["name"], row["version"]) == ("coqui detector", 2)
    assert row["model_url"].endswith(".tar.gz")
    outputs = sql(emu, "SELECT c.value, o.output_class_name, o.ignore_threshold FROM "
                       "classifier_outputs o JOIN classifications c ON c.id = "
                       "o.classification_id WHERE o.classifier_id = ? ORDER BY o.rowid", [cid])
    assert outputs == [
        {"value": values[0], "output_class_name": values[0], "ignore_threshold": 0.5},
        {"value": values[1], "output_class_name": "call_b", "ignore_threshold": 0.75}]
    with pytest.raises(requests.HTTPError):
        client.upload_classifier(str(model), "bad", 1, ["not-a-valid-name"])


@pytest.mark.usefixtures("pointed")
def test_machine_and_device_login(fresh_emulator: Emulator,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    emu = fresh_emulator
    monkeypatch.setattr(rfcx._api_rfcx, "base_url", emu.api_url)
    monkeypatch.setattr(rfcx._api_auth, "AUTH_DOMAIN", emu.auth_url)
    monkeypatch.setenv("AUTH0_CLIENT_ID", "machine-client")
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", emu.client_secret)
    machine = rfcx.Client()
    machine.authenticate()
    assert machine.projects()  # the client-credentials token works on the API
    monkeypatch.delenv("AUTH0_CLIENT_SECRET")

    def no_browser(*args: object, **kwargs: object) -> None:
        raise webbrowser.Error("no browser in tests")

    monkeypatch.setattr(rfcx._authentication.webbrowser, "get", no_browser)
    user = rfcx.Client()
    user.authenticate()  # device code flow: polls until the emulated user approves
    assert user.credentials.id_object["email"]
    assert user.projects() == rfcx.Client.projects(connect_as(user, emu))
    lines = Path(".rfcx_credentials").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and lines[0] == "version 1" and lines[4] == user.credentials.id_token
    again = rfcx.Client()
    again.authenticate()  # from the persisted file, no network
    assert again.credentials.token == user.credentials.id_token


def connect_as(user: Any, emu: Emulator) -> Any:
    """The demo user's view, to compare with what the device login sees."""
    other = rfcx.Client()
    other.credentials = type(user.credentials)(emu.token, user.credentials.token_expiry)
    return other


def test_environment_variables_alone_point_the_official_client(fresh_emulator: Emulator,
                                                               tmp_path: Path) -> None:
    """A fresh process with only RFCX_API_URL/RFCX_INGEST_URL set and a credentials file."""
    import json
    import os
    import subprocess
    import sys
    import textwrap

    write_credentials(tmp_path, fresh_emulator.token)
    wav = tmp_path / "field.wav"
    import numpy as np
    import soundfile as sf

    sf.write(wav, (np.random.default_rng(7).standard_normal(24000 * 5) * 0.05).astype("float32"),
             24000)
    stream = flac_stream(fresh_emulator)
    script = textwrap.dedent(f"""
        import datetime, json, time
        import rfcx
        client = rfcx.Client()
        client.authenticate()
        out = {{}}
        out["projects"] = sorted(p["id"] for p in client.projects())
        out["detections"] = len(client.detections(min_date="2024-03-01T00:00:00Z",
                                                  max_date="2024-03-02T00:00:00Z",
                                                  min_confidence=0.5, limit=1000))
        upload = client.ingest_file({stream!r}, {str(wav)!r}, datetime.datetime(2024, 2, 1, 6))
        for _ in range(100):
            status = client.check_ingest(upload)
            if status[0] >= 20:
                break
            time.sleep(0.1)
        out["ingest"] = list(status)
        print(json.dumps(out))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RFCX_", "AUTH0_"))}
    env.update(RFCX_API_URL=fresh_emulator.api_url, RFCX_INGEST_URL=fresh_emulator.ingest_url)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = sorted(r["id"] for r in sql(
        fresh_emulator, "SELECT id FROM projects WHERE created_by_id = 1 OR id IN "
        "(SELECT project_id FROM project_roles WHERE user_id = 1)"))
    assert out["projects"] == expected
    assert out["detections"] > 0
    assert out["ingest"][:2] == [20, "INGESTED"]
