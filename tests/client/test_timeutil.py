"""Parsing user times (naive = UTC, aware converted) and wire formats."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

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
    with pytest.raises(ValueError, match=r"when=.* is refused"):
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


def _time_section() -> str:
    text = (Path(__file__).resolve().parents[2] / "docs" / "time.md").read_text()
    return text.split("## Times you pass", 1)[1].split("\n## ", 1)[0]


def test_docs_list_exactly_the_accepted_forms() -> None:
    section = _time_section()
    table, refused = section.split("**Refused**", 1)
    accepted = re.findall(r'`"([^"`]+)"`', table)
    accepted = [a for a in accepted if not a.startswith("…")]
    assert "2024-03-01T06:00:00-04:00" in accepted and len(accepted) >= 6
    for text in accepted:
        assert to_utc(text) == to_utc(text.replace(" ", "T", 1))
    refused_texts = re.findall(r'`"([^"`]+)"`', refused.split("```", 1)[0])
    assert {"01/03/2024", "13/03/2024", "1 March 2024", "6am", "now", "today"} <= set(
        refused_texts)
    for text in refused_texts:
        with pytest.raises(ValueError, match="is refused"):
            to_utc(text, "start")
    # The integer in the table is epoch milliseconds of the same instant as its ISO twin.
    assert to_utc(int(re.findall(r"`(\d{13})`", table)[0])) == to_utc("2024-03-01T06:00Z")


@pytest.mark.parametrize("value", ["2024-03", "2024-03-01T06", "2024-061", "2024-W09-5",
                                   "2024-03-01T24:00", "2024-02-30", " ", "2024-03-01Z",
                                   "+2024-03-01"])
def test_other_iso_spellings_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is refused"):
        to_utc(value, "start")


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-03-01T06:00:00,5+0100", "2024-03-01T05:00:00.5Z"),
    ("2024-03-01T06:00-04", "2024-03-01T10:00Z"),
    ("  2024-03-01  ", "2024-03-01T00:00Z"),
    ("2024-03-01T06:00:00.123456789Z", "2024-03-01T06:00:00.123456789Z"),
    (np.int64(1709272800000), "2024-03-01T06:00Z"),
    (0, "1970-01-01T00:00Z"),
])
def test_accepted_edge_forms(value: object, expected: str) -> None:
    assert to_utc(value) == pd.Timestamp(expected)  # type: ignore[arg-type]
