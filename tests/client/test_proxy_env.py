"""The proxy environment read once per host: same answers as requests, through a real proxy."""

from __future__ import annotations

import http.server
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from rfcx_frames import proxy_env
from rfcx_frames.emulator import Emulator
from rfcx_frames.exceptions import RFCxError
from rfcx_frames.proxy_env import EnvOnceSession
from tests.relay import pass_answer, serving

_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
               "https_proxy", "all_proxy", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")

ENVIRONMENTS = [
    {},
    {"HTTP_PROXY": "http://proxy.example:3128"},
    {"HTTP_PROXY": "http://u:p@proxy.example:3128", "HTTPS_PROXY": "http://proxy.example:3129",
     "NO_PROXY": "s3.example,127.0.0.1"},
    {"ALL_PROXY": "socks5://proxy.example:1080", "NO_PROXY": "*"},
    {"HTTPS_PROXY": "http://proxy.example:3129", "REQUESTS_CA_BUNDLE": "/etc/ca.pem"},
    {"CURL_CA_BUNDLE": "/etc/curl.pem"},
]
URLS = ["http://api.example/streams", "https://api.example/streams",
        "https://s3.example/bucket/key?X-Amz-Signature=secret", "http://127.0.0.1:8080/x"]


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=range(len(ENVIRONMENTS)))
def test_settings_equal_requests_own_for_every_url(env: dict[str, str],
                                                   clean_env: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    ours, theirs = EnvOnceSession(), requests.Session()
    for url in URLS * 2:  # the second round comes from what was kept
        for proxies, verify in (({}, None), ({"http": "http://mine:1"}, False), (None, True)):
            assert (ours.merge_environment_settings(url, dict(proxies or {}), True, verify, None)
                    == theirs.merge_environment_settings(url, dict(proxies or {}), True, verify,
                                                         None)), (url, proxies)
            # A redirect to url from a request that had these proxies
            mine, theirs_req = (requests.Request("GET", url).prepare() for _ in range(2))
            mine.headers["Proxy-Authorization"] = theirs_req.headers["Proxy-Authorization"] = "x"
            assert (ours.rebuild_proxies(mine, dict(proxies or {}))
                    == theirs.rebuild_proxies(theirs_req, dict(proxies or {}))), url
            assert mine.headers == theirs_req.headers, url


def test_a_request_naming_its_own_no_proxy_gets_requests_answer(
        clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", "http://proxy.example:3128")
    asked = {"no_proxy": "api.example"}
    assert (EnvOnceSession().merge_environment_settings(URLS[0], dict(asked), True, None, None)
            == requests.Session().merge_environment_settings(URLS[0], dict(asked), True, None,
                                                             None))


class _Proxy(http.server.ThreadingHTTPServer):
    """A forwarding HTTP proxy on loopback that records what passes through it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[tuple[str, str | None]] = []  # path, Proxy-Authorization
        self.authorization: list[str | None] = []  # the Authorization header of each


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: _Proxy = self.server  # type: ignore[assignment]
        server.seen.append((self.path, self.headers.get("Proxy-Authorization")))
        server.authorization.append(self.headers.get("Authorization"))
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-authorization", "proxy-connection", "host")}
        request = urllib.request.Request(self.path, headers=headers)
        opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))
        try:
            answer = opener.open(request, timeout=30)
        except urllib.error.HTTPError as exc:
            answer = exc
        pass_answer(self, answer.status, answer.read(), answer.headers.items())

    def log_message(self, *args: object) -> None:
        pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the client behind the proxy follows redirects itself


@pytest.fixture()
def proxy() -> Iterator[_Proxy]:
    with serving(_Proxy()) as server:
        yield server


def test_requests_and_redirects_go_through_the_environments_proxy_with_its_credentials(
        demo_emulator: Emulator, proxy: _Proxy, clean_env: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    clean_env.setenv("HTTP_PROXY", f"http://user:pw@127.0.0.1:{proxy.server_address[1]}")
    row = demo_emulator.store.query(
        "SELECT stream_id, min(start) AS t FROM segments GROUP BY stream_id LIMIT 1")[0]
    first = pd.Timestamp(row["t"], unit="ms", tz="UTC")
    with demo_emulator.client(cache=False, progress=False) as client:
        segs = client.segments_df(str(row["stream_id"]), first, first + pd.Timedelta(hours=1))
        files = client.download(segs.head(2), tmp_path)
    assert len(files) == 2 and files.downloaded.all()
    paths = [path for path, _ in proxy.seen]
    # each file is a redirect to a signed blob URL, and both hops went through the proxy
    assert sum(p.endswith("/file") for p in paths) == 2
    assert sum("/_blobs/" in p and "X-Amz-Signature=" in p for p in paths) == 2
    assert any("/segments?" in p for p in paths)
    assert {auth for _, auth in proxy.seen} == {"Basic dXNlcjpwdw=="}


def test_no_proxy_exempts_the_host_and_a_dead_proxy_is_an_error(
        demo_emulator: Emulator, proxy: _Proxy, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    clean_env.setenv("NO_PROXY", "127.0.0.1")
    with demo_emulator.client(cache=False) as client:
        assert len(client.streams_df()) > 0
    assert proxy.seen == []
    clean_env.delenv("NO_PROXY")
    clean_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    with demo_emulator.client(cache=False, retries=0) as client, pytest.raises(RFCxError):
        client.streams_df()


def test_the_environment_is_read_once_per_host(demo_emulator: Emulator,
                                               clean_env: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = proxy_env.get_environ_proxies

    def counted(url: str, no_proxy: str | None = None) -> dict[str, str]:
        calls.append(url)
        return real(url, no_proxy)

    clean_env.setattr(proxy_env, "get_environ_proxies", counted)
    with demo_emulator.client(cache=False) as client:
        for _ in range(5):
            client.projects_df()
        client.streams_df()
    assert len(calls) == 1


def test_a_netrc_entry_never_replaces_the_token(demo_emulator: Emulator, proxy: _Proxy,
                                                clean_env: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    clean_env.setenv("NETRC", str(netrc))
    # requests itself would send the netrc login instead of the bearer token
    plain = requests.Session().prepare_request(requests.Request(
        "GET", f"{demo_emulator.api_url}/projects", headers={"Authorization": "Bearer t"}))
    assert plain.headers["Authorization"].startswith("Basic ")
    clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    row = demo_emulator.store.query(
        "SELECT stream_id, min(start) AS t FROM segments GROUP BY stream_id LIMIT 1")[0]
    first = pd.Timestamp(row["t"], unit="ms", tz="UTC")
    with demo_emulator.client(cache=False, progress=False) as client:
        assert len(client.projects_df()) > 0
        segs = client.segments_df(str(row["stream_id"]), first, first + pd.Timedelta(hours=1))
        assert client.download(segs.head(1), tmp_path / "audio").downloaded.all()
    # no hop carried the netrc login; the token went to the API, not to the stored file
    sent = dict(zip([path for path, _ in proxy.seen], proxy.authorization, strict=True))
    assert sent and not any(auth and auth.startswith("Basic") for auth in sent.values())
    assert {sent[p] for p in sent if "/_blobs/" not in p} == {f"Bearer {demo_emulator.token}"}


def test_a_redirect_to_another_host_drops_the_token() -> None:
    session = EnvOnceSession()
    first = requests.Request("GET", "http://api.example/x",
                             headers={"Authorization": "Bearer t"}).prepare()
    answer = requests.Response()
    answer.request = first
    for url, kept in (("http://api.example/y", True), ("http://s3.example/k?sig=1", False)):
        hop = requests.Request("GET", url, headers={"Authorization": "Bearer t"}).prepare()
        session.rebuild_auth(hop, answer)
        assert ("Authorization" in hop.headers) is kept, url
