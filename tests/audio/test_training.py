"""training_set labels and review masks, review statuses, Kaggle export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from rfcx_frames.audio import load_window, to_kaggle_rfcx, training_set

T0 = pd.Timestamp("2021-06-01T04:00:00Z")
RATE = 4000


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def build(world):  # type: ignore[no-untyped-def]
    for k in range(3):  # three 60 s recordings on stream ta; the third is never annotated
        world.add("ta", at(60 * k), world.noise(60 * RATE, k), RATE, ".wav")
    world.add("tb", at(0), world.noise(60 * RATE, 7), RATE, ".wav")
    return world.source()


def make_annotations() -> pd.DataFrame:
    rows = [
        ("ta", 10.0, 11.0, "frog", 500, 900),
        ("ta", 10.5, 12.5, "bird", 1000, 1800),
        ("ta", 70.0, 71.0, "frog", 400, None),
        ("tb", 5.0, 6.0, "bird", 1200, 1900),
    ]
    return pd.DataFrame(
        {
            "id": [f"a{i}" for i in range(len(rows))],
            "stream_id": [r[0] for r in rows],
            "start": [at(r[1]) for r in rows],
            "end": [at(r[2]) for r in rows],
            "classification_value": [r[3] for r in rows],
            "frequency_min": pd.array([r[4] for r in rows], dtype="Int64"),
            "frequency_max": pd.array([r[5] for r in rows], dtype="Int64"),
        }
    )


def make_detections() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["d1", "d2", "d3"],
            "stream_id": ["tb", "ta", "ta"],
            "start": [at(30), at(130), at(140)],
            "end": [at(31), at(132), at(141)],
            "classification_value": ["frog", "bird", "frog"],
            "confidence": [0.9, 0.97, 0.99],
            "review_status": ["confirmed", "rejected", None],
        }
    )


def row(table: pd.DataFrame, stream: str, start: float) -> pd.Series:
    hit = table[(table["stream_id"] == stream) & (table["start"] == at(start))]
    assert len(hit) == 1, f"no single window {stream} @ {start}"
    return hit.iloc[0]


def test_multi_hot_and_reviewed_mask(world) -> None:  # type: ignore[no-untyped-def]
    source = build(world)
    ts = training_set(source, make_annotations(), clip_duration=2.0, step=1.0, negatives=0,
                      context="keep")
    table = ts.labels
    assert ts.classes == table.attrs["classes"] == ["bird", "frog"]
    assert (ts.sample_rate, ts.clip_duration, ts.audio.shape) == (RATE, 2.0, (len(table), 2 * RATE))
    assert list(table.columns) == [
        "stream_id", "start", "end", "kind", "review_status", "recording_start",
        "label_bird", "label_frog", "reviewed_bird", "reviewed_frog",
        "overlap_bird", "overlap_frog",
    ]
    assert str(table["start"].dtype) == "datetime64[ns, UTC]"
    assert table["label_bird"].dtype == np.uint8 and table["reviewed_bird"].dtype == bool
    assert ((table["end"] - table["start"]) == pd.Timedelta(seconds=2)).all()
    assert not table.duplicated(["stream_id", "start"]).any()

    both = row(table, "ta", 10)  # frog fully, bird 1.5 of 2 s
    assert (both.label_frog, both.label_bird, both.kind) == (1, 1, "positive")
    assert both.reviewed_frog and both.reviewed_bird
    partial = row(table, "ta", 9)  # frog fully, bird only 0.5 s of 2: ambiguous
    assert (partial.label_frog, partial.label_bird) == (1, 0)
    assert partial.reviewed_frog and not partial.reviewed_bird
    before = row(table, "ta", 7)  # nothing, inside a recording annotated for both
    assert (before.label_frog, before.label_bird, before.kind) == (0, 0, "context")
    assert before.reviewed_frog and before.reviewed_bird
    second = row(table, "ta", 69)  # recording 2 was only annotated for frog
    assert second.label_frog == 1 and second.reviewed_frog and not second.reviewed_bird
    near = row(table, "ta", 73)
    assert near.label_frog == 0 and near.reviewed_frog and not near.reviewed_bird
    other = row(table, "tb", 5)
    assert other.label_bird == 1 and other.reviewed_bird and not other.reviewed_frog
    # Positive always implies reviewed, for every class.
    for c in ("bird", "frog"):
        assert (table[f"reviewed_{c}"][table[f"label_{c}"] == 1]).all()
    # No window outside a recording (ta starts at 0: nothing before it).
    assert (table["start"] + pd.Timedelta(seconds=1) >= at(0)).all()
    # Restricting classes keeps the order asked and drops the others' labels.
    only = training_set(source, make_annotations(), 2.0, step=1.0, negatives=0,
                        classes=["frog"]).labels
    assert [c for c in only.columns if c.startswith("label_")] == ["label_frog"]


def test_background_negatives(world) -> None:  # type: ignore[no-untyped-def]
    source = build(world)
    ann = make_annotations()
    table = training_set(source, ann, 2.0, step=1.0, negatives=25, seed=3).labels
    background = table[table["kind"] == "background"]
    assert len(background) == 25
    assert (background[["label_bird", "label_frog"]] == 0).all().all()
    events = ann.assign(start=pd.to_datetime(ann["start"]), end=pd.to_datetime(ann["end"]))
    for b in background.itertuples():
        # At least 5 s from every annotation of any class.
        same = events[events["stream_id"] == b.stream_id]
        gap_before = (same["start"] - b.end).dt.total_seconds()
        gap_after = (b.start - same["end"]).dt.total_seconds()
        assert ((gap_before >= 5) | (gap_after >= 5)).all()
        # Only from annotated recordings: never ta's third recording.
        assert not (b.stream_id == "ta" and b.start >= at(120))
    assert not background.duplicated(["stream_id", "start"]).any()
    merged = table.merge(background[["stream_id", "start"]], on=["stream_id", "start"])
    assert len(merged) == 25  # background windows are not also context windows
    # Same seed, same draw; another seed, another draw; ratio counts positives.
    again = training_set(source, ann, 2.0, step=1.0, negatives=25, seed=3).labels
    pd.testing.assert_frame_equal(table, again)
    other = training_set(source, ann, 2.0, step=1.0, negatives=25, seed=4).labels
    assert not other[other["kind"] == "background"]["start"].reset_index(drop=True).equals(
        background["start"].reset_index(drop=True)
    )
    ratio = training_set(source, ann, 2.0, step=1.0, negatives=0.5).labels
    n_pos = int((ratio["kind"] == "positive").sum())
    assert (ratio["kind"] == "background").sum() == round(0.5 * n_pos)


def test_detections_add_positives_and_validated_negatives(world) -> None:  # type: ignore[no-untyped-def]
    source = build(world)
    table = training_set(source, make_annotations(), 2.0, step=1.0, negatives=0,
                         detections=make_detections()).labels
    confirmed = row(table, "tb", 30)
    assert confirmed.label_frog == 1 and confirmed.reviewed_frog and confirmed.kind == "positive"
    rejected = row(table, "ta", 130)
    assert rejected.label_bird == 0 and rejected.reviewed_bird and rejected.kind == "validated"
    assert not rejected.reviewed_frog
    # The unreviewed detection (d3) adds nothing.
    assert table[(table["stream_id"] == "ta") & (table["start"] >= at(138))].empty
    with pytest.raises(ValueError, match="review_status"):
        training_set(source, make_annotations(), 2.0, detections=make_detections().drop(
            columns="review_status"))


def test_context_windows_are_an_explicit_choice(world) -> None:  # type: ignore[no-untyped-def]
    source = build(world)
    kept = training_set(source, make_annotations(), 2.0, step=1.0, negatives=0,
                        context="keep").labels
    dropped = training_set(source, make_annotations(), 2.0, step=1.0, negatives=0).labels
    assert (kept["kind"] == "context").sum() > 0 and "context" not in set(dropped["kind"])
    pd.testing.assert_frame_equal(
        kept[kept["kind"] != "context"].reset_index(drop=True), dropped, check_like=False)
    with pytest.raises(ValueError, match="context must be 'drop' or 'keep'"):
        training_set(source, make_annotations(), 2.0, context="some")


def test_review_status_of_source_rows_is_kept(world) -> None:  # type: ignore[no-untyped-def]
    source = build(world)
    detections = make_detections()
    table = training_set(source, make_annotations(), 2.0, step=1.0, negatives=0,
                         detections=detections).labels
    assert row(table, "ta", 10).review_status == "annotation"
    assert row(table, "tb", 30).review_status == "confirmed"
    assert row(table, "ta", 130).review_status == "rejected"
    # Confirmed only: one argument; annotations and rejections are then not used at all.
    confirmed = training_set(source, make_annotations(), 2.0, step=1.0, negatives=0,
                             detections=detections, review_statuses=("confirmed",))
    assert set(confirmed.labels["review_status"]) == {"confirmed"}
    assert confirmed.classes == ["frog"] and len(confirmed) == 2  # d1 at 30 s, 2 s windows
    # Unreviewed detections only count when asked for (weak positives).
    weak = training_set(source, make_annotations(), 2.0, step=1.0, negatives=0,
                        detections=detections,
                        review_statuses=("annotation", "confirmed", "unreviewed")).labels
    assert row(weak, "ta", 140).review_status == "unreviewed"
    assert row(weak, "ta", 140).label_frog == 1
    with pytest.raises(ValueError, match="review_statuses must be a non-empty selection"):
        training_set(source, make_annotations(), 2.0, review_statuses=("approved",))


def test_kaggle_export(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = build(world)
    result = to_kaggle_rfcx(
        make_annotations(), source, tmp_path / "kaggle", detections=make_detections(),
        sample_rate=None, progress=False,
    )
    out = tmp_path / "kaggle"
    tp = pd.read_csv(out / "train_tp.csv")
    fp = pd.read_csv(out / "train_fp.csv")
    species = pd.read_csv(out / "species.csv")
    columns = ["recording_id", "species_id", "songtype_id", "t_min", "f_min", "t_max", "f_max",
               "stream_id", "start_utc"]
    assert list(tp.columns) == columns and list(fp.columns) == columns
    assert species.to_dict("list") == {"species_id": [0, 1],
                                       "classification_value": ["bird", "frog"]}
    assert len(tp) == 5 and len(fp) == 1  # 4 annotations + 1 confirmed; 1 rejected
    frog = tp[(tp["stream_id"] == "ta") & (tp["species_id"] == 1)]
    assert frog["recording_id"].tolist() == ["ta_20210601T040000000Z", "ta_20210601T040100000Z"]
    first = tp.iloc[0]
    assert (first.recording_id, first.species_id, first.t_min, first.t_max) == (
        "ta_20210601T040000000Z", 1, 10.0, 11.0)
    assert (first.f_min, first.f_max, first.songtype_id) == (500.0, 900.0, 1)
    assert first.start_utc == "2021-06-01T04:00:00.000Z"
    row70 = tp[tp["recording_id"] == "ta_20210601T040100000Z"].iloc[0]
    assert (row70.t_min, row70.t_max, row70.f_max) == (10.0, 11.0, RATE / 2)  # Nyquist fill
    rejected = fp.iloc[0]
    assert (rejected.recording_id, rejected.species_id, rejected.t_min) == (
        "ta_20210601T040200000Z", 0, 10.0)
    recordings = sorted(p.name for p in (out / "train").iterdir())
    assert recordings == sorted({f"{r}.flac" for r in pd.concat([tp, fp])["recording_id"]})
    for name in recordings:
        info = sf.info(out / "train" / name)
        assert (info.samplerate, info.frames, info.subtype) == (RATE, 60 * RATE, "PCM_16")
    data, _ = sf.read(out / "train" / "ta_20210601T040100000Z.flac", dtype="float32")
    want = load_window(source, "ta", at(60), at(120))
    np.testing.assert_allclose(data, want, atol=1 / 32768 + 1e-7)
    assert set(result) == {"train_tp", "train_fp", "species"}
