"""indices_df cached like frames: a repeat computes nothing and asks nothing, an overlapping
plan computes only its new windows, other options never share rows, offline and refresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import rfcx_frames.audio.indices as indices_module
from rfcx_frames import Client
from rfcx_frames.distributed import window_grid
from rfcx_frames.emulator import Emulator
from rfcx_frames.exceptions import NotCachedError

NOW = pd.Timestamp("2024-06-01", tz="UTC")
RATE = 8000
VALUES = ["aci", "adi", "aei", "bi", "ndsi", "h", "coverage"]


class Computed:
    """Counts the windows whose indices are really computed (scikit-maad runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.windows = 0
        real = indices_module._one

        def counting(*args: Any, **kwargs: Any) -> list[float]:
            self.windows += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(indices_module, "_one", counting)

    def take(self) -> int:
        seen, self.windows = self.windows, 0
        return seen


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> Computed:
    return Computed(monkeypatch)


@pytest.fixture
def client(demo_emulator: Emulator, tmp_path: Path) -> Iterator[Client]:
    with demo_emulator.client(progress=False, cache_dir=tmp_path / "cache",
                              clock=lambda: NOW) as c:
        yield c


@pytest.fixture
def segments(client: Client) -> pd.DataFrame:
    stream = client.streams_df()["id"].iloc[0]
    return client.segments_df(stream, "2024-03-02", "2024-03-03").head(4)


def _grid(segments: pd.DataFrame, rows: slice, step: float = 20.0) -> pd.DataFrame:
    return window_grid(segments.iloc[rows], 20, step=step)


def test_a_repeated_call_computes_nothing_and_makes_no_request(
        client: Client, segments: pd.DataFrame, demo_emulator: Emulator,
        computed: Computed) -> None:
    plan = _grid(segments, slice(0, 2))
    first = client.indices_df(plan, sample_rate=RATE)
    assert computed.take() == len(plan) and first.attrs["cache"]["from_cache"] is False
    demo_emulator.reset_stats()
    again = client.indices_df(plan, sample_rate=RATE)
    assert demo_emulator.stats()["total_requests"] == 0 and computed.take() == 0
    assert again.attrs["cache"]["from_cache"] is True
    pd.testing.assert_frame_equal(again, first)
    assert again.columns.tolist() == ["stream_id", "start", "end", *VALUES]
    # Another order, a window twice: rows in plan order, from the cache.
    shuffled = pd.concat([plan.iloc[::-1], plan.iloc[:1]], ignore_index=True)
    cached = client.indices_df(shuffled, sample_rate=RATE)
    assert computed.take() == 0
    expected = pd.concat([first.iloc[::-1], first.iloc[:1]], ignore_index=True)
    pd.testing.assert_frame_equal(cached, expected)


def test_an_overlapping_plan_computes_only_its_new_windows(
        client: Client, segments: pd.DataFrame, computed: Computed) -> None:
    early, late = _grid(segments, slice(0, 2)), _grid(segments, slice(1, 3))
    client.indices_df(early, sample_rate=RATE)
    computed.take()
    both = client.indices_df(late, sample_rate=RATE)
    new = late["start"].isin(early["start"]).to_numpy() == 0
    assert 0 < new.sum() < len(late) and computed.take() == new.sum()
    # What was computed now equals what the cache-free path computes.
    alone = client.indices_df(late[new], sample_rate=RATE, cache=False)
    pd.testing.assert_frame_equal(both[new].reset_index(drop=True)[VALUES], alone[VALUES])
    # A finer grid over a span already held: only the windows the coarse grid lacked.
    coarse, fine = _grid(segments, slice(0, 1), step=40.0), _grid(segments, slice(0, 1))
    client.indices_df(coarse, sample_rate=RATE, indices=["h"])
    computed.take()
    client.indices_df(fine, sample_rate=RATE, indices=["h"])
    assert computed.take() == len(fine) - len(coarse)
    client.indices_df(coarse, sample_rate=RATE, indices=["h"])  # still held, both grids
    client.indices_df(fine, sample_rate=RATE, indices=["h"])
    assert computed.take() == 0


@pytest.mark.parametrize("changed", [
    {"indices": ["aci", "ndsi"]}, {"sample_rate": 4000}, {"biophony": (2000, 3000)},
    {"nperseg": 256}, {"window": 10},
])
def test_other_options_never_share_rows(client: Client, segments: pd.DataFrame,
                                        computed: Computed, changed: dict[str, Any]) -> None:
    options: dict[str, Any] = {"sample_rate": RATE}
    client.indices_df(_grid(segments, slice(0, 1)), **options)
    computed.take()
    window = changed.pop("window", 20)
    plan = window_grid(segments.iloc[:1], window)
    table = client.indices_df(plan, **{**options, **changed})
    assert computed.take() == len(plan) and table.attrs["cache"]["from_cache"] is False
    expected = ["stream_id", "start", "end", *changed.get("indices", VALUES[:-1]), "coverage"]
    assert table.columns.tolist() == expected
    again = client.indices_df(plan, **{**options, **changed})
    assert computed.take() == 0
    pd.testing.assert_frame_equal(again, table)


def test_offline_refresh_and_off(client: Client, segments: pd.DataFrame,
                                 demo_emulator: Emulator, computed: Computed) -> None:
    plan = _grid(segments, slice(0, 1))
    with pytest.raises(NotCachedError, match="indices") as caught:
        client.indices_df(plan, sample_rate=RATE, cache="offline")
    assert caught.value.missing and computed.take() == 0
    first = client.indices_df(plan, sample_rate=RATE)
    computed.take()
    demo_emulator.reset_stats()
    offline = client.indices_df(plan, sample_rate=RATE, cache="offline")
    assert demo_emulator.stats()["total_requests"] == 0 and computed.take() == 0
    pd.testing.assert_frame_equal(offline, first)
    # One window more than the cache holds: offline names it and computes nothing.
    wider = _grid(segments, slice(0, 2))
    with pytest.raises(NotCachedError):
        client.indices_df(wider, sample_rate=RATE, cache="offline")
    assert computed.take() == 0
    refreshed = client.indices_df(plan, sample_rate=RATE, cache="refresh")
    assert computed.take() == len(plan) and refreshed.attrs["cache"]["from_cache"] is False
    pd.testing.assert_frame_equal(refreshed[VALUES], first[VALUES])
    client.indices_df(wider, sample_rate=RATE, cache=False)  # computed, kept nowhere
    computed.take()
    with pytest.raises(NotCachedError):
        client.indices_df(wider, sample_rate=RATE, cache="offline")


def test_bad_plans_and_options_are_refused(client: Client, segments: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="lacks \\['end'\\]"):
        client.indices_df(segments.drop(columns=["end"]))
    with pytest.raises(ValueError, match="no windows"):
        client.indices_df(segments.iloc[:0])
    with pytest.raises(ValueError, match="indices must be"):
        client.indices_df(segments, indices=["aci", "loudness"])
    with pytest.raises(TypeError, match="unknown options"):
        client.indices_df(segments, window=3)
    assert np.isfinite(client.indices_df(segments.iloc[:1], sample_rate=RATE,
                                         indices="h")["h"]).all()


def test_signature_options_key_computed_tables_apart_and_leave_other_keys_alone() -> None:
    from rfcx_frames.cache import FilterSignature
    from rfcx_frames.cache.signature import stable_hash

    plain = FilterSignature.build("detections", "http://x", "u", classifiers=[1])
    # Without options the key is the hash of the fields it always had: no entry moves.
    assert "options" not in plain.to_dict()
    assert plain.key == stable_hash({"entity": "detections", "base_url": "http://x",
                                     "user": "u", "classifications": None,
                                     "classifiers": [1], "min_confidence": None,
                                     "review_statuses": None})
    a = FilterSignature.build("indices", "http://x", "u", options={"window_ms": 20000})
    b = FilterSignature.build("indices", "http://x", "u", options={"window_ms": 10000})
    bare = FilterSignature.build("indices", "http://x", "u")
    assert a.covers(a) and not a.covers(b) and not bare.covers(a) and not a.covers(bare)
    assert len({a.key, b.key, bare.key}) == 3
    assert FilterSignature.from_dict(a.to_dict()) == a
