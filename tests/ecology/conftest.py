"""A demo world with one site in a timezone that changes to summer time inside it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rfcx_frames.emulator import Emulator, running


@pytest.fixture(scope="session")
def dst_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Twelve demo days, one site moved to New York (DST starts there on 10 March)."""
    with running(world="demo", data_dir=tmp_path_factory.mktemp("dst-world"), days=12) as emu:
        with emu.store.connect() as db:
            db.execute("UPDATE streams SET timezone = 'America/New_York' WHERE name = ?",
                       ("El Yunque Canopy",))
        yield emu


