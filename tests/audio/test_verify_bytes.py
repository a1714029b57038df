"""A downloaded file is accepted only when it is whole (``segment_check.check_segment_audio``)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from rfcx_frames.audio import AudioVerificationError
from rfcx_frames.audio.segment_check import check_segment_audio

RATE = 24_000
SEGMENT = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T00:00:20Z"}
FORMATS = [("FLAC", "PCM_16"), ("WAV", "PCM_16"), ("OGG", "VORBIS")]


def encoded(fmt: str, subtype: str, seconds: float = 20.0) -> bytes:
    noise = np.random.default_rng(7).standard_normal(int(RATE * seconds)) * 0.1
    buffer = io.BytesIO()
    sf.write(buffer, noise.astype("float32"), RATE, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize(("fmt", "subtype"), FORMATS)
def test_a_whole_file_is_accepted_with_its_frame_count(fmt: str, subtype: str) -> None:
    facts = check_segment_audio(encoded(fmt, subtype), SEGMENT)
    assert (facts.frames, facts.sample_rate, facts.channels) == (RATE * 20, RATE, 1)


@pytest.mark.parametrize(("fmt", "subtype"), FORMATS)
@pytest.mark.parametrize("kept", [0.0, 0.01, 0.5, 0.9, 0.999])
def test_a_body_cut_short_is_rejected(fmt: str, subtype: str, kept: float) -> None:
    data = encoded(fmt, subtype)
    with pytest.raises(AudioVerificationError):
        check_segment_audio(data[: int(len(data) * kept)], SEGMENT)


@pytest.mark.parametrize(("fmt", "subtype"), FORMATS)
def test_a_whole_file_of_the_wrong_length_is_rejected(fmt: str, subtype: str) -> None:
    with pytest.raises(AudioVerificationError, match="needs"):
        check_segment_audio(encoded(fmt, subtype, seconds=19.0), SEGMENT)


def test_bytes_that_are_not_audio_are_rejected() -> None:
    with pytest.raises(AudioVerificationError, match="does not decode"):
        check_segment_audio(b"<html>503 Service Temporarily Unavailable</html>" * 50, SEGMENT)
