"""Site metadata, local time and the sun joined onto frames from the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import rfcx_frames as rf
from rfcx_frames.emulator import Emulator


@pytest.fixture(scope="module")
def frames(dst_world: Emulator, tmp_path_factory: pytest.TempPathFactory,
           ) -> Iterator[dict[str, pd.DataFrame]]:
    with dst_world.client(progress=False, cache_dir=tmp_path_factory.mktemp("sites")) as c:
        yield {"streams": c.streams_df(),
               "detections": c.detections_df("2024-03-02", "2024-03-05", local_time=True)}


def test_with_sites_adds_each_rows_metadata(frames: dict[str, pd.DataFrame]) -> None:
    det, streams = frames["detections"], frames["streams"]
    joined = rf.with_sites(det, streams)
    assert len(joined) == len(det) and joined.index.equals(det.index)
    by_id = streams.set_index(streams["id"].astype(str))
    for row in joined.sample(50, random_state=0).itertuples():
        site = by_id.loc[str(row.stream_id)]
        assert (row.stream_name, row.latitude, row.longitude, row.timezone, row.project_id) == (
            site["name"], site["latitude"], site["longitude"], site["timezone"], site["project_id"])
    assert "stream_name" not in det.columns  # a copy: the input is untouched


def test_unknown_streams_and_missing_columns_are_errors(frames: dict[str, pd.DataFrame]) -> None:
    det, streams = frames["detections"], frames["streams"]
    with pytest.raises(ValueError, match="does not describe the stream"):
        rf.with_sites(det, streams.iloc[1:])
    with pytest.raises(ValueError, match="'stream_id'"):
        rf.with_sites(streams, streams)
    with pytest.raises(ValueError, match="lacks the columns"):
        rf.with_sites(det, streams[["id", "name"]])


def test_local_time_equals_the_clients_local_time(frames: dict[str, pd.DataFrame]) -> None:
    det, streams = frames["detections"], frames["streams"]
    local = rf.with_local_time(det.drop(columns="start_local"), streams)
    pd.testing.assert_series_equal(local["start_local"], det["start_local"])
    assert (local["local_date"] == det["start_local"].dt.normalize()).all()
    assert (local["local_hour"] == det["start_local"].dt.hour).all()


def test_sun_times_at_known_places() -> None:
    streams = pd.DataFrame({"id": ["greenwich", "arctic"], "latitude": [51.4769, 78.22],
                            "longitude": [0.0, 15.65], "timezone": ["Europe/London", "Arctic/Longyearbyen"]})
    det = pd.DataFrame({"stream_id": ["greenwich", "arctic"],
                        "start": pd.to_datetime(["2024-03-20 07:00", "2024-12-21 12:00"], utc=True)})
    sun = rf.with_sun(det, streams)
    # Published: sunrise at Greenwich on 20 March 2024 at 06:03, sunset at 18:14 (GMT).
    assert abs(sun["sunrise"].iloc[0] - pd.Timestamp("2024-03-20 06:03", tz="UTC")) < pd.Timedelta("3min")
    assert abs(sun["sunset"].iloc[0] - pd.Timestamp("2024-03-20 18:14", tz="UTC")) < pd.Timedelta("3min")
    assert 54 <= sun["minutes_from_sunrise"].iloc[0] <= 60
    assert sun["minutes_from_sunset"].iloc[0] < 0
    # Polar night: no sunrise at all, so NaT and NaN rather than a wrong time.
    assert pd.isna(sun["sunrise"].iloc[1]) and pd.isna(sun["minutes_from_sunrise"].iloc[1])


def test_sun_on_emulator_detections_is_in_the_local_morning(frames: dict[str, pd.DataFrame]) -> None:
    det, streams = frames["detections"], frames["streams"]
    sun = rf.with_sun(det, streams)
    local = rf.with_local_time(sun, streams)
    zones = dict(zip(streams["id"].astype(str), streams["timezone"].astype(str), strict=True))
    for stream, rows in local.groupby("stream_id", observed=True):
        rise = rows["sunrise"].dt.tz_convert(zones[str(stream)]).dt.hour
        assert rise.between(4, 8).all()  # every site is within 25 degrees of the equator
    assert (sun["minutes_from_sunrise"] - sun["minutes_from_sunset"]).between(600, 840).all()
    no_coords = streams.assign(latitude=float("nan"))
    with pytest.raises(ValueError, match="no coordinates"):
        rf.with_sun(det.head(3), no_coords)
