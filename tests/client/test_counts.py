"""``detection_counts``: the platform's counts equal the groupby of ``detections_df``.

Each test counts on the emulator over real HTTP and compares with the groupby its
docstring gives, computed from ``detections_df`` with the same filters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rfcx_frames import Client, config
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.exceptions import UnknownIdError

START, END = "2024-03-01", "2024-03-08"
ORIGIN = pd.Timestamp("2000-01-03", tz="UTC").as_unit("ms")
PANDAS_AGG = {"count": "size", "avg": "mean", "sum": "sum", "min": "min", "max": "max"}


def grouped(df: pd.DataFrame, step: pd.Timedelta, aggregate: str = "count",
            by_stream: bool = False) -> pd.DataFrame:
    """The groupby ``detection_counts`` documents as its equivalent."""
    df = df.copy()
    step = step.as_unit("ms")
    df["time_bucket"] = ORIGIN + (df["start"] - ORIGIN) // step * step
    keys = ["time_bucket", "stream_id", "classification_value"] if by_stream else [
        "time_bucket", "classification_value"]
    groups = df.groupby(keys, observed=True)
    if aggregate == "count":
        return groups.size().rename("count").reset_index()
    return groups.agg(**{f"confidence_{aggregate}": ("confidence", PANDAS_AGG[aggregate])}
                      ).reset_index()


def requests_of(emu: Emulator, call: Any) -> tuple[Any, int]:
    emu.reset_stats()
    result = call()
    return result, int(emu.stats()["total_requests"])


@pytest.mark.parametrize("interval,step", [
    ("1d", pd.Timedelta(days=1)), ("1h", pd.Timedelta(hours=1)),
    ("7h", pd.Timedelta(hours=7)), ("15m", pd.Timedelta(minutes=15)),
    (pd.Timedelta(days=7), pd.Timedelta(days=7)),
])
def test_counts_equal_the_groupby_for_each_interval(demo_emulator: Emulator, client: Client,
                                                    interval: Any, step: pd.Timedelta) -> None:
    detections, paged = requests_of(demo_emulator, lambda: client.detections_df(
        START, END, min_confidence=0.05, cache=False))
    counts, sent = requests_of(demo_emulator, lambda: client.detection_counts(
        START, END, min_confidence=0.05, interval=interval))
    pd.testing.assert_frame_equal(counts, grouped(detections, step))
    assert counts["count"].sum() == len(detections)
    assert sent <= 2 < len(detections) // 1000 <= paged


@pytest.mark.parametrize("filters", [
    {"min_confidence": 0.5},
    {"classifications": ["boana_faber", "amazona_vittata"], "min_confidence": 0.2},
])
def test_counts_equal_the_groupby_under_filters(client: Client, filters: dict[str, Any]) -> None:
    streams = sorted(client.streams_df()["id"].astype(str))[:2]
    detections = client.detections_df(START, END, streams=streams, cache=False, **filters)
    counts = client.detection_counts(START, END, streams=streams, interval="6h", **filters)
    pd.testing.assert_frame_equal(counts, grouped(detections, pd.Timedelta(hours=6)))
    by_stream = client.detection_counts(START, END, streams=streams, interval="1d",
                                        by_stream=True, **filters)
    pd.testing.assert_frame_equal(by_stream, grouped(detections, pd.Timedelta(days=1),
                                                     by_stream=True))


@pytest.mark.parametrize("aggregate", ["avg", "sum", "min", "max"])
def test_aggregates_of_confidence(client: Client, aggregate: str) -> None:
    detections = client.detections_df(START, END, min_confidence=0.3, cache=False)
    counts = client.detection_counts(START, END, min_confidence=0.3, interval="12h",
                                     aggregate=aggregate, by_stream=True)
    expected = grouped(detections, pd.Timedelta(hours=12), aggregate, by_stream=True)
    pd.testing.assert_frame_equal(counts, expected, rtol=1e-5)


def test_classifiers_and_review_statuses_are_counted_by_the_summary(
        demo_emulator: Emulator, client: Client) -> None:
    everything = client.detections_df(START, END, min_confidence=0.2, cache=False)
    statuses = ["confirmed", "rejected", "unreviewed"]
    classifier = int(everything["classifier_id"].mode()[0])
    detections = client.detections_df(START, END, classifiers=classifier, min_confidence=0.2,
                                      review_statuses=statuses, cache=False)
    assert 0 < len(detections) < len(everything)
    counts = client.detection_counts(START, END, classifiers=classifier, min_confidence=0.2,
                                     review_statuses=statuses, interval="1d")
    pd.testing.assert_frame_equal(counts, grouped(detections, pd.Timedelta(days=1)))


def test_a_full_answer_is_split_in_time_not_paged(demo_emulator: Emulator, client: Client,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    whole = client.detection_counts(START, END, interval="1h")
    monkeypatch.setattr(config, "COUNTS_LIMIT", 25)
    split, sent = requests_of(demo_emulator,
                              lambda: client.detection_counts(START, END, interval="1h"))
    pd.testing.assert_frame_equal(split, whole)
    assert sent > len(whole) // 25


def test_buckets_are_utc_days_and_the_query_is_recorded(client: Client) -> None:
    counts = client.detection_counts("2024-03-01T12:00", "2024-03-03")
    assert set(counts["time_bucket"]) == {pd.Timestamp("2024-03-01", tz="UTC"),
                                         pd.Timestamp("2024-03-02", tz="UTC")}
    query = counts.attrs["query"]
    assert query["endpoint"] == "/clustered-detections"
    assert query["params"]["interval"] == "1d" and query["start"] == "2024-03-01T12:00:00.000Z"


def test_nothing_to_count_is_an_empty_typed_frame(client: Client) -> None:
    counts = client.detection_counts("2010-01-01", "2010-01-02")
    assert list(counts.columns) == ["time_bucket", "classification_value", "count"]
    assert len(counts) == 0 and str(counts["count"].dtype) == "int64"


@pytest.mark.parametrize("kwargs,error,words", [
    ({"interval": "1w"}, ValueError, ["interval", "'1d'", "'15m'", "'1w'"]),
    ({"interval": "0d"}, ValueError, ["interval", "'0d'"]),
    ({"interval": pd.Timedelta(milliseconds=1500)}, ValueError, ["interval", "whole seconds"]),
    ({"interval": 3600}, TypeError, ["interval", "int"]),
    ({"aggregate": "median"}, ValueError, ["aggregate", "count, avg, sum, min, max"]),
    ({"aggregate": "avg", "field": "start"}, ValueError, ["field", "confidence", "'start'"]),
    ({"field": "confidence"}, ValueError, ["field", "count"]),
    ({"aggregate": "avg", "review_statuses": "confirmed"}, ValueError,
     ["aggregate", "'count'", "review_statuses"]),
    ({"review_statuses": "approved"}, ValueError, ["review_statuses", "confirmed"]),
    ({"min_confidence": 2}, ValueError, ["min_confidence"]),
    ({"by_stream": "yes"}, TypeError, ["by_stream"]),
    ({"start": "2024-03-09"}, ValueError, ["start", "end"]),
])
def test_bad_input_fails_before_any_request(demo_emulator: Emulator, client: Client,
                                            kwargs: dict[str, Any], error: type[Exception],
                                            words: list[str]) -> None:
    args = {"start": START, "end": END, **kwargs}
    demo_emulator.reset_stats()
    with pytest.raises(error) as info:
        client.detection_counts(**args)
    assert all(w in str(info.value) for w in words), str(info.value)
    assert demo_emulator.stats()["total_requests"] == 0


@pytest.mark.parametrize("kwargs,argument", [
    ({"streams": "zzzzzzzzzzzz"}, "streams"),
    ({"classifications": "no_such_species"}, "classifications"),
    ({"classifiers": 99999, "review_statuses": "confirmed"}, "classifiers"),
])
def test_unknown_ids_are_errors_not_empty_frames(client: Client, kwargs: dict[str, Any],
                                                 argument: str) -> None:
    with pytest.raises(UnknownIdError) as info:
        client.detection_counts(START, END, **kwargs)
    assert info.value.argument == argument


def test_split_answers_are_whole_when_ties_come_in_any_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows of one bucket have no stable order upstream: offsets could skip or repeat them.
    with running(world="demo", days=3, tie_order="random", data_dir=tmp_path / "w") as emu, \
            emu.client(progress=False, cache=False) as client:
        detections = client.detections_df("2024-03-01", "2024-03-04", min_confidence=0.1)
        monkeypatch.setattr(config, "COUNTS_LIMIT", 7)
        counts = client.detection_counts("2024-03-01", "2024-03-04", min_confidence=0.1,
                                         interval="2h")
    pd.testing.assert_frame_equal(counts, grouped(detections, pd.Timedelta(hours=2)))
