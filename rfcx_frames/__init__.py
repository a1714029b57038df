"""rfcx_frames: typed DataFrames and numpy audio from the RFCx/Arbimon platform.

The module-level functions run on a default :class:`Client`, created on first use from
the environment (``RFCX_API_URL``, ``RFCX_TOKEN`` ...) unless :func:`set_default_client`
installed one.

Examples
--------
>>> import rfcx_frames as rf
>>> df = rf.detections_df(start="2024-03-01", end="2024-03-08", streams="abc123abc123")  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

import threading
from typing import Any

import pandas as pd

from .client import Client
from .exceptions import (
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    RateLimitError,
    RFCxError,
    ServerError,
    ValidationError,
)
from .session import AUTO

__all__ = [
    "AUTO",
    "AuthenticationError",
    "Client",
    "ForbiddenError",
    "NotFoundError",
    "RFCxError",
    "RateLimitError",
    "ServerError",
    "ValidationError",
    "annotations_df",
    "authenticate",
    "classifications_df",
    "detections_df",
    "get_default_client",
    "projects_df",
    "segments_df",
    "set_default_client",
    "streams_df",
]

_default: Client | None = None
_default_lock = threading.Lock()


def get_default_client() -> Client:
    """The client used by the module-level functions (created from the environment).

    Examples
    --------
    >>> isinstance(get_default_client(), Client)
    True
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def set_default_client(client: Client | None) -> None:
    """Use ``client`` for the module-level functions (``None``: recreate on next use).

    Examples
    --------
    >>> set_default_client(Client(api_url="http://127.0.0.1:8080"))
    >>> get_default_client().api_url
    'http://127.0.0.1:8080'
    >>> set_default_client(None)
    """
    global _default
    if client is not None and not isinstance(client, Client):
        raise TypeError(f"client must be a rfcx_frames.Client, not {type(client).__name__}")
    with _default_lock:
        _default = client


def authenticate(*args: Any, **kwargs: Any) -> None:
    """:meth:`Client.authenticate` on the default client.

    Examples
    --------
    >>> import rfcx_frames as rf
    >>> rf.authenticate()  # doctest: +SKIP
    """
    get_default_client().authenticate(*args, **kwargs)


def projects_df(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """:meth:`Client.projects_df` on the default client.

    Examples
    --------
    >>> rf.projects_df()  # doctest: +SKIP
    """
    return get_default_client().projects_df(*args, **kwargs)


def streams_df(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """:meth:`Client.streams_df` on the default client.

    Examples
    --------
    >>> rf.streams_df(include_public=True)  # doctest: +SKIP
    """
    return get_default_client().streams_df(*args, **kwargs)


def segments_df(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """:meth:`Client.segments_df` on the default client.

    Examples
    --------
    >>> rf.segments_df("abc123abc123", "2024-03-01", "2024-03-02")  # doctest: +SKIP
    """
    return get_default_client().segments_df(*args, **kwargs)


def detections_df(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """:meth:`Client.detections_df` on the default client.

    Examples
    --------
    >>> rf.detections_df(start="2024-03-01", end="2024-03-08")  # doctest: +SKIP
    """
    return get_default_client().detections_df(*args, **kwargs)


def annotations_df(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """:meth:`Client.annotations_df` on the default client.

    Examples
    --------
    >>> rf.annotations_df(start="2024-03-01", end="2024-04-01")  # doctest: +SKIP
    """
    return get_default_client().annotations_df(*args, **kwargs)


def classifications_df(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """:meth:`Client.classifications_df` on the default client.

    Examples
    --------
    >>> rf.classifications_df("sciurus")  # doctest: +SKIP
    """
    return get_default_client().classifications_df(*args, **kwargs)
