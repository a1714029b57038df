"""URLs the transport is given: checked, classified (platform, loopback) and stripped of secrets.

Examples
--------
>>> strip_query("https://bucket.example/a.flac?X-Amz-Signature=abc")
'https://bucket.example/a.flac'
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from . import config
from .exceptions import ConfigurationError


def check_url(value: str, name: str) -> str:
    """``value`` if it is an absolute http(s) URL with a host.

    Parameters
    ----------
    value
        The URL to check.
    name
        Names the setting in the message (e.g. ``"api_url (from RFCX_API_URL)"``); the
        error's ``setting`` is its first word.

    Raises
    ------
    ConfigurationError
        Not a string, whitespace inside, a scheme other than http(s), no host, or a port
        that is not a number.

    Examples
    --------
    >>> check_url("http://127.0.0.1:8080", "api_url")
    'http://127.0.0.1:8080'
    >>> check_url("api.rfcx.org", "api_url")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rfcx_frames.exceptions.ConfigurationError: api_url must be an http(s) URL ... got 'api.rfcx.org'
    """
    problem = not isinstance(value, str) or any(c.isspace() for c in value)
    if not problem:
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            problem = True
        problem = problem or parts.scheme not in ("http", "https") or not parts.hostname
    if problem:
        raise ConfigurationError(f"{name} must be an http(s) URL such as "
                                 f"{config.DEFAULT_API_URL}, got {value!r}",
                                 setting=name.split(" ")[0])
    return value


def is_platform_host(url: str) -> bool:
    """Whether ``url`` points at the platform's own hosts (``rfcx.org`` and subdomains).

    Parameters
    ----------
    url
        The URL a request goes to; only its host counts.

    Examples
    --------
    >>> is_platform_host("https://api.rfcx.org/streams"), is_platform_host("http://127.0.0.1:1")
    (True, False)
    """
    host = (urlsplit(url).hostname or "").lower()
    return host == config.PLATFORM_DOMAIN or host.endswith("." + config.PLATFORM_DOMAIN)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 in brackets or not) is this machine.

    Parameters
    ----------
    host
        A host name or IP address.

    Examples
    --------
    >>> is_loopback("localhost"), is_loopback("[::1]"), is_loopback("api.rfcx.org")
    (True, True, False)
    """
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def strip_query(url: str) -> str:
    """``url`` without query string or fragment (presigned URLs carry secrets there).

    Parameters
    ----------
    url
        A URL that may carry a signature or token in its query.

    Examples
    --------
    >>> strip_query("https://x.org/a?sig=1#f")
    'https://x.org/a'
    """
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def setting_for(settings: Mapping[str, str], url: str) -> str | None:
    """The name of the setting whose base URL ``url`` lies under (longest match), if any.

    Parameters
    ----------
    settings
        Base URLs by the name of their setting (``{"api_url": "https://api.rfcx.org"}``).
    url
        The URL a request went to.

    Examples
    --------
    >>> bases = {"api_url": "http://h:1", "media_url": "http://h:1/media"}
    >>> setting_for(bases, "http://h:1/media/a.flac"), setting_for(bases, "http://x/")
    ('media_url', None)
    """
    target = urlsplit(url)
    best: tuple[int, str] | None = None
    for name, base in settings.items():
        parts = urlsplit(base)
        same = (parts.scheme, parts.hostname, parts.port) == (
            target.scheme, target.hostname, target.port)
        if not same:
            continue
        score = len(parts.path) if target.path.startswith(parts.path) else -1
        if best is None or score > best[0]:
            best = (score, name)
    return None if best is None else best[1]
