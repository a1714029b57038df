"""The platform's own server and an emulator on the same world, when the real one runs here.

Set ``RFCX_REALSERVER_URL`` (``$RS_API_URL`` of ``../shared/realserver/setup.sh``) and
``RFCX_REALSERVER_WORLD`` (the world folder ``world.sh`` built: it holds the emulator's
SQLite world and ``realserver_tokens.json``). Without them every test here is skipped with
that reason: CI has no real server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realserver.servers import Servers, open_servers

REASON = ("the platform's own server is not running here: start it with "
          "../shared/realserver (setup.sh, world.sh) and set RFCX_REALSERVER_URL and "
          "RFCX_REALSERVER_WORLD")


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The real server and an emulator on a copy of the world it was loaded from."""
    url, world = os.environ.get("RFCX_REALSERVER_URL"), os.environ.get("RFCX_REALSERVER_WORLD")
    if not url or not world:
        pytest.skip(REASON)
    with open_servers(url, Path(world), tmp_path_factory.mktemp("realserver-world")) as both:
        yield both
