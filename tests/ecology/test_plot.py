"""Plots draw no-audio periods as hatched gaps, never as zero."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import rfcx_frames as rf
from rfcx_frames.emulator import Emulator

matplotlib.use("Agg")
import matplotlib.pyplot as plt


@pytest.fixture(scope="module")
def window(dst_world: Emulator, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[dict[str, pd.DataFrame]]:
    # The twelve-day world stops recording on 13 March: the last days hold no audio.
    with dst_world.client(progress=False, cache_dir=tmp_path_factory.mktemp("plot")) as c:
        yield {"detections": c.detections_df("2024-03-08", "2024-03-17"),
               "daily": c.effort_df("2024-03-08", "2024-03-17", freq="1D", local_time=True),
               "hourly": c.effort_df("2024-03-08", "2024-03-17", freq="1h", local_time=True)}


def test_daily_plot_leaves_days_without_audio_as_hatched_gaps(
        window: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    det, effort = window["detections"], window["daily"]
    ax = rf.plot.daily(det, effort)
    per_day = effort.groupby(effort["period_start_local"].dt.normalize())["recorded_seconds"].sum()
    silent = per_day.index[per_day == 0]
    assert len(silent) >= 2
    hatched = [p for p in ax.patches if p.get_hatch() == "///"]
    assert len(hatched) == len(silent)
    for line in ax.lines:
        days = pd.DatetimeIndex(matplotlib.dates.num2date(line.get_xdata(orig=False))).tz_localize(None)
        values = np.asarray(line.get_ydata(), dtype=float)
        gap = days.normalize().isin(silent)
        assert np.isnan(values[gap]).all() and not np.isnan(values[~gap]).any()
    assert ax.get_ylabel() == "detections per recorded hour"
    assert "local date" in ax.get_xlabel()
    assert len(ax.lines) == min(rf.plot.DEFAULT_SPECIES, det["classification_value"].nunique())
    ax.figure.savefig(tmp_path / "daily.png")
    assert (tmp_path / "daily.png").stat().st_size > 10_000
    plt.close(ax.figure)


def test_activity_plot_by_local_hour(window: dict[str, pd.DataFrame]) -> None:
    det, effort = window["detections"], window["hourly"]
    some = str(det["classification_value"].iloc[0])
    fig, ax = plt.subplots()
    assert rf.plot.activity(det, effort, species=[some], ax=ax) is ax
    (line,) = ax.lines
    assert list(line.get_xdata()) == list(range(24))
    rates = rf.detection_rates(det, effort, by=["local_hour", "classification_value"])
    mine = rates[rates["classification_value"] == some].set_index("local_hour")["rate_per_hour"]
    np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), mine.reindex(range(24)))
    assert "local time" in ax.get_xlabel()
    with pytest.raises(ValueError, match="local_hour"):
        rf.plot.activity(det, effort, by="minute")
    plt.close(fig)
