"""What a Jupyter user sees of the package: dir() and tab completion list the public API."""

from __future__ import annotations

import rfcx_frames as rf


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
