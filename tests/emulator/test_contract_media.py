"""The media route ``/internal/assets/streams/{name}`` (contract §4.5, media assets).

Windows of at most 15 minutes, mono, at the highest sample rate of the segments, with gaps
padded by silence and reported one ``RFCx-Stream-Gaps`` header line per gap.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import soundfile as sf

from rfcx_frames.emulator import Emulator
from tests.emulator.helpers import sql, utc

# responses recorded from the platform's server: a vendored copy if the project has one
SAMPLES = Path(__file__).parents[1] / "data" / "real_api_samples"
MINUTE = 60_000


def compact(ms: int) -> str:
    return utc(ms).strftime("%Y%m%dT%H%M%S") + f"{ms % 1000:03d}Z"


def js_date(ms: int) -> str:
    """JavaScript ``Date.toString()`` in UTC, as the platform leaks it into the gaps header."""
    return utc(ms).strftime("%a %b %d %Y %H:%M:%S") + " GMT+0000 (Coordinated Universal Time)"


def name(stream: str, start: int, end: int, fmt: str = "wav", ext: str | None = None,
         gain: str = "1") -> str:
    return f"{stream}_t{compact(start)}.{compact(end)}_rfull_g{gain}_f{fmt}.{ext or fmt}"


def fetch(emu: Emulator, asset: str, token: str | None = "demo") -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {emu.tokens[token]}"}
    return requests.get(f"{emu.api_url}/internal/assets/streams/{asset}", headers=headers,
                        timeout=120)


def segments(emu: Emulator, stream: str) -> list[dict[str, Any]]:
    return sql(emu, 'SELECT s.id, s.start, s."end", s.file_extension, f.sample_rate FROM '
                    "segments s JOIN stream_source_files f ON f.id = s.stream_source_file_id "
                    "WHERE s.stream_id = ? ORDER BY s.start", [stream])


def readable(emu: Emulator) -> list[str]:
    uid = sql(emu, "SELECT user_id FROM tokens WHERE token = ?", [emu.token])[0]["user_id"]
    rows = sql(emu, "SELECT s.id FROM streams s LEFT JOIN projects p ON p.id = s.project_id "
                    "WHERE s.deleted_at IS NULL AND (s.created_by_id = :u OR s.id IN "
                    "(SELECT stream_id FROM stream_roles WHERE user_id = :u) OR p.created_by_id "
                    "= :u OR p.id IN (SELECT project_id FROM project_roles WHERE user_id = :u)) "
                    "ORDER BY s.max_sample_rate, s.id", {"u": uid})  # cheapest audio first
    return [r["id"] for r in rows]


def flac_boundary(emu: Emulator) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Two contiguous FLAC segments of one readable stream with the same sample rate."""
    for stream in readable(emu):
        segs = segments(emu, stream)
        for a, b in itertools.pairwise(segs):
            if (a["end"] == b["start"] and a["file_extension"] == b["file_extension"] == ".flac"
                    and a["sample_rate"] == b["sample_rate"]
                    and b["end"] - b["start"] == MINUTE):
                return stream, a, b
    raise AssertionError("the demo world needs contiguous FLAC segments")


def run_end(emu: Emulator) -> tuple[str, dict[str, Any], int]:
    """A segment after which the stream is silent for at least a minute, and the next start."""
    for stream in readable(emu):
        segs = segments(emu, stream)
        for a, b in zip(segs, [*segs[1:], None], strict=True):
            following = b["start"] if b else a["end"] + 10 * MINUTE
            if following - a["end"] >= MINUTE and a["end"] - a["start"] >= 30_000:
                return stream, a, following
    raise AssertionError("the demo world needs a gap in a recording")


def decode(content: bytes) -> tuple[np.ndarray, int, int]:
    data, rate = sf.read(io.BytesIO(content), dtype="int16", always_2d=True)
    return data[:, 0], int(rate), int(data.shape[1])


def test_window_across_two_segments_is_their_audio(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, a, b = flac_boundary(emu)
    start, end = b["start"] - 20_000, b["start"] + 40_000
    asset = name(stream, start, end)
    resp = fetch(emu, asset)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "audio/wav"
    assert resp.headers["Content-Disposition"] == f"attachment; filename={asset}"
    assert resp.headers["Accept-Ranges"] == f"bytes 0-{len(resp.content) - 1}/{len(resp.content)}"
    assert "RFCx-Stream-Gaps" not in resp.headers
    recorded = (SAMPLES / "asset_wav.headers").read_text(encoding="utf-8").splitlines()[1:]
    assert {line.split(":", 1)[0] for line in recorded if ":" in line} <= set(resp.headers)
    samples, rate, channels = decode(resp.content)
    assert channels == 1 and rate == a["sample_rate"]
    assert samples.size == (end - start) * rate // 1000
    blobs = []
    for seg in (a, b):
        stored = requests.get(f"{emu.api_url}/streams/{stream}/segments/{compact(seg['start'])}"
                              "/file", headers={"Authorization": f"Bearer {emu.token}"},
                              timeout=60)
        blobs.append(decode(stored.content)[0])
    joined = np.concatenate(blobs)
    first = (start - a["start"]) * rate // 1000
    assert np.array_equal(samples, joined[first:first + samples.size])


def test_gaps_are_silent_and_reported(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, seg, following = run_end(emu)
    start, end = seg["end"] - 20_000, seg["end"] + 30_000
    assert end <= following
    resp = fetch(emu, name(stream, start, end))
    assert resp.status_code == 200, resp.text
    lines = resp.raw.headers.getlist("RFCx-Stream-Gaps")
    assert lines == [f"{js_date(seg['end'])},{end}"]
    assert "RFCx-Stream-Gaps" in resp.headers["Access-Control-Expose-Headers"]
    samples, rate, channels = decode(resp.content)
    assert channels == 1
    split = (seg["end"] - start) * rate // 1000
    assert np.count_nonzero(samples[:split]) > split // 2  # recorded noise
    # padded silence; the segment's last sample may land on the gap's first (sample grid)
    assert not samples[split + 1:].any()
    # a window lying wholly inside the gap has no audio at all
    inside = fetch(emu, name(stream, seg["end"] + 10_000, seg["end"] + 20_000))
    assert inside.status_code == 404


def holes_in(segs: list[dict[str, Any]], start: int, end: int) -> list[tuple[int, int]]:
    """Parts of ``[start, end)`` that no segment covers."""
    holes, cursor = [], start
    for s in segs:
        if s["end"] <= start or s["start"] >= end:
            continue
        if s["start"] > cursor:
            holes.append((cursor, s["start"]))
        cursor = max(cursor, min(s["end"], end))
    if cursor < end:
        holes.append((cursor, end))
    return holes


def session_with_dropped_minute(emu: Emulator) -> tuple[str, list[dict[str, Any]], int, int]:
    """A window from just before a session's start to just after its first dropped minute."""
    for stream in readable(emu):
        segs = segments(emu, stream)
        for i in range(1, len(segs) - 1):
            if segs[i]["start"] - segs[i - 1]["end"] < MINUTE:
                continue  # not the first segment of a session
            inner = [b for a, b in itertools.pairwise(segs[i:i + 4]) if b["start"] > a["end"]]
            if inner and inner[0]["start"] - segs[i]["start"] <= 3 * MINUTE:
                return stream, segs, segs[i]["start"] - 10_000, inner[0]["start"] + 10_000
    raise AssertionError("the demo world needs a dropped minute early in a session")


def test_leading_and_inner_gaps_are_silent_and_reported(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, segs, start, end = session_with_dropped_minute(emu)
    holes = holes_in(segs, start, end)
    assert len(holes) == 2 and holes[0][0] == start
    resp = fetch(emu, name(stream, start, end, "flac"))
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] == "audio/flac"
    # one header line per gap (exact text: see test_gap_lines_use_the_platform_formats)
    lines = resp.raw.headers.getlist("RFCx-Stream-Gaps")
    assert len(lines) == len(holes)
    assert all(str(b) in line or js_date(b) in line for line, (_, b) in zip(lines, holes,
                                                                          strict=True))
    samples, rate, channels = decode(resp.content)
    assert channels == 1 and samples.size == (end - start) * rate // 1000
    for a, b in holes:  # silence inside each gap, give or take a boundary sample
        assert not samples[(a - start) * rate // 1000 + 1:(b - start) * rate // 1000 - 1].any()


def test_fifteen_minutes_is_the_limit(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, seg, _ = run_end(emu)
    start = seg["start"]
    ok = fetch(emu, name(stream, start, start + 15 * MINUTE, "flac"))
    assert ok.status_code == 200, ok.text
    samples, rate, channels = decode(ok.content)
    assert channels == 1 and samples.size == 15 * 60 * rate
    too_long = fetch(emu, name(stream, start, start + 15 * MINUTE + 1, "flac"))
    assert too_long.status_code == 400
    assert too_long.json()["error"] == {"status": 400}


def test_no_audio_is_404_like_the_platform(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream = readable(emu)[0]
    far = 978307200000  # 2001-01-01, long before any world recording
    resp = fetch(emu, name(stream, far, far + MINUTE))
    assert resp.status_code == 404
    assert resp.text == (SAMPLES / "asset_404.body").read_text(encoding="utf-8")
    assert json.loads(resp.text)["message"] == "No audio files found for selected time range."


@pytest.mark.parametrize("asset", [
    "garbage.wav",
    "{s}_t20200101T000000000Z.20200101T000100000Z_rfull_g1_fwav.flac",
    "{s}_t20200101T000000000Z.20200101T000100000Z_rfull_g1_fspec.png",
    "{s}_t20200101T000000000Z.20200101T000100000Z_rfull_g1_fmp4.mp4",
    "{s}_t20200101T000100000Z.20200101T000000000Z_rfull_g1_fwav.wav",
    "{s}_t2020XX01T000000000Z.20200101T000100000Z_rfull_g1_fwav.wav",
])
def test_bad_names_are_400(demo_emulator: Emulator, asset: str) -> None:
    resp = fetch(demo_emulator, asset.format(s=readable(demo_emulator)[0]))
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == {"status": 400} and isinstance(body["message"], str)


def test_asset_access_rules(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, seg, _ = run_end(emu)
    asset = name(stream, seg["start"], seg["start"] + 10_000)
    unauth = fetch(emu, asset, token=None)
    assert unauth.status_code == 401 and unauth.content == b"Unauthorized"
    other = [r["id"] for r in sql(emu, "SELECT s.id FROM streams s LEFT JOIN projects p ON "
                                       "p.id = s.project_id WHERE s.is_public = 0 AND "
                                       "coalesce(p.is_public, 0) = 0")
             if r["id"] not in readable(emu)]
    assert other, "the demo world needs a private stream of another user"
    denied = fetch(emu, name(other[0], seg["start"], seg["start"] + 10_000))
    assert denied.status_code == 403
    assert denied.json() == {"message": "Not authorized to access this resource",
                             "error": {"status": 403}}


def test_gain_scales_the_audio(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, a, _ = flac_boundary(emu)
    window = (a["start"], a["start"] + 5_000)
    unity = decode(fetch(emu, name(stream, *window)).content)[0].astype(np.float64)
    half = decode(fetch(emu, name(stream, *window, gain="0.5")).content)[0].astype(np.float64)
    assert unity.size == 5 * a["sample_rate"] and np.abs(unity).max() > 4
    assert np.abs(half - unity / 2).max() <= 1.0


def test_next_timestamp_is_window_end_while_audio_continues(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, seg, _ = flac_boundary(emu)
    start, end = seg["start"], seg["start"] + 30_000  # ends in the middle of the segment
    resp = fetch(emu, name(stream, start, end))
    assert resp.status_code == 200
    assert resp.headers["RFCx-Stream-Next-Timestamp"] == str(end)  # as recorded: asset_wav


def test_next_timestamp_after_a_gap_names_the_next_segment(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, seg, following = run_end(emu)
    resp = fetch(emu, name(stream, seg["end"] - 10_000, seg["end"] + 10_000))
    assert resp.status_code == 200
    value = resp.headers.get("RFCx-Stream-Next-Timestamp")
    later = [s for s in segments(emu, stream) if s["start"] >= seg["end"] + 10_000]
    if not later:
        assert value is None  # end of the stream: no header, as recorded (asset_mp3_gap)
    else:
        assert later[0]["start"] == following
        # upstream writes the Date object (JavaScript Date.toString()); ms is also accepted
        assert value in (str(following), js_date(following))


def test_gap_lines_use_the_platform_formats(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, segs, start, end = session_with_dropped_minute(emu)
    (lead_a, lead_b), (inner_a, inner_b) = holes_in(segs, start, end)
    resp = fetch(emu, name(stream, start, end, "flac"))
    assert resp.raw.headers.getlist("RFCx-Stream-Gaps") == [
        f"{lead_a},{js_date(lead_b)}", f"{js_date(inner_a)},{js_date(inner_b)}"]


def test_mp3_window(demo_emulator: Emulator) -> None:
    emu = demo_emulator
    stream, seg, _ = flac_boundary(emu)
    resp = fetch(emu, name(stream, seg["start"], seg["start"] + 5_000, "mp3"))
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "audio/mpeg"
    samples, rate, channels = decode(resp.content)
    assert channels == 1 and abs(samples.size - 5 * rate) < rate // 10
