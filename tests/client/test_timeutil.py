"""Parsing user times (naive = UTC, aware converted) and wire formats."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rfcx_frames.timeutil import (
    DAY_NS,
    day_label,
    day_of,
    from_epoch_ms,
    from_ns,
    iso_to_ns,
    ns_to_iso,
    to_compact,
    to_epoch_ms,
    to_ns,
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


# --------------------------------------------------------------------- nanosecond instants


def iso_cases() -> list[int]:
    day_ns = 86_400 * 10**9
    fixed = [0, 1, 5, 999, 1_000, 1_001, 1_500, 999_999, 10**9 - 1, 10**9, 10**9 + 1]
    fixed += [day_ns - 1, day_ns, day_ns + 1, day_ns + 1_000, 2 * day_ns - 1_000]
    fixed += [-1, -5, -999, -1_000, -1_001, -10**9, -day_ns - 1, -day_ns, -day_ns + 1, -day_ns + 1_000]
    for text in ("2024-01-01", "2024-02-29T23:59:59.999999", "2024-03-01", "1900-01-01", "2200-12-31"):
        base = to_ns(text)
        fixed += [base - 1, base, base + 1, base + 1_000, base - 1_000, base + 123_456_789]
    fixed += [int(pd.Timestamp.min.value), int(pd.Timestamp.max.value)]
    rng = np.random.default_rng(5)
    lo, hi = -(2**62), 2**62
    fixed += [int(v) for v in rng.integers(lo, hi, 300, dtype=np.int64)]
    fixed += [int(v) * 1_000 for v in rng.integers(lo // 1_000, hi // 1_000, 300, dtype=np.int64)]
    return fixed


def test_iso_to_ns_inverts_ns_to_iso() -> None:
    cases = iso_cases()
    assert any(v % 1_000 for v in cases) and any(v < 0 for v in cases)
    wrong = [(v, ns_to_iso(v), iso_to_ns(ns_to_iso(v))) for v in cases if iso_to_ns(ns_to_iso(v)) != v]
    assert wrong == []
    # The fast path agrees with pandas on the same text.
    assert all(iso_to_ns(ns_to_iso(v)) == to_ns(ns_to_iso(v)) for v in cases[:200])


def test_timestamp_round_trip_and_naive_is_utc() -> None:
    ts = pd.Timestamp("2024-05-06T07:08:09.123456789Z")
    assert from_ns(to_ns(ts)) == ts
    assert to_ns("2024-01-01") == to_ns(pd.Timestamp("2024-01-01", tz="UTC"))
    assert to_ns(pd.Timestamp("2024-01-01T03:00", tz="Asia/Bangkok")) == to_ns(
        "2023-12-31T20:00:00Z"
    )


def test_days_are_utc_days_before_and_after_1970() -> None:
    noon = to_ns("2024-03-01T12:00:00Z")
    assert day_of(noon) == to_ns("2024-03-01") and day_label(day_of(noon)) == "2024-03-01"
    before = to_ns("1969-12-31T23:59:59.999999999Z")
    assert day_of(before) == -DAY_NS and day_label(day_of(before)) == "1969-12-31"
