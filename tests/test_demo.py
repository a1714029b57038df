"""``rfcx-frames demo``: the main job runs end to end on the embedded emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from dwca.read import DwCAReader

from rfcx_frames.audio import read_training_set


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("rfcx-frames")
    out = tmp_path / "demo"
    proc = subprocess.run([str(script), "demo", "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    for step in ("1. Streams of project", "2. Detections", "3. Recording effort and detection rates",
                 "4. Detection history of", "5. The same query again", "6. Annotations",
                 "7. Clips", "8. A training set", "Written"):
        assert step in text
    assert "identical frame: True" in text
    assert "Traceback" not in proc.stderr

    rates = pd.read_csv(out / "daily_rates.csv")
    assert {"local_date", "stream_id", "classification_value", "detections", "recorded_hours",
            "rate_per_hour"} <= set(rates.columns)
    assert rates["detections"].sum() > 1000
    no_audio = rates["recorded_hours"] == 0
    assert no_audio.any() and rates.loc[no_audio, "rate_per_hour"].isna().all()
    y = pd.read_csv(next((out / "occupancy").glob("y_*.csv")), index_col="site")
    assert y.isna().any().any() and (y.fillna(0).isin([0, 1])).all().all()
    with DwCAReader(out / "darwin_core_archive.zip") as archive:
        assert archive.core_file.file_descriptor.type.endswith("/Event")
        assert len(list(archive)) == int(y.notna().to_numpy().sum())  # one event per surveyed cell

    for png in ("daily_activity.png", "clip_spectrograms.png"):
        image = mpimg.imread(out / png)
        assert image.shape[0] > 300 and image.shape[1] > 600
        assert float(np.std(image)) > 0.05  # not a blank canvas

    ts = read_training_set(out / "training_set")
    assert len(ts.labels) == np.asarray(ts.audio).shape[0] > 0
    assert ts.classes and all(f"label_{c}" in ts.labels.columns for c in ts.classes)


def test_demo_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    from rfcx_frames.demo import prepare_out_dir

    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.docx").write_text("years of work")
    with pytest.raises(ValueError, match="not made by the demo"):
        prepare_out_dir(precious)
    assert (precious / "chapter1.docx").read_text() == "years of work"
    made = prepare_out_dir(tmp_path / "demo")
    (made / "old.png").write_text("x")
    again = prepare_out_dir(made)  # a previous demo output is emptied
    assert sorted(p.name for p in again.iterdir()) == [".rfcx-frames-demo"]
