"""Rendered synthetic audio is kept by content and shared by every world of the same seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rfcx_frames.config import ENV_EMULATOR_AUDIO_CACHE
from rfcx_frames.emulator import opus, render_cache
from rfcx_frames.emulator.audio import decode, render_segment, segment_spec
from rfcx_frames.emulator.store import Store
from rfcx_frames.emulator.world import build_world


def _world(folder: Path) -> Store:
    store = Store(folder)
    build_world(store, "demo", days=1)
    return store


def _first_segments(store: Store, n: int) -> list[str]:
    rows = store.query("SELECT id FROM segments ORDER BY stream_id, start LIMIT ?", (n,))
    return [str(r["id"]) for r in rows]


def test_a_second_world_reads_what_the_first_rendered(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "rendered"
    monkeypatch.setenv(ENV_EMULATOR_AUDIO_CACHE, str(shared))
    first, second = _world(tmp_path / "a"), _world(tmp_path / "b")
    ids = _first_segments(first, 2)
    rendered = [render_segment(first, i) for i in ids]
    stored = sorted(shared.rglob("*.audio"))
    assert len(stored) == 2
    # Same seed, same segments: the second world's renders are the stored bytes.
    assert [render_segment(second, i) for i in ids] == rendered
    assert sorted(shared.rglob("*.audio")) == stored
    samples, rate = decode(rendered[0][0])
    assert rate > 0 and len(samples) > rate  # a real, decodable minute of audio


def test_a_different_seed_is_a_different_render(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "rendered"
    monkeypatch.setenv(ENV_EMULATOR_AUDIO_CACHE, str(shared))
    store = _world(tmp_path / "a")
    seg = _first_segments(store, 1)[0]
    data, _ = render_segment(store, seg)
    store.set_meta("seed", "7")
    assert render_segment(store, seg)[0] != data
    assert len(list(shared.rglob("*.audio"))) == 2


def test_off_keeps_no_folder_and_an_unwritable_one_only_costs_the_render(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _world(tmp_path / "a")
    seg = _first_segments(store, 1)[0]
    monkeypatch.setenv(ENV_EMULATOR_AUDIO_CACHE, "off")
    plain, _ = render_segment(store, seg)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setenv(ENV_EMULATOR_AUDIO_CACHE, str(blocker))
    assert render_segment(store, seg)[0] == plain
    assert blocker.read_text() == "a file where the folder should be"


def _opus_segment(store: Store) -> str:
    rows = store.query("SELECT s.id FROM segments s WHERE s.file_extension = '.opus' "
                       "ORDER BY s.stream_id, s.start LIMIT 1")
    return str(rows[0]["id"])


def test_each_opus_encoder_and_synthesis_version_has_its_own_renders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "rendered"
    monkeypatch.setenv(ENV_EMULATOR_AUDIO_CACHE, str(shared))
    store = _world(tmp_path / "a")
    seg = _opus_segment(store)
    fast, ext = render_segment(store, seg)
    # Without PyAV the same segment is libsndfile's encoding, never the stored PyAV bytes.
    monkeypatch.setattr(opus, "_pyav", lambda: None)
    plain, _ = render_segment(store, seg)
    assert ext == ".opus" and plain != fast
    assert len(list(shared.rglob("*.audio"))) == 2
    spec = segment_spec(store, seg)[0]
    assert decode(plain)[0].shape == decode(fast)[0].shape == (spec["sample_count"],)
    monkeypatch.undo()
    # A render an older synthesis stored is never served as the current one.
    older = tmp_path / "older"
    monkeypatch.setenv(ENV_EMULATOR_AUDIO_CACHE, str(older))
    with monkeypatch.context() as m:
        m.setattr(render_cache, "RENDER_VERSION", render_cache.RENDER_VERSION - 1)
        key = render_cache.render_key(codec="opus", encoder=opus.encoder_id(), **spec)
        render_cache.RenderCache(older).get(key, lambda: b"audio of an older synthesis")
    assert render_segment(store, seg)[0] == fast
    assert len(list(older.rglob("*.audio"))) == 2
