"""Synthetic worlds of the emulator (rfcx_frames.emulator.world): content and invariants."""

from __future__ import annotations

import base64
import itertools
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rfcx_frames.emulator.audio import ensure_blob
from rfcx_frames.emulator.auth import user_for_token
from rfcx_frames.emulator.ground_truth import MIN_CALL_GAP_MS, place_calls, true_positives
from rfcx_frames.emulator.store import Store
from rfcx_frames.emulator.taxonomy import local_taxa
from rfcx_frames.emulator.world import WORLDS, build_world

DEMO, OTHER, SYSTEM = 1, 2, 3
NOW_MS = 1_720_000_000_000  # any instant before the tokens' expiry in 2100


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("world"))
    build_world(store, "demo", seed=3, days=2)
    return store


def build(path: Path, seed: int = 0, **scale: int) -> tuple[Store, dict[str, object]]:
    store = Store(path)
    return store, build_world(store, "demo", seed=seed, **scale)


def dump(store: Store) -> str:
    return "\n".join(store.connection().iterdump())


def one(store: Store, sql: str, params: tuple[object, ...] = ()) -> Any:
    return store.query(sql, params)[0][0]


def readable_by_demo(store: Store) -> list[sqlite3.Row]:
    return store.query(
        "SELECT s.* FROM streams s JOIN project_roles r ON r.project_id = s.project_id "
        "WHERE r.user_id = ?", (DEMO,))


def test_unknown_world_is_rejected_with_the_allowed_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="demo") as info:
        build_world(Store(tmp_path), "tiny")
    assert "large" in str(info.value)
    assert {"demo", "large"} <= set(WORLDS)


def test_same_seed_gives_the_same_database_and_audio(tmp_path: Path) -> None:
    a, summary_a = build(tmp_path / "a", seed=5, days=2)
    b, summary_b = build(tmp_path / "b", seed=5, days=2)
    assert summary_a == summary_b
    assert dump(a) == dump(b)
    assert (a.db_path.read_bytes() == b.db_path.read_bytes()), "checkpointed files identical"
    seg = str(one(a, "SELECT id FROM segments ORDER BY start LIMIT 1"))
    assert ensure_blob(a, seg).read_bytes() == ensure_blob(b, seg).read_bytes()


def test_different_seed_gives_a_different_world(tmp_path: Path) -> None:
    a, summary_a = build(tmp_path / "a", seed=5, days=2)
    b, summary_b = build(tmp_path / "b", seed=6, days=2)
    assert dump(a) != dump(b)
    assert summary_a["tokens"] != summary_b["tokens"]
    sql = ("SELECT g.id FROM segments g JOIN streams s ON s.id = g.stream_id "
           "WHERE s.name = 'Guánica Dry Forest' ORDER BY g.start LIMIT 1")
    assert (ensure_blob(a, str(one(a, sql))).read_bytes()
            != ensure_blob(b, str(one(b, sql))).read_bytes())


def test_building_again_keeps_the_existing_world(tmp_path: Path) -> None:
    store, first = build(tmp_path, seed=1, days=1)
    before = dump(store)
    again = build_world(Store(tmp_path), "large", seed=99)
    assert again == first and dump(store) == before
    assert again["world"] == "demo" and again["seed"] == 1


def test_summary_and_meta(world: Store) -> None:
    summary = build_world(world, "demo", seed=3, days=2)
    assert summary["world"] == "demo" and summary["seed"] == 3
    assert summary["period_start"] == 1_709_251_200_000  # 2024-03-01T00:00Z
    assert summary["period_end"] == summary["period_start"] + 2 * 86_400_000
    counts = summary["counts"]
    for table in ("segments", "calls", "detections", "annotations", "classifications"):
        assert counts[table] == one(world, f"SELECT count(*) FROM {table}")
    assert world.meta("seed") == "3" and world.meta("jwt_secret")


def test_tokens_belong_to_the_three_users(world: Store) -> None:
    users = {name: uid for name, uid in (("demo", DEMO), ("other", OTHER), ("system", SYSTEM))}
    for name, uid in users.items():
        token = world.meta(f"token:{name}")
        assert token is not None
        user = user_for_token(world, token, now_ms=NOW_MS)
        assert user is not None and user.id == uid
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["email"] == one(world, "SELECT email FROM users WHERE id = ?", (uid,))
    ada = world.query("SELECT * FROM users WHERE id = ?", (DEMO,))[0]
    assert (ada["firstname"], ada["lastname"], ada["email"]) == ("Ada", "Lovelace",
                                                                 "ada@example.org")
    assert "systemUser" in str(one(world, "SELECT roles FROM users WHERE id = ?", (SYSTEM,)))
    assert "systemUser" not in str(one(world, "SELECT roles FROM users WHERE id = ?", (DEMO,)))


def test_projects_cover_owned_public_and_forbidden(world: Store) -> None:
    ids = [r[0] for r in world.query("SELECT id FROM projects")]
    assert all(re.fullmatch(r"[a-z0-9]{12}", i) for i in ids)
    mine = world.query("SELECT p.* FROM projects p JOIN project_roles r ON r.project_id = p.id "
                       "WHERE r.user_id = ?", (DEMO,))
    assert len(mine) >= 2 and any(p["name"] == "Puerto Rico Soundscapes" for p in mine)
    assert any(p["created_by_id"] == DEMO for p in mine)
    others = world.query("SELECT * FROM projects WHERE id NOT IN (SELECT project_id FROM "
                         "project_roles WHERE user_id = ?) AND created_by_id = ?", (DEMO, OTHER))
    public = [p for p in others if p["is_public"]]
    private = [p for p in others if not p["is_public"]]
    assert public and private
    for project, flag in ((public[0], 1), (private[0], 0)):
        streams = world.query("SELECT is_public FROM streams WHERE project_id = ?",
                              (project["id"],))
        assert streams and all(s[0] == flag for s in streams)


def test_demo_streams_vary_in_rate_codec_and_continent(world: Store) -> None:
    streams = readable_by_demo(world)
    assert len(streams) >= 6
    assert len({s["max_sample_rate"] for s in streams}) >= 3
    assert {s["codec"] for s in streams} == {"flac", "opus"}
    assert len({s["timezone"].split("/")[0] for s in streams}) >= 3
    for s in streams:
        assert re.fullmatch(r"[a-z0-9]{12}", s["id"])
        assert -90 <= s["latitude"] <= 90 and -180 <= s["longitude"] <= 180
        if s["codec"] == "opus":
            assert s["max_sample_rate"] in (8000, 12000, 16000, 24000, 48000)
        first, last = world.query('SELECT min(start), max("end") FROM segments '
                                  "WHERE stream_id = ?", (s["id"],))[0]
        assert (s["start"], s["end"]) == (first, last)


def test_segments_have_gaps_short_tails_and_long_runs(world: Store) -> None:
    rows = world.query(
        'SELECT g.*, s.max_sample_rate AS sr, s.codec, f.filename, f.duration, f.sample_rate '
        "FROM segments g JOIN streams s ON s.id = g.stream_id "
        "JOIN stream_source_files f ON f.id = g.stream_source_file_id "
        "ORDER BY g.stream_id, g.start")
    assert len(rows) == one(world, "SELECT count(*) FROM stream_source_files")
    gaps = shorts = 0
    longest: dict[str, int] = {}
    run = 0
    for prev, seg in itertools.pairwise(rows):
        same = prev["stream_id"] == seg["stream_id"]
        if same:
            assert seg["start"] >= prev["end"], "segments of a stream never overlap"
            gap = seg["start"] - prev["end"]
            gaps += 0 < gap <= 5 * 60_000  # a missing minute or a few, inside a session
            run = run + (seg["end"] - seg["start"]) if gap == 0 else 0
            longest[seg["stream_id"]] = max(longest.get(seg["stream_id"], 0), run)
    for seg in rows:
        duration = seg["end"] - seg["start"]
        assert 20_000 <= duration <= 60_000
        shorts += duration < 60_000
        assert seg["sample_count"] == round(duration * seg["sr"] / 1000)
        assert (seg["synth"], seg["availability"]) == (1, 1)
        assert seg["file_extension"] == "." + seg["codec"]
        assert seg["duration"] == duration and seg["sample_rate"] == seg["sr"]
        assert re.fullmatch(rf"{seg['stream_id']}_\d{{8}}T\d{{6}}\.{seg['codec']}",
                            seg["filename"])
    assert gaps >= 10 and shorts >= 10
    assert max(longest.values()) >= 3 * 3_600_000, "one stream records for hours on end"


def test_taxonomy_and_classifiers(world: Store) -> None:
    rows = world.query("SELECT * FROM classifications")
    assert len(rows) >= 30
    values = [r["value"] for r in rows]
    assert len(set(values)) == len(values)
    assert all(re.fullmatch(r"[a-z0-9_]+", v) for v in values)
    assert {"class", "order", "family", "genus", "species", "characteristic"} <= {
        r["type"] for r in rows}
    ids = {r["id"] for r in rows}
    assert all(r["parent_id"] in ids for r in rows if r["parent_id"] is not None)
    species = [r for r in rows if r["type"] == "species"]
    assert all(r["parent_id"] is not None for r in species)
    assert {"chainsaw", "gunshot", "vehicle", "rain"} <= set(values)
    assert one(world, "SELECT count(*) FROM classifications WHERE title LIKE '%cat%'") >= 2
    langs = {r[0] for r in world.query("SELECT language_id FROM classification_alternative_names")}
    assert {"en_US", "es_ES", "pt_BR"} <= langs
    named = one(world, "SELECT count(DISTINCT classification_id) FROM "
                       "classification_alternative_names")
    assert int(named) >= len(rows) // 2
    classifiers = world.query("SELECT * FROM classifiers")
    assert len(classifiers) >= 2
    for c in classifiers:
        outputs = world.query("SELECT o.*, k.frequency_min FROM classifier_outputs o JOIN "
                              "classifications k ON k.id = o.classification_id "
                              "WHERE classifier_id = ?", (c["id"],))
        assert outputs and all(o["frequency_min"] is not None for o in outputs)
    called = world.query("SELECT DISTINCT classification_id FROM calls WHERE classification_id "
                         "NOT IN (SELECT classification_id FROM classifier_outputs)")
    assert not called, "every heard classification has a classifier"


CALL_NOT_IN_AUDIO = """
SELECT c.id FROM calls c WHERE NOT EXISTS (
    SELECT 1 FROM segments s WHERE s.stream_id = c.stream_id
    AND s.start <= c.start AND c."end" <= s."end")
AND NOT EXISTS (
    SELECT 1 FROM segments a JOIN segments b ON b.stream_id = a.stream_id AND b.start = a."end"
    WHERE a.stream_id = c.stream_id AND a.start <= c.start AND c.start < a."end"
    AND c."end" <= b."end")
"""


def test_calls_lie_in_recorded_audio_and_are_spaced(world: Store) -> None:
    assert one(world, "SELECT count(*) FROM calls") >= 200
    assert world.query(CALL_NOT_IN_AUDIO) == []
    crossing = one(world, 'SELECT count(*) FROM calls c JOIN segments s ON s.stream_id = '
                          'c.stream_id AND s.start < c.start AND c.start < s."end" '
                          'AND c."end" > s."end"')
    assert int(crossing) >= 3, "some calls cross a segment boundary"
    close = world.query(
        'SELECT * FROM (SELECT stream_id, start - lag("end") OVER (PARTITION BY stream_id '
        "ORDER BY start) AS gap FROM calls) WHERE gap < 5500")
    assert close == []
    bad = world.query(
        'SELECT c.* FROM calls c JOIN streams s ON s.id = c.stream_id WHERE c."end" - c.start '
        "NOT BETWEEN 300 AND 4000 OR c.frequency_min >= c.frequency_max "
        "OR c.frequency_max > 0.46 * s.max_sample_rate OR c.frequency_min <= 0 "
        "OR c.amplitude <= 0 OR c.amplitude > 1")
    assert bad == []


def test_placed_calls_never_straddle_a_gap_even_with_many_short_runs() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(8_000, 40_000, 400)
    gaps = rng.integers(1, 30_000, 400)
    run_start = np.cumsum(lengths + gaps) - lengths
    run_end = run_start + lengths
    taxa = local_taxa("neotropic", 5400)
    calls = place_calls(rng, taxa=taxa, weights=np.ones(len(taxa)), run_start=run_start,
                        run_end=run_end, sample_rate=12000, calls_per_hour=400)
    assert len(calls["start"]) > 500
    run = np.searchsorted(run_start, calls["start"], side="right") - 1
    assert np.all(calls["end"] <= run_end[run]) and np.all(calls["run"] == run)
    assert np.all(calls["start"][1:] - calls["end"][:-1] >= MIN_CALL_GAP_MS)
    tps = true_positives(rng, calls, np.arange(1, len(run) + 1), run_start, run_end)
    owner = tps["call_id"] - 1
    assert np.all((tps["start"] < calls["end"][owner]) & (tps["end"] > calls["start"][owner]))
    assert np.all((tps["start"] >= run_start[run[owner]]) & (tps["end"] <= run_end[run[owner]]))


def test_detections_agree_with_the_ground_truth(world: Store) -> None:
    n = int(one(world, "SELECT count(*) FROM detections"))
    assert n >= 1000
    assert one(world, "SELECT count(DISTINCT classifier_id) FROM detections") >= 2
    statuses = {r[0] for r in world.query("SELECT DISTINCT review_status FROM detections")}
    assert statuses == {None, -1, 0, 1}
    confirmed = world.query(
        "SELECT d.* FROM detections d LEFT JOIN calls c ON c.id = d.call_id "
        'WHERE d.review_status = 1 AND (c.id IS NULL OR d.start >= c."end" '
        'OR d."end" <= c.start OR d.classification_id != c.classification_id '
        "OR d.stream_id != c.stream_id)")
    assert confirmed == []
    linked_apart = world.query(
        "SELECT d.id FROM detections d JOIN calls c ON c.id = d.call_id "
        'WHERE d.start >= c."end" OR d."end" <= c.start')
    assert linked_apart == []
    false_hits = world.query(
        "SELECT d.id FROM detections d JOIN calls c ON c.stream_id = d.stream_id "
        'AND c.start < d."end" AND d.start < c."end" WHERE d.call_id IS NULL')
    assert false_hits == []
    rejected_fp = one(world, "SELECT avg(call_id IS NULL) FROM detections WHERE review_status = -1")
    assert float(rejected_fp) > 0.5
    confident = float(one(world, "SELECT avg(confidence >= 0.95) FROM detections"))
    assert 0.1 < confident < 0.6
    assert one(world, "SELECT count(*) FROM detections WHERE call_id IS NULL "
                      "AND confidence >= 0.95") > 0
    lo, hi = world.query("SELECT min(confidence), max(confidence) FROM detections")[0]
    assert 0.05 <= lo < 0.1 and 0.99 < hi <= 1.0
    outside = world.query(CALL_NOT_IN_AUDIO.replace("calls c", "detections c"))
    assert outside == [], "detection windows lie in recorded audio"


def test_annotations_box_their_calls(world: Store) -> None:
    assert one(world, "SELECT count(*) FROM annotations") >= 20  # 400 a month, scaled to 2 days
    mismatched = world.query(
        "SELECT a.id FROM annotations a LEFT JOIN calls c ON c.id = a.call_id WHERE c.id IS NULL "
        'OR a.start != c.start OR a."end" != c."end" OR a.frequency_min != c.frequency_min '
        "OR a.frequency_max != c.frequency_max OR a.classification_id != c.classification_id "
        "OR a.stream_id != c.stream_id OR a.created_by_id != 1")
    assert mismatched == []
    ids = [r[0] for r in world.query("SELECT id FROM annotations")]
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                            i) for i in ids)
    readable = {s["id"] for s in readable_by_demo(world)}
    assert {r[0] for r in world.query("SELECT DISTINCT stream_id FROM annotations")} <= readable


def test_scale_knobs_add_streams_and_days(tmp_path: Path) -> None:
    store, summary = build(tmp_path, seed=2, streams=8, days=1)
    assert len(readable_by_demo(store)) == 8
    assert summary["period_end"] - summary["period_start"] == 86_400_000  # type: ignore[operator]
    names = [r[0] for r in store.query("SELECT name FROM streams")]
    assert len(set(names)) == len(names)


@pytest.mark.slow
def test_full_demo_world(tmp_path: Path) -> None:
    store, summary = build(tmp_path, seed=0)
    counts = summary["counts"]
    assert isinstance(counts, dict)
    assert 10_000 <= counts["segments"] <= 40_000
    assert 20_000 <= counts["detections"] <= 60_000
    assert 300 <= counts["annotations"] <= 1000
    assert summary["period_end"] - summary["period_start"] == 30 * 86_400_000  # type: ignore[operator]
    assert store.query(CALL_NOT_IN_AUDIO) == []
    assert not list(store.blob_dir.iterdir()), "no audio is rendered at build time"


@pytest.mark.slow
def test_large_world_has_a_million_detections(tmp_path: Path) -> None:
    _, summary = build_large(tmp_path)
    assert summary["counts"]["detections"] >= 1_000_000  # type: ignore[index]


def build_large(path: Path) -> tuple[Store, dict[str, object]]:
    store = Store(path)
    return store, build_world(store, "large", seed=0)
