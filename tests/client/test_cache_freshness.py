"""Cached data is never silently stale: max age, provenance, platform identity, one copy.

Every test moves time with ``Client(clock=...)``; requests are counted at the emulator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
import requests

from rfcx_frames import Client, cache
from rfcx_frames.cache.disk import LAYOUT
from rfcx_frames.cache.manifest import MANIFEST
from rfcx_frames.convert import frame_from_table
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.exceptions import NotCachedError
from rfcx_frames.schemas import DETECTION, arrow_schema, pandas_dtypes

# The one-day worlds span 2024-03-01; the clock starts a month later.
DAY_START, DAY_END = "2024-03-01", "2024-03-02"
T0 = pd.Timestamp("2024-04-01 08:00", tz="UTC")
START, MID, END = "2024-03-01", "2024-03-03", "2024-03-05"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: pd.Timestamp) -> None:
        self.at = at

    def __call__(self) -> pd.Timestamp:
        return self.at

    def advance(self, delta: str) -> None:
        self.at = self.at + pd.Timedelta(delta)


def _requests(emu: Emulator, action: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    emu.reset_stats()
    frame = action()
    return frame, int(emu.stats()["total_requests"])


def _review(emu: Emulator, detection_id: int, status: int) -> None:
    """Change a review status in the emulator's database, as a reviewer on the platform would."""
    with emu.store.connect() as conn:
        conn.execute("UPDATE detections SET review_status = ? WHERE id = ?", (status, detection_id))


def test_a_review_is_seen_once_max_age_has_passed_and_not_before(fresh_emulator: Emulator,
                                                                tmp_path: Path) -> None:
    emu, clock = fresh_emulator, Clock(T0)
    with emu.client(progress=False, cache_dir=tmp_path, clock=clock) as c:  # default max age

        # Named streams: without them, the stream listing (kept one hour) is asked again.
        streams = [str(s) for s in c.streams_df()["id"]]

        def query(**kw: object) -> pd.DataFrame:
            return c.detections_df(DAY_START, DAY_END, streams=streams,  # type: ignore[arg-type]
                                   min_confidence=0.5, **kw)

        first = query()
        target = int(first.loc[first["review_status"] == "unreviewed", "id"].iloc[0])
        _review(emu, target, 1)

        def status(frame: pd.DataFrame) -> str:
            return str(frame.loc[frame["id"] == target, "review_status"].iloc[0])

        clock.advance("11h")  # within the default 12 hours: answered from the cache
        warm, sent = _requests(emu, query)
        assert sent == 0 and status(warm) == "unreviewed"
        assert warm.attrs["query"]["from_cache"] is True
        assert pd.Timestamp(warm.attrs["query"]["fetched_at"]) == T0

        clock.advance("2h")  # 13 hours after the fetch: fetched again, the review is seen
        later, sent = _requests(emu, query)
        assert sent > 0 and status(later) == "confirmed"
        assert later.attrs["query"]["from_cache"] is False
        assert pd.Timestamp(later.attrs["query"]["fetched_at"]) == clock.at

        # A per-call max_age outranks the client's: 30 minutes old is too old here.
        _review(emu, target, -1)
        clock.advance("1h")
        again, sent = _requests(emu, query)
        assert sent == 0 and status(again) == "confirmed"
        strict, sent = _requests(emu, lambda: query(max_age="30m"))
        assert sent > 0 and status(strict) == "rejected"
        # Offline answers from what is cached, however old.
        clock.advance("30 days")
        offline, sent = _requests(emu, lambda: query(cache="offline"))
        assert sent == 0 and status(offline) == "rejected"
    with emu.client(progress=False, cache=False) as c:
        pd.testing.assert_frame_equal(strict, c.detections_df(DAY_START, DAY_END, streams=streams,
                                                              min_confidence=0.5))


def test_client_max_age_and_never(fresh_emulator: Emulator, tmp_path: Path) -> None:
    emu, clock = fresh_emulator, Clock(T0)
    with emu.client(progress=False, cache_dir=tmp_path, clock=clock, cache_max_age="1h") as c:
        streams = [str(s) for s in c.streams_df()["id"]]
        c.annotations_df(DAY_START, DAY_END, streams=streams)
        clock.advance("2h")
        _, sent = _requests(emu, lambda: c.annotations_df(DAY_START, DAY_END, streams=streams))
        assert sent > 0
        clock.advance("400 days")
        _, sent = _requests(emu, lambda: c.annotations_df(DAY_START, DAY_END, streams=streams,
                                                            max_age="never"))
        assert sent == 0
    # Segments keep the horizon rule: complete windows never expire by default.
    with emu.client(progress=False, cache_dir=tmp_path, clock=clock) as c:
        stream = str(c.streams_df()["id"].iloc[0])
        c.segments_df(stream, DAY_START, DAY_END)
        clock.advance("400 days")
        _, sent = _requests(emu, lambda: c.segments_df(stream, DAY_START, DAY_END))
        assert sent == 0


@pytest.mark.parametrize("bad", ["-1h", "soon", 5, True])
def test_bad_max_age_names_the_argument(demo_emulator: Emulator, bad: object) -> None:
    with pytest.raises(ValueError, match="cache_max_age"):
        demo_emulator.client(cache_max_age=bad)
    with demo_emulator.client(progress=False) as c, pytest.raises(ValueError, match="max_age"):
        c.detections_df(START, MID, max_age=bad)


def test_fetched_at_is_the_oldest_fetch_of_the_rows(demo_emulator: Emulator,
                                                    tmp_path: Path) -> None:
    emu, clock = demo_emulator, Clock(T0)
    with emu.client(progress=False, cache_dir=tmp_path, clock=clock) as c:
        streams = [str(s) for s in c.streams_df()["id"]][:3]
        # Listings say how old they are too.
        listing, sent = _requests(emu, lambda: c.streams_df())
        assert sent == 0 and listing.attrs["query"]["from_cache"] is True
        assert pd.Timestamp(listing.attrs["query"]["fetched_at"]) == T0
        c.detections_df(START, MID, streams=streams, min_confidence=0.5)
        clock.advance("1h")
        both = c.detections_df(START, END, streams=streams, min_confidence=0.5)
        assert both.attrs["query"]["from_cache"] is False  # the second half was fetched
        assert pd.Timestamp(both.attrs["query"]["fetched_at"]) == T0  # the first half is older
        clock.advance("1h")
        repeat, sent = _requests(emu, lambda: c.detections_df(START, END, streams=streams,
                                                                min_confidence=0.5))
        assert sent == 0 and repeat.attrs["query"]["from_cache"] is True
        assert pd.Timestamp(repeat.attrs["query"]["fetched_at"]) == T0
        # Only the later half: only its fetch time.
        half = c.detections_df(MID, END, streams=streams, min_confidence=0.5)
        assert pd.Timestamp(half.attrs["query"]["fetched_at"]) == T0 + pd.Timedelta("1h")
        fresh = c.streams_df(max_age="30m")
        assert fresh.attrs["query"]["from_cache"] is False
    with emu.client(progress=False, cache=False, clock=clock) as c:
        uncached = c.detections_df(MID, END, streams=streams)
    assert uncached.attrs["query"]["from_cache"] is False
    assert pd.Timestamp(uncached.attrs["query"]["fetched_at"]) == clock.at


def test_an_old_manifest_counts_as_fetched_when_created(demo_emulator: Emulator,
                                                       tmp_path: Path) -> None:
    """Manifests written before fetch times were kept still answer, as old as they can be."""
    emu, clock = demo_emulator, Clock(T0)
    with emu.client(progress=False, cache_dir=tmp_path, clock=clock) as c:
        streams = [str(s) for s in c.streams_df()["id"]][:2]
        expected = c.detections_df(START, MID, streams=streams, min_confidence=0.5)
    (manifest_path,) = (tmp_path / LAYOUT / "detections").glob(f"*/{MANIFEST}")
    doc = json.loads(manifest_path.read_text())
    for state in doc["streams"].values():
        del state["fetched"]
    doc["created"] = (T0 - pd.Timedelta("2h")).isoformat()
    manifest_path.write_text(json.dumps(doc))
    clock.advance("1h")
    with emu.client(progress=False, cache_dir=tmp_path, clock=clock) as c:
        old, sent = _requests(emu, lambda: c.detections_df(START, MID, streams=streams,
                                                             min_confidence=0.5))
        assert sent == 0
        assert pd.Timestamp(old.attrs["query"]["fetched_at"]) == T0 - pd.Timedelta("2h")
        pd.testing.assert_frame_equal(old, expected)
        clock.advance("10h")  # 13 hours after the manifest's creation
        _, sent = _requests(emu, lambda: c.detections_df(START, MID, streams=streams,
                                                           min_confidence=0.5))
        assert sent > 0
    doc = json.loads(manifest_path.read_text())
    assert all("fetched" in state for state in doc["streams"].values())


def _entries(cache_dir: Path) -> set[str]:
    return {p.name for p in (cache_dir / LAYOUT).glob("*/*") if p.is_dir()}


def test_a_restarted_emulator_is_answered_from_the_cache(tmp_path: Path) -> None:
    cache_dir, clock = tmp_path / "cache", Clock(T0)
    with running(world="demo", days=1, data_dir=tmp_path / "world") as emu:
        with emu.client(progress=False, cache_dir=cache_dir, clock=clock) as c:
            detections = c.detections_df(DAY_START, DAY_END, min_confidence=0.5)
            annotations = c.annotations_df(DAY_START, DAY_END)
        first_url = emu.api_url
    entries = _entries(cache_dir)
    with running(world="demo", days=1, data_dir=tmp_path / "world") as emu:
        with emu.client(progress=False, cache_dir=cache_dir, clock=clock) as c:
            again = c.detections_df(DAY_START, DAY_END, min_confidence=0.5)
            again_ann = c.annotations_df(DAY_START, DAY_END)
        stats = emu.stats()
        second_url, token = emu.api_url, emu.token
        assert stats["total_requests"] == 0  # no row, no listing fetched again
        assert stats["identity_requests"] == 1  # one small question per client
        # A new session, offline: no request at all, from what the cache remembers.
        with Client(api_url=second_url, token=emu.token, cache_dir=cache_dir, clock=clock,
                    progress=False, cache="offline") as c:
            offline = c.detections_df(DAY_START, DAY_END, min_confidence=0.5)
        assert emu.stats()["identity_requests"] == 1
    pd.testing.assert_frame_equal(again, detections)
    pd.testing.assert_frame_equal(again_ann, annotations)
    pd.testing.assert_frame_equal(offline, detections)
    assert again.attrs["query"]["from_cache"] is True
    assert again.attrs["query"]["api_url"] == second_url
    assert _entries(cache_dir) == entries  # no new entry for the new port
    # The old URL is still known offline, whoever listens there now.
    with Client(api_url=first_url, token=token, cache_dir=cache_dir, clock=clock,
                progress=False, cache="offline", retries=0) as c:
        pd.testing.assert_frame_equal(c.detections_df(DAY_START, DAY_END, min_confidence=0.5),
                                      detections)


def test_same_world_and_seed_in_a_fresh_folder_shares_the_cache(tmp_path: Path) -> None:
    cache_dir, clock = tmp_path / "cache", Clock(T0)
    with running(world="demo", days=1) as emu, \
            emu.client(progress=False, cache_dir=cache_dir, clock=clock) as c:
        cold = c.detections_df(DAY_START, DAY_END, min_confidence=0.5)
    with running(world="demo", days=1) as emu:
        with emu.client(progress=False, cache_dir=cache_dir, clock=clock) as c:
            warm, sent = _requests(emu, lambda: c.detections_df(DAY_START, DAY_END,
                                                                  min_confidence=0.5))
        assert sent == 0
    pd.testing.assert_frame_equal(warm, cold)


def test_two_worlds_at_once_never_share_entries(tmp_path: Path) -> None:
    cache_dir, clock = tmp_path / "cache", Clock(T0)
    with running(world="demo", days=1, seed=0) as zero, running(world="demo", days=1,
                                                                seed=1) as one:
        assert zero.platform_id != one.platform_id
        frames = {}
        for emu in (zero, one):
            with emu.client(progress=False, cache_dir=cache_dir, clock=clock) as c:
                frames[emu.platform_id], sent = _requests(
                    emu, lambda c=c: c.detections_df(DAY_START, DAY_END, min_confidence=0.5))
                assert sent > 0  # the other world's rows are not this one's
            with emu.client(progress=False, cache=False) as c:
                pd.testing.assert_frame_equal(
                    frames[emu.platform_id], c.detections_df(DAY_START, DAY_END,
                                                             min_confidence=0.5))
        bases = {e["signature"]["base_url"] for e in cache.info(cache_dir)["ranged"]}
        assert bases == {zero.platform_id, one.platform_id}


def test_a_world_written_to_leaves_its_pristine_twin(tmp_path: Path) -> None:
    """Same name and seed share only while neither was changed through the API."""
    cache_dir, clock = tmp_path / "cache", Clock(T0)
    with running(world="demo", days=1) as pristine, running(world="demo", days=1) as changed:
        assert pristine.platform_id == changed.platform_id
        stream = changed.store.query("SELECT id FROM streams WHERE created_by_id = 1")[0]["id"]
        answer = requests.post(changed.ingest_url, headers={"Authorization":
                                                            f"Bearer {changed.token}"},
                               data={"filename": "a.wav", "stream": stream,
                                     "timestamp": "2024-03-01T10:00:00.000Z"}, timeout=10)
        assert answer.status_code < 400, answer.text
        assert changed.platform_id != pristine.platform_id
        for emu in (pristine, changed):
            with emu.client(progress=False, cache_dir=cache_dir, clock=clock) as c:
                _, sent = _requests(emu, lambda c=c: c.segments_df(stream, DAY_START, DAY_END))
            assert sent > 0


def test_offline_on_a_url_never_asked_raises(tmp_path: Path) -> None:
    with running(world="demo", days=1) as emu, emu.client(
            progress=False, cache_dir=tmp_path, cache="offline") as c, \
            pytest.raises(NotCachedError):
        c.detections_df(DAY_START, DAY_END, streams=["abc"])


def test_dataset_gives_each_row_once_and_equals_the_frame(demo_emulator: Emulator,
                                                         tmp_path: Path) -> None:
    emu, clock = demo_emulator, Clock(T0)
    with emu.client(progress=False, cache_dir=tmp_path, clock=clock) as c:
        streams = [str(s) for s in c.streams_df()["id"]][:4]
        # Looser and stricter pulls over overlapping windows, some fetched again later.
        c.detections_df(START, MID, streams=streams, min_confidence=0.5)
        c.detections_df(START, END, streams=streams, min_confidence=0.9,
                        review_statuses=["confirmed", "unreviewed"])
        c.detections_df("2024-03-02", END, streams=streams, min_confidence=0.5)
        clock.advance("13h")
        c.detections_df(START, "2024-03-02", streams=streams, min_confidence=0.9)
        expected, sent = _requests(emu, lambda: c.detections_df(START, END, streams=streams,
                                                                  min_confidence=0.5,
                                                                  max_age="never"))
        assert sent == 0
    # Reading the folder directly counts rows twice; the dataset does not.
    naive = ds.dataset(str(tmp_path / LAYOUT / "detections"), format="parquet",
                       partitioning="hive", ignore_prefixes=["_", "."]).count_rows()
    table = cache.dataset("detections", tmp_path)
    assert table.schema == arrow_schema(DETECTION)
    assert naive > table.num_rows == len(set(table["id"].to_pylist()))
    schema = arrow_schema(DETECTION)
    frame = frame_from_table(table, schema, pandas_dtypes(DETECTION))
    inside = frame[(frame["start"] >= pd.Timestamp(START, tz="UTC"))
                   & (frame["start"] < pd.Timestamp(END, tz="UTC"))
                   & (frame["confidence"] >= 0.5)
                   & frame["stream_id"].isin(streams)].reset_index(drop=True)
    for column in ("stream_id", "classification_value", "classification_title",
                   "classification_image"):
        inside[column] = inside[column].cat.remove_unused_categories()
    pd.testing.assert_frame_equal(inside, expected)


def test_dataset_prefers_the_latest_fetch_and_refuses_mixed_platforms(
        fresh_emulator: Emulator, tmp_path: Path) -> None:
    emu, clock = fresh_emulator, Clock(T0)
    with emu.client(progress=False, cache_dir=tmp_path, clock=clock) as c:
        loose = c.detections_df(DAY_START, DAY_END, min_confidence=0.5)
        target = int(loose.loc[loose["review_status"] == "unreviewed", "id"].iloc[0])
        _review(emu, target, 1)
        clock.advance("13h")
        # A stricter query fetches its rows again, with the new status, into another entry.
        c.detections_df(DAY_START, DAY_END, min_confidence=0.5,
                        review_statuses=["confirmed"])
        platform = c.platform()
    table = cache.dataset("detections", tmp_path, platform=emu.api_url)
    rows = table.filter(ds.field("id") == target)
    assert rows.num_rows == 1 and rows["review_status"].to_pylist() == ["confirmed"]
    with running(world="demo", days=1, seed=3) as other, \
            other.client(progress=False, cache_dir=tmp_path, clock=clock) as c:
        c.detections_df(DAY_START, DAY_END, min_confidence=0.5)
    with pytest.raises(ValueError, match="platform"):
        cache.dataset("detections", tmp_path)
    assert cache.dataset("detections", tmp_path, platform=platform).num_rows == table.num_rows
    with pytest.raises(ValueError, match="entity"):
        cache.dataset("effort", tmp_path)
