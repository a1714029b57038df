"""A small world of real segment files for the audio tests.

Segments hold a slow integer ramp (one step per sample, offset per segment) written as
16-bit PCM, so any one-sample shift changes the values, FLAC compresses them to almost
nothing, and float32 decoding is exact.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from rfcx_frames.audio.sources import TableSource


def half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


_CYCLE = np.arange(-32768, 32768, dtype=np.int16)


def ramp(n: int, seed: int) -> np.ndarray:
    """int16 ramp of ``n`` samples starting at a per-segment offset (wraps every 65536)."""
    first = (seed * 7919) % 65536
    return np.tile(_CYCLE, (first + n) // 65536 + 1)[first : first + n].copy()


def noise(n: int, seed: int, amplitude: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * amplitude).astype(np.float32)


@dataclass
class World:
    """Segments written to disk plus what the tests need to build references by hand."""

    root: Path
    rows: list[dict[str, object]] = field(default_factory=list)
    data: list[np.ndarray] = field(default_factory=list)  # decoded float32, mono
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    ramp = staticmethod(ramp)
    noise = staticmethod(noise)

    def add(
        self,
        stream_id: str,
        start: str | pd.Timestamp,
        samples: np.ndarray,
        rate: int,
        ext: str = ".flac",
        end: pd.Timestamp | None = None,
        seg_id: str | None = None,
    ) -> dict[str, object]:
        start_ts = pd.Timestamp(start)
        if start_ts.tzinfo is None:
            start_ts = start_ts.tz_localize("UTC")
        seg_id = seg_id or f"seg{len(self.rows):04d}"
        folder = self.root / stream_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{seg_id}{ext}"
        if ext == ".opus":
            sf.write(path, samples, rate, format="OGG", subtype="OPUS")
        elif samples.dtype == np.int16:
            sf.write(path, samples, rate, subtype="PCM_16")
        else:
            sf.write(path, samples, rate, subtype="PCM_24" if ext == ".flac" else "FLOAT")
        if samples.dtype == np.int16 and ext != ".opus":
            decoded = (samples.astype(np.float32) / 32768.0)[:, None]
        else:
            decoded, _ = sf.read(path, dtype="float32", always_2d=True)
        if end is None:
            # The platform's convention: end = start + floor(duration in ms).
            end = start_ts + pd.Timedelta(milliseconds=(len(decoded) * 1000) // rate)
        row: dict[str, object] = {
            "stream_id": stream_id,
            "id": seg_id,
            "start": start_ts,
            "end": end,
            "file_extension": ext,
            "path": str(path),
        }
        mono = decoded.mean(axis=1).astype(np.float32)
        with self._lock:  # rows[i] and data[i] must stay paired when threads add segments
            self.rows.append(row)
            self.data.append(mono)
        return row

    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows)
        frame["start"] = pd.to_datetime(frame["start"], utc=True).astype("datetime64[ms, UTC]")
        frame["end"] = pd.to_datetime(frame["end"], utc=True).astype("datetime64[ms, UTC]")
        return frame

    def source(self) -> TableSource:
        return TableSource(self.table())

    def reference(
        self, stream_id: str, start: pd.Timestamp, end: pd.Timestamp, rate: int
    ) -> np.ndarray:
        """The window stitched by hand: segments concatenated with zeros for the gaps.

        Works from the first segment of the stream with exact rational arithmetic; every
        segment start must fall on the sample grid of that first segment.
        """
        idx = [i for i, r in enumerate(self.rows) if r["stream_id"] == stream_id]
        idx.sort(key=lambda i: pd.Timestamp(self.rows[i]["start"]))  # type: ignore[arg-type]
        t0 = pd.Timestamp(self.rows[idx[0]]["start"])  # type: ignore[arg-type]
        a = half_up(Fraction((start - t0).value, 10**9) * rate)
        b = a + half_up(Fraction((end - start).value, 10**9) * rate)
        # Exact sample offset of every segment from the stream's first sample.
        offsets = []
        for i in idx:
            s = pd.Timestamp(self.rows[i]["start"])  # type: ignore[arg-type]
            offset = Fraction((s - t0).value, 10**9) * rate
            assert offset.denominator == 1, "segment start off the sample grid"
            offsets.append(int(offset))
        # Concatenate the segments touching the window, zeros in between.
        touching = [
            (o, self.data[i])
            for o, i in zip(offsets, idx, strict=True)
            if o < b and o + len(self.data[i]) > a
        ]
        out = np.zeros(b - a, dtype=np.float32)
        if not touching:
            return out
        pieces: list[np.ndarray] = []
        base = position = touching[0][0]
        for o, data in touching:
            assert o >= position, "overlapping segments in a reference world"
            pieces.append(np.zeros(o - position, dtype=np.float32))
            pieces.append(data)
            position = o + len(data)
        timeline = np.concatenate(pieces)
        lo, hi = max(a, base), min(b, base + len(timeline))
        if hi > lo:
            out[lo - a : hi - a] = timeline[lo - base : hi - base]
        return out


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "world")
