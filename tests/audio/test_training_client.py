"""client.training_set against the emulator: native rates from the streams listing, checked
before any download; lazy audio; a sharded write read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rfcx_frames.audio import TrainingSet, read_training_set
from rfcx_frames.emulator import Emulator

NOW = pd.Timestamp("2024-06-01", tz="UTC")
LISTINGS = ("GET /streams", "GET /annotations", "GET /detections")


def _audio_requests(emu: Emulator) -> int:
    requests = emu.stats()["requests"]
    return sum(n for key, n in requests.items()
               if not key.startswith(LISTINGS) and not key.endswith("/segments"))


def test_client_training_set_is_lazy_and_writes_back(demo_emulator: Emulator,
                                                     tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "c", clock=lambda: NOW) as c:
        streams = c.streams_df()
        stream = str(streams["id"].iloc[0])
        annotations = c.annotations_df("2024-03-01", "2024-03-03", streams=[stream]).head(5)
        demo_emulator.reset_stats()
        ts = c.training_set(annotations, clip_duration=1.0, negatives=2)
        assert isinstance(ts, TrainingSet) and len(ts) > 0
        assert _audio_requests(demo_emulator) == 0  # labels only: no audio yet
        assert ts.sample_rate == int(streams["max_sample_rate"].iloc[0])
        assert ts.audio[0].shape == (ts.sample_rate,) and _audio_requests(demo_emulator) > 0
        out = c.write_training_set(ts, tmp_path / "set", shard_size=2)
    back = read_training_set(out)
    pd.testing.assert_frame_equal(back.labels[ts.labels.columns], ts.labels)
    np.testing.assert_array_equal(np.asarray(back.audio), np.asarray(ts.audio))


def test_mixed_native_rates_fail_from_the_listing(demo_emulator: Emulator,
                                                  tmp_path: Path) -> None:
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "c", clock=lambda: NOW) as c:
        streams = c.streams_df().head(2)
        assert streams["max_sample_rate"].nunique() == 2
        annotations = c.annotations_df("2024-03-01", "2024-03-03",
                                       streams=streams["id"].astype(str).tolist())
        assert annotations["stream_id"].nunique() == 2
        demo_emulator.reset_stats()
        rates = sorted(int(r) for r in streams["max_sample_rate"])
        with pytest.raises(ValueError, match=f"different native sample rates \\({rates[0]} Hz"):
            c.training_set(annotations, clip_duration=1.0)
        assert _audio_requests(demo_emulator) == 0
        ts = c.training_set(annotations, clip_duration=1.0, sample_rate=8000, negatives=0)
        assert ts.sample_rate == 8000 and ts.audio.shape[1] == 8000
