"""Detection rates and detection histories on the emulator's data, checked by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rfcx_frames as rf
from rfcx_frames.emulator import Emulator

START, END = "2024-03-02", "2024-03-16"  # the twelve-day world ends on 13 March


@pytest.fixture(scope="module")
def tables(dst_world: Emulator, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[dict[str, pd.DataFrame]]:
    folder = tmp_path_factory.mktemp("ecology-cache")
    with dst_world.client(progress=False, cache_dir=folder) as client:
        yield {"detections": client.detections_df(START, END, min_confidence=0.5),
               "effort": client.effort_df(START, END, freq="1D", local_time=True),
               "streams": client.streams_df()}


def test_rates_equal_counts_over_recorded_hours(tables: dict[str, pd.DataFrame]) -> None:
    det, effort = tables["detections"], tables["effort"]
    rates = rf.detection_rates(det, effort, by=["stream_id", "classification_value"])
    counts = det.groupby(["stream_id", "classification_value"], observed=True).size()
    hours = effort.groupby("stream_id", observed=True)["recorded_seconds"].sum() / 3600
    assert rates.attrs["unplaced"] == 0
    for row in rates.itertuples():
        assert row.detections == counts.get((row.stream_id, row.classification_value), 0)
        assert row.recorded_hours == pytest.approx(hours[row.stream_id])
        assert row.rate_per_hour == pytest.approx(row.detections / row.recorded_hours)
    # Every stream x class pair has a row, heard or not.
    assert len(rates) == effort["stream_id"].nunique() * det["classification_value"].nunique()
    assert rates["detections"].sum() == len(det)


def test_rates_per_local_day_are_nan_without_effort(tables: dict[str, pd.DataFrame]) -> None:
    det, effort = tables["detections"], tables["effort"]
    rates = rf.detection_rates(det, effort, by=["stream_id", "local_date", "classification_value"])
    silent = rates["recorded_hours"] == 0
    assert silent.any() and rates.loc[silent, "rate_per_hour"].isna().all()
    assert (rates.loc[~silent, "rate_per_hour"] >= 0).all()
    per_day = effort.assign(local_date=effort["period_start_local"].dt.normalize())
    merged = rates.merge(per_day[["stream_id", "local_date", "recorded_seconds"]],
                         on=["stream_id", "local_date"])
    assert np.allclose(merged["recorded_hours"], merged["recorded_seconds"] / 3600)


def test_rates_by_local_hour_and_extra_classes(tables: dict[str, pd.DataFrame],
                                               dst_world: Emulator, tmp_path: Path) -> None:
    det = tables["detections"]
    with dst_world.client(progress=False, cache_dir=tmp_path) as client:
        hourly = client.effort_df(START, END, freq="1h", local_time=True)
    rates = rf.detection_rates(det, hourly, by=["local_hour", "classification_value"],
                               classes=["never_heard_here"])
    assert sorted(rates["local_hour"].unique()) == list(range(24))
    ghost = rates[rates["classification_value"] == "never_heard_here"]
    assert len(ghost) == 24 and (ghost["detections"] == 0).all()
    assert rates["detections"].sum() == len(det)
    assert rates["recorded_hours"].sum() == pytest.approx(
        hourly["recorded_seconds"].sum() / 3600 * rates["classification_value"].nunique())


def test_rates_filters_and_bad_keys(tables: dict[str, pd.DataFrame]) -> None:
    det, effort = tables["detections"], tables["effort"]
    confirmed = rf.detection_rates(det, effort, by="stream_id", review_statuses=["confirmed"])
    assert confirmed["detections"].sum() == (det["review_status"] == "confirmed").sum()
    strict = rf.detection_rates(det, effort, by="stream_id", min_confidence=0.9)
    assert strict["detections"].sum() == (det["confidence"] >= 0.9).sum()
    with pytest.raises(ValueError, match="not a column of detections"):
        rf.detection_rates(det, effort, by=["stream_id", "colour"])
    with pytest.raises(ValueError, match="effort lacks"):
        rf.detection_rates(det, det, by="stream_id")


def test_history_is_nan_exactly_where_coverage_falls_short(
        tables: dict[str, pd.DataFrame]) -> None:
    det, effort = tables["detections"], tables["effort"]
    history = rf.detection_history(det, effort, min_coverage=0.2, sites=tables["streams"])
    assert history.species == sorted(det["classification_value"].astype(str).unique())
    coverage = history.coverage
    for value, y in history.y.items():
        assert y.shape == coverage.shape
        assert (y.isna() == ~(coverage >= 0.2)).all().all()  # NaN coverage: not asked for
        assert set(np.unique(y.to_numpy()[~np.isnan(y.to_numpy())])) <= {0.0, 1.0}
        # A 1 wherever a detection of the species fell in a surveyed local day, else 0.
        mine = det[det["classification_value"] == value]
        local = [(str(s), pd.Timestamp(t).tz_convert(tz).tz_localize(None).normalize())
                 for s, t, tz in zip(mine["stream_id"], mine["start"],
                                     mine["stream_id"].map(_zones(tables)), strict=True)]
        expected = pd.DataFrame(0.0, index=y.index, columns=y.columns)
        for site, day in local:
            if day in expected.columns:
                expected.loc[site, day] = 1.0
        pd.testing.assert_frame_equal(y, expected.where(coverage >= 0.2))
    covs = history.site_covariates
    assert list(covs.index) == list(coverage.index)
    assert {"latitude", "longitude", "timezone", "project_id"} <= set(covs.columns)


def test_history_options_and_exports(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    det, effort = tables["detections"], tables["effort"]
    some = str(det["classification_value"].iloc[0])
    confirmed = rf.detection_history(det, effort, species=[some, "not_in_the_data"],
                                     review_statuses=["confirmed"])
    assert list(confirmed.y) == [some, "not_in_the_data"]
    assert np.nansum(confirmed.y["not_in_the_data"].to_numpy()) == 0
    assert (np.nansum(confirmed.y[some].to_numpy())
            <= np.nansum(rf.detection_history(det, effort, species=[some]).y[some].to_numpy()))
    long = confirmed.to_long()
    assert set(long.columns) == {"classification_value", "site", "occasion", "detected",
                                 "coverage", "recorded_hours"}
    assert len(long) == 2 * confirmed.coverage.size
    files = confirmed.to_csv(tmp_path / "occupancy")
    assert {f.name for f in files} == {f"y_{some}.csv", "y_not_in_the_data.csv",
                                       "obs_recorded_hours.csv", "site_covariates.csv"}
    y = pd.read_csv(tmp_path / "occupancy" / f"y_{some}.csv", index_col="site")
    assert y.shape == confirmed.coverage.shape
    assert y.isna().sum().sum() == confirmed.y[some].isna().sum().sum()
    with pytest.raises(ValueError, match="min_coverage"):
        rf.detection_history(det, effort, min_coverage=1.5)
    with pytest.raises(ValueError, match="classification_value"):
        rf.detection_history(det.drop(columns="classification_value"), effort)


def _zones(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    streams = tables["streams"]
    return dict(zip(streams["id"].astype(str), streams["timezone"].astype(str), strict=True))


def test_occasions_group_finer_effort(tables: dict[str, pd.DataFrame], dst_world: Emulator,
                                      tmp_path: Path) -> None:
    det, daily = tables["detections"], tables["effort"]
    with dst_world.client(progress=False, cache_dir=tmp_path) as client:
        hourly = client.effort_df(START, END, freq="1h", local_time=True)
    by_day = rf.detection_history(det, daily, min_coverage=0.05)
    from_hours = rf.detection_history(det, hourly, occasion="1D", min_coverage=0.05)
    # Hourly effort of the window reaches the first two and last two local dates only in part
    # (sites east and west of UTC): not asked for (NaN); every whole day agrees.
    inner = by_day.coverage.columns[2:-2]
    pd.testing.assert_frame_equal(from_hours.coverage[inner], by_day.coverage[inner],
                                  check_freq=False)
    assert from_hours.coverage.iloc[:, 0].isna().sum() > by_day.coverage.iloc[:, 0].isna().sum()
    for value in by_day.species:
        pd.testing.assert_frame_equal(from_hours.y[value][inner], by_day.y[value][inner])
    weekly = rf.detection_history(det, daily, occasion="7D", min_coverage=0.05)
    assert weekly.coverage.shape[1] == int(np.ceil(by_day.coverage.shape[1] / 7))
    week_hours = weekly.recorded_hours.sum(axis=1)
    assert np.allclose(week_hours, by_day.recorded_hours.sum(axis=1))
    with pytest.raises(ValueError, match="occasion"):
        rf.detection_history(det, daily, occasion="6h")
    with pytest.raises(ValueError, match="occasion"):
        rf.detection_history(det, daily, occasion="weekly-ish")
