"""The progress bar class every module uses.

``tqdm.auto`` picks the notebook widget in Jupyter, but without ipywidgets installed it
warns on every import; fall back to the plain text bar there instead of warning.

Examples
--------
>>> from rfcx_frames.progress import tqdm
>>> bar = tqdm(total=1, disable=True)
>>> bar.close()
"""

from __future__ import annotations

import importlib.util

from tqdm.std import tqdm as _text_bar

tqdm: type[_text_bar] = _text_bar
if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm as _auto_bar

    tqdm = _auto_bar

__all__ = ["tqdm"]
