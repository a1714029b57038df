"""load_window / load_windows against windows stitched by hand from real files."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rfcx_frames.audio import (
    AudioStore,
    GapError,
    LocalSource,
    WindowRequest,
    load_window,
    load_windows,
)
from rfcx_frames.audio.sources import TableSource
from rfcx_frames.timeutil import to_ns

T0 = pd.Timestamp("2021-03-04T05:00:00Z")


def at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def three_segments_with_gap(world, rate: int = 8000):  # type: ignore[no-untyped-def]
    """seg0 [0,10) s, seg1 [10,20) s, gap 2.5 s, seg2 [22.5,32.5) s."""
    world.add("s1", at(0), world.ramp(10 * rate, 1), rate)
    world.add("s1", at(10), world.ramp(10 * rate, 2), rate)
    world.add("s1", at(22.5), world.ramp(10 * rate, 3), rate)
    return world.source()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (0, 10),  # exactly one segment
        (9.999, 10.0005),  # a handful of samples across the boundary
        (3.2, 17.8),  # across a boundary
        (15, 25),  # across the gap
        (-1, 2),  # starts before the first segment
        (31, 35),  # runs past the last segment
        (0.0001, 32.5),  # sub-sample start
    ],
)
def test_window_matches_hand_stitched_reference(world, a: float, b: float) -> None:  # type: ignore[no-untyped-def]
    source = three_segments_with_gap(world)
    got = load_window(source, "s1", at(a), at(b))
    want = world.reference("s1", at(a), at(b), 8000)
    assert got.dtype == np.float32
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_hour_of_segments_59_minutes_in_is_sample_exact(world) -> None:  # type: ignore[no-untyped-def]
    rate = 48_000
    # FLAC encoding dominates this test; libsndfile releases the GIL, so write in threads.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda k: world.add("hour", at(60 * k), world.ramp(60 * rate, k), rate,
                                          seg_id=f"h{k:02d}"), range(58)))
    # Segment 58 starts a quarter second late (not on a whole second) and is shorter.
    world.add("hour", at(58 * 60 + 0.25), world.ramp(rate * 5975 // 100, 58), rate)
    world.add("hour", at(59 * 60), world.ramp(60 * rate, 59), rate)
    source = world.source()
    for a, b in [
        (59 * 60 - 0.0005, 59 * 60 + 1.2345),  # 59 min in, across a boundary
        (58 * 60 - 0.1, 58 * 60 + 0.5),  # across the quarter-second gap
        (58 * 60 + 30.123, 59 * 60 + 30.456),
        (3599.0, 3600.0),  # the last second of the hour
    ]:
        got = load_window(source, "hour", at(a), at(b))
        want = world.reference("hour", at(a), at(b), rate)
        np.testing.assert_array_equal(got, want)
    _, cov = load_window(
        source, "hour", at(58 * 60 - 0.1), at(58 * 60 + 0.5), return_gaps=True
    )
    assert cov.gaps == [(at(58 * 60), at(58 * 60 + 0.25))]
    assert int((~cov.mask).sum()) == rate // 4


def test_odd_rate_with_millisecond_timestamps(world) -> None:  # type: ignore[no-untyped-def]
    rate = 22_050
    # 10 s + 7 samples (not a whole millisecond), then a segment on the 20 ms grid.
    world.add("odd", at(0), world.ramp(rate * 10 + 7, 1), rate)
    world.add("odd", at(10.02), world.ramp(rate * 10, 2), rate)
    source = world.source()
    for a, b in [(9.001, 10.013), (0.001, 19.999), (10.0003, 10.0204), (5.5, 12.25)]:
        got = load_window(source, "odd", at(a), at(b))
        want = world.reference("odd", at(a), at(b), rate)
        assert len(got) == round((b - a) * rate) or abs(len(got) - (b - a) * rate) <= 0.5
        np.testing.assert_array_equal(got, want)


def test_gap_modes(world) -> None:  # type: ignore[no-untyped-def]
    source = three_segments_with_gap(world)
    a, b = at(18), at(24)
    zero, cov = load_window(source, "s1", a, b, gap="zero", return_gaps=True)
    assert cov.gaps == [(at(20), at(22.5))]
    assert cov.sample_rate == 8000
    assert cov.mask.shape == zero.shape
    assert not cov.mask[2 * 8000 : 4 * 8000 + 4000].any()
    assert cov.mask[: 2 * 8000].all() and cov.mask[4 * 8000 + 4000 :].all()
    assert cov.fraction == pytest.approx(3.5 / 6)
    np.testing.assert_array_equal(zero, world.reference("s1", a, b, 8000))

    nan = load_window(source, "s1", a, b, gap="nan")
    assert np.isnan(nan[~cov.mask]).all()
    np.testing.assert_array_equal(nan[cov.mask], zero[cov.mask])

    with pytest.raises(GapError) as info:
        load_window(source, "s1", a, b, gap="raise")
    assert info.value.gaps == [(at(20), at(22.5))]
    assert info.value.stream_id == "s1"
    # A fully covered window does not raise.
    assert load_window(source, "s1", at(1), at(2), gap="raise").shape == (8000,)
    with pytest.raises(ValueError, match="gap must be"):
        load_window(source, "s1", a, b, gap="skip")  # type: ignore[call-overload]


def test_window_without_any_audio(world) -> None:  # type: ignore[no-untyped-def]
    source = three_segments_with_gap(world)
    empty, cov = load_window(source, "s1", at(100), at(101), sample_rate=4000, return_gaps=True)
    assert empty.shape == (4000,) and not empty.any()
    assert cov.gaps == [(at(100), at(101))] and cov.fraction == 0.0
    # No rate asked: the stream's rate nearby sizes it.
    assert load_window(source, "s1", at(100), at(101)).shape == (8000,)
    with pytest.raises(GapError, match="no audio"):
        load_window(source, "s1", at(5000), at(5001))  # nothing within an hour
    with pytest.raises(GapError):
        load_window(source, "nostream", at(1), at(2))
    with pytest.raises(ValueError, match="not after start"):
        load_window(source, "s1", at(2), at(1))


@pytest.mark.parametrize("target", [8000, 11025, 16000, 22050, 32000, 44100, 96000])
def test_resampled_lengths_are_exact(world, target: int) -> None:  # type: ignore[no-untyped-def]
    rate = 48_000
    t = np.arange(20 * rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    world.add("tone", at(0), tone[: 10 * rate], rate, ext=".wav")
    world.add("tone", at(10), tone[10 * rate :], rate, ext=".wav")
    source = world.source()
    for a, b in [(9.3, 10.7), (0.0, 1.2345), (9.99999, 10.00071)]:
        got = load_window(source, "tone", at(a), at(b), sample_rate=target)
        assert got.dtype == np.float32
        assert len(got) == int(np.floor((b - a) * target + 0.5)) or abs(
            len(got) - (b - a) * target
        ) <= 0.5
    # No artifact at the segment boundary or the window edges: the resampled window is the
    # same tone sampled at the target rate.
    got = load_window(source, "tone", at(9.3), at(10.7), sample_rate=target)
    k = np.arange(len(got))
    want = 0.5 * np.sin(2 * np.pi * 440.0 * (9.3 + k / target))
    assert np.abs(got - want).max() < 2e-3


def test_opus_segments(world) -> None:  # type: ignore[no-untyped-def]
    rate = 48_000
    world.add("op", at(0), world.noise(5 * rate, 1), rate, ext=".opus")
    world.add("op", at(5), world.noise(5 * rate, 2), rate, ext=".opus")
    source = world.source()
    for a, b in [(4.3, 5.9), (0.0, 10.0), (1.23456, 1.3)]:
        got = load_window(source, "op", at(a), at(b))
        np.testing.assert_array_equal(got, world.reference("op", at(a), at(b), rate))


def test_channels(world) -> None:  # type: ignore[no-untyped-def]
    rate = 8000
    left = world.noise(rate, 1)
    right = world.noise(rate, 2)
    stereo = np.stack([left, right], axis=1)
    world.add("st", at(0), stereo, rate, ext=".wav")
    source = world.source()
    mix = load_window(source, "st", at(0), at(1))
    np.testing.assert_allclose(mix, (left + right) / 2, atol=1e-7)
    np.testing.assert_array_equal(load_window(source, "st", at(0), at(1), channel=1), right)
    np.testing.assert_array_equal(load_window(source, "st", at(0), at(1), channel=0), left)
    with pytest.raises(ValueError, match="channel 2"):
        load_window(source, "st", at(0), at(1), channel=2)


def test_mixed_rates_use_the_highest(world) -> None:  # type: ignore[no-untyped-def]
    t16 = np.arange(16000 * 2) / 16000
    t48 = np.arange(48000 * 2) / 48000 + 2
    world.add("mx", at(0), (0.5 * np.sin(2 * np.pi * 300 * t16)).astype(np.float32), 16000, ".wav")
    world.add("mx", at(2), (0.5 * np.sin(2 * np.pi * 300 * t48)).astype(np.float32), 48000, ".wav")
    got = load_window(world.source(), "mx", at(1), at(3))
    assert len(got) == 2 * 48000
    want = 0.5 * np.sin(2 * np.pi * 300 * (1 + np.arange(len(got)) / 48000))
    assert np.abs(got[48000:] - want[48000:]).max() < 1e-6
    # The 16 kHz part is upsampled; away from its edges it follows the same tone.
    assert np.abs(got[2000:46000] - want[2000:46000]).max() < 5e-3


def test_overlapping_segments_earlier_wins(world) -> None:  # type: ignore[no-untyped-def]
    rate = 8000
    world.add("ov", at(0), np.full(2 * rate, 0.25, dtype=np.float32), rate, ".wav")
    world.add("ov", at(1), np.full(2 * rate, 0.5, dtype=np.float32), rate, ".wav")
    got = load_window(world.source(), "ov", at(0), at(3))
    assert (got[: 2 * rate] == 0.25).all() and (got[2 * rate :] == 0.5).all()


def test_store_source_equals_table_source(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    table_source = three_segments_with_gap(world)
    local = LocalSource.from_files(world.table(), AudioStore(tmp_path / "store"))
    for a, b in [(3.2, 17.8), (15, 25), (-1, 40)]:
        np.testing.assert_array_equal(
            load_window(local, "s1", at(a), at(b)), load_window(table_source, "s1", at(a), at(b))
        )


def test_load_windows_batches_streams_and_width(world) -> None:  # type: ignore[no-untyped-def]
    source = three_segments_with_gap(world)
    world.add("s2", at(0), world.ramp(8000 * 5, 9), 8000)
    source = world.source()
    reqs = [
        WindowRequest("s1", to_ns(at(1)), to_ns(at(2))),
        WindowRequest("s2", to_ns(at(0.5)), to_ns(at(1))),
        WindowRequest("s1", to_ns(at(19)), to_ns(at(23))),
    ]
    audio, covs = load_windows(source, reqs, width=40000, gap="nan")
    assert audio.shape == (3, 40000)
    np.testing.assert_array_equal(audio[1, :4000], world.reference("s2", at(0.5), at(1), 8000))
    assert np.isnan(audio[1, 4000:]).all()
    assert covs[2].gaps == [(at(20), at(22.5))]
    with pytest.raises(ValueError, match="width"):
        load_windows(source, reqs, width=10)
    for single, req in zip(audio, reqs, strict=True):
        one = load_window(source, req.stream_id, pd.Timestamp(req.start_ns, tz="UTC"),
                          pd.Timestamp(req.end_ns, tz="UTC"), gap="nan")
        np.testing.assert_array_equal(single[: len(one)], one)


class HeaderlessSource:
    """A source whose table has no rates or lengths (like the API's list), counting fetches."""

    def __init__(self, inner: TableSource) -> None:
        self.inner = inner
        self.fetched: list[str] = []

    def segments(self, stream_id: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        table = self.inner.segments(stream_id, start - pd.Timedelta(minutes=30), end)
        return table.drop(columns=["sample_rate", "sample_count"])

    def fetch(self, segment: Mapping[str, Any]) -> Path:
        self.fetched.append(str(segment["id"]))
        return self.inner.fetch(segment)


def test_only_needed_segments_are_fetched(world) -> None:  # type: ignore[no-untyped-def]
    for k in range(10):
        world.add("lazy", at(10 * k), world.ramp(10 * 8000, k), 8000, seg_id=f"z{k}")
    table_source = world.source()
    lazy = HeaderlessSource(table_source)
    got = load_window(lazy, "lazy", at(35), at(52))
    np.testing.assert_array_equal(got, load_window(table_source, "lazy", at(35), at(52)))
    # The table listed every segment of the half hour before; only the three the window
    # touches were fetched (once each: header and decoding share the file).
    assert sorted(lazy.fetched) == ["z3", "z4", "z5"]
    lazy.fetched.clear()
    got = load_window(lazy, "lazy", at(39.9995), at(40.0005), sample_rate=16000)
    assert len(got) == 16
    assert set(lazy.fetched) <= {"z3", "z4", "z5"}  # resampling margin reaches neighbours


def test_opus_without_exact_seeking_decodes_from_the_start(  # type: ignore[no-untyped-def]
    world, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rfcx_frames.audio import stitch

    rate = 24_000
    world.add("op2", at(0), world.noise(3 * rate, 4), rate, ext=".opus")
    world.add("op2", at(3), world.noise(3 * rate, 5), rate, ext=".opus")
    source = world.source()
    exact = load_window(source, "op2", at(2.5), at(4.25))
    monkeypatch.setattr(stitch, "OGG_SEEK_EXACT", False)
    slow = load_window(source, "op2", at(2.5), at(4.25))
    np.testing.assert_array_equal(slow, exact)
    np.testing.assert_array_equal(slow, world.reference("op2", at(2.5), at(4.25), rate))
