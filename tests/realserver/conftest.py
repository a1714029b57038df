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


def _configured() -> tuple[str, str] | None:
    url, world = os.environ.get("RFCX_REALSERVER_URL"), os.environ.get("RFCX_REALSERVER_WORLD")
    return (url, world) if url and world else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _configured() is None:
        here = Path(__file__).parent
        for item in items:
            if here in Path(str(item.fspath)).parents:
                item.add_marker(pytest.mark.skipif(True, reason=REASON))


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The real server and an emulator on a copy of the world it was loaded from."""
    configured = _configured()
    assert configured is not None, REASON
    url, world = configured
    with open_servers(url, Path(world), tmp_path_factory.mktemp("realserver-world")) as both:
        yield both
