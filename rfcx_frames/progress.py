"""Progress bars: the tqdm class every module uses, and the row counter of paged queries.

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
import threading
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


class Progress:
    """A thread-safe ``tqdm.auto`` bar counting rows, with the request count as postfix.

    It only appears when the work lasts longer than ``PROGRESS_DELAY_S`` and is disabled
    by ``enabled=False`` or ``RFCX_FRAMES_PROGRESS=0``.

    Examples
    --------
    >>> with Progress("detections", enabled=False) as bar:
    ...     bar.page(1000)
    >>> bar.rows, bar.requests
    (1000, 1)
    """

    def __init__(self, desc: str, *, enabled: bool = True) -> None:
        self.rows = 0
        self.requests = 0
        self._lock = threading.Lock()
        show = enabled and config.progress_enabled_by_env()
        self._bar: Any = tqdm(
            total=None, desc=desc, unit=" rows", delay=config.PROGRESS_DELAY_S,
            disable=not show, leave=False, dynamic_ncols=True,
        )

    def page(self, rows: int) -> None:
        """Record one request that returned ``rows`` rows."""
        with self._lock:
            self.rows += rows
            self.requests += 1
            self._bar.update(rows)
            self._bar.set_postfix(requests=self.requests, refresh=False)

    def close(self) -> None:
        """Remove the bar."""
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Progress", "tqdm"]
