"""RFCX_FRAMES_PROGRESS=0 silences every progress bar, the audio ones included."""

from __future__ import annotations

import pytest

from rfcx_frames.emulator import Emulator


@pytest.mark.parametrize(("setting", "shown"), [("0", False), ("1", True)])
def test_environment_switches_every_bar(demo_emulator: Emulator, setting: str, shown: bool,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RFCX_FRAMES_PROGRESS", setting)
    with demo_emulator.client(progress=True) as client:
        annotations = client.annotations_df("2024-03-03", "2024-03-04").head(2)
        capsys.readouterr()
        client.clips(annotations, duration=1.0, sample_rate=8000, progress=True)
    err = capsys.readouterr().err
    assert ("clips" in err) is shown, err
