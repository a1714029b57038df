"""Raven selection tables and the opensoundscape layout, against the demo world over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import rfcx_frames as rf
from rfcx_frames import Client
from rfcx_frames.audio.raven import RAVEN_COLUMNS
from rfcx_frames.emulator import Emulator

DAY = ("2024-03-01", "2024-03-02")


@pytest.fixture()
def client(demo_emulator: Emulator, tmp_path: Path) -> Iterator[Client]:
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "cache") as c:
        yield c


@pytest.fixture()
def annotations(client: Client) -> pd.DataFrame:
    frame = client.annotations_df(*DAY)
    assert frame["frequency_min"].notna().all() and len(frame) >= 6
    return frame.head(6)


def test_raven_round_trip_keeps_every_instant(client: Client, annotations: pd.DataFrame,
                                              tmp_path: Path) -> None:
    tables = client.to_raven(annotations, tmp_path / "raven", audio=True, file_ext="wav")
    assert tables["selections"].sum() == len(annotations)
    for row in tables.itertuples():
        header = Path(row.path).read_text().splitlines()[0].split("\t")
        assert tuple(header[:7]) == RAVEN_COLUMNS and header[7] == "Annotation"
        # Raven opens a table with the sound file of the same stem beside it.
        assert Path(row.path).name.startswith(Path(row.audio_path).stem + ".Table.1.")
        info = sf.info(row.audio_path)
        assert info.frames > 0 and Path(row.audio_path).parent == Path(row.path).parent
    back = rf.read_raven(tmp_path / "raven")
    assert list(back.columns) == list(annotations.columns)
    assert [str(d) for d in back.dtypes] == [str(d) for d in annotations.dtypes]
    expected = annotations.drop(columns="classification_image").reset_index(drop=True)
    got = back.drop(columns="classification_image")
    for column in expected.columns:
        assert got[column].astype(object).tolist() == expected[column].astype(object).tolist()
    assert (back["start"].to_numpy() == annotations["start"].to_numpy()).all()


def test_raven_offsets_are_from_the_holding_segment(client: Client, annotations: pd.DataFrame,
                                                   tmp_path: Path) -> None:
    row = annotations.iloc[[0]]
    tables = client.to_raven(row, tmp_path)
    segments = client.segments_df(str(row["stream_id"].iloc[0]),
                                  row["start"].iloc[0] - pd.Timedelta("2min"), row["end"].iloc[0])
    holding = segments[segments["start"] <= row["start"].iloc[0]].iloc[-1]
    assert tables["recording_start"].iloc[0] == holding["start"]
    cells = pd.read_csv(tables["path"].iloc[0], sep="\t", dtype=str)
    offset = (row["start"].iloc[0] - holding["start"]).total_seconds()
    assert float(cells["Begin Time (s)"].iloc[0]) == pytest.approx(offset, abs=1e-9)
    assert cells["id"].iloc[0] == row["id"].iloc[0]


def test_raven_exports_detections_and_refuses_rows_without_audio(client: Client,
                                                                 tmp_path: Path) -> None:
    detections = client.detections_df(*DAY).head(5)
    tables = client.to_raven(detections, tmp_path / "det")
    cells = pd.read_csv(tables["path"].iloc[0], sep="\t", dtype=str)
    assert {"confidence", "review_status", "classifier_id"} <= set(cells.columns)
    # Detections have no band: the whole spectrum up to the stream's Nyquist (or max_freq).
    assert (cells["Low Freq (Hz)"] == "0").all()
    far = detections.head(1).assign(start=pd.Timestamp("2020-01-01", tz="UTC"),
                                    end=pd.Timestamp("2020-01-01 00:00:01", tz="UTC"))
    with pytest.raises(ValueError, match="has no recording"):
        client.to_raven(far, tmp_path / "none")
    with pytest.raises(ValueError, match="'end'"):
        client.to_raven(detections.drop(columns="end"), tmp_path / "none")


def test_read_raven_takes_a_table_made_in_raven(tmp_path: Path) -> None:
    lines = ["Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
             "High Freq (Hz)\tSpecies",
             "1\tWaveform 1\t1\t1.0\t2.5\t0\t0\tfrog",
             "1\tSpectrogram 1\t1\t1.0\t2.5\t300.4\t2000\tfrog",
             "2\tSpectrogram 1\t1\t0.0004996\t59.9995\t100\t900\tbird"]
    path = tmp_path / "my recording.txt"
    path.write_text("\n".join(lines) + "\n")
    rows = rf.read_raven(path, "abc123abc123", "2024-03-01T10:00:00Z", label_column="Species")
    assert rows["classification_value"].tolist() == ["bird", "frog"]
    assert rows["start"].tolist() == [pd.Timestamp("2024-03-01T10:00:00Z"),  # 0.4996 ms rounds
                                      pd.Timestamp("2024-03-01T10:00:01Z")]
    assert rows["end"].iloc[0] == pd.Timestamp("2024-03-01T10:00:59.9995Z").round("ms")
    assert rows["frequency_min"].tolist() == [100, 300]  # the spectrogram row, not the waveform
    assert rows["id"].isna().all() and (rows["stream_id"] == "abc123abc123").all()
    with pytest.raises(ValueError, match="label_column"):
        rf.read_raven(path, "abc123abc123", "2024-03-01T10:00:00Z")
    with pytest.raises(ValueError, match="recording_start="):
        rf.read_raven(path, label_column="Species")
    with pytest.raises(ValueError, match="stream_id"):
        rf.read_raven(path, "../x", "2024-03-01", label_column="Species")
    with pytest.raises(FileNotFoundError):
        rf.read_raven(tmp_path / "missing.txt")
    (tmp_path / "notes.txt").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a Raven selection table"):
        rf.read_raven(tmp_path / "notes.txt", "s", "2024-03-01")


def _windows(annotations: pd.DataFrame) -> pd.DataFrame:
    """A training set's labels: 3 s windows at each annotation, and one empty window."""
    classes = sorted(annotations["classification_value"].astype(str).unique())
    start = annotations["start"].dt.floor("s").reset_index(drop=True)
    labels = pd.DataFrame({"stream_id": annotations["stream_id"].astype(str).to_numpy(),
                           "start": start, "end": start + pd.Timedelta("3s")})
    for c in classes:
        labels[f"label_{c}"] = (annotations["classification_value"].astype(str).to_numpy()
                                == c).astype("uint8")
    negative = labels.iloc[[0]].assign(start=labels["start"].iloc[0] + pd.Timedelta("5s"),
                                       end=labels["start"].iloc[0] + pd.Timedelta("8s"))
    for c in classes:
        negative[f"label_{c}"] = np.uint8(0)
    return pd.concat([labels, negative], ignore_index=True)


def test_opensoundscape_layout_and_resume(client: Client, annotations: pd.DataFrame,
                                          tmp_path: Path) -> None:
    labels = _windows(annotations)
    out = tmp_path / "oss"
    frame = client.to_opensoundscape(labels, out, sample_rate=16000)
    assert list(frame.index.names) == ["file", "start_time", "end_time"]
    assert [str(frame.index.get_level_values(i).dtype) for i in range(3)] == [
        "object", "float64", "float64"]
    classes = sorted(annotations["classification_value"].astype(str).unique())
    assert list(frame.columns) == classes and (frame.dtypes == "int64").all()
    assert frame.to_numpy().tolist() == labels.filter(like="label_").to_numpy().tolist()
    assert frame.iloc[-1].sum() == 0  # the empty window stays, as a negative
    for file, start_time, end_time in frame.index:
        data, rate = sf.read(file, dtype="float32")
        assert rate == 16000 and start_time == 0.0 and end_time == 3.0
        assert len(data) == 48000
    saved = pd.read_csv(out / "labels.csv", index_col=[0, 1, 2])
    assert saved.to_numpy().tolist() == frame.to_numpy().tolist()
    assert [str(out / f) for f in saved.index.get_level_values(0)] == list(
        frame.index.get_level_values(0))
    origin = pd.read_csv(out / "clips.csv")
    assert pd.to_datetime(origin["start"], utc=True).tolist() == labels["start"].tolist()

    # Resume: a missing and a cut file are written again, whole files are kept.
    files = [Path(f) for f in frame.index.get_level_values(0)]
    files[0].unlink()
    files[1].write_bytes(files[1].read_bytes()[:1000])
    kept = files[2].stat().st_ino
    again = client.to_opensoundscape(labels, out, sample_rate=16000)
    pd.testing.assert_frame_equal(again, frame)
    assert files[2].stat().st_ino == kept
    assert len(sf.read(files[0])[0]) == len(sf.read(files[1])[0]) == 48000


def test_opensoundscape_from_annotations_and_bad_input(client: Client, annotations: pd.DataFrame,
                                                       tmp_path: Path) -> None:
    both = pd.concat([annotations.head(1),
                      annotations.head(1).assign(classification_value="extra")])
    frame = client.to_opensoundscape(both, tmp_path / "a", sample_rate=8000, file_ext="flac")
    assert len(frame) == 1 and frame.iloc[0].sum() == 2  # one clip, two classes
    assert frame.index[0][0].endswith(".flac")
    with pytest.raises(ValueError, match="file_ext"):
        client.to_opensoundscape(both, tmp_path / "b", file_ext="opus")
    with pytest.raises(ValueError, match="0 or 1"):
        client.to_opensoundscape(_windows(annotations).assign(label_x=2), tmp_path / "b")
    with pytest.raises(TypeError, match="labels must be"):
        client.to_opensoundscape([1, 2], tmp_path / "b")
    with pytest.raises(ValueError, match="sample_rate"):
        client.to_opensoundscape(both, tmp_path / "b", sample_rate=-1)


def test_opensoundscape_takes_a_training_set(client: Client, annotations: pd.DataFrame,
                                             tmp_path: Path) -> None:
    ts = client.training_set(annotations, clip_duration=3.0, sample_rate=8000, negatives=2)
    frame = client.to_opensoundscape(ts, tmp_path / "ts")  # the set's rate, its classes
    assert list(frame.columns) == list(ts.classes)
    assert frame.to_numpy().tolist() == ts.labels[[f"label_{c}" for c in ts.classes]].to_numpy(
        ).tolist()
    first = frame.index[0][0]
    assert sf.info(first).samplerate == 8000 and sf.info(first).frames == 24000
