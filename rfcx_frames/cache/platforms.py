"""Which platform a base URL serves: the identity cache entries are keyed by.

The real platform is known by its URL (``https://api.rfcx.org``), which never changes,
and is never asked. An emulator gets a new port at every start, so its URL says
nothing: every answer it gives names its world in the :data:`IDENTITY_HEADER` header
(see :mod:`rfcx_frames.emulator.identity`), and a client that has had no answer yet
when its cache needs the identity asks ``GET /_emulator/identity`` (a control route the
platform never sees). A server whose answers carry no identity (a proxy, the platform's
own code run elsewhere) is known by its URL, and once it has answered that way it is
not asked again.

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
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

from rfcx_frames.cache.disk import LAYOUT, lock, read_json, storage_errors, write_json
from rfcx_frames.config import CacheRoot, RootArg, cache_root

PLATFORMS_FILE = "platforms.json"
IDENTITY_ROUTE = "/_emulator/identity"
#: The header every answer of an emulator carries: the identity of its world.
IDENTITY_HEADER = "X-Rfcx-Emulator-Identity"

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
    # A URL that answered without an identity is its own.
    return {str(k): v for k, v in data.items() if valid_identity(v) or v == k}


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
    learned: str | None = None,
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
        ``requests`` exception is one) when it cannot tell now. ``None`` means do not
        ask (offline): the identity the URL answered last, else the URL.
    stable
        The URL names one platform for good (the platform's own hosts): it is the
        identity, nothing is asked.
    learned
        What an answer of this server already said (its :data:`IDENTITY_HEADER`, or the
        URL when an answer had none): used and remembered, nothing is asked.

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> resolve(root, "https://api.rfcx.org/", None, stable=True)
    'https://api.rfcx.org'
    >>> resolve(root, "http://proxy:8080", lambda: None)     # no identity: its URL
    'http://proxy:8080'
    >>> resolve(root, "http://proxy:8080", lambda: 1 / 0)    # known: not asked again
    'http://proxy:8080'
    """
    base = normalize_url(url)
    if stable:
        return base
    known = remembered(root).get(base)
    if learned is not None:
        identity = valid_identity(learned) or base
    elif ask is None:
        return known or base
    elif known == base:
        # It answered without an identity before: asking again would only cost a request
        # against its rate limit (an emulator there now names itself in its answers).
        return base
    else:
        try:
            identity = valid_identity(ask()) or base
        except OSError:
            # It cannot tell now: cached answers of the platform this URL served last
            # are the only ones it can mean.
            return known or base
    if identity != known:
        remember(root, base, identity)
    return identity


def learned_from(headers: Mapping[str, str], url: str) -> str:
    """What one answer says of its server: the identity it names, else its URL.

    Parameters
    ----------
    headers
        The answer's headers (case-insensitive, as ``requests`` gives them).
    url
        The API base URL it came from.

    Examples
    --------
    >>> learned_from({IDENTITY_HEADER: "emulator:demo-0-abc"}, "http://h:1")
    'emulator:demo-0-abc'
    >>> learned_from({}, "http://H:1/")
    'http://h:1'
    """
    return valid_identity(headers.get(IDENTITY_HEADER)) or normalize_url(url)
