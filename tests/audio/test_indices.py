"""Acoustic indices: known signals give the values the indices are defined to give."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rfcx_frames.audio.indices import INDICES, acoustic_indices, indices_fn
from rfcx_frames.emulator import Emulator

RATE = 22050


def tone(hz: float, seconds: float = 2.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def noise(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * 0.1).astype(
        np.float32)


def test_known_signals() -> None:
    batch = np.stack([tone(5000), tone(1500), noise(), np.zeros(2 * RATE, np.float32)])
    values = acoustic_indices(batch, RATE)
    assert values.columns.tolist() == list(INDICES)
    bio, anthro, white, silent = (values.iloc[i] for i in range(4))
    # A tone in the biophony band only, or in the anthrophony band only: NDSI at +1 / -1.
    assert bio["ndsi"] == pytest.approx(1.0, abs=0.05)
    assert anthro["ndsi"] == pytest.approx(-1.0, abs=0.05)
    # White noise spreads energy over every band and every instant; a tone does not.
    assert white["h"] > 0.9 > 0.5 > bio["h"]
    assert white["adi"] > bio["adi"] and white["aei"] < bio["aei"]
    # A steady tone hardly changes from frame to frame: its complexity is far below noise's.
    assert bio["aci"] < white["aci"]
    # The 2-8 kHz band holds the 5 kHz tone, not the 1.5 kHz one.
    assert bio["bi"] > anthro["bi"]
    assert silent.isna().all()  # a recording gap has no spectrum to describe


def test_padding_beyond_n_samples_is_ignored_and_bad_input_refused() -> None:
    short = noise(1.0, seed=3)
    padded = np.zeros((1, 2 * RATE), np.float32)
    padded[0, : len(short)] = short
    alone = acoustic_indices(short, RATE)
    pd.testing.assert_frame_equal(acoustic_indices(padded, RATE, [len(short)]), alone)
    with pytest.raises(ValueError, match="sample_rate"):
        acoustic_indices(padded, 0)
    with pytest.raises(ValueError, match="n_samples"):
        acoustic_indices(padded, RATE, [1, 2])
    with pytest.raises(ValueError, match="biophony"):
        acoustic_indices(padded, RATE, biophony=(5000, 100))
    with pytest.raises(TypeError, match="unknown options"):
        indices_fn(window=3)


def test_indices_df_of_the_emulators_segments_equals_the_indices_of_its_clips(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    now = pd.Timestamp("2024-06-01", tz="UTC")
    with demo_emulator.client(progress=False, cache_dir=tmp_path, clock=lambda: now) as client:
        stream = client.streams_df()["id"].iloc[0]
        segments = client.segments_df(stream, "2024-03-02", "2024-03-03").head(3)
        table = client.indices_df(segments, sample_rate=RATE)
        audio, meta = client.clips(segments, sample_rate=RATE, progress=False)
    assert len(table) == len(segments) == 3
    assert table["stream_id"].astype(str).tolist() == [stream] * 3
    assert table["start"].tolist() == segments["start"].tolist()
    expected = acoustic_indices(audio, RATE, meta["n_samples"])
    pd.testing.assert_frame_equal(table[list(INDICES)], expected)
    assert np.isfinite(table[list(INDICES)].to_numpy()).all()
    assert (table["coverage"] == 1.0).all()
