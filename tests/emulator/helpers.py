"""Helpers shared by the emulator's contract tests: SQL on its data directory, time formats."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime, timedelta, timezone
from typing import Any

from rfcx_frames.emulator import Emulator

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def sql(emu: Emulator, query: str,
        args: Sequence[object] | dict[str, object] = ()) -> list[dict[str, Any]]:
    """Rows of a read query on the emulator's database, as dicts (a separate connection)."""
    with closing(sqlite3.connect(emu.data_dir / "platform.sqlite3")) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(query, args if isinstance(args, dict)
                                              else tuple(args))]


def utc(ms: int) -> datetime:
    """The aware UTC datetime of epoch milliseconds."""
    return EPOCH + timedelta(milliseconds=ms)


def iso(ms: int) -> str:
    """Epoch ms as the platform writes it (``YYYY-MM-DDTHH:MM:SS.sssZ``)."""
    return utc(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def naive_utc(ms: int) -> datetime:
    """A naive UTC datetime of epoch milliseconds, as the official client expects."""
    return utc(ms).replace(tzinfo=None)
