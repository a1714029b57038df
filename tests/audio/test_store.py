"""AudioStore: safe names, index lookups, atomic verified writes, concurrency."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from rfcx_frames.audio import AudioStore, AudioVerificationError, LocalSource, default_audio_root
from rfcx_frames.audio.segment_check import expected_frame_range
from rfcx_frames.exceptions import CacheError

T0 = pd.Timestamp("2022-04-17T11:00:00Z")
RATE = 8000


def segment(k: int, stream: str = "st1", seconds: float = 2.0, **extra: object) -> dict[str, object]:
    start = T0 + pd.Timedelta(seconds=k * seconds)
    return {
        "stream_id": stream,
        "id": f"seg-{k:03d}",
        "start": start,
        "end": start + pd.Timedelta(seconds=seconds),
        "file_extension": ".flac",
        **extra,
    }


def flac_bytes(seconds: float = 2.0, rate: int = RATE, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    data = np.random.default_rng(seed).standard_normal(int(seconds * rate)).astype(np.float32) * 0.1
    sf.write(buf, data, rate, format="FLAC")
    return buf.getvalue()


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.name.startswith(".tmp-")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream_id", "../../x"),
        ("stream_id", "a/b"),
        ("stream_id", ""),
        ("stream_id", ".."),
        ("id", "../../../etc/passwd"),
        ("id", "x\\y"),
        ("id", "a b"),
        ("file_extension", ".flac/../../x"),
        ("file_extension", ".exe"),
    ],
)
def test_path_traversal_is_impossible(tmp_path: Path, field: str, value: str) -> None:
    store = AudioStore(tmp_path / "store")
    bad = {**segment(0), field: value}
    with pytest.raises(ValueError):
        store.add(bad, flac_bytes())
    with pytest.raises(ValueError):
        store.path_for(bad)
    if field == "stream_id":
        with pytest.raises(ValueError):
            store.find(value, T0, T0 + pd.Timedelta(seconds=1))
        with pytest.raises(ValueError):
            store.has(bad)
    # Nothing was written anywhere, inside or outside the store.
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["index.sqlite"] or all(
        p.name.startswith("index.sqlite") for p in tmp_path.rglob("*") if p.is_file()
    )


def test_layout_and_index_lookups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = AudioStore(tmp_path / "store")
    for k in range(5):
        store.add(segment(k), flac_bytes(seed=k))
    store.add(segment(0, stream="other"), flac_bytes())
    assert len(store) == 6
    path = store.path_for(segment(2))
    assert path.relative_to(store.root).as_posix() == (
        "st1/2022/04/17/20220417T110004000Z_seg-002.flac"
    )
    assert path.is_file() and store.has(segment(2)) and store.verify(segment(2))
    assert not store.has({**segment(2), "id": "another-id"})

    # Lookups go through the index only: listing folders would fail here.
    def no_listing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the store listed a folder")

    monkeypatch.setattr(os, "scandir", no_listing)
    monkeypatch.setattr(os, "listdir", no_listing)
    monkeypatch.setattr(Path, "iterdir", no_listing)
    monkeypatch.setattr(Path, "glob", no_listing)
    found = store.find("st1", T0 + pd.Timedelta(seconds=3), T0 + pd.Timedelta(seconds=6))
    assert found["id"].tolist() == ["seg-001", "seg-002"]
    assert str(found["start"].dtype) == "datetime64[ms, UTC]"
    assert found["sample_rate"].tolist() == [RATE, RATE]
    assert found["sample_count"].tolist() == [2 * RATE, 2 * RATE]
    assert Path(found["path"].iloc[0]).is_file()
    # Boundaries: [start, end) semantics.
    assert store.find("st1", T0 + pd.Timedelta(seconds=4), T0 + pd.Timedelta(seconds=4.001))[
        "id"
    ].tolist() == ["seg-002"]
    assert store.find("st1", T0 - pd.Timedelta(seconds=9), T0)["id"].tolist() == []
    assert store.find("st1", T0 + pd.Timedelta(seconds=10), T0 + pd.Timedelta(days=1)).empty
    assert store.find("nothing", T0, T0 + pd.Timedelta(days=1)).empty
    monkeypatch.undo()

    store.remove(segment(2))
    assert not store.has(segment(2)) and not path.exists()
    source = LocalSource(store)
    with pytest.raises(FileNotFoundError):
        source.fetch(segment(2))
    assert source.fetch(segment(1)) == store.path_for(segment(1))


def test_add_from_path_leaves_source_untouched(tmp_path: Path) -> None:
    src = tmp_path / "in.flac"
    src.write_bytes(flac_bytes())
    store = AudioStore(tmp_path / "store")
    final = store.add(segment(0), src)
    assert src.is_file() and final.read_bytes() == src.read_bytes()


def test_write_failure_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AudioStore(tmp_path / "store")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(CacheError, match="disk full") as caught:
        store.add(segment(0), flac_bytes())
    assert caught.value.path == str(store.root)
    monkeypatch.undo()
    assert not store.path_for(segment(0)).exists()
    assert leftovers(store.root) == []
    assert not store.has(segment(0)) and len(store) == 0


def test_truncated_and_corrupt_files_are_rejected(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "store")
    good = flac_bytes(seconds=2.0)
    cases = {
        "truncated": good[: len(good) // 2],
        "garbage": b"\x00not audio at all" * 100,
        "empty": b"",
    }
    for k, data in enumerate(cases.values()):
        with pytest.raises(AudioVerificationError):
            store.add(segment(k), data)
        assert not store.path_for(segment(k)).exists()
    # Decodable but too short for the segment's span / its sample_count.
    with pytest.raises(AudioVerificationError, match="needs"):
        store.add(segment(5), flac_bytes(seconds=1.5))
    with pytest.raises(AudioVerificationError, match="sample_count"):
        store.add(segment(6, sample_count=2 * RATE + 5), good)
    assert leftovers(store.root) == [] and len(store) == 0
    # sample_count within one sample is fine, and wins over the span.
    store.add(segment(7, sample_count=2 * RATE + 1), good)
    store.add({**segment(8), "end": segment(8)["start"] + pd.Timedelta(seconds=1.999)}, good)
    assert len(store) == 2


def test_expected_frame_range() -> None:
    low, high = expected_frame_range(60_000, 48_000)
    assert low <= 60 * 48_000 <= high
    assert not low <= 59 * 48_000 <= high
    assert not low <= 60 * 48_000 - 2 <= high
    # Legacy rows: end = next start - 1 ms, so a full 60 s file spans 59.999 s.
    low, high = expected_frame_range(59_999, 48_000)
    assert low <= 60 * 48_000 <= high


def test_verify_detects_changed_file(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "store")
    path = store.add(segment(0), flac_bytes())
    assert store.verify(segment(0))
    path.write_bytes(flac_bytes(seed=9))
    assert not store.verify(segment(0))


def test_threads_share_a_store(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "store")
    data = flac_bytes()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: store.add(segment(k), data), range(40)))
        # The same segment written by many threads at once ends up stored once.
        list(pool.map(lambda _: store.add(segment(100), data), range(8)))
    assert len(store) == 41
    assert leftovers(store.root) == []
    found = store.find("st1", T0, T0 + pd.Timedelta(hours=1))
    assert found["id"].tolist() == [f"seg-{k:03d}" for k in [*range(40), 100]]


def test_processes_share_a_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    AudioStore(root)
    script = textwrap.dedent(
        """
        import io, sys, numpy as np, pandas as pd, soundfile as sf
        from rfcx_frames.audio import AudioStore
        store = AudioStore(sys.argv[1]); worker = int(sys.argv[2])
        buf = io.BytesIO(); sf.write(buf, np.zeros(8000, dtype="float32"), 8000, format="FLAC")
        t0 = pd.Timestamp("2022-04-17T11:00:00Z")
        for k in range(worker, 60, 2):
            start = t0 + pd.Timedelta(seconds=k)
            store.add({"stream_id": "mp", "id": f"s{k}", "start": start,
                       "end": start + pd.Timedelta(seconds=1), "file_extension": ".flac"},
                      buf.getvalue())
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(root), str(w)]) for w in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    store = AudioStore(root)
    assert len(store.find("mp", T0, T0 + pd.Timedelta(minutes=5))) == 60


def test_default_root_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RFCX_FRAMES_CACHE", str(tmp_path / "cache"))
    assert default_audio_root() == tmp_path / "cache" / "audio"
    store = AudioStore()
    assert store.root == tmp_path / "cache" / "audio" and store.index_path.is_file()


def test_local_source_from_files(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world.add("lf", T0, world.ramp(RATE * 3, 1), RATE)
    world.add("lf", T0 + pd.Timedelta(seconds=3), world.ramp(RATE * 3, 2), RATE, ext=".wav")
    store = AudioStore(tmp_path / "store")
    source = LocalSource.from_files(world.table(), store)
    LocalSource.from_files(world.table(), store)  # second import is a no-op
    assert len(store) == 2
    found = source.segments("lf", T0, T0 + pd.Timedelta(seconds=10))
    assert found["file_extension"].tolist() == [".flac", ".wav"]


def test_find_uses_the_real_length_of_the_audio(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "store")
    # Legacy rows end 1 ms before the next segment although the file holds the full 2 s.
    legacy = {**segment(0), "end": segment(0)["end"] - pd.Timedelta(milliseconds=1)}
    store.add(legacy, flac_bytes())
    tail = T0 + pd.Timedelta(seconds=1.9995)
    found = store.find("st1", tail, tail + pd.Timedelta(microseconds=100))
    assert found["id"].tolist() == ["seg-000"]
    assert found["end"].iloc[0] == legacy["end"]  # the listed end is kept as listed
    assert store.find("st1", T0 + pd.Timedelta(seconds=2), T0 + pd.Timedelta(seconds=3)).empty
