"""Classifier jobs: upload a classifier with active streams, see detections on ingested audio."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from rfcx_frames.emulator import Emulator

RATE = 24000


def _model(tmp_path: Path) -> Path:
    path = tmp_path / "model.tar.gz"
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"\0" * 64)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(weights, arcname="weights.bin")
    return path


def test_uploaded_classifier_detects_calls_in_its_band(fresh_emulator: Emulator,
                                                       tmp_path: Path) -> None:
    emu = fresh_emulator
    cls = emu.store.query("SELECT value, frequency_min, frequency_max FROM classifications "
                          "WHERE frequency_min >= 1500 AND frequency_max <= 6000 "
                          "ORDER BY value LIMIT 1")[0]
    stream = emu.store.query("SELECT id FROM streams WHERE created_by_id = 1 ORDER BY id")[0]["id"]
    t = np.arange(RATE * 30) / RATE
    audio = 0.002 * np.random.default_rng(3).standard_normal(t.size)
    centre = (cls["frequency_min"] + cls["frequency_max"]) / 2
    calls = (5, 12, 21)  # seconds into the recording
    for second in calls:
        span = slice(second * RATE, (second + 1) * RATE)
        audio[span] += 0.3 * np.sin(2 * np.pi * centre * t[span])
    wav = tmp_path / "field.wav"
    sf.write(wav, audio.astype(np.float32), RATE)
    recorded = pd.Timestamp("2024-02-10T06:00:00Z")

    with emu.client(progress=False, cache=False) as c:
        upload = c.ingest_file(stream, wav, recorded)
        assert c.check_ingest(upload, wait_for_completion=True, timeout=60,
                              poll_interval=0.1)[0] == 20
        classifier = c.upload_classifier(_model(tmp_path), "tone-net", 1,
                                         [f"tone:{cls['value']}:0.5"], active_streams=[stream])
        assert emu.wait_for_jobs(60)
        found = c.detections_df(recorded, recorded + pd.Timedelta(minutes=1),
                                classifiers=[classifier], min_confidence=0)
    assert set(found["classification_value"].astype(str)) == {cls["value"]}
    starts = sorted((found["start"] - recorded).dt.total_seconds().astype(int))
    assert starts == list(calls)
    assert (found["confidence"] > 0.9).all()


def test_a_classifier_without_active_streams_runs_nothing(fresh_emulator: Emulator,
                                                          tmp_path: Path) -> None:
    with fresh_emulator.client(progress=False) as c:
        value = str(c.classifications_df(levels="species")["value"].iloc[0])
        before = fresh_emulator.store.query("SELECT count(*) AS n FROM detections")[0]["n"]
        c.upload_classifier(_model(tmp_path), "idle", 1, [value])
        assert fresh_emulator.wait_for_jobs(10)
    after = fresh_emulator.store.query("SELECT count(*) AS n FROM detections")[0]["n"]
    assert after == before
