"""The emulator's HTTP server: sockets in, :class:`~.http.Request` to a route, bytes out.

One threaded server answers for every emulated host, told apart by path prefix:

==================  ===========================================================
``/``               core API (``https://api.rfcx.org``): bearer token required
``/ingest/``        ingest service (``https://ingest.rfcx.org``)
``/auth/``          Auth0 tenant (``https://auth.rfcx.org``)
``/_blobs/``        object storage for segment files (pre-signed GET)
``/_uploads/``      object storage for ingest uploads (pre-signed PUT)
``/_emulator/``     identity, statistics and fault control, never faulted
==================  ===========================================================
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import struct
import threading
import traceback
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import auth, identity
from .faults import Faults
from .http import (
    HTTPError,
    Request,
    Response,
    Router,
    error_response,
    iter_file,
    json_response,
    nginx_response,
    parse_query,
    refused_body,
    text_response,
)
from .store import Store

log = logging.getLogger(__name__)

#: The platform's route families behind its authentication (``core/routes.js`` and
#: ``core/internal/routes.js``): a path under one answers 401 without a token, even when
#: no route of the family matches it; any other path is routed (404 when unknown).
AUTHENTICATED_FAMILIES = frozenset({
    "annotations", "classifications", "classifiers", "classifier-jobs", "detections",
    "event-strategies", "events", "stream-source-files", "organizations", "projects",
    "streams", "clustered-annotations", "clustered-detections", "clustered-events",
    "indices", "users"})
INTERNAL_FAMILIES = frozenset({"assets", "classifier-jobs", "cognition", "cron", "console",
                               "explorer", "ingest", "prediction", "arbimon", "ai-hub"})


def needs_token(path: str) -> bool:
    """Whether the platform authenticates ``path`` before routing it.

    Examples
    --------
    >>> needs_token("/streams/abc/segments"), needs_token("/health-check"), needs_token("/x")
    (True, False, False)
    >>> needs_token("/internal/assets/streams/a.wav")
    True
    """
    parts = path.strip("/").split("/")
    if parts[0] == "internal":
        return len(parts) > 1 and parts[1] in INTERNAL_FAMILIES
    return parts[0] in AUTHENTICATED_FAMILIES


@dataclass
class App:
    """Everything the routes share: storage, auth state, faults and the routers."""

    store: Store
    faults: Faults
    auth0: auth.Auth0
    secret: str
    core: Router = field(default_factory=Router)
    ingest: Router = field(default_factory=Router)
    oauth: Router = field(default_factory=Router)
    storage: Router = field(default_factory=Router)
    workers: list[Any] = field(default_factory=list)
    jobs: Any = None  # the classifier-job runner, once the server starts
    #: "id": rows sharing a start come in id order; "random": in a new order every query,
    #: as Postgres is free to do for the platform's ``ORDER BY start``.
    tie_order: str = "id"

    def tie_break(self, column: str, direction: str = "ASC") -> str:
        """The ``ORDER BY`` term that orders rows sharing a start."""
        return "random()" if self.tie_order == "random" else f"{column} {direction}"

    def sign(self, path: str) -> str:
        """Signature for a pre-signed storage URL path."""
        return hmac.new(self.secret.encode(), path.encode(), hashlib.sha256).hexdigest()

    def presigned(self, req: Request) -> bool:
        """Whether ``req`` carries the signature :meth:`presign` gave its path."""
        signature = (req.query.get("X-Amz-Signature") or [""])[-1]
        return bool(signature) and hmac.compare_digest(self.sign(req.path), signature)

    def presign(self, base_url: str, path: str, extra: str = "") -> str:
        """An absolute pre-signed URL on this server, shaped like an S3 one."""
        return (f"{base_url}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=86400"
                f"{extra}&X-Amz-Signature={self.sign(path)}")


def _prefix(path: str) -> str:
    for prefix in ("/_emulator/", "/ingest/", "/auth/", "/_blobs/", "/_uploads/"):
        if path.startswith(prefix):
            return prefix
    return "/"


class Handler(BaseHTTPRequestHandler):
    """Turns one HTTP exchange into a call of the app's routes."""

    protocol_version = "HTTP/1.1"
    server_version = "rfcx-frames-emulator"
    sys_version = ""
    server: EmulatorHTTPServer
    timeout = 60

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry pre-signed URLs: their query (the signature) stays out of logs.
        line = format % args
        log.debug("%s - %s", self.address_string(), re.sub(r"\?[^\s\"']*", "?<query removed>", line))

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _handle(self) -> None:
        app = self.server.app
        split = urlsplit(self.path)
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}"
        refused = refused_body(self.headers.get("Content-Length"))
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_query(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body() if refused is None else b"",
            base_url=f"http://{host}",
            client_ip=self.client_address[0],
        )
        if refused is not None:
            # The body stays unread, so this connection cannot carry another request.
            self.close_connection = True
            self._send(request, nginx_response(refused))
            return
        prefix = _prefix(request.path)
        if prefix == "/_emulator/":
            self._send(request, self._control(request))
            return
        router = {"/": app.core, "/ingest/": app.ingest, "/auth/": app.oauth,
                  "/_blobs/": app.storage, "/_uploads/": app.storage}[prefix]
        route, params, path_known = router.match(request.method, request.path)
        app.faults.count(route.name if route else f"{request.method} (unmatched)")
        request.params = params

        decision = app.faults.decide(request.client_ip, request.method)
        latency = app.faults.config.latency_ms
        if latency:
            threading.Event().wait(latency / 1000)
        if decision.kind == "reset":
            self._reset()
            return
        if decision.kind == "status":
            self._send(request, self._injected(decision.status, prefix))
            return
        response = self._dispatch(app, request, route, prefix, path_known)
        # A write gives the world its own identity; logins (under /auth/) change no data.
        if (request.method not in ("GET", "HEAD", "OPTIONS") and response.status < 400
                and prefix in ("/", "/ingest/", "/_uploads/")):
            identity.fork(app.store)
        self._send(request, response, truncate=decision.kind == "truncate")

    def _injected(self, status: int, prefix: str) -> Response:
        # A 500 comes from the app itself (JSON); 502/503 come from the ingress (HTML).
        if status == 500 and prefix in ("/", "/ingest/"):
            return error_response(500, "Internal Server Error")
        return nginx_response(status)

    def _dispatch(self, app: App, request: Request, route: Any, prefix: str,
                  path_known: bool) -> Response:
        try:
            if prefix == "/ingest/" or (prefix == "/" and needs_token(request.path)):
                request.user = auth.user_for_token(app.store, request.bearer())
                if request.user is None:
                    # The platform answers 401 before routing, with no Content-Type at all.
                    return text_response("Unauthorized", status=401, content_type=None)
            if route is None:
                if path_known:
                    return error_response(404, "Not Found")
                return error_response(404, "Not Found")
            response: Response = route.handler(request)
            return response
        except HTTPError as exc:
            return error_response(exc.status, exc.message)
        except Exception:  # a bug in a route: answer like the platform's catch-all
            log.error("route %s failed:\n%s", request.path, traceback.format_exc())
            return error_response(500, "Internal Server Error")

    def _control(self, request: Request) -> Response:
        app = self.server.app
        if request.path == "/_emulator/identity" and request.method == "GET":
            app.faults.count_identity()
            return json_response(identity.describe(app.store))
        if request.path == "/_emulator/stats" and request.method == "GET":
            return json_response(app.faults.snapshot())
        if request.method == "POST" and not _is_json(request):
            # A web page can send a cross-origin text/plain or form POST without asking
            # first; a JSON one needs a preflight this server never grants.
            return error_response(415, "control requests must be Content-Type: application/json")
        if request.path == "/_emulator/stats/reset" and request.method == "POST":
            app.faults.reset_counts()
            return json_response({"ok": True})
        if request.path == "/_emulator/faults" and request.method == "POST":
            try:
                changes = json.loads(request.body or b"{}")
                app.faults.configure(**changes)
            except (ValueError, TypeError) as exc:
                return error_response(400, str(exc))
            return json_response(app.faults.snapshot()["config"])
        return error_response(404, "Not Found")

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST: the client sees a reset.
        with suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, request: Request, response: Response, truncate: bool = False) -> None:
        body = response.body
        length = response.content_length
        if isinstance(body, bytes):
            length = len(body)
        elif isinstance(body, Path):
            length = body.stat().st_size
        try:
            self.send_response(response.status)
            self.send_header("X-Powered-By", "Express")
            self.send_header("X-Request-Id", request.request_id)
            self.send_header("Access-Control-Allow-Origin", "*")
            for name, value in response.headers:
                self.send_header(name, value)
            if length is not None:
                self.send_header("Content-Length", str(length))
            else:
                self.send_header("Transfer-Encoding", "chunked")
            if self.close_connection:
                self.send_header("Connection", "close")
            else:
                self.send_header("Connection", "keep-alive")
                self.send_header("Keep-Alive", "timeout=61")
            self.end_headers()
            if request.method == "HEAD":
                return
            chunks: Iterable[bytes]
            if isinstance(body, bytes):
                chunks = [body]
            elif isinstance(body, Path):
                chunks = iter_file(body)
            else:
                chunks = body
            sent = 0
            limit = (length or 0) // 2 if truncate else None
            for chunk in chunks:
                if limit is not None:
                    chunk = chunk[: max(0, limit - sent)]
                if length is None:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    self.wfile.write(chunk)
                sent += len(chunk)
                if limit is not None and sent >= limit:
                    break
            if truncate:
                self.server.app.faults.record("truncated_sent")
                self.wfile.flush()
                self._reset()
                return
            if length is None:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threaded server bound to the app; threads are daemons so shutdown never hangs."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Serve one client connection on its own thread, then close its database handle."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.app.store.release()


def _is_json(request: Request) -> bool:
    media_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    return media_type == "application/json"
