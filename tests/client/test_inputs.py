"""Inputs are read exactly, or refused: times, ids and numeric bounds through the public API.

Every refusal names the argument, shows an accepted form, and is raised before a request
that would depend on it; unknown ids never come back as an empty or partial frame.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rfcx_frames import Client, NotFoundError, UnknownIdError
from rfcx_frames.emulator import Emulator

START, END = "2024-03-01T06:00:00Z", "2024-03-01T09:00:00Z"
REFUSED_TIMES = ["01/03/2024", "13/03/2024", "1 March 2024", "6am", "now", "today",
                 "2300-01-01", "2024-03-01T06:00:00 UTC", "20240301"]
DEMO_USER_ID = 1


def own_streams(emu: Emulator) -> pd.DataFrame:
    return emu.client(progress=False, cache=False).streams_df()


def other_public_stream(emu: Emulator) -> str:
    """A public stream of another user: not in the demo user's listing, still readable."""
    rows = emu.store.query(
        "SELECT s.id FROM streams s WHERE s.deleted_at IS NULL AND s.created_by_id != ? "
        "AND s.is_public = 1 ORDER BY s.id", (DEMO_USER_ID,))
    mine = set(own_streams(emu)["id"])
    return next(r["id"] for r in rows if r["id"] not in mine)


# ------------------------------------------------------------------------------- times


@pytest.mark.parametrize("text", REFUSED_TIMES)
def test_refused_time_forms_name_the_argument_and_send_nothing(
        client: Client, demo_emulator: Emulator, text: str) -> None:
    stream = str(own_streams(demo_emulator)["id"].iloc[0])
    before = client.session.requests_sent
    with pytest.raises(ValueError, match=r"start='.*' is refused: .*e\.g\. '2024-03-01'"):
        client.detections_df(text, END, streams=stream)
    with pytest.raises(ValueError, match=r"end='.*' is refused: .*e\.g\. '2024-03-01'"):
        client.segments_df(stream, START, text)
    with pytest.raises(ValueError, match=r"min_date='.*' is refused"):
        client.detections(text, END)
    assert client.session.requests_sent == before


@pytest.mark.parametrize("value", [dt.datetime(2300, 1, 1), pd.Timestamp("2300-01-01"),
                                   np.datetime64("2300-01-01"), 10**16, -(10**16),
                                   "2262-04-12T00:00:00Z", "1677-01-01"])
def test_times_outside_what_the_platform_holds_are_refused_by_name(
        client: Client, value: Any) -> None:
    with pytest.raises(ValueError, match=r"end=.* is refused: .*outside 1677-09-21T00:12:43"):
        client.annotations_df(START, value)


def test_epoch_milliseconds_mean_the_same_instant_as_iso(
        client: Client, demo_emulator: Emulator) -> None:
    stream = str(own_streams(demo_emulator)["id"].iloc[0])
    start_ms = int(pd.Timestamp(START).value // 1_000_000)
    end_ms = int(pd.Timestamp(END).value // 1_000_000)
    iso = client.detections_df(START, END, streams=stream, min_confidence=0, cache=False)
    ms = client.detections_df(start_ms, end_ms, streams=stream, min_confidence=0,
                              cache=False)
    assert len(iso) > 0
    pd.testing.assert_frame_equal(ms, iso)
    assert ms.attrs["query"]["start"] == "2024-03-01T06:00:00.000Z"
    segs_ms = client.segments_df(stream, start_ms, np.int64(end_ms), cache=False)
    pd.testing.assert_frame_equal(segs_ms, client.segments_df(stream, START, END, cache=False))


def test_naive_and_offset_forms_are_utc_and_converted(client: Client,
                                                      demo_emulator: Emulator) -> None:
    stream = str(own_streams(demo_emulator)["id"].iloc[0])
    utc = client.segments_df(stream, START, END, cache=False)
    for start, end in [("2024-03-01 06:00", "2024-03-01T09:00"),
                       ("2024-03-01T02:00:00-04:00", "2024-03-01T05:00-0400"),
                       (dt.datetime(2024, 3, 1, 6), pd.Timestamp("2024-03-01 10:00+01:00"))]:
        pd.testing.assert_frame_equal(client.segments_df(stream, start, end, cache=False), utc)


# --------------------------------------------------------------------------------- ids


def test_an_unknown_stream_among_good_ones_raises_and_fetches_no_detections(
        demo_emulator: Emulator) -> None:
    good = str(own_streams(demo_emulator)["id"].iloc[0])
    with demo_emulator.client(progress=False) as c:
        demo_emulator.reset_stats()
        with pytest.raises(NotFoundError, match="unknown streams 'typo', 'nosuchstream'") as err:
            c.detections_df(START, END, streams=["typo", good, "nosuchstream"])
        requests = demo_emulator.stats()["requests"]
    assert isinstance(err.value, UnknownIdError)
    assert err.value.argument == "streams"
    assert err.value.unknown == ["typo", "nosuchstream"]
    assert "'nosuchstream'" in str(err.value)
    assert "GET /detections" not in requests


def test_a_stream_name_gets_told_its_id(client: Client, demo_emulator: Emulator) -> None:
    row = own_streams(demo_emulator).iloc[0]
    name, sid = str(row["name"]), str(row["id"])
    with pytest.raises(UnknownIdError, match=(f"{name!r} is a stream name, not an id: "
                                               f"the id is {sid!r}")) as err:
        client.annotations_df(START, END, streams=[name])
    assert err.value.names == {name: [sid]}
    with pytest.raises(UnknownIdError, match=f"the id is {sid!r}"):
        client.segments_df(name.upper(), START, END)


def test_another_users_public_stream_is_found_and_a_private_one_is_not(
        client: Client, demo_emulator: Emulator) -> None:
    public = other_public_stream(demo_emulator)
    assert list(client.segments_df(public, START, END, cache=False).columns)
    theirs = demo_emulator.client(token=demo_emulator.tokens["other"], cache=False,
                                  progress=False).streams_df()
    mine = set(own_streams(demo_emulator)["id"])
    private = theirs[~theirs["id"].isin(mine) & ~theirs["is_public"].astype(bool)]
    hidden = str(private["id"].iloc[0])
    with pytest.raises(UnknownIdError, match=f"unknown stream {hidden!r} \\(or not readable"):
        client.detections_df(START, END, streams=hidden)


@pytest.mark.parametrize(("call", "argument", "value"), [
    (lambda c: c.detections_df(START, END, projects=["nosuchprojct"]), "projects",
     "'nosuchprojct'"),
    (lambda c: c.detections_df(START, END, classifiers=[424242], min_confidence=0),
     "classifiers", "424242"),
    (lambda c: c.detections_df(START, END, classifications=["panthera_oncaa"]),
     "classifications", "'panthera_oncaa'"),
    (lambda c: c.annotations_df(START, END, classifications=["no_such/../value"]),
     "classifications", "'no_such/../value'"),
])
def test_unknown_project_classifier_and_classification_raise(
        client: Client, call: Callable[[Client], Any], argument: str, value: str) -> None:
    with pytest.raises(NotFoundError, match=f"{argument}: unknown .*{value}") as err:
        call(client)
    assert isinstance(err.value, UnknownIdError) and err.value.argument == argument


def test_known_filters_with_no_rows_are_an_empty_frame_not_an_error(
        client: Client, demo_emulator: Emulator) -> None:
    values = demo_emulator.store.query("SELECT value FROM classifications ORDER BY id")
    projects = client.projects_df()
    classifier = demo_emulator.store.query("SELECT id FROM classifiers ORDER BY id")[0]["id"]
    # A window before the world's data: every filter is valid, no row matches.
    frame = client.detections_df("2020-01-01", "2020-01-02",
                                 classifications=[values[0]["value"]],
                                 classifiers=[classifier], projects=[projects["id"].iloc[0]])
    assert frame.empty


def test_path_ids_cannot_reach_another_endpoint(demo_emulator: Emulator) -> None:
    with demo_emulator.client(progress=False) as c:
        demo_emulator.reset_stats()
        with pytest.raises(UnknownIdError, match=r"unknown stream 'x/\.\./\.\./projects\?'"):
            c.segments_df("x/../../projects?", START, END)
        with pytest.raises(ValueError, match=r"stream_id='x/\.\./\.\./projects' is not a platform"):
            c.stream("x/../../projects")
        with pytest.raises(ValueError, match=r"stream='\.\./projects\?' is not a platform id"):
            c.stream_segments("../projects?", START, END)
        with pytest.raises(UnknownIdError, match=r"unknown stream '\.\./\.\./projects'"):
            c.load_window("../../projects", START, "2024-03-01T06:00:01Z")
        stats = demo_emulator.stats()
    assert "GET /projects" not in stats["requests"]
    assert all("unmatched" not in route for route in stats["requests"])
    assert set(stats["requests"]) <= {"GET /streams"}


def test_the_id_check_costs_one_request_and_none_once_the_listing_is_cached(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    streams = list(own_streams(demo_emulator)["id"][:2])

    def cost(c: Client, cache: Any = None) -> tuple[int, int]:
        demo_emulator.reset_stats()
        c.detections_df(START, END, streams=streams, min_confidence=0.3, cache=cache)
        stats = demo_emulator.stats()
        return stats["total_requests"], stats["requests"].get("GET /streams", 0)

    with demo_emulator.client(progress=False, cache_dir=tmp_path / "listed") as c:
        c.streams_df()                              # the client's cache holds the listing
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "listed") as c:
        cached, cached_listings = cost(c)
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "cold") as c:
        cold, cold_listings = cost(c)
    assert (cached_listings, cold_listings) == (0, 1)
    assert cold == cached + 1 and cached > 0
    # Cache off: one listing per client, none for its later queries.
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "listed") as c:
        off, off_listings = cost(c, cache=False)
        again, again_listings = cost(c, cache=False)
    assert (off_listings, again_listings) == (1, 0)
    assert off == again + 1 and again > 0


def test_a_stale_cached_listing_costs_one_fresh_listing_for_a_new_id(
        fresh_emulator: Emulator, tmp_path: Path) -> None:
    emu = fresh_emulator
    with emu.client(progress=False, cache_dir=tmp_path) as c:
        mine = str(c.streams_df()["id"].iloc[0])      # the listing is now cached
    with emu.store.connect() as conn:                  # a stream created since
        columns = [r[1] for r in conn.execute("PRAGMA table_info(streams)")]
        picks = ", ".join("?" if col in ("id", "name") else col for col in columns)
        conn.execute(f"INSERT INTO streams ({', '.join(columns)}) SELECT {picks} FROM streams "
                     "WHERE id = ?", (*(("zzzznewstrm1" if col == "id" else "New site")
                                        for col in columns if col in ("id", "name")), mine))
    with emu.client(progress=False, cache_dir=tmp_path) as c:
        emu.reset_stats()
        c.detections_df(START, END, streams=[mine, "zzzznewstrm1"])
        requests = emu.stats()["requests"]
    assert requests.get("GET /streams") == 1
    assert "GET /streams/{id}" not in requests


# ------------------------------------------------------------------------ numeric bounds


def _rows(stream: str) -> pd.DataFrame:
    return pd.DataFrame({"stream_id": [stream], "start": [pd.Timestamp(START)],
                         "end": [pd.Timestamp(START) + pd.Timedelta(seconds=1)]})


@pytest.mark.parametrize("rate", [44100.5, 48000.0, "24000", 0, -8000, 384_001, 10**9, True])
def test_sample_rate_is_an_integer_between_1_hz_and_384_khz(
        client: Client, demo_emulator: Emulator, rate: Any) -> None:
    stream = str(own_streams(demo_emulator)["id"].iloc[0])
    before = client.session.requests_sent
    match = "sample_rate must be an integer number of Hz between 1 and 384000"
    with pytest.raises(ValueError, match=match):
        client.load_window(stream, START, "2024-03-01T06:00:01Z", sample_rate=rate)
    with pytest.raises(ValueError, match=match):
        client.clips(_rows(stream), duration=1.0, sample_rate=rate)
    with pytest.raises(ValueError, match=match):
        client.clips(_rows(stream), duration=1.0, sample_rate=rate, source="server")
    assert client.session.requests_sent == before


@pytest.mark.parametrize(("options", "argument"), [
    ({"duration": 0}, "duration"), ({"duration": -1.0}, "duration"),
    ({"duration": math.nan}, "duration"), ({"duration": math.inf}, "duration"),
    ({"duration": "3"}, "duration"), ({"pad": -0.5}, "pad"), ({"pad": math.nan}, "pad"),
    ({"pad": math.inf}, "pad"),
])
def test_clip_duration_and_pad_are_finite_and_positive(
        client: Client, demo_emulator: Emulator, options: dict[str, Any], argument: str) -> None:
    stream = str(own_streams(demo_emulator)["id"].iloc[0])
    with pytest.raises(ValueError, match=f"{argument} must be a finite number of seconds"):
        client.clips(_rows(stream), **{"duration": 1.0, **options})
    with pytest.raises(ValueError, match=f"{argument} must be a finite number of seconds"):
        client.clips(_rows(stream), **{"duration": 1.0, **options}, source="server")


def test_training_set_durations_are_checked(client: Client, demo_emulator: Emulator) -> None:
    stream = str(own_streams(demo_emulator)["id"].iloc[0])
    rows = _rows(stream).assign(classification_value="x")
    with pytest.raises(ValueError, match="clip_duration must be a finite number"):
        client.training_set(rows, clip_duration=math.nan)
    with pytest.raises(ValueError, match="step must be a finite number"):
        client.training_set(rows, clip_duration=2.0, step=-1)


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, (5, 0), (math.nan, 5)])
def test_timeout_is_checked_when_the_client_is_built(demo_emulator: Emulator,
                                                     timeout: Any) -> None:
    before = demo_emulator.stats()["total_requests"]
    with pytest.raises(ValueError, match="timeout must be seconds > 0"):
        demo_emulator.client(timeout=timeout)
    assert demo_emulator.stats()["total_requests"] == before


@pytest.mark.parametrize("timeout", ["10", (5,), None, True])
def test_a_timeout_that_is_not_seconds_is_a_type_error(demo_emulator: Emulator,
                                                       timeout: Any) -> None:
    with pytest.raises(TypeError, match="timeout must be seconds"):
        demo_emulator.client(timeout=timeout)


def test_good_timeouts_are_kept(demo_emulator: Emulator) -> None:
    assert demo_emulator.client(timeout=5).session.timeout == 5
    assert demo_emulator.client(timeout=(2, 30)).session.timeout == (2, 30)
