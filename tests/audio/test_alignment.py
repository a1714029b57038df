"""Alignment checked from the audio itself, on the emulator's demo world over real HTTP.

Every annotation of the world marks a synthetic call inside its time-frequency box, with
no other call in that band within 5 s. So the clip of an annotation must hold far more
energy in the annotation's band than a window of equal length 5 s away.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rfcx_frames import Client
from rfcx_frames.audio import band_energy, shift
from rfcx_frames.emulator import Emulator, running

RATIO = 10.0  # 10 dB


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running(world="demo", days=3, data_dir=tmp_path_factory.mktemp("align")) as emu:
        yield emu


@pytest.fixture()
def client(world: Emulator, tmp_path: Path) -> Iterator[Client]:
    with world.client(progress=False, cache_dir=tmp_path) as c:
        yield c


def _band(clips: np.ndarray, meta: pd.DataFrame) -> np.ndarray:
    return band_energy(clips, int(meta["sample_rate"].iloc[0]),
                       meta["frequency_min"].to_numpy(float),
                       meta["frequency_max"].to_numpy(float))


@pytest.mark.slow
def test_every_annotation_has_its_call_in_band(world: Emulator, client: Client) -> None:
    annotations = client.annotations_df("2024-03-01", "2024-03-04")
    assert len(annotations) >= 20
    inside, meta = client.clips(annotations, sample_rate=48000, gap="nan", progress=False)
    assert list(meta["id"]) == list(annotations["id"])
    assert (meta["coverage"] == 1.0).all()  # every annotated call lies in recorded audio
    e_in = _band(inside, meta)
    checked = np.zeros(len(annotations), dtype=bool)
    for seconds in (5.0, -5.0):
        away, away_meta = client.clips(shift(annotations, seconds), sample_rate=48000,
                                       gap="nan", progress=False)
        # Compare only against recorded audio, not a recording gap.
        recorded = away_meta["coverage"].to_numpy() == 1.0
        e_away = _band(away, away_meta)
        ratios = e_in[recorded] / e_away[recorded]
        assert (ratios >= RATIO).all(), (seconds, np.sort(ratios)[:5])
        checked |= recorded
    # Every annotation was compared with recorded audio on at least one side.
    assert checked.all(), annotations.loc[~checked, ["stream_id", "start"]]


def test_window_across_a_segment_boundary_equals_hand_stitched_segments(
        world: Emulator, client: Client, tmp_path: Path) -> None:
    import soundfile as sf

    row = world.store.query(
        "SELECT a.stream_id, a.start AS a_start, b.start AS b_start, b.\"end\" AS b_end "
        "FROM segments a JOIN segments b ON a.stream_id = b.stream_id AND b.start = a.\"end\" "
        "JOIN streams s ON s.id = a.stream_id WHERE s.codec = 'flac' AND s.project_id IN "
        "(SELECT project_id FROM project_roles WHERE user_id = 1) LIMIT 1")[0]
    stream = row["stream_id"]
    a_file = client.download_segment(stream, tmp_path, pd.Timestamp(row["a_start"], unit="ms",
                                                                     tz="UTC"))
    b_file = client.download_segment(stream, tmp_path, pd.Timestamp(row["b_start"], unit="ms",
                                                                     tz="UTC"))
    a, rate = sf.read(a_file, dtype="float32")
    b, _ = sf.read(b_file, dtype="float32")
    reference = np.concatenate([a, b])
    # 10 s before the boundary to 10 s after it, at whole-ms offsets from the first segment.
    offset_ms = (row["b_start"] - row["a_start"]) - 10_000
    start = pd.Timestamp(row["a_start"] + offset_ms, unit="ms", tz="UTC")
    window = client.load_window(stream, start, start + pd.Timedelta(seconds=20))
    first = offset_ms * rate // 1000
    np.testing.assert_array_equal(window, reference[first:first + window.size])
    assert window.size == 20 * rate


def test_server_clips_match_segment_clips(world: Emulator, client: Client) -> None:
    annotations = client.annotations_df("2024-03-01", "2024-03-02")
    flac = [r["id"] for r in world.store.query(
        "SELECT id FROM streams WHERE codec = 'flac' ORDER BY id")]
    counts = annotations["stream_id"].astype(str).value_counts()
    stream = next(s for s in counts.index if s in flac and counts[s] >= 3)
    chosen = annotations[annotations["stream_id"].astype(str) == stream].head(3)
    # Whole-millisecond spans: the media route takes milliseconds.
    chosen = chosen.assign(start=chosen["start"].dt.floor("ms"), end=chosen["end"].dt.floor("ms"))
    local, meta = client.clips(chosen, duration=2.0, progress=False)
    remote, remote_meta = client.clips(chosen, duration=2.0, source="server")
    assert list(remote_meta["clip_start"]) == list(meta["clip_start"])
    np.testing.assert_array_equal(remote, local)  # at the native rate: the same samples
    local48, _ = client.clips(chosen, duration=2.0, sample_rate=48000, progress=False)
    remote48, meta48 = client.clips(chosen, duration=2.0, sample_rate=48000, source="server")
    assert remote48.shape == local48.shape == (3, 96000)
    # Resampled on different spans of context, the two agree to within a few percent.
    np.testing.assert_allclose(remote48, local48, atol=0.03)
    for r, loc in zip(remote48, local48, strict=True):
        assert np.corrcoef(r, loc)[0, 1] > 0.99
    assert (_band(remote48, meta48) > 0).all()


def test_server_source_rejects_unknown_options(client: Client) -> None:
    frame = pd.DataFrame({"stream_id": ["abc"], "start": [pd.Timestamp("2024-03-01", tz="UTC")],
                          "end": [pd.Timestamp("2024-03-01 00:00:01", tz="UTC")]})
    with pytest.raises(ValueError, match="source must be"):
        client.clips(frame, source="cloud")
    with pytest.raises(ValueError, match="band_pass"):
        client.clips(frame, source="server", band_pass=True)
