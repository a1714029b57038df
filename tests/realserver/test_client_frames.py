"""The client gives the same frames from the platform's own server as from the emulator.

Each call runs once against the real server and once against an emulator on the same world,
with fresh caches, and the frames must be equal (values, dtypes, order), as must the error a
bad call raises.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rfcx_frames import Client
from tests.realserver.servers import Servers

START, END = "2024-03-01", "2024-03-03"

#: name -> call of a client and the world's ids.
CALLS: dict[str, Callable[[Client, dict[str, str]], Any]] = {
    "projects_df": lambda c, ids: c.projects_df(),
    "projects_df keyword": lambda c, ids: c.projects_df(keyword="Puerto"),
    "streams_df": lambda c, ids: c.streams_df(),
    "streams_df public": lambda c, ids: c.streams_df(include_public=True),
    "streams_df project": lambda c, ids: c.streams_df(projects=[ids["own_project"]]),
    "segments_df": lambda c, ids: c.segments_df(ids["own_stream"], START, END),
    "detections_df stream": lambda c, ids: c.detections_df(START, END,
                                                           streams=[ids["own_stream"]]),
    "detections_df low confidence": lambda c, ids: c.detections_df(
        START, END, streams=[ids["own_stream"], ids["own_stream2"]], min_confidence=0.5),
    "detections_df every stream": lambda c, ids: c.detections_df(START, "2024-03-02"),
    "detections_df classification": lambda c, ids: c.detections_df(
        START, "2024-03-10", streams=[ids["own_stream"]],
        classifications=[ids["classification"]], min_confidence=0.1),
    "detections_df confirmed": lambda c, ids: c.detections_df(
        START, "2024-03-10", streams=[ids["own_stream"]], review_statuses=["confirmed"],
        min_confidence=0.1),
    "annotations_df": lambda c, ids: c.annotations_df(START, "2024-03-10",
                                                      streams=[ids["own_stream"]]),
    "classifications_df": lambda c, ids: c.classifications_df(),
    "classifications_df keyword": lambda c, ids: c.classifications_df(keyword="frog"),
    "effort_df": lambda c, ids: c.effort_df(START, END, streams=[ids["own_stream"]]),
    "unknown stream": lambda c, ids: c.detections_df(START, END, streams=["zzzzzzzzzzzz"]),
    "private stream": lambda c, ids: c.segments_df(ids["private_stream"], START, END),
}


def _outcome(servers: Servers, url: str, token: str, cache: Path,
             call: Callable[[Client, dict[str, str]], Any]) -> Any:
    with Client(api_url=url, token=token, cache_dir=cache, progress=False) as client:
        try:
            return call(client, servers.ids)
        except Exception as exc:  # the error is part of what must agree
            return exc


@pytest.mark.parametrize("name", sorted(CALLS))
def test_same_frame_from_the_platform_and_the_emulator(servers: Servers, tmp_path: Path,
                                                      name: str) -> None:
    tokens = servers.tokens["demo"]
    real = _outcome(servers, servers.real_url, tokens["real"], tmp_path / "real", CALLS[name])
    emulated = _outcome(servers, servers.emulator.api_url, tokens["emulator"],
                        tmp_path / "emulator", CALLS[name])
    if isinstance(real, Exception) or isinstance(emulated, Exception):
        assert type(real) is type(emulated), (real, emulated)
        assert str(real) == str(emulated)
        return
    assert isinstance(real, pd.DataFrame) and isinstance(emulated, pd.DataFrame)
    pd.testing.assert_frame_equal(real, emulated)
    assert len(real) > 0 or name.startswith("detections_df confirmed")
