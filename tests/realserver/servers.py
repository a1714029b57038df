"""Both servers of the differential: the platform's own and an emulator on the same world."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from rfcx_frames.emulator import Emulator, running
from tests.realserver.catalogue import world_ids


@dataclass
class Servers:
    """Both servers of the differential and each role's token on each."""

    real_url: str
    emulator: Emulator
    tokens: dict[str, dict[str, str]]
    ids: dict[str, str]
    session: requests.Session



@contextmanager
def open_servers(url: str, world: Path, scratch: Path) -> Iterator[Servers]:
    """The real server at ``url`` and an emulator on a copy of ``world`` in ``scratch``."""
    shutil.copy2(world / "platform.sqlite3", scratch / "platform.sqlite3")
    for name in ("blobs", "uploads"):
        if (world / name).exists():
            (scratch / name).symlink_to(world / name)
    tokens = json.loads((world / "realserver_tokens.json").read_text())
    with running(world="demo", data_dir=scratch) as emu, requests.Session() as session:
        yield Servers(url, emu, tokens, world_ids(scratch), session)
