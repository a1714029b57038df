"""A ``requests.Session`` that reads the proxy environment once per host, not per request.

``requests`` looks up ``HTTP_PROXY``, ``NO_PROXY`` and the rest for every request and every
redirect it follows, walking the whole of ``os.environ`` several times each: about a tenth
of a millisecond a lookup, which holds the GIL while dozens of download threads wait
(``bench/bench_downloads.py``: an eighth of rfcx_frames' CPU time over 500 files before
this class). :class:`EnvOnceSession` keeps what the environment says for each scheme and host
for the life of the session, and otherwise behaves as ``requests.Session``: the same
proxies apply, ``NO_PROXY`` still exempts hosts, ``REQUESTS_CA_BUNDLE`` and
``CURL_CA_BUNDLE`` are still read, a redirect to another host gets that host's proxy, and
a proxy's credentials still go only to plain-HTTP requests. A proxy set in the environment
after the session was made is not seen by it; a new client sees it.

It also never takes credentials from ``~/.netrc`` (or ``$NETRC``), which ``requests`` reads
for every request and redirect: an entry for the platform's host would replace the client's
bearer token with basic authentication, and one for the storage host would add it to a
pre-signed URL. The client's token is its only credential, and it is dropped, as
``requests`` does, when a redirect leaves the host.

Examples
--------
>>> session = EnvOnceSession()
>>> session.merge_environment_settings("http://127.0.0.1:1/x", {}, True, None, None)["stream"]
True
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.auth import _basic_auth_str
from requests.sessions import merge_setting
from requests.utils import get_auth_from_url, get_environ_proxies

if TYPE_CHECKING:
    from requests.sessions import _Settings


class EnvOnceSession(requests.Session):
    """``requests.Session`` with the environment's proxies read once per scheme and host.

    Examples
    --------
    >>> s = EnvOnceSession()
    >>> s.environment_proxies("http://127.0.0.1:8080/streams") == {}  # loopback bypasses
    True
    """

    def __init__(self) -> None:
        super().__init__()
        # Any session-wide auth keeps requests from asking ~/.netrc; this one changes nothing.
        self.auth = _keep_request
        self._proxies_by_host: dict[tuple[str, str], dict[str, str]] = {}
        self._proxies_lock = threading.Lock()

    def environment_proxies(self, url: str) -> dict[str, str]:
        """What the environment's proxy variables say for ``url``'s scheme and host.

        Parameters
        ----------
        url
            Any URL of the host.

        Returns
        -------
        dict
            Scheme (or ``"all"``) to proxy URL; empty where ``NO_PROXY`` exempts the host.

        Examples
        --------
        >>> EnvOnceSession().environment_proxies("http://localhost/x")
        {}
        """
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        found = self._proxies_by_host.get(key)
        if found is None:
            found = dict(get_environ_proxies(url))
            with self._proxies_lock:
                self._proxies_by_host[key] = found
        return found

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> _Settings:
        # A request naming its own NO_PROXY is rare enough to take requests' slow path.
        if not self.trust_env or (proxies and "no_proxy" in proxies):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        merged = dict(proxies or {})
        for scheme, proxy in self.environment_proxies(str(url)).items():
            merged.setdefault(scheme, proxy)
        if verify is True or verify is None:
            verify = (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                      or verify)
        return {"proxies": merge_setting(merged, self.proxies),
                "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify),
                "cert": merge_setting(cert, self.cert)}

    def rebuild_proxies(self, prepared_request: Any, proxies: Any) -> dict[str, str]:
        if not self.trust_env or (proxies and "no_proxy" in proxies):
            return super().rebuild_proxies(prepared_request, proxies)
        url = str(prepared_request.url)
        scheme = urlsplit(url).scheme
        chosen = dict(proxies or {})
        found = self.environment_proxies(url)
        proxy = found.get(scheme, found.get("all"))
        if proxy:
            chosen.setdefault(scheme, proxy)
        # The previous hop's proxy credentials never travel on to the next host; TLS
        # requests get none (urllib3 authenticates the tunnel itself).
        headers = prepared_request.headers
        headers.pop("Proxy-Authorization", None)
        user, password = get_auth_from_url(chosen.get(scheme, ""))
        if user and password and not scheme.startswith("https"):
            headers["Proxy-Authorization"] = _basic_auth_str(user, password)
        return chosen

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        if ("Authorization" in prepared_request.headers
                and self.should_strip_auth(str(response.request.url), str(prepared_request.url))):
            del prepared_request.headers["Authorization"]


def _keep_request(request: Any) -> Any:
    return request
