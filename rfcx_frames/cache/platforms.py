"""Which platform a base URL serves: the identity cache entries are keyed by.

The real platform is known by its URL (``https://api.rfcx.org``), which never changes.
An emulator gets a new port at every start, so its URL says nothing: the client asks it
once per :class:`~rfcx_frames.Client` (``GET /_emulator/identity``, see
:mod:`rfcx_frames.emulator.identity`) and keys the cache by the answer. A server that
does not answer that route (the real platform, a proxy) is known by its URL.

What each URL answered last is remembered in ``<cache>/v2/platforms.json``, so
``cache="offline"``, which never touches the network, still finds the entries of a URL
asked before, in any later session.

Examples
--------
>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> resolve(root, "http://127.0.0.1:8000/", lambda: "emulator:demo-0-abc")
'emulator:demo-0-abc'
>>> resolve(root, "http://127.0.0.1:8000", None)   # offline: what it answered last
'emulator:demo-0-abc'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from rfcx_frames.cache.disk import LAYOUT, lock, read_json, storage_errors, write_json
from rfcx_frames.config import CacheRoot, RootArg, cache_root

PLATFORMS_FILE = "platforms.json"
IDENTITY_ROUTE = "/_emulator/identity"

_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,150}$")


def normalize_url(url: str) -> str:
    """A base URL with lower-case scheme and host and no trailing slash.

    Parameters
    ----------
    url
        An API base URL.

    Examples
    --------
    >>> normalize_url("HTTPS://API.rfcx.org/")
    'https://api.rfcx.org'
    """
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"),
                       "", ""))


def valid_identity(value: object) -> str | None:
    """``value`` when it is usable as a platform identity, else ``None``.

    Parameters
    ----------
    value
        What a server answered.

    Examples
    --------
    >>> valid_identity("emulator:demo-0-abc"), valid_identity("a b"), valid_identity(3)
    ('emulator:demo-0-abc', None, None)
    """
    return value if isinstance(value, str) and _VALID.match(value) else None


def _file(root: RootArg) -> CacheRoot:
    return cache_root(root) / LAYOUT / PLATFORMS_FILE


def remembered(root: RootArg = None) -> dict[str, str]:
    """Every URL and the identity it answered last.

    Parameters
    ----------
    root
        The cache folder; default :func:`~rfcx_frames.config.cache_path`.

    Examples
    --------
    >>> import tempfile
    >>> remembered(tempfile.mkdtemp())
    {}
    """
    data = read_json(_file(root))
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if valid_identity(v)}


def remember(root: RootArg, url: str, identity: str) -> None:
    """Record that ``url`` serves ``identity`` (atomic; no write when already known).

    Parameters
    ----------
    root
        The cache folder; default :func:`~rfcx_frames.config.cache_path`.
    url
        The API base URL.
    identity
        The platform identity it answered.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> remember(root, "http://h:1", "emulator:x")
    >>> remembered(root)
    {'http://h:1': 'emulator:x'}
    """
    url = normalize_url(url)
    if remembered(root).get(url) == identity:
        return
    folder = cache_root(root)
    with storage_errors(folder), lock(folder, "platforms"):
        known = remembered(root)
        known[url] = identity
        write_json(_file(root), dict(sorted(known.items())))


def resolve(
    root: RootArg,
    url: str,
    ask: Callable[[], str | None] | None,
    *,
    stable: bool = False,
) -> str:
    """The identity of the platform at ``url``.

    Parameters
    ----------
    root
        The cache folder (where :data:`PLATFORMS_FILE` lives).
    url
        The API base URL.
    ask
        Asks the server (``GET /_emulator/identity``): returns its identity, ``None``
        when it has none (then the URL is the identity), or raises ``OSError`` (any
        ``requests`` exception is one) when it cannot be reached. ``None`` means do not
        ask (offline): the identity the URL answered last, else the URL.
    stable
        The URL names one platform for good (the platform's own hosts): it is the
        identity, nothing is asked.

    Examples
    --------
    >>> import tempfile
    >>> resolve(tempfile.mkdtemp(), "https://api.rfcx.org/", None, stable=True)
    'https://api.rfcx.org'
    """
    base = normalize_url(url)
    if stable:
        return base
    if ask is None:
        return remembered(root).get(base, base)
    try:
        found = valid_identity(ask())
    except OSError:
        # Unreachable: nothing will be fetched anyway; cached answers of the platform
        # this URL served last are the only ones it can mean.
        return remembered(root).get(base, base)
    identity = found or base
    remember(root, base, identity)
    return identity
