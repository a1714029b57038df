"""Synthesis, codecs and lazy blob rendering of the emulator (rfcx_frames.emulator.audio)."""

from __future__ import annotations

import io
import itertools
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rfcx_frames.emulator import opus
from rfcx_frames.emulator.audio import (
    CALL_KINDS,
    NOISE_STD,
    CallSpec,
    amplitude_for_snr,
    decode,
    encode,
    ensure_blob,
    render_segment,
    segment_calls,
    synthesize,
)
from rfcx_frames.emulator.opus import OPUS_ENCODERS, encode_opus, encoder_id, opus_encoder
from rfcx_frames.emulator.store import Store
from rfcx_frames.emulator.world import build_world

SEED = 7


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("audio_world"))
    build_world(store, "demo", seed=SEED, days=2)
    return store


def band_energy(x: np.ndarray, sample_rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate)
    return float(spectrum[(freqs >= low) & (freqs <= high)].sum())


def only_call(call: CallSpec, start_ms: int, count: int, rate: int) -> np.ndarray:
    """The call alone: a render minus the same render without calls (same noise)."""
    kw = {"seed": 1, "stream_id": "s", "start_ms": start_ms, "sample_count": count,
          "sample_rate": rate}
    with_call = synthesize(calls=[call], **kw).astype(np.float64)  # type: ignore[arg-type]
    return with_call - synthesize(calls=[], **kw)  # type: ignore[arg-type]


def test_synthesize_is_deterministic_float32_and_seeded() -> None:
    kw = {"stream_id": "abc", "start_ms": 1_709_251_200_000, "sample_count": 12000,
          "sample_rate": 12000, "calls": []}
    a = synthesize(seed=0, **kw)  # type: ignore[arg-type]
    assert a.dtype == np.float32 and a.shape == (12000,)
    assert np.array_equal(a, synthesize(seed=0, **kw))  # type: ignore[arg-type]
    assert not np.array_equal(a, synthesize(seed=1, **kw))  # type: ignore[arg-type]
    other_stream = {**kw, "stream_id": "abd"}
    assert not np.array_equal(a, synthesize(seed=0, **other_stream))  # type: ignore[arg-type]
    assert 0.8 * NOISE_STD < float(a.std()) < 1.2 * NOISE_STD


@pytest.mark.parametrize("kind", CALL_KINDS)
def test_call_stays_inside_its_interval_and_band(kind: str) -> None:
    rate = 24000
    call = CallSpec(start_ms=1_250, end_ms=3_100, frequency_min=2000, frequency_max=4500,
                    amplitude=0.3, kind=kind, seed=11)
    x = only_call(call, 0, 4 * rate, rate)
    first, last = int(1.25 * rate), int(3.1 * rate)
    assert np.all(x[:first] == 0) and np.all(x[last + 1:] == 0)
    inside = x[first:last + 1]
    assert band_energy(inside, rate, 2000, 4500) / band_energy(inside, rate, 0, rate / 2) > 0.99
    # mean power matches the nominal amplitude (ramps cost a little)
    assert 0.8 < float(np.mean(inside**2)) / (0.3**2 / 2) < 1.1


def test_amplitude_for_snr_gives_the_requested_in_band_snr() -> None:
    rate, low, high = 16000, 1000, 3000
    amp = amplitude_for_snr(25.0, low, high, rate)
    call = CallSpec(start_ms=0, end_ms=2000, frequency_min=low, frequency_max=high,
                    amplitude=amp, kind="trill", seed=3)
    x = synthesize(seed=5, stream_id="s", start_ms=0, sample_count=4 * rate, sample_rate=rate,
                   calls=[call])
    snr = 10 * np.log10(band_energy(x[:2 * rate], rate, low, high)
                        / band_energy(x[2 * rate:], rate, low, high))
    assert 24.0 < snr < 26.5


def test_call_is_seamless_across_adjacent_spans() -> None:
    rate = 44100
    call = CallSpec(start_ms=59_000, end_ms=61_700, frequency_min=800, frequency_max=3000,
                    amplitude=0.2, kind="sweep", seed=4)
    union = only_call(call, 0, 120 * rate, rate)
    parts = np.concatenate([only_call(call, 0, 60 * rate, rate),
                            only_call(call, 60_000, 60 * rate, rate)])
    assert np.abs(union).max() > 0.1
    np.testing.assert_allclose(parts, union, atol=1e-6)


@pytest.mark.parametrize("codec", ["flac", "opus", "wav"])
def test_encode_is_byte_deterministic_and_decodes_to_the_same_length(codec: str) -> None:
    rate = 12000
    x = synthesize(seed=2, stream_id="s", start_ms=0, sample_count=rate * 7 + 123,
                   sample_rate=rate, calls=[])
    data = encode(x, rate, codec)
    assert data == encode(x, rate, codec)
    y, sr = decode(data)
    assert sr == rate and len(y) == len(x) and y.dtype == np.float32
    if codec != "opus":
        assert np.abs(y - x).max() < 1e-4


@pytest.mark.parametrize("rate", [8000, 12000, 16000, 24000, 48000])
def test_opus_round_trips_the_exact_sample_count(rate: int) -> None:
    count = rate * 37 + rate // 3 + 1
    x = synthesize(seed=0, stream_id="s", start_ms=0, sample_count=count, sample_rate=rate,
                   calls=[])
    y, sr = decode(encode(x, rate, "opus"))
    assert (sr, len(y)) == (rate, count)


def test_opus_uses_the_fast_encoder_when_pyav_is_installed() -> None:
    assert opus_encoder() == "pyav"  # the test extra installs it


@pytest.mark.parametrize("encoder", OPUS_ENCODERS)
@pytest.mark.parametrize("rate", [8000, 12000, 16000, 24000, 48000])
def test_both_opus_encoders_give_exact_lengths_even_below_one_packet(encoder: str,
                                                                     rate: int) -> None:
    # 120 ms packets: one sample, one packet's worth and a bit, a second and a bit
    for count in (1, rate * 120 // 1000 + 1, rate + 7):
        x = synthesize(seed=1, stream_id="s", start_ms=0, sample_count=count,
                       sample_rate=rate, calls=[])
        data = encode_opus(x, rate, encoder)
        assert data == encode_opus(x, rate, encoder)
        y, sr = decode(data)
        assert (sr, len(y)) == (rate, count), (encoder, count)


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_fast_opus_keeps_every_bands_energy_and_the_waveform(rate: int) -> None:
    count = 3 * rate
    calls = [CallSpec(start_ms=500, end_ms=2500, frequency_min=0.2 * rate / 2,
                      frequency_max=0.6 * rate / 2, amplitude=0.1, kind=kind, seed=3)
             for kind in ("sweep", "noise")]
    x = synthesize(seed=1, stream_id="s", start_ms=0, sample_count=count, sample_rate=rate,
                   calls=calls)
    y, _ = decode(encode_opus(x, rate, "pyav"))
    edges = np.linspace(0, 0.8 * rate / 2, 9)
    for low, high in itertools.pairwise(edges):
        ratio = band_energy(y, rate, low, high) / band_energy(x, rate, low, high)
        assert abs(10 * np.log10(ratio)) < 1.5, (low, high)
    # the waveform as faithful as libsndfile's encoding of it
    before, _ = decode(encode_opus(x, rate, "libsndfile"))
    assert np.corrcoef(x, y)[0, 1] > max(0.9, np.corrcoef(x, before)[0, 1] - 0.01)


@pytest.mark.parametrize("rate", [8000, 12000, 16000])
def test_opus_halves_join_as_faithfully_as_any_other_packet(rate: int) -> None:
    # 10 s is encoded as two halves on two threads; the join is a packet boundary
    count = 10 * rate + 17
    t = np.arange(count) / rate
    tone = 0.3 * np.sin(2 * np.pi * (0.1 * rate + 0.05 * rate * np.sin(t)) * t)
    noise = 0.05 * np.random.default_rng(0).standard_normal(count)
    x = (tone * (1 + np.sin(np.pi * t)) / 2 + noise).astype(np.float32)
    y, sr = decode(encode_opus(x, rate, "pyav"))
    assert (sr, len(y)) == (rate, count)
    packet = rate * 120 // 1000
    join = (count // packet) // 2 * packet
    frame = rate // 50

    def snr(at: int) -> float:
        part = slice(at, at + frame)
        return float(10 * np.log10(np.sum(x[part] ** 2) / np.sum((y[part] - x[part]) ** 2)))

    usual = np.median([snr(at) for at in range(frame, count - 2 * frame, frame)])
    for at in range(join - 4 * frame, join + 6 * frame, frame // 2):
        assert snr(at) > usual - 3, (at - join, snr(at), usual)
        ratio = np.sum(y[at:at + frame] ** 2) / np.sum(x[at:at + frame] ** 2)
        assert abs(10 * np.log10(ratio)) < 1.0, at - join


def test_opus_encoders_name_themselves_and_refuse_bad_input(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert encoder_id("pyav") != encoder_id("libsndfile")
    x = np.zeros(800, dtype=np.float32)
    with pytest.raises(ValueError, match=r"encoder must be one of \('pyav', 'libsndfile'\)"):
        encode_opus(x, 8000, "ffmpeg")
    with pytest.raises(ValueError, match="samples is empty"):
        encode_opus(x[:0], 8000)
    with pytest.raises(ValueError, match="sample_rate must be one of"):
        encode_opus(x, 22050)
    monkeypatch.setattr(opus, "_pyav", lambda: None)
    assert opus_encoder() == "libsndfile"
    assert decode(encode(x, 8000, "opus"))[0].shape == (800,)
    with pytest.raises(ImportError, match=r"rfcx-frames\[emulator\]"):
        encode_opus(x, 8000, "pyav")


def test_encode_rejects_unknown_codec_and_bad_opus_rate() -> None:
    x = np.zeros(100, dtype=np.float32)
    with pytest.raises(ValueError, match="opus"):
        encode(x, 44100, "opus")
    with pytest.raises(ValueError, match="codec"):
        encode(x, 8000, "aac")


def test_encode_clips_out_of_range_samples() -> None:
    x = np.array([2.0, -3.0, 0.5] * 100, dtype=np.float32)
    y, _ = decode(encode(x, 8000, "flac"))
    assert y.max() <= 1.0 and y.min() >= -1.0 and y[0] > 0.99 and y[1] < -0.99


def test_decode_mixes_channels_down_and_reads_paths(tmp_path: Path) -> None:
    stereo = np.stack([np.full(800, 0.5), np.full(800, -0.1)], axis=1)
    buf = io.BytesIO()
    sf.write(buf, stereo, 8000, format="WAV", subtype="FLOAT")
    mono, rate = decode(buf.getvalue())
    assert rate == 8000 and mono.shape == (800,)
    np.testing.assert_allclose(mono, 0.2, atol=1e-6)
    path = tmp_path / "x.wav"
    path.write_bytes(buf.getvalue())
    assert np.array_equal(decode(path)[0], mono) and np.array_equal(decode(str(path))[0], mono)


def segment_of(store: Store, codec: str) -> dict[str, object]:
    rows = store.query(
        "SELECT s.id, s.sample_count, st.max_sample_rate AS sr FROM segments s "
        "JOIN streams st ON st.id = s.stream_id WHERE st.codec = ? AND s.\"end\" - s.start "
        "< 60000 ORDER BY s.start LIMIT 1", (codec,))
    return dict(rows[0])


@pytest.mark.parametrize("codec", ["flac", "opus"])
def test_ensure_blob_renders_the_exact_sample_count(world: Store, codec: str) -> None:
    seg = segment_of(world, codec)
    path = ensure_blob(world, str(seg["id"]))
    assert path == world.blob_dir / f"{seg['id']}.{codec}"
    samples, rate = decode(path)
    assert (rate, len(samples)) == (seg["sr"], seg["sample_count"])
    assert path.read_bytes() == render_segment(world, str(seg["id"]))[0]


def test_ensure_blob_calls_have_twenty_db_in_band_snr(world: Store) -> None:
    # calls far enough from the segment end to fit a noise window 5 s later; one segment
    # per stream (opus renders are slow), every such call in it
    rows = world.query(
        'SELECT c.start, c."end", c.frequency_min, c.frequency_max, s.id, s.start AS s0, '
        "s.stream_id FROM calls c JOIN segments s ON s.stream_id = c.stream_id "
        'AND s.start <= c.start AND c."end" + 5000 <= s."end" ORDER BY s.start, c.start')
    first_segment: dict[str, str] = {}
    for r in rows:
        first_segment.setdefault(r["stream_id"], r["id"])
    picked = [r for r in rows if first_segment[r["stream_id"]] == r["id"]]
    assert len(first_segment) >= 8 and len(picked) >= 10
    decoded = {seg: decode(ensure_blob(world, seg)) for seg in first_segment.values()}
    for r in picked:
        x, rate = decoded[r["id"]]
        a = (r["start"] - r["s0"]) * rate // 1000
        b = (r["end"] - r["s0"]) * rate // 1000
        shift = 5 * rate
        signal = band_energy(x[a:b], rate, r["frequency_min"], r["frequency_max"])
        noise = band_energy(x[a + shift:b + shift], rate, r["frequency_min"], r["frequency_max"])
        assert 10 * np.log10(signal / noise) >= 20.0, dict(r)


def test_call_across_a_segment_boundary_is_continuous_in_decoded_blobs(world: Store) -> None:
    row = world.query(
        'SELECT c.id, c.stream_id, c.start, c."end", a.id AS a_id, a.start AS a0, '
        'a.sample_count AS na, b.id AS b_id, b.start AS b0, b."end" AS b1, b.sample_count AS nb, '
        "st.max_sample_rate AS sr FROM calls c "
        "JOIN streams st ON st.id = c.stream_id AND st.codec = 'flac' "
        'JOIN segments a ON a.stream_id = c.stream_id AND a.start < c.start AND a."end" > c.start '
        'JOIN segments b ON b.stream_id = c.stream_id AND b.start = a."end" AND b.start < c."end" '
        "ORDER BY c.id LIMIT 1")
    assert row, "the world has a call crossing two contiguous segments"
    r = row[0]
    seed = int(world.meta("seed") or 0)
    rate = int(r["sr"])
    joined = np.concatenate([decode(ensure_blob(world, r["a_id"]))[0],
                             decode(ensure_blob(world, r["b_id"]))[0]]).astype(np.float64)
    noise = np.concatenate([
        synthesize(seed=seed, stream_id=r["stream_id"], start_ms=r["a0"], sample_count=r["na"],
                   sample_rate=rate, calls=[]),
        synthesize(seed=seed, stream_id=r["stream_id"], start_ms=r["b0"], sample_count=r["nb"],
                   sample_rate=rate, calls=[])])
    calls = segment_calls(world, r["stream_id"], r["a0"], r["b1"])
    union = dict(seed=seed, stream_id=r["stream_id"], start_ms=r["a0"],
                 sample_count=r["na"] + r["nb"], sample_rate=rate)
    expected = (synthesize(calls=calls, **union).astype(np.float64)
                - synthesize(calls=[], **union))
    boundary = r["na"]
    near = slice(boundary - rate, boundary + rate)
    assert np.abs(expected[near]).max() > 3 * NOISE_STD
    np.testing.assert_allclose((joined - noise)[near], expected[near], atol=1e-4)


def test_concurrent_ensure_blob_writes_one_intact_file(world: Store) -> None:
    seg_id = str(world.query("SELECT id FROM segments ORDER BY start DESC LIMIT 1")[0]["id"])
    barrier = threading.Barrier(8)
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(ensure_blob(world, seg_id))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and len(results) == 8
    assert results[0].read_bytes() == render_segment(world, seg_id)[0]
    hidden = [p for p in world.blob_dir.iterdir() if p.name.startswith(".")]
    assert not hidden, "no temporary files left behind"


def test_ensure_blob_missing_segment_or_missing_real_file(world: Store) -> None:
    with pytest.raises(FileNotFoundError):
        ensure_blob(world, "00000000-0000-4000-8000-000000000000")
    seg_id = str(world.query("SELECT id FROM segments ORDER BY start LIMIT 1 OFFSET 3")[0]["id"])
    with world.connect() as conn:
        conn.execute("UPDATE segments SET synth = 0 WHERE id = ?", (seg_id,))
    try:
        with pytest.raises(FileNotFoundError):
            ensure_blob(world, seg_id)
        ext = world.query("SELECT file_extension FROM segments WHERE id = ?", (seg_id,))[0][0]
        path = world.blob_dir / f"{seg_id}{ext}"
        path.write_bytes(b"uploaded bytes")
        assert ensure_blob(world, seg_id).read_bytes() == b"uploaded bytes"
    finally:
        with world.connect() as conn:
            conn.execute("UPDATE segments SET synth = 1 WHERE id = ?", (seg_id,))
