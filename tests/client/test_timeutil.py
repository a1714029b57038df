"""Parsing user times (naive = UTC, aware converted) and wire formats."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from rfcx_frames.timeutil import (
    from_epoch_ms,
    to_compact,
    to_epoch_ms,
    to_utc,
    to_wire,
    window,
)

NOON = pd.Timestamp("2024-03-01T12:00:00Z")


@pytest.mark.parametrize("value", [
    "2024-03-01T12:00:00Z",
    "2024-03-01T12:00:00",
    "2024-03-01 12:00:00",
    "2024-03-01T12:00:00.000Z",
    "2024-03-01T14:00:00+02:00",
    "2024-03-01T07:00:00-05:00",
    dt.datetime(2024, 3, 1, 12),
    dt.datetime(2024, 3, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
    pd.Timestamp("2024-03-01 12:00"),
    pd.Timestamp("2024-03-01 13:00", tz="Europe/Paris"),
    np.datetime64("2024-03-01T12:00:00"),
])
def test_every_accepted_form_means_the_same_instant(value: object) -> None:
    parsed = to_utc(value)  # type: ignore[arg-type]
    assert parsed == NOON
    assert str(parsed.tz) == "UTC"


def test_date_is_midnight_utc() -> None:
    assert to_utc(dt.date(2024, 3, 2)) == pd.Timestamp("2024-03-02T00:00:00Z")


@pytest.mark.parametrize("value", ["not a date", "", "2024-13-45", "   "])
def test_unparseable_strings_name_the_argument(value: str) -> None:
    with pytest.raises(ValueError, match="my_arg"):
        to_utc(value, "my_arg")


@pytest.mark.parametrize("value", [1.5, 1709251200000.0, True, None, [2024], "1709251200000"])
def test_non_times_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="when=.* is refused"):
        to_utc(value, "when")  # type: ignore[arg-type]


def test_nat_is_refused() -> None:
    with pytest.raises(ValueError, match="t"):
        to_utc(pd.NaT, "t")  # type: ignore[arg-type]


def test_wire_formats() -> None:
    ts = to_utc("2024-03-01T01:02:03.004567+01:00")
    assert to_wire(ts) == "2024-03-01T00:02:03.004Z"
    assert to_compact(ts) == "20240301T000203004Z"
    assert to_epoch_ms(ts) == 1709251323004
    assert from_epoch_ms(1709251323004) == pd.Timestamp("2024-03-01T00:02:03.004Z")


def test_window_checks_order() -> None:
    assert window("2024-03-01", "2024-03-01")[0] == window("2024-03-01", "2024-03-01")[1]
    with pytest.raises(ValueError, match=r"from_ .* is after to_"):
        window("2024-03-02", "2024-03-01", start_name="from_", end_name="to_")
    with pytest.raises(TypeError, match="end"):
        window("2024-03-01", None)  # type: ignore[arg-type]
