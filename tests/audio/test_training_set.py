"""The TrainingSet: lazy audio, label views, leak-free splits, log-mel, HF export,
sharded writers that resume, and rate checks before any download."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rfcx_frames.audio import (
    TrainingSet,
    TrainingSetError,
    log_mel,
    read_training_set,
    split_report,
    training_set,
    write_training_set,
)
from rfcx_frames.audio.atomic_dir import replacing
from rfcx_frames.audio.clip_shards import parts_folder, write_clips
from rfcx_frames.audio.clips import clips
from rfcx_frames.audio.features import mel_frequencies
from rfcx_frames.audio.sources import TableSource
from rfcx_frames.files import write_bytes

T0 = pd.Timestamp("2021-06-01T04:00:00Z")
RATE = 4000


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


class Counting:
    """A real source that counts file fetches and can fail after ``fail_after`` of them."""

    def __init__(self, inner: TableSource, fail_after: int | None = None) -> None:
        self.inner, self.fail_after, self.fetches = inner, fail_after, 0

    def segments(self, stream_id: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        return self.inner.segments(stream_id, start, end)

    def fetch(self, segment: Mapping[str, Any]) -> Path:
        if self.fail_after is not None and self.fetches >= self.fail_after:
            raise OSError("injected failure: the network went away")
        self.fetches += 1
        return self.inner.fetch(segment)


def build(world, rate_c: int | None = None) -> TableSource:  # type: ignore[no-untyped-def]
    for k in range(4):  # contiguous 60 s recordings: windows reach across their borders
        world.add("ta", at(60 * k), world.noise(60 * RATE, k), RATE, ".wav")
    world.add("tb", at(0), world.noise(60 * RATE, 7), RATE, ".wav")
    if rate_c is not None:
        world.add("tc", at(0), world.noise(60 * rate_c, 9), rate_c, ".wav")
    return world.source()  # type: ignore[no-any-return]


def annotations(with_c: bool = False) -> pd.DataFrame:
    rows = [("ta", 10.0, 11.0, "frog"), ("ta", 10.5, 12.5, "bird"), ("ta", 59.0, 61.0, "frog"),
            ("ta", 70.0, 71.0, "frog"), ("ta", 130.0, 131.5, "bird"), ("ta", 200, 201, "frog"),
            ("tb", 5.0, 6.0, "bird"), ("tb", 40.0, 41.0, "frog")]
    if with_c:
        rows.append(("tc", 5.0, 6.0, "bird"))
    return pd.DataFrame({"stream_id": [r[0] for r in rows], "start": [at(r[1]) for r in rows],
                         "end": [at(r[2]) for r in rows],
                         "classification_value": [r[3] for r in rows]})


def test_audio_is_lazy_and_equals_the_clips(world) -> None:  # type: ignore[no-untyped-def]
    source = Counting(build(world))
    ts = training_set(source, annotations(), clip_duration=2.0, negatives=3)
    assert isinstance(ts, TrainingSet) and source.fetches == 0  # nothing read yet
    assert (ts.sample_rate, ts.clip_duration, ts.classes) == (RATE, 2.0, ["bird", "frog"])
    assert ts.audio.shape == (len(ts), 2 * RATE) and "lazy" in repr(ts)
    windows = ts.labels[["stream_id", "start", "end"]]
    expected, _ = clips(source.inner, windows, progress=False)
    np.testing.assert_array_equal(ts.audio[3], expected[3])
    assert source.fetches > 0
    np.testing.assert_array_equal(ts.audio[-1], expected[-1])
    np.testing.assert_array_equal(ts.audio[[4, 1]], expected[[4, 1]])
    np.testing.assert_array_equal(ts.audio[2:5, :10], expected[2:5, :10])
    assert [clip.shape for clip in ts.audio] == [(2 * RATE,)] * len(ts)
    np.testing.assert_array_equal(np.asarray(ts.audio), expected)
    with pytest.raises(IndexError, match="out of range"):
        ts.audio[len(ts)]
    before = source.fetches
    assert ts.materialize() is ts and "in memory" in repr(ts)
    np.testing.assert_array_equal(ts.audio[:], expected)
    assert source.fetches == before  # materialised: read from memory


def test_label_views(world) -> None:  # type: ignore[no-untyped-def]
    ts = training_set(build(world), annotations(), 2.0, step=1.0, negatives=4)
    hot = ts.multi_hot()
    assert hot.dtype == np.uint8 and hot.shape == (len(ts), 2)
    np.testing.assert_array_equal(hot, ts.labels[["label_bird", "label_frog"]].to_numpy())
    both = np.flatnonzero(hot.sum(axis=1) == 2)
    assert len(both) > 0  # frog 10-11 s and bird 10.5-12.5 s share windows
    assert ts.single_label("drop")[both].isna().all()
    assert (ts.single_label("first")[both] == "bird").all()
    rarest = "bird" if hot[:, 0].sum() <= hot[:, 1].sum() else "frog"
    assert (ts.single_label("rarest")[both] == rarest).all()
    empty = hot.sum(axis=1) == 0
    assert (ts.single_label(background="noise")[empty] == "noise").all()
    one = hot.sum(axis=1) == 1
    assert (ts.single_label()[one] == np.where(hot[one, 0] == 1, "bird", "frog")).all()
    counts = ts.class_counts()
    assert counts["positive"].tolist() == hot.sum(axis=0).tolist()
    assert (counts.sum(axis=1) == len(ts)).all()
    weights = ts.class_weights()
    assert weights.tolist() == pytest.approx((len(ts) / (2 * hot.sum(axis=0))).tolist())
    pos = ts.class_weights("pos_weight")
    assert pos.tolist() == pytest.approx((counts["negative"] / counts["positive"]).tolist())
    with pytest.raises(ValueError, match="rule must be"):
        ts.single_label("vote")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method must be"):
        ts.class_weights("inverse")  # type: ignore[arg-type]


def test_single_label_by_overlap_picks_the_class_covering_most_of_the_window(
        world) -> None:  # type: ignore[no-untyped-def]
    # Window [10, 12): frog 10-11 s covers 1 s of it, bird 10.5-12.5 s covers 1.5 s.
    # Window [9, 11): frog covers 1 s, bird 0.5 s (below min_overlap: bird not labelled).
    # Window [11, 13): bird 1.5 s, frog none. A second, overlapping frog annotation
    # (10.2-10.8 s) counts once.
    ann = pd.concat([annotations(), pd.DataFrame({
        "stream_id": ["ta"], "start": [at(10.2)], "end": [at(10.8)],
        "classification_value": ["frog"]})], ignore_index=True)
    ts = training_set(build(world), ann, 2.0, step=1.0, negatives=0, min_overlap=0.5)
    starts = ts.labels["start"]
    both = ts.labels.index[starts == at(10)][0]
    assert ts.multi_hot()[both].tolist() == [1, 1]
    assert ts.labels.loc[both, ["overlap_bird", "overlap_frog"]].tolist() == [1.5, 1.0]
    assert ts.labels["overlap_frog"].dtype == np.float32
    assert ts.single_label()[both] == ts.single_label("overlap")[both] == "bird"
    assert ts.single_label("first")[both] == "bird" and ts.single_label("drop")[both] is None
    # The rule reads the seconds, not the class order: make frog the longer one.
    labels = ts.labels.copy()
    labels.loc[both, "overlap_frog"] = 1.8
    longer = TrainingSet(labels, ts.audio, ts.sample_rate, ts.clip_duration, ts.classes)
    assert longer.single_label()[both] == "frog"
    # A tie goes to the class with fewer clips in the set, then to the first in classes.
    labels.loc[both, "overlap_frog"] = 1.5
    tied = TrainingSet(labels, ts.audio, ts.sample_rate, ts.clip_duration, ts.classes)
    hot = ts.multi_hot()
    rarer = "bird" if hot[:, 0].sum() <= hot[:, 1].sum() else "frog"
    assert tied.single_label()[both] == rarer
    # Background and one-class windows: as every rule.
    assert (ts.single_label()[hot.sum(axis=1) == 1]
            == np.where(hot[hot.sum(axis=1) == 1, 0] == 1, "bird", "frog")).all()
    # Labels without the overlap columns (an older set) cannot use the rule.
    old = TrainingSet(ts.labels.drop(columns=["overlap_bird", "overlap_frog"]), ts.audio,
                      ts.sample_rate, ts.clip_duration, ts.classes)
    with pytest.raises(ValueError, match="overlap_bird"):
        old.single_label("overlap")
    assert old.single_label("first")[both] == "bird"


def _overlaps(a: pd.DataFrame, b: pd.DataFrame) -> int:
    pairs = a.merge(b, on="stream_id", suffixes=("_a", "_b"))
    hit = (pairs["start_a"] < pairs["end_b"]) & (pairs["start_b"] < pairs["end_a"])
    return int(hit.sum())


@pytest.mark.parametrize("by", ["recording", "day", "stream"])
def test_split_never_puts_overlapping_windows_on_both_sides(world, by: str) -> None:  # type: ignore[no-untyped-def]
    # Step 0.5 s for 2 s windows: each window overlaps six neighbours; the frog at 59-61 s
    # puts windows on both sides of a recording border.
    ts = training_set(build(world), annotations(), 2.0, step=0.5, negatives=20,
                      context="keep")
    train, test = ts.split(by=by, test_size=0.3, seed=1)  # type: ignore[arg-type]
    assert isinstance(train, TrainingSet) and len(train) + len(test) == len(ts)
    assert len(test) >= 0.3 * len(ts) and len(train) > 0
    assert _overlaps(train.labels, test.labels) == 0
    keys = ["stream_id", "start"]
    assert not pd.concat([train.labels, test.labels])[keys].duplicated().any()
    np.testing.assert_array_equal(test.audio[0], ts.audio[int(
        ts.labels.reset_index().merge(test.labels.iloc[:1], on=keys)["index"].iloc[0])])
    again_train, _ = ts.split(by=by, test_size=0.3, seed=1)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(again_train.labels, train.labels)
    report = split_report(train, test)
    assert list(report.columns) == ["train", "test", "test_share"]
    assert (report["train"] + report["test"]).tolist() == ts.class_counts()["positive"].tolist()


def test_split_by_recording_merges_windows_across_a_border(world) -> None:  # type: ignore[no-untyped-def]
    ts = training_set(build(world), annotations(), 2.0, step=0.5, negatives=0)
    border = ts.labels[(ts.labels["stream_id"] == "ta") & (ts.labels["start"] > at(57))
                       & (ts.labels["start"] < at(61))]
    assert border["recording_start"].nunique() == 2  # middles in two recordings
    for seed in range(6):
        _, test = ts.split(by="recording", test_size=0.4, seed=seed)
        inside = test.labels.merge(border[["stream_id", "start"]])
        assert len(inside) in (0, len(border))  # all of them on one side, never split


def test_split_arguments_are_checked(world) -> None:  # type: ignore[no-untyped-def]
    ts = training_set(build(world), annotations(), 2.0, negatives=0)
    with pytest.raises(ValueError, match="by must be one of"):
        ts.split(by="site")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"test_size must be a fraction in \(0, 1\)"):
        ts.split(test_size=1.5)
    only_b = ts.subset(ts.labels["stream_id"] == "tb")
    with pytest.raises(ValueError, match="cannot split by 'stream'"):
        only_b.split(by="stream")


def test_log_mel_puts_a_tone_in_its_band() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    centres = mel_frequencies(40, 0, rate / 2)
    for hz in (500.0, 2000.0, 6000.0):
        spec = log_mel(np.sin(2 * np.pi * hz * t), rate, n_mels=40, n_fft=1024, hop_length=256)
        assert spec.shape == (40, rate // 256 + 1) and spec.dtype == np.float32
        assert int(spec[:, 5:-5].mean(axis=1).argmax()) == int(np.abs(centres - hz).argmin())
    two = np.stack([np.sin(2 * np.pi * 500 * t), np.zeros(rate)])
    batch = log_mel(two, rate, n_mels=40, batch_size=1)
    assert batch.shape[0] == 2 and float(batch[1].max()) == pytest.approx(-100.0)
    with pytest.raises(ValueError, match="sample_rate is needed"):
        log_mel(two)
    with pytest.raises(ValueError, match="f_min < f_max"):
        log_mel(two, rate, f_max=rate)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        log_mel(np.zeros((1, 1, 4)), rate)


def test_log_mel_of_a_training_set_uses_its_rate(world) -> None:  # type: ignore[no-untyped-def]
    ts = training_set(build(world), annotations(), 2.0, negatives=2)
    features = log_mel(ts, n_mels=16, n_fft=256, batch_size=3)
    np.testing.assert_allclose(features, log_mel(np.asarray(ts.audio), RATE, n_mels=16,
                                                 n_fft=256), rtol=1e-5, atol=1e-4)
    assert features.shape[:2] == (len(ts), 16)


def test_hf_dataset_round_trip(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import datasets
    import soundfile as sf

    from rfcx_frames.audio import to_hf_dataset

    ts = training_set(build(world), annotations(), 2.0, negatives=2)
    ds = to_hf_dataset(ts, batch_size=4)
    assert ds.features["audio"].sampling_rate == RATE and len(ds) == len(ts)
    ds.save_to_disk(str(tmp_path / "hf"))
    back = datasets.load_from_disk(str(tmp_path / "hf"))
    raw = back.cast_column("audio", datasets.Audio(sampling_rate=RATE, decode=False))
    audio = np.stack([sf.read(io_bytes(row["audio"]["bytes"]), dtype="float32")[0]
                      for row in raw])
    np.testing.assert_array_equal(audio, np.asarray(ts.audio))
    np.testing.assert_array_equal(np.array(back["labels"], dtype=np.uint8), ts.multi_hot())
    for c in ts.classes:
        assert back[f"label_{c}"] == ts.labels[f"label_{c}"].tolist()
        assert back[f"reviewed_{c}"] == ts.labels[f"reviewed_{c}"].tolist()
    assert back["stream_id"] == ts.labels["stream_id"].tolist()
    assert [pd.Timestamp(s) for s in back["start"]] == ts.labels["start"].tolist()


def io_bytes(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


@pytest.mark.parametrize("format", ["npz", "flac"])
def test_sharded_write_read_round_trip(world, tmp_path: Path, format: str) -> None:  # type: ignore[no-untyped-def]
    # Batches of 3 clips streamed into shards of 4: a shard's file gathers two batches.
    ts = training_set(build(world), annotations(), 2.0, negatives=5, batch_size=3)
    out = write_training_set(ts, tmp_path / "ds", format=format,  # type: ignore[arg-type]
                             shard_size=4, progress=False)
    shards = sorted(p.name for p in (out / "audio").iterdir())
    assert shards == [f"{k:05d}" for k in range(-(-len(ts) // 4))]
    back = read_training_set(out)
    assert isinstance(back, TrainingSet) and "lazy" in repr(back)
    assert (back.sample_rate, back.clip_duration, back.classes) == (RATE, 2.0, ts.classes)
    pd.testing.assert_frame_equal(back.labels[ts.labels.columns], ts.labels)
    assert (back.labels["n_samples"] == 2 * RATE).all()
    want = np.asarray(ts.audio)
    got = np.asarray(back.audio)
    if format == "npz":
        np.testing.assert_array_equal(got, want)
        with np.load(out / "audio" / "00001" / "clips.npz") as shard:  # plain numpy reads it
            np.testing.assert_array_equal(shard["audio"], want[4:8])
    else:
        np.testing.assert_allclose(got, np.clip(want, -1, 1), atol=2e-7)
    assert not list(tmp_path.glob(".ds.*-*"))  # no staging folder left beside the set
    with pytest.raises(TypeError, match="must be a TrainingSet"):
        write_training_set(ts.labels, tmp_path / "x")  # type: ignore[arg-type]
    nan_set = training_set(build(world), annotations(), 2.0, negatives=0, gap="nan")
    with pytest.raises(ValueError, match="FLAC cannot hold NaN"):
        write_training_set(nan_set, tmp_path / "y", format="flac")


def test_sets_of_the_earlier_layout_still_read(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import io
    import json

    ts = training_set(build(world), annotations(), 2.0, negatives=0)
    audio = np.asarray(ts.audio)
    with replacing(tmp_path / "old") as staging:  # what the one-file-per-clip writer wrote
        labels = ts.labels.copy()
        labels["file"] = [f"audio/{i:06d}.npz" for i in range(len(ts))]
        labels["sample_rate"], labels["n_samples"] = RATE, 2 * RATE
        for i, clip in enumerate(audio):
            buffer = io.BytesIO()
            np.savez(buffer, audio=clip)
            write_bytes(staging / labels["file"][i], buffer.getvalue())
        info = {"classes": ts.classes, "clip_duration": 2.0, "sample_rate": RATE,
                "format": "npz", "rows": len(ts)}
        write_bytes(staging / "dataset.json", json.dumps(info).encode())
        labels.attrs = {}
        buffer = io.BytesIO()
        labels.to_parquet(buffer, index=False)
        write_bytes(staging / "labels.parquet", buffer.getvalue())
    back = read_training_set(tmp_path / "old")
    np.testing.assert_array_equal(np.asarray(back.audio), audio)
    assert back.classes == ts.classes and back.sample_rate == RATE


def test_killed_writer_resumes_with_every_clip_once(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table_source = build(world)
    reference = training_set(table_source, annotations(), 2.0, negatives=8)
    want = np.asarray(reference.audio)
    fresh = Counting(table_source)
    write_training_set(training_set(fresh, annotations(), 2.0, negatives=8), tmp_path / "ref",
                       shard_size=3, progress=False)
    failing = Counting(table_source, fail_after=fresh.fetches // 2)
    ts = training_set(failing, annotations(), 2.0, negatives=8)
    with pytest.raises(OSError, match="injected failure"):
        write_training_set(ts, tmp_path / "set", shard_size=3, progress=False)
    assert not (tmp_path / "set").exists()  # never a half-written set
    partial = next(tmp_path.glob(".set.partial-*"))
    done = sorted(p.name for p in (partial / "audio").iterdir() if not p.name.startswith("."))
    assert 0 < len(done) < -(-len(ts) // 3)
    with pytest.raises(TrainingSetError, match="no manifest"):
        read_training_set(tmp_path / "set")
    again = Counting(table_source)
    write_training_set(training_set(again, annotations(), 2.0, negatives=8), tmp_path / "set",
                       shard_size=3, progress=False)
    assert 0 < again.fetches < fresh.fetches  # the written shards were skipped
    back = read_training_set(tmp_path / "set")
    assert len(back) == len(reference)
    assert not back.labels.duplicated(["stream_id", "start"]).any()
    pd.testing.assert_frame_equal(back.labels[reference.labels.columns], reference.labels)
    np.testing.assert_array_equal(np.asarray(back.audio), want)
    assert not list(tmp_path.glob(".set.*-*"))  # no staging folder left


_KILLED_WRITER = """
import sys, time
import pandas as pd
from rfcx_frames.audio import TableSource, training_set, write_training_set
segments, annotations, out = sys.argv[1:4]

class Stalling(TableSource):  # the network hangs after a few files: killed mid-run
    fetches = 0
    def fetch(self, segment):
        Stalling.fetches += 1
        if Stalling.fetches > 3:
            time.sleep(600)
        return super().fetch(segment)

ts = training_set(Stalling(pd.read_pickle(segments)), pd.read_pickle(annotations), 2.0,
                  negatives=8)
write_training_set(ts, out, shard_size=3, progress=False)
"""


def test_sigkilled_writer_resumes_with_every_clip_once(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = build(world)
    source.table.to_pickle(tmp_path / "segments.pkl")
    annotations().to_pickle(tmp_path / "annotations.pkl")
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tmp_path / "segments.pkl"),
                               str(tmp_path / "annotations.pkl"), str(tmp_path / "set")])
    try:
        for _ in range(600):  # until a shard is whole (the writer then stalls for good)
            if list(tmp_path.glob(".set.partial-*/audio/0*")):
                break
            assert writer.poll() is None, "the writer ended before it was killed"
            time.sleep(0.1)
        else:
            pytest.fail("the writer wrote no shard in 60 s")
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert writer.returncode == -signal.SIGKILL and not (tmp_path / "set").exists()
    reference = training_set(source, annotations(), 2.0, negatives=8)
    resumed = Counting(source)
    write_training_set(training_set(resumed, annotations(), 2.0, negatives=8),
                       tmp_path / "set", shard_size=3, progress=False)
    back = read_training_set(tmp_path / "set")
    assert len(back) == len(reference)
    assert not back.labels.duplicated(["stream_id", "start"]).any()
    pd.testing.assert_frame_equal(back.labels[reference.labels.columns], reference.labels)
    np.testing.assert_array_equal(np.asarray(back.audio), np.asarray(reference.audio))


def test_clip_writer_resumes_into_one_npz(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table_source = build(world)
    rows = annotations()
    want, meta = clips(table_source, rows, duration=1.5, progress=False)
    out = tmp_path / "clips.npz"
    with pytest.raises(OSError, match="injected failure"):
        write_clips(Counting(table_source, fail_after=2), rows, out, duration=1.5,
                    shard_size=2, progress=False)
    assert not out.exists() and len(list(parts_folder(out).glob("*.npy"))) >= 1
    again = Counting(table_source)
    # One clip decoded at a time, streamed into parts of two: the same bytes as before.
    count, written = write_clips(again, rows, out, duration=1.5, shard_size=2, batch_size=1,
                                 progress=False)
    assert count == len(rows) and not parts_folder(out).exists()
    np.testing.assert_array_equal(np.load(out)["audio"], want)
    pd.testing.assert_frame_equal(pd.read_parquet(out.with_suffix(".parquet")),
                                  meta.reset_index(drop=True), check_dtype=False)
    assert len(written) == len(rows)


def test_mixed_native_rates_fail_before_any_download(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = Counting(build(world, rate_c=8000))
    with pytest.raises(ValueError, match=r"different native sample rates \(4000 Hz .*8000 Hz"):
        training_set(source, annotations(with_c=True), 2.0)
    with pytest.raises(ValueError, match="different native sample rates"):
        write_clips(source, annotations(with_c=True), tmp_path / "c.npz", duration=1.0,
                    progress=False)
    assert source.fetches == 0
    ts = training_set(source, annotations(with_c=True), 2.0, sample_rate=RATE)
    assert ts.sample_rate == RATE and ts.audio[len(ts) - 1].shape == (2 * RATE,)
