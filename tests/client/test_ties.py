"""Rows sharing a start, served in a new order by every query (as the platform may)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from rfcx_frames.emulator import Emulator, running
from rfcx_frames.exceptions import CrowdedInstantWarning

T0 = 1_709_800_000_000  # 2024-03-07T08:26:40Z, inside the one-week world
STARTS = [T0 + 1000 * i for i in range(6)]  # six instants, 450 detections at each
PER_START = 450


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running(world="demo", days=8, tie_order="random",
                 data_dir=tmp_path_factory.mktemp("ties")) as emu:
        stream = emu.store.query("SELECT id FROM streams WHERE created_by_id = 1 "
                                 "ORDER BY id")[0]["id"]
        rows = [(stream, 1 + (i % 2), 1 + (i % 20), start, start + 2000, 0.5 + (i % 50) / 100)
                for start in STARTS for i in range(PER_START)]
        with emu.store.connect() as conn:
            conn.executemany('INSERT INTO detections (stream_id, classifier_id, '
                             'classification_id, start, "end", confidence) '
                             'VALUES (?, ?, ?, ?, ?, ?)', rows)
        yield emu


def _values(emu: Emulator) -> list[str]:
    return [str(r["value"]) for r in emu.store.query(
        "SELECT value FROM classifications WHERE id BETWEEN 1 AND 30")]


def _expected(emu: Emulator, stream: str, start: int, end: int) -> set[int]:
    return {int(r["id"]) for r in emu.store.query(
        "SELECT id FROM detections WHERE stream_id = ? AND start >= ? AND start < ? "
        "AND confidence >= 0", (stream, start, end))}


@pytest.mark.parametrize("max_workers", [1, 8])
def test_no_row_is_lost_when_ties_straddle_pages(shuffled: Emulator, tmp_path: Path,
                                                 max_workers: int) -> None:
    stream = shuffled.store.query("SELECT stream_id FROM detections WHERE start = ? LIMIT 1",
                                  (T0,))[0]["stream_id"]
    start, end = T0 - 60_000, T0 + 60_000
    expected = _expected(shuffled, stream, start, end)
    assert len(expected) >= len(STARTS) * PER_START
    with shuffled.client(progress=False, cache=False, max_workers=max_workers) as c:
        for _ in range(3):  # every query shuffles the ties again
            frame = c.detections_df(pd.Timestamp(start, unit="ms", tz="UTC"),
                                    pd.Timestamp(end, unit="ms", tz="UTC"),
                                    streams=[stream], min_confidence=0)
            assert set(frame["id"]) == expected
            assert frame["id"].is_unique


def test_a_single_instant_holding_more_than_a_page(shuffled: Emulator) -> None:
    stream = shuffled.store.query("SELECT stream_id FROM detections WHERE start = ? LIMIT 1",
                                  (T0,))[0]["stream_id"]
    crowded = T0 + 30_000
    with shuffled.store.connect() as conn:
        conn.executemany('INSERT INTO detections (stream_id, classifier_id, classification_id, '
                         'start, "end", confidence) VALUES (?, 1, ?, ?, ?, 0.9)',
                         [(stream, 1 + i % 30, crowded, crowded + 1000) for i in range(2300)])
    expected = _expected(shuffled, stream, crowded, crowded + 1)
    with shuffled.client(progress=False, cache=False, max_workers=1) as c, \
            pytest.warns(CrowdedInstantWarning, match="same millisecond"):
        frame = c.detections_df(pd.Timestamp(crowded, unit="ms", tz="UTC"),
                                pd.Timestamp(crowded + 1, unit="ms", tz="UTC"),
                                streams=[stream], min_confidence=0)
    # Offsets inside one instant are a best effort: never a duplicate, and the user is told.
    assert frame["id"].is_unique
    assert set(frame["id"]) <= expected
    # Narrowed by classifier, each request holds less than a page: complete again.
    with shuffled.client(progress=False, cache=False) as c:
        parts = [c.detections_df(pd.Timestamp(crowded, unit="ms", tz="UTC"),
                                 pd.Timestamp(crowded + 1, unit="ms", tz="UTC"),
                                 streams=[stream], classifications=[value],
                                 min_confidence=0)
                 for value in _values(shuffled)]
    assert set(pd.concat(parts)["id"]) == expected
