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
import random
import re
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import auth, bodies, gate, identity
from .detection_pages import Bookmarks
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
)
from .request_head import RequestHead
from .store import Store

log = logging.getLogger(__name__)

#: A prime above any rowid the emulator holds: ``rowid * a + b`` modulo it permutes rowids.
_TIE_PRIME = 2_147_483_647

#: A refused request's body up to this size is read and dropped, keeping the connection.
SMALL_BODY = 64 * 1024


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
    #: "id": rows sharing a sort key come in id order; "random": in a new order every
    #: query, as Postgres is free to do for the platform's ``ORDER BY start`` or
    #: ``ORDER BY updated_at``. The orders are drawn from ``tie_seed``: a run is reproducible.
    tie_order: str = "id"
    tie_seed: int = 0
    _ties: random.Random | None = None
    _ties_lock: threading.Lock = field(default_factory=threading.Lock)
    #: The platform's clock (epoch ms) for the times it writes (jobs); tests fix it.
    clock: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    #: Where detection pages start (see :mod:`.detection_pages`).
    bookmarks: Bookmarks = field(init=False)

    def __post_init__(self) -> None:
        self.bookmarks = Bookmarks(self.store)

    def tie_break(self, column: str, direction: str = "ASC") -> str:
        """The ``ORDER BY`` term that orders rows sharing the route's sort key.

        In ``"random"`` mode every call gives a new permutation of the table's rowids
        (``column``'s table alias, if it has one), a keyed affine map modulo a prime.
        """
        if self.tie_order != "random":
            return f"{column} {direction}"
        with self._ties_lock:
            if self._ties is None:
                self._ties = random.Random(self.tie_seed)
            scale, shift = self._ties.randrange(1, _TIE_PRIME), self._ties.randrange(_TIE_PRIME)
        rowid = f"{column.rsplit('.', 1)[0]}.rowid" if "." in column else "rowid"
        return f"(({rowid} * {scale} + {shift}) % {_TIE_PRIME}) ASC"

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


#: The second and the Date header formatted for it, shared by every handler.
_DATE: list[Any] = [0, ""]


def _prefix(path: str) -> str:
    for prefix in ("/_emulator/", "/ingest/", "/auth/", "/_blobs/", "/_uploads/"):
        if path.startswith(prefix):
            return prefix
    return "/"


class Handler(RequestHead):
    """Turns one HTTP exchange into a call of the app's routes."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle's algorithm on, a small answer's
    # body waits for the client's delayed ACK (about 40 ms a request on loopback).
    disable_nagle_algorithm = True
    server_version = "rfcx-frames-emulator"
    sys_version = ""
    server: EmulatorHTTPServer
    timeout = 60

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return super().date_time_string(timestamp)
        # One formatting a second: the Date header of every answer.
        now = int(time.time())
        cached = _DATE
        if cached[0] != now:
            cached = _DATE[:] = [now, super().date_time_string(now)]
        return str(cached[1])

    def log_message(self, format: str, *args: Any) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return  # formatting every request line costs when nobody reads it
        # Request lines carry pre-signed URLs: their query (the signature) stays out of logs.
        line = format % args
        log.debug("%s - %s", self.address_string(), re.sub(r"\?[^\s\"']*", "?<query removed>", line))

    def _own_url(self) -> str:
        # The address this connection reached, never the client's Host header: a forged
        # Host must not steer the redirects and pre-signed URLs built from it.
        host, port = self.connection.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def handle_request(self) -> None:
        """Turn the parsed request into a :class:`Request`, serve it, drop its body."""
        app = self.server.app
        split = urlsplit(self.path)
        request = Request(method=self.command, path=split.path, query=parse_query(split.query),
                          headers={k.lower(): v for k, v in self.headers.items()},
                          base_url=self._own_url(), client_ip=self.client_address[0],
                          spool_dir=app.store.data_dir / "incoming")
        try:
            self._serve(app, request)
        finally:
            request.close()

    def _serve(self, app: App, request: Request) -> None:
        prefix = _prefix(request.path)
        refused = gate.refusal(prefix, self.headers.get("Content-Length"))
        if refused is not None:
            self._refuse(request, refused)
            return
        if request.method == "OPTIONS":
            self._refuse(request, gate.preflight(prefix, request))
            return
        if prefix == "/_emulator/":
            if self._read_body(request, prefix):
                self._send(request, self._control(request))
            return
        router = {"/": app.core, "/ingest/": app.ingest, "/auth/": app.oauth,
                  "/_blobs/": app.storage, "/_uploads/": app.storage}[prefix]
        # Express answers HEAD with its GET route, headers only.
        method = "GET" if request.method == "HEAD" else request.method
        route, params, _ = router.match(method, request.path)
        app.faults.count(route.name if route else f"{request.method} (unmatched)")
        request.params = params
        # The ingress's limit covers the API hosts; S3 and Auth0 are not behind it.
        decision = app.faults.decide(request.client_ip, request.method,
                                     rate_limited=prefix in ("/", "/ingest/"))
        latency = app.faults.config.latency_ms
        if latency:
            threading.Event().wait(latency / 1000)
        if decision.kind == "reset":
            self._reset()
            return
        if decision.kind == "status":
            self._refuse(request, self._injected(decision.status, prefix))
            return
        denied = gate.admit(app.store, request, prefix, route is not None,
                            app.presigned(request))
        if denied is not None:
            self._refuse(request, denied)
            return
        if not self._read_body(request, prefix):
            return
        response = self._dispatch(request, route)
        # A write gives the world its own identity; logins (under /auth/) change no data.
        if (request.method not in ("GET", "HEAD", "OPTIONS") and response.status < 400
                and prefix in ("/", "/ingest/", "/_uploads/")):
            identity.fork(app.store)
        self._send(request, response, truncate=decision.kind == "truncate")
        if response.crash_after:
            # The platform's process dies after this answer: its connections go with it.
            app.faults.record("crashed_after_answer")
            self._reset()

    def _body_pending(self) -> int | None:
        """Bytes of body not yet read: the declared length, ``None`` when unknown."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return None
        text = (self.headers.get("Content-Length") or "0").strip()
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None

    def _read_body(self, request: Request, prefix: str) -> bool:
        """Spool the body; on a malformed or oversized one answer and return ``False``."""
        pending = self._body_pending()
        if pending == 0:
            return True
        try:
            request.stream = bodies.spool(self.rfile, pending, pending is None,
                                          request.spool_dir, gate.body_limit(prefix))
        except bodies.BodyError as exc:
            self.close_connection = True
            self._send(request, nginx_response(exc.status))
            return False
        except OSError:  # the client went away mid-body
            self.close_connection = True
            return False
        return True

    def _refuse(self, request: Request, response: Response) -> None:
        """Answer without using the body: drop a small one, else close after answering."""
        pending = self._body_pending()
        if pending is not None and 0 < pending <= SMALL_BODY:
            with suppress(OSError, bodies.BodyError):
                bodies.discard(self.rfile, pending)
                pending = 0
        # The unread body would be taken for the next request: close, but let the
        # client read the answer first (a lingering close, as nginx does).
        self.close_connection = self.close_connection or pending != 0
        self._send(request, response)
        if pending != 0:
            self._linger()

    def _linger(self) -> None:
        with suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.2)
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and self.connection.recv(256 * 1024):
                pass

    def _injected(self, status: int, prefix: str) -> Response:
        # A 500 comes from the app itself (JSON); 502/503 come from the ingress (HTML).
        if status == 500 and prefix in ("/", "/ingest/"):
            return error_response(500, "Internal Server Error")
        return nginx_response(status)

    def _dispatch(self, request: Request, route: Any) -> Response:
        try:
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
            self.send_header(identity.HEADER, identity.platform_id(self.server.app.store))
            if not request.path.startswith("/_emulator/"):
                # cors() runs first on the platform: every answer allows any origin.
                self.send_header("Access-Control-Allow-Origin", "*")
            for name, value in response.headers:
                self.send_header(name, value)
            if request.method == "HEAD" and response.implicit_length:
                pass  # Node counts a bare res.end(body) only when it sends the body
            elif length is not None:
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
