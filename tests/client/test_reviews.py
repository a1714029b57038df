"""Reviews and uploads through the public API: ``review_detections``, ``upload_detections``.

Against one writable one-day world over real HTTP; the truth is SQL on its database and
the requests counted at the emulator. Every client has a fixed clock (a month after the
world), so cached windows are complete and never expire during a test.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from rfcx_frames import Client
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.exceptions import ForbiddenError, PartialWriteError, UnknownIdError

DAY_START, DAY_END = "2024-03-01", "2024-03-02"
T0 = pd.Timestamp("2024-04-01 08:00", tz="UTC")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One writable one-day world for the module; each test changes its own detections."""
    with running(world="demo", data_dir=tmp_path_factory.mktemp("client-reviews"),
                 days=1) as emu:
        yield emu


@pytest.fixture()
def client(world: Emulator) -> Iterator[Client]:
    with world.client(progress=False, clock=lambda: T0) as c:
        yield c


def streams_of(emu: Emulator, where: str) -> list[str]:
    return [r["id"] for r in emu.store.query(
        f"SELECT s.id FROM streams s JOIN projects p ON p.id = s.project_id WHERE {where} "
        f"AND EXISTS (SELECT 1 FROM detections d WHERE d.stream_id = s.id) ORDER BY s.id")]


def own_streams(emu: Emulator) -> list[str]:
    """Streams the demo user may change (projects it owns or administers)."""
    return streams_of(emu, "p.id IN (SELECT project_id FROM project_roles WHERE user_id = 1 "
                           "AND role_id IN (1, 4))")


def guest_streams(emu: Emulator) -> list[str]:
    """Streams of the demo user's project where the other user is only a guest."""
    return streams_of(emu, "p.id IN (SELECT project_id FROM project_roles WHERE user_id = 2 "
                           "AND role_id = 3)")


def public_stream(emu: Emulator) -> str:
    """A public stream of the other user: the demo user reads it but may not change it."""
    return streams_of(emu, "p.is_public = 1")[0]


def status_in_db(emu: Emulator, ids: list[int]) -> list[object]:
    marks = ",".join("?" * len(ids))
    names = {None: "unreviewed", -1: "rejected", 0: "uncertain", 1: "confirmed"}
    rows = emu.store.query(f"SELECT id, review_status FROM detections WHERE id IN ({marks})", ids)
    by_id = {r["id"]: names[r["review_status"]] for r in rows}
    return [by_id[i] for i in ids]


def unreviewed(c: Client, streams: list[str], n: int = 2) -> pd.DataFrame:
    """``n`` detections no one has reviewed, one per (stream, start, class, classifier)."""
    df = c.detections_df(DAY_START, DAY_END, streams=streams, min_confidence=0,
                         review_statuses="unreviewed", cache=False)
    return df.drop_duplicates(["stream_id", "start", "classification_value", "classifier_id"]
                              ).groupby("stream_id", observed=True).head(n).head(n)


def test_review_bad_input_fails_before_any_request(world: Emulator, client: Client) -> None:
    frame = pd.DataFrame({"stream_id": ["a"], "start": [T0], "classification_value": ["x"],
                          "classifier_id": [1]})
    world.reset_stats()
    with pytest.raises(ValueError, match="status must be one of unreviewed, rejected"):
        client.review_detections(frame, "approved")
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame"):
        client.review_detections(frame.to_dict("records"), "confirmed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lacks the column.*classifier_id"):
        client.review_detections(frame.drop(columns="classifier_id"), "confirmed")
    with pytest.raises(ValueError, match="missing values in classification_value"):
        client.review_detections(frame.assign(classification_value=[None]), "confirmed")
    with pytest.raises(TypeError, match="'start' must hold datetimes"):
        client.review_detections(frame.assign(start=["2024-03-01"]), "confirmed")
    assert world.stats()["total_requests"] == 0


def test_review_returns_what_changed_and_the_platform_keeps_it(world: Emulator,
                                                               client: Client) -> None:
    picked = unreviewed(client, own_streams(world)[:1], 2)
    changed = client.review_detections(picked, "confirmed")
    assert list(changed.columns) == ["id", "stream_id", "start", "classification_value",
                                     "classifier_id", "status_before", "status_after", "changed"]
    assert set(picked["id"]) <= set(changed["id"])
    mine = changed[changed["id"].isin(picked["id"])]
    assert (mine["status_before"] == "unreviewed").all()
    assert (mine["status_after"] == "confirmed").all() and mine["changed"].all()
    assert status_in_db(world, [int(i) for i in changed["id"]]) == ["confirmed"] * len(changed)
    # withdrawing the only review makes them unreviewed again
    back = client.review_detections(picked, "unreviewed")
    assert (back["status_after"] == "unreviewed").all()
    assert status_in_db(world, [int(i) for i in back["id"]]) == ["unreviewed"] * len(back)


def test_a_guest_cannot_review(world: Emulator) -> None:
    with world.client(progress=False, clock=lambda: T0) as demo:
        picked = unreviewed(demo, guest_streams(world)[:1], 1)
    with world.client(progress=False, clock=lambda: T0, token=world.tokens["other"]) as guest, \
            pytest.raises(PartialWriteError) as caught:
        guest.review_detections(picked, "rejected")
    err = caught.value
    assert isinstance(err.errors[0], ForbiddenError) and err.errors[0].status == 403
    assert "You do not have permission to review detections" in str(err)
    assert err.applied.empty and list(err.failed["id"]) == list(picked["id"])
    assert status_in_db(world, [int(i) for i in picked["id"]]) == ["unreviewed"]


def test_a_partial_failure_names_the_failed_rows_and_keeps_the_rest(world: Emulator,
                                                                     client: Client) -> None:
    own, public = own_streams(world)[1], public_stream(world)
    picked = pd.concat([unreviewed(client, [own], 2), unreviewed(client, [public], 1)],
                       ignore_index=True)
    with pytest.raises(PartialWriteError, match="1 of 3 reviews failed") as caught:
        client.review_detections(picked, "uncertain")
    err = caught.value
    assert list(err.failed["stream_id"].astype(str)) == [public]
    assert "permission" in err.failed["error"].iloc[0]
    assert set(err.applied["stream_id"].astype(str)) == {own}
    applied_ids = [int(i) for i in err.applied["id"]]
    assert status_in_db(world, applied_ids) == ["uncertain"] * len(applied_ids)
    failed_ids = [int(i) for i in err.failed["id"]]
    assert status_in_db(world, failed_ids) == ["unreviewed"]


def test_cached_windows_a_review_touches_are_fetched_again_and_no_others(
        world: Emulator, tmp_path: Path) -> None:
    a, b = own_streams(world)[2], own_streams(world)[3]
    with world.client(progress=False, clock=lambda: T0, cache_dir=tmp_path) as c:
        before = c.detections_df(DAY_START, DAY_END, streams=[a, b], min_confidence=0)
        only_unreviewed = c.detections_df(DAY_START, DAY_END, streams=[a], min_confidence=0,
                                          review_statuses="unreviewed")
        target = only_unreviewed.drop_duplicates(
            ["stream_id", "start", "classification_value", "classifier_id"]).head(1)
        changed = c.review_detections(target, "rejected")
        world.reset_stats()
        after = c.detections_df(DAY_START, DAY_END, streams=[a, b], min_confidence=0)
        assert 0 < world.stats()["total_requests"] <= 2  # only stream a's forgotten window
        fresh = c.detections_df(DAY_START, DAY_END, streams=[a, b], min_confidence=0, cache=False)
        pd.testing.assert_frame_equal(after, fresh)
        assert len(after) == len(before)
        rows = after.set_index("id").loc[changed["id"], "review_status"]
        assert (rows == "rejected").all()
        # another filter signature of the same stream forgets the window too
        unrev = c.detections_df(DAY_START, DAY_END, streams=[a], min_confidence=0,
                                review_statuses="unreviewed")
        assert not set(changed["id"]) & set(unrev["id"])
        world.reset_stats()
        c.detections_df(DAY_START, DAY_END, streams=[b], min_confidence=0)
        assert world.stats()["total_requests"] == 0  # the other stream stays cached


# -- uploads -------------------------------------------------------------------------------


def _classifier(c: Client, tmp_path: Path, value: str, threshold: float = 0.3) -> int:
    model = tmp_path / "model.tar.gz"
    with tarfile.open(model, "w:gz") as tar:
        info = tarfile.TarInfo("saved_model.pb")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"1234"))
    return c.upload_classifier(model, "local-model", 1, [f"song:{value}:{threshold}"])


def _model_output(stream: str, value: str, n: int = 3) -> pd.DataFrame:
    start = pd.date_range("2024-03-01 05:00:00.250", periods=n, freq="7s", tz="UTC")
    return pd.DataFrame({"stream_id": stream, "start": start,
                         "end": start + pd.Timedelta(seconds=2),
                         "confidence": [0.91, 0.55, 0.73][:n],
                         "classification_value": value})


def _some_class(world: Emulator) -> str:
    return str(world.store.query("SELECT value FROM classifications WHERE type = 'species' "
                                 "ORDER BY id LIMIT 1")[0]["value"])


def test_upload_is_validated_before_anything_is_sent(world: Emulator, client: Client,
                                                     tmp_path: Path) -> None:
    value = _some_class(world)
    cid = _classifier(client, tmp_path, value, threshold=0.6)
    good = _model_output(own_streams(world)[0], value)
    good["confidence"] = 0.9
    count = world.store.query("SELECT count(*) AS n FROM detections")[0]["n"]
    cases = [
        (good.drop(columns="end"), ValueError, "lacks the column"),
        (good.assign(start=good["start"].astype(str)), TypeError, "'start' must hold datetimes"),
        (good.assign(end=good["start"]), ValueError, r"rows \[0, 1, 2\] have start >= end"),
        (good.assign(confidence=[0.9, 1.5, 0.9]), ValueError, "outside \\[0, 1\\]"),
        (good.assign(confidence=["a", "b", "c"]), TypeError, "'confidence' must be numeric"),
        (good.assign(classification_value="no_such_value"), ValueError,
         f"classifier {cid} has no output for no_such_value"),
        (good.assign(confidence=[0.9, 0.6, 0.2]), ValueError, r"rows \[1, 2\] .*threshold"),
        (good.assign(stream_id="zzzzzzzzzzzz"), UnknownIdError, "zzzzzzzzzzzz"),
    ]
    for frame, error, message in cases:
        with pytest.raises(error, match=message):
            client.upload_detections(frame, cid)
    with pytest.raises(UnknownIdError, match="classifier_id 99999"):
        client.upload_detections(good, 99999)
    with pytest.raises(ValueError, match="classifier_id"):
        client.upload_detections(good, -1)
    assert world.store.query("SELECT count(*) AS n FROM detections")[0]["n"] == count


def test_upload_then_read_back_through_a_cached_window(world: Emulator, tmp_path: Path) -> None:
    stream = own_streams(world)[4]
    value = _some_class(world)
    with world.client(progress=False, clock=lambda: T0, cache_dir=tmp_path / "c") as c:
        cid = _classifier(c, tmp_path, value)
        cached = c.detections_df(DAY_START, DAY_END, streams=stream, min_confidence=0)
        output = _model_output(stream, value)
        sent = c.upload_detections(output, cid)
        assert list(sent.columns) == ["stream_id", "start", "end", "classification_value",
                                      "confidence", "classifier_id", "classifier_job_id"]
        assert len(sent) == 3 and (sent["classifier_id"] == cid).all()
        back = c.detections_df(DAY_START, DAY_END, streams=stream, min_confidence=0)
    assert len(back) == len(cached) + 3
    mine = back[back["classifier_id"] == cid].reset_index(drop=True)
    assert list(mine["start"]) == list(output["start"])
    assert list(mine["end"]) == list(output["end"])
    assert mine["confidence"].tolist() == pytest.approx([0.91, 0.55, 0.73], abs=1e-6)
    assert (mine["classification_value"] == value).all()
    assert (mine["review_status"] == "unreviewed").all()


def test_upload_partial_failure_keeps_the_stored_batches(world: Emulator, client: Client,
                                                         tmp_path: Path) -> None:
    value = _some_class(world)
    cid = _classifier(client, tmp_path, value)
    own, public = own_streams(world)[5], public_stream(world)
    frame = pd.concat([_model_output(own, value, 2), _model_output(public, value, 1)],
                      ignore_index=True)
    with pytest.raises(PartialWriteError, match="1 of 3 detections were not stored") as caught:
        client.upload_detections(frame, cid)
    err = caught.value
    assert list(err.applied["stream_id"]) == [own, own]
    assert list(err.failed["stream_id"]) == [public]
    assert "permission to update this stream" in err.failed["error"].iloc[0]
    stored = world.store.query("SELECT stream_id FROM detections WHERE classifier_id = ?", (cid,))
    assert [r["stream_id"] for r in stored] == [own, own]


# -- taxonomy ------------------------------------------------------------------------------


def test_classifications_carry_common_names_and_on_request_their_band(world: Emulator,
                                                                      client: Client) -> None:
    plain = client.classifications_df("amazona", cache=False)
    assert list(plain.columns[-4:]) == ["common_name", "frequency_min", "frequency_max",
                                        "description"]
    assert str(plain["frequency_min"].dtype) == "Int32"
    vittata = plain.set_index("value").loc["amazona_vittata"]
    assert vittata["common_name"] == "Puerto Rican Amazon"  # the first en_* name
    assert vittata["type"] == "species" and pd.isna(vittata["frequency_min"])
    world.reset_stats()
    full = client.classifications_df("amazona", details=True, cache=False)
    # the listing as without details, plus one request per class
    assert world.stats()["requests"]["GET /classifications/{value}"] == len(full) == len(plain)
    truth = {r["value"]: r for r in world.store.query(
        "SELECT value, frequency_min, frequency_max, description FROM classifications "
        "WHERE value IN (?, ?)", ("amazona", "amazona_vittata"))}
    for row in full.itertuples():
        want = truth[row.value]
        for name in ("frequency_min", "frequency_max", "description"):
            got = getattr(row, name)
            assert (pd.isna(got) and want[name] is None) or got == want[name], (row.value, name)
    assert full.set_index("value").loc["amazona_vittata", "frequency_max"] > 0
    with pytest.raises(TypeError, match="details"):
        client.classifications_df("amazona", details="yes")


# -- retries -------------------------------------------------------------------------------


def test_a_review_is_sent_again_after_a_bad_gateway_and_an_upload_is_not(
        world: Emulator, client: Client, tmp_path: Path) -> None:
    picked = unreviewed(client, own_streams(world)[:1], 1)
    world.set_faults(fail_next=1, fail_status=502, methods=["POST"])
    try:
        changed = client.review_detections(picked, "confirmed")
    finally:
        world.set_faults(fail_next=0, methods=None)
    assert (changed["status_after"] == "confirmed").all()  # the review is idempotent
    value = _some_class(world)
    cid = _classifier(client, tmp_path, value)
    world.set_faults(fail_next=1, fail_status=502, methods=["POST"])
    try:
        with pytest.raises(PartialWriteError) as caught:
            client.upload_detections(_model_output(own_streams(world)[1], value, 1), cid)
    finally:
        world.set_faults(fail_next=0, methods=None)
    # the platform may have stored a batch before a 502: sending it again could duplicate it
    assert caught.value.errors[0].status == 502 and caught.value.applied.empty
    assert world.store.query("SELECT count(*) AS n FROM detections WHERE classifier_id = ?",
                             (cid,))[0]["n"] == 0
