"""The progress bar class every module uses.

``tqdm.auto`` picks the notebook widget in Jupyter, but without ipywidgets installed it
warns on every import; fall back to the plain text bar there instead of warning. Every bar
honours ``RFCX_FRAMES_PROGRESS=0``, whatever its caller's ``progress`` argument says.

Examples
--------
>>> from rfcx_frames.progress import tqdm
>>> bar = tqdm(total=1, disable=True)
>>> bar.close()
"""

from __future__ import annotations

import importlib.util
from typing import Any

from tqdm.std import tqdm as _text_bar

from rfcx_frames import config

_base: type[_text_bar] = _text_bar
if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm as _auto_bar

    _base = _auto_bar


class tqdm(_base):  # type: ignore[valid-type,misc]  # noqa: N801 - tqdm's own name
    """tqdm, switched off when the environment says so (``RFCX_FRAMES_PROGRESS=0``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not config.progress_enabled_by_env():
            kwargs["disable"] = True
        super().__init__(*args, **kwargs)

__all__ = ["tqdm"]
