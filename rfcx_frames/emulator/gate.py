"""What a request meets before its route: body limits, CORS preflights and authentication.

Each answer here is given before a byte of the body is read, as the platform's ingress
(body size), its Express app (``cors()`` first, then the bearer token) and S3 (the
pre-signed signature) do, so a client cannot make the server read a body it refuses.
"""

from __future__ import annotations

from . import auth
from .http import (
    MAX_BODY_BYTES,
    Request,
    Response,
    error_response,
    nginx_response,
    refused_body,
    s3_error,
    signature_mismatch,
    text_response,
)
from .store import Store

#: Prefixes served behind the platform's nginx ingress (its 100 MB ``proxy-body-size``).
INGRESS = ("/", "/ingest/", "/auth/")
#: Prefixes standing for S3 (pre-signed URLs; a single PUT may hold up to 5 GiB).
STORAGE = ("/_blobs/", "/_uploads/")
S3_MAX_PUT = 5 * 1024**3
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
#: What Express's ``cors()`` allows in a preflight with its default options.
CORS_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE"


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


def body_limit(prefix: str) -> int | None:
    """The most bytes a body may hold under ``prefix``.

    Examples
    --------
    >>> body_limit("/") == MAX_BODY_BYTES, body_limit("/_uploads/") == S3_MAX_PUT
    (True, True)
    """
    return S3_MAX_PUT if prefix in STORAGE else MAX_BODY_BYTES


def refusal(prefix: str, content_length: str | None) -> Response | None:
    """The answer to a ``Content-Length`` the server will not read, else ``None``.

    Behind the ingress: nginx's 400 or 413 page. On object storage: S3's
    ``EntityTooLarge`` beyond 5 GiB.

    Examples
    --------
    >>> refusal("/", str(200 * 2**20)).status, refusal("/_uploads/", str(200 * 2**20))
    (413, None)
    """
    status = refused_body(content_length, body_limit(prefix))
    if status is None:
        return None
    if status == 413 and prefix in STORAGE:
        return s3_error(400, "EntityTooLarge",
                        "Your proposed upload exceeds the maximum allowed size")
    return nginx_response(status)


def preflight(prefix: str, req: Request) -> Response:
    """The answer to ``OPTIONS``: ``cors()``'s 204 on the Express apps, never on control.

    The platform's app runs ``cors()`` with its defaults before any route or token
    check, so every ``OPTIONS`` there is a 204 that allows any origin, the methods of
    :data:`CORS_METHODS` and the headers the browser asked for. The emulator's own
    control routes grant nothing: a web page must not be able to reach them.

    Examples
    --------
    >>> req = Request("OPTIONS", "/projects", {}, {}, "http://127.0.0.1")
    >>> preflight("/", req).status, preflight("/_emulator/", req).status
    (204, 405)
    """
    if prefix == "/_emulator/":
        return error_response(405, "Method Not Allowed").header("Allow", "GET, POST")
    if prefix in STORAGE:
        return s3_error(403, "AccessForbidden", "CORSResponse: CORS is not enabled for "
                        "this bucket.")
    resp = Response(status=204, body=b"")
    resp.header("Access-Control-Allow-Methods", CORS_METHODS)
    resp.header("Vary", "Access-Control-Request-Headers")
    asked = req.header("access-control-request-headers")
    if asked:
        resp.header("Access-Control-Allow-Headers", asked)
    return resp


def admit(store: Store, req: Request, prefix: str, route_known: bool,
          presigned: bool) -> Response | None:
    """The refusal of a request before its body is read (token, route, signature), or ``None``.

    Sets ``req.user`` for the core API and the ingest service.

    Examples
    --------
    >>> import tempfile
    >>> req = Request("POST", "/classifiers", {}, {}, "http://127.0.0.1")
    >>> admit(Store(tempfile.mkdtemp()), req, "/", True, False).status
    401
    """
    if prefix == "/ingest/" or (prefix == "/" and needs_token(req.path)):
        req.user = auth.user_for_token(store, req.bearer())
        if req.user is None:
            # The platform answers 401 before routing, with no Content-Type at all.
            refused = text_response("Unauthorized", status=401, content_type=None)
            refused.implicit_length = True
            return refused
    if prefix == "/_uploads/" and req.method == "PUT" and not presigned:
        return signature_mismatch()
    if not route_known:
        return error_response(404, "Not Found")
    return None
