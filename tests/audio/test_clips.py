"""clips / iter_clips / band-pass on real files."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from rfcx_frames.audio import load_window
from rfcx_frames.audio.bands import band_energy, band_pass_filter
from rfcx_frames.audio.clips import (
    clip_spans,
    clips,
    iter_clips,
    shift,
)

T0 = pd.Timestamp("2021-03-04T05:00:00Z")
RATE = 8000


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def two_streams(world):  # type: ignore[no-untyped-def]
    for k in range(3):
        world.add("sa", at(10 * k), world.ramp(10 * RATE, k), RATE)
    world.add("sb", at(0), world.ramp(10 * RATE, 7), RATE)
    world.add("sb", at(15), world.ramp(10 * RATE, 8), RATE)  # 5 s gap before it
    return world.source()


def events() -> pd.DataFrame:
    rows = [
        ("sb", 12.0, 13.5, "frog", 500, 1500),
        ("sa", 9.5, 10.25, "bird", 1000, 3000),
        ("sa", 0.0, 0.3333, "bird", None, 2000),
        ("sb", 3.001, 3.002, "frog", 200, None),
        ("sa", 25.0, 29.0, "bat", 3000, 3900),
        ("sb", 14.0, 16.0, "frog", 100, 300),
        ("sa", 19.9, 20.1, "bird", 1000, 3000),
    ]
    return pd.DataFrame(
        {
            "id": [f"ann{i}" for i in range(len(rows))],
            "stream_id": [r[0] for r in rows],
            "start": pd.to_datetime([at(r[1]) for r in rows], utc=True),
            "end": pd.to_datetime([at(r[2]) for r in rows], utc=True),
            "classification_value": [r[3] for r in rows],
            "frequency_min": pd.array([r[4] for r in rows], dtype="Int64"),
            "frequency_max": pd.array([r[5] for r in rows], dtype="Int64"),
        },
        index=pd.Index([10, 11, 12, 13, 14, 15, 16]),
    )


def test_row_i_describes_clip_i(world) -> None:  # type: ignore[no-untyped-def]
    source = two_streams(world)
    frame = events()
    audio, meta = clips(source, frame, pad=0.25, progress=False)
    assert audio.dtype == np.float32
    assert len(audio) == len(meta) == len(frame)
    assert meta["id"].tolist() == frame["id"].tolist()
    assert meta["frame_index"].tolist() == frame.index.tolist()
    assert meta["classification_value"].tolist() == frame["classification_value"].tolist()
    assert (meta["sample_rate"] == RATE).all()
    assert str(meta["clip_start"].dtype) == "datetime64[ns, UTC]"
    assert audio.shape[1] == meta["n_samples"].max()
    for i, row in enumerate(list[Any](meta.itertuples())):
        want = world.reference(row.stream_id, row.clip_start, row.clip_end, RATE)
        assert row.n_samples == len(want)
        np.testing.assert_array_equal(audio[i, : row.n_samples], want)
        assert not audio[i, row.n_samples :].any()  # right padding is zeros
        assert row.clip_start == row.start - pd.Timedelta(seconds=0.25)
        assert row.clip_end == row.end + pd.Timedelta(seconds=0.25)
        assert row.event_start_sample == RATE // 4
        assert row.event_end_sample == row.n_samples - RATE // 4
    # sb 14..16 (+pad) crosses the 5 s gap [10, 15) of stream sb.
    assert meta.loc[5, "coverage"] == pytest.approx(1.25 / 2.5)
    assert meta.loc[1, "coverage"] == 1.0


@pytest.mark.parametrize("align", ["center", "start"])
def test_fixed_duration_and_alignment(world, align: str) -> None:  # type: ignore[no-untyped-def]
    source = two_streams(world)
    frame = events()
    audio, meta = clips(source, frame, duration=1.5, pad=0.1, align=align, progress=False)  # type: ignore[arg-type]
    n = round(1.7 * RATE)
    assert audio.shape == (len(frame), n)
    assert (meta["n_samples"] == n).all()
    length = pd.Timedelta(seconds=1.7)
    assert ((meta["clip_end"] - meta["clip_start"]) == length).all()
    if align == "start":
        assert (meta["clip_start"] == meta["start"] - pd.Timedelta(seconds=0.1)).all()
        assert (meta["event_start_sample"] == round(0.1 * RATE)).all()
    else:
        middle = meta["start"] + (meta["end"] - meta["start"]) / 2
        assert ((meta["clip_start"] + length / 2 - middle).abs() <= pd.Timedelta(1, "ns")).all()
    for i, row in enumerate(list[Any](meta.itertuples())):
        want = world.reference(row.stream_id, row.clip_start, row.clip_end, RATE)
        np.testing.assert_array_equal(audio[i], want)


def test_clip_spans_validation() -> None:
    frame = events()
    with pytest.raises(ValueError, match="align"):
        clip_spans(frame, 1.0, align="end")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stream_id"):
        clip_spans(frame.drop(columns="stream_id"))
    with pytest.raises(ValueError, match="duration"):
        clip_spans(frame, duration=0)
    # Only a start is needed with a fixed duration aligned at the start.
    spans = clip_spans(frame.drop(columns="end"), duration=2.0, align="start")
    assert (spans["clip_end"] - spans["clip_start"] == pd.Timedelta(seconds=2)).all()


def test_iter_clips_batches_concatenate_to_clips(world) -> None:  # type: ignore[no-untyped-def]
    source = two_streams(world)
    frame = events()
    audio, meta = clips(source, frame, pad=0.1, progress=False)
    batches = list(iter_clips(source, frame, pad=0.1, batch_size=3, progress=False, workers=3))
    assert [len(a) for a, _ in batches] == [3, 3, 1]
    assert {a.shape[1] for a, _ in batches} == {audio.shape[1]}
    np.testing.assert_array_equal(np.concatenate([a for a, _ in batches]), audio)
    pd.testing.assert_frame_equal(pd.concat([m for _, m in batches]), meta)
    assert list(meta.index) == list(range(len(frame)))


def test_resampled_clips_and_rate_checks(world) -> None:  # type: ignore[no-untyped-def]
    source = two_streams(world)
    world.add("hi", at(0), world.noise(16000 * 4, 3), 16000, ".wav")
    frame = events()
    audio, meta = clips(source, frame, duration=1.0, sample_rate=22050, progress=False)
    assert audio.shape == (len(frame), 22050) and (meta["sample_rate"] == 22050).all()
    mixed = pd.concat(
        [frame, frame.iloc[:1].assign(stream_id="hi", start=at(1), end=at(2))],
        ignore_index=True,
    )
    with pytest.raises(ValueError, match="sample_rate"):
        clips(world.source(), mixed, progress=False)
    with pytest.raises(ValueError, match="sample_rate"):
        list(iter_clips(world.source(), mixed, batch_size=2, progress=False))
    audio, meta = clips(world.source(), mixed, duration=1.0, sample_rate=16000, progress=False)
    assert audio.shape == (len(mixed), 16000)


def test_band_pass_attenuates_out_of_band(world) -> None:  # type: ignore[no-untyped-def]
    world.add("wn", at(0), world.noise(RATE * 10, 5, amplitude=0.3), RATE, ".wav")
    frame = pd.DataFrame(
        {
            "stream_id": ["wn", "wn"],
            "start": [at(1), at(5)],
            "end": [at(3), at(6)],
            "frequency_min": [1000, 2500],
            "frequency_max": [2000, None],
        }
    )
    raw, _ = clips(world.source(), frame, duration=2.0, progress=False)
    filtered, _ = clips(world.source(), frame, duration=2.0, band_pass=True, progress=False)
    # Row 0: 1000-2000 Hz kept, 3000-4000 Hz removed.
    assert band_energy(filtered[0], RATE, 1100, 1900)[0] == pytest.approx(
        band_energy(raw[0], RATE, 1100, 1900)[0], rel=1e-3
    )
    assert band_energy(filtered[0], RATE, 2200, 4000)[0] < 1e-6 * band_energy(
        raw[0], RATE, 2200, 4000
    )[0]
    assert band_energy(filtered[0], RATE, 0, 800)[0] < 1e-6 * band_energy(raw[0], RATE, 0, 800)[0]
    # Row 1: no upper edge: a high-pass at 2500 Hz.
    assert band_energy(filtered[1], RATE, 2600, 4000)[0] == pytest.approx(
        band_energy(raw[1], RATE, 2600, 4000)[0], rel=1e-3
    )
    assert band_energy(filtered[1], RATE, 0, 2300)[0] < 1e-6 * band_energy(raw[1], RATE, 0, 2300)[0]
    with pytest.raises(ValueError, match="frequency"):
        clips(world.source(), frame[["stream_id", "start", "end"]], band_pass=True, progress=False)


def test_band_pass_keeps_nan_and_shape() -> None:
    x = np.ones((2, 100), dtype=np.float32)
    x[1, 10:20] = np.nan
    y = band_pass_filter(x, 1000, [None, 100], [None, 200])
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.isnan(y[1, 10:20]).all() and not np.isnan(y[0]).any()
    np.testing.assert_allclose(y[0], 1.0, atol=1e-6)  # no band: unchanged (DC passes)


def test_energy_check_in_a_few_lines(world) -> None:  # type: ignore[no-untyped-def]
    """The issue's audio check: in-band energy >= 10x the same band 5 s away."""
    rate = 16000
    background = world.noise(rate * 30, 9, amplitude=0.01)
    t = np.arange(rate * 30) / rate
    calls = [(4.0, 5.0, 3000.0), (12.5, 13.0, 6000.0), (20.0, 22.0, 1200.0)]
    for a, b, f in calls:
        inside = (t >= a) & (t < b)
        background[inside] += 0.2 * np.sin(2 * np.pi * f * t[inside]).astype(np.float32)
    world.add("calls", at(0), background, rate, ".wav")
    annotations = pd.DataFrame(
        {
            "stream_id": "calls",
            "start": [at(a) for a, _, _ in calls],
            "end": [at(b) for _, b, _ in calls],
            "frequency_min": [f - 200 for _, _, f in calls],
            "frequency_max": [f + 200 for _, _, f in calls],
        }
    )
    source = world.source()
    # The check itself:
    here, meta = clips(source, annotations, progress=False)
    away, _ = clips(source, shift(annotations, 5.0), progress=False)
    low, high = meta["frequency_min"], meta["frequency_max"]
    assert (band_energy(here, rate, low, high) >= 10 * band_energy(away, rate, low, high)).all()
    # And it can fail: the same band on background alone is not 10x louder.
    quiet, _ = clips(source, shift(annotations, 2.5), progress=False)
    assert not (
        band_energy(quiet, rate, low, high) >= 10 * band_energy(away, rate, low, high)
    ).all()


def test_load_window_agrees_with_clips(world) -> None:  # type: ignore[no-untyped-def]
    source = two_streams(world)
    frame = events()
    audio, meta = clips(source, frame, duration=0.75, progress=False)
    for i, row in enumerate(list[Any](meta.itertuples())):
        one = load_window(source, row.stream_id, row.clip_start, row.clip_end)
        np.testing.assert_array_equal(audio[i], one)
