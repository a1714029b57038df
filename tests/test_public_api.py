"""What a Jupyter user sees of the package: dir() and tab completion list the public API."""

from __future__ import annotations

import pandas as pd
import pytest

import rfcx_frames as rf
from rfcx_frames.emulator import Emulator


def test_dir_shows_only_the_public_api() -> None:
    shown = dir(rf)
    assert set(rf.__all__) <= set(shown)
    for helper in ("Any", "functools", "inspect", "threading", "session", "tables", "caching"):
        assert helper not in shown
    assert {"cache", "plot", "ecology", "audio", "__version__"} <= set(shown)
    for name in shown:
        assert hasattr(rf, name), name


def test_every_public_name_is_documented() -> None:
    for name in rf.__all__:
        obj = getattr(rf, name)
        if callable(obj) and not isinstance(obj, type):
            assert obj.__doc__ and "Examples" in obj.__doc__, name


def test_concat_keeps_the_schema_dtypes(demo_emulator: Emulator) -> None:
    with demo_emulator.client(progress=False) as client:
        streams = client.streams_df()["id"].tolist()
        first = client.detections_df("2024-03-02", "2024-03-03", streams=streams[:2])
        second = client.detections_df("2024-03-03", "2024-03-04", streams=streams[2:4])
        both = client.detections_df("2024-03-02", "2024-03-04", streams=streams[:4])
    plain = pd.concat([first, second], ignore_index=True)
    # What pandas does with differing categories: the column is no longer categorical.
    assert not isinstance(plain["stream_id"].dtype, pd.CategoricalDtype)
    joined = rf.concat([first, second])
    assert [str(d) for d in joined.dtypes] == [str(d) for d in first.dtypes]
    assert len(joined) == len(first) + len(second)
    assert set(joined["id"]) < set(both["id"])
    with pytest.raises(ValueError, match="frames is empty"):
        rf.concat([])
    with pytest.raises(ValueError, match="different columns"):
        rf.concat([first, second.drop(columns="confidence")])


def test_no_client_setting_hides_a_method() -> None:
    # The client's methods are functions of rfcx_frames.api assigned on the class; an
    # instance attribute of the same name (a memo, a setting) would silently replace one.
    client = rf.Client(api_url="http://127.0.0.1:9", token="t", cache=False)
    methods = [name for name in dir(rf.Client)
               if not name.startswith("_") and callable(getattr(rf.Client, name))]
    assert "audio_source" in methods and "detections_df" in methods
    assert [name for name in methods if not callable(getattr(client, name))] == []
