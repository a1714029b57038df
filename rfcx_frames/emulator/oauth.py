"""The emulated Auth0 tenant: device-code, refresh-token and client-credentials grants.

Bodies and statuses follow Auth0: ``POST /oauth/device/code`` answers the codes and
polling interval; ``POST /oauth/token`` answers 403 ``authorization_pending`` until the
emulated user approves (after a couple of polls), 429 ``slow_down`` when polled too fast,
then 200 with ``access_token``, ``id_token``, ``refresh_token`` and ``expires_in``.
"""

from __future__ import annotations

from .http import Request, Response, json_response
from .server import App

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CLIENT_SECRET_META = "client_secret"
LOGIN_USER_META = "login_user_id"


def _error(status: int, error: str, description: str) -> Response:
    return json_response({"error": error, "error_description": description}, status=status)


def device_code(app: App, req: Request) -> Response:
    fields, _ = req.form()
    if not fields.get("client_id"):
        return _error(400, "invalid_request", "Missing required parameter: client_id")
    user_id = int(app.store.meta(LOGIN_USER_META, "1") or 1)
    code = app.auth0.start_device_flow(user_id)
    base = req.base_url + "/auth"
    return json_response({
        "device_code": code.device_code,
        "user_code": code.user_code,
        "verification_uri": f"{base}/activate",
        "verification_uri_complete": f"{base}/activate?user_code={code.user_code}",
        "expires_in": 900,
        "interval": app.auth0.interval_s,
    })


def token(app: App, req: Request) -> Response:
    fields, _ = req.form()

    def field(name: str) -> str:
        return (fields.get(name) or [""])[-1]

    grant = field("grant_type")
    if grant == DEVICE_GRANT:
        state, code = app.auth0.poll(field("device_code"))
        if state == "pending":
            return _error(403, "authorization_pending", "User has yet to authorize device code.")
        if state == "slow_down":
            return _error(429, "slow_down", "You are polling faster than allowed.")
        if state == "expired" or code is None:
            return _error(403, "expired_token", "The device code has expired or is unknown.")
        return json_response(app.auth0.grant(code.user_id))
    if grant == "refresh_token":
        user_id = app.auth0.user_for_refresh(field("refresh_token"))
        if user_id is None:
            return _error(403, "invalid_grant", "Unknown or invalid refresh token.")
        body = app.auth0.grant(user_id)
        del body["refresh_token"]  # Auth0 keeps the refresh token unless rotation is on
        return json_response(body)
    if grant == "client_credentials":
        secret = app.store.meta(CLIENT_SECRET_META)
        if not field("client_id") or not secret or field("client_secret") != secret:
            return _error(401, "access_denied", "Unauthorized")
        user_id = int(app.store.meta(LOGIN_USER_META, "1") or 1)
        body = app.auth0.grant(user_id)
        for key in ("refresh_token", "id_token"):
            del body[key]
        return json_response(body)
    return _error(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")


def activate(app: App, req: Request) -> Response:
    body = b"<html><body><h1>Device activation (emulated)</h1><p>Approved automatically.</p>"
    resp = Response(status=200, body=body + b"</body></html>")
    return resp.header("Content-Type", "text/html; charset=utf-8")


def register(app: App) -> None:
    """Add the Auth0 routes under ``/auth``."""
    app.oauth.add("POST", "/auth/oauth/device/code", lambda req: device_code(app, req))
    app.oauth.add("POST", "/auth/oauth/token", lambda req: token(app, req))
    app.oauth.add("GET", "/auth/activate", lambda req: activate(app, req))
