"""Fixtures of the client tests: clients on the emulator, a 100k-detection world, SQL truth."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pytest

from rfcx_frames import Client
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.timeutil import to_epoch_ms, to_utc

DEMO_USER_ID = 1


@pytest.fixture()
def client(demo_emulator: Emulator) -> Iterator[Client]:
    """A client of the shared demo world, as the demo user, without progress bars."""
    with demo_emulator.client(progress=False) as c:
        yield c


@pytest.fixture(scope="session")
def big_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A demo world scaled to more than 100,000 detections (read-only use)."""
    with running(world="demo", data_dir=tmp_path_factory.mktemp("big-world"), streams=14,
                 days=31) as emu:
        yield emu


def _cat(values: Sequence[object]) -> pd.Categorical:
    present = sorted({str(v) for v in values if v is not None})
    return pd.Categorical(list(values), categories=pd.Index(present, dtype=str))


def _ts(values: Sequence[int]) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(values, dtype="int64"), unit="ms", utc=True)
                     ).astype("datetime64[ms, UTC]")


def readable_streams(emu: Emulator) -> list[str]:
    """Streams of the demo user (creator or role on stream/project), from SQL."""
    rows = emu.store.query(
        "SELECT id FROM streams WHERE deleted_at IS NULL AND (created_by_id = ? OR project_id IN "
        "(SELECT id FROM projects WHERE created_by_id = ? UNION SELECT project_id FROM "
        "project_roles WHERE user_id = ?) OR id IN (SELECT stream_id FROM stream_roles "
        "WHERE user_id = ?)) ORDER BY id", (DEMO_USER_ID,) * 4)
    return [r["id"] for r in rows]


def sql_detections(emu: Emulator, streams: Sequence[str], start: str, end: str,
                   min_confidence: float, extra: str = "",
                   args: Sequence[object] = ()) -> pd.DataFrame:
    """The detections the platform should return, straight from the emulator's database."""
    marks = ",".join("?" * len(streams))
    rows = emu.store.query(
        f'SELECT d.id, d.stream_id, d.classifier_id, d.classification_id, d.start, d."end", '
        f"d.confidence, d.review_status, c.value, c.title, c.image, d.classifier_job_id "
        f"FROM detections d "
        f"JOIN classifications c ON c.id = d.classification_id WHERE d.stream_id IN ({marks}) "
        f"AND d.start >= ? AND d.start < ? AND d.confidence >= ? {extra} "
        f"ORDER BY d.start, d.stream_id, c.value, d.classifier_id, d.id",
        (*streams, to_epoch_ms(to_utc(start)), to_epoch_ms(to_utc(end)), min_confidence, *args))
    col = list(zip(*rows, strict=True)) if rows else [()] * 12
    review = {None: "unreviewed", -1: "rejected", 0: "uncertain", 1: "confirmed"}
    return pd.DataFrame({
        "id": np.asarray(col[0], dtype="int64"),
        "stream_id": _cat(col[1]),
        "classifier_id": pd.array(col[2], dtype="Int32"),
        "classification_id": pd.array(col[3], dtype="Int32"),
        "classifier_job_id": pd.array(col[11], dtype="Int32"),
        "start": _ts(col[4]),
        "end": _ts(col[5]),
        "confidence": np.asarray(col[6], dtype="float32"),
        "review_status": pd.Categorical([review[v] for v in col[7]],
                                        categories=list(review.values())),
        "classification_value": _cat(col[8]),
        "classification_title": _cat(col[9]),
        "classification_image": _cat(col[10]),
    })


class Truth:
    """What the platform should answer, read from the emulator's database."""

    readable_streams = staticmethod(readable_streams)
    detections = staticmethod(sql_detections)


@pytest.fixture(scope="session")
def truth() -> Truth:
    """SQL helpers on an emulator's data directory (see :class:`Truth`)."""
    return Truth()
