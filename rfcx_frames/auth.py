"""Logging in to the platform's Auth0 tenant, and the shared credentials file.

Three ways to a token, as in the official client (contract §2.1):

- **client credentials** when ``AUTH0_CLIENT_SECRET`` is set (machine accounts);
- the persisted **credentials file** (``.rfcx_credentials``), refreshed with its refresh
  token when it expires within the hour;
- the **device-code flow**: print a URL and a code, then poll until the user approves,
  slowing down when the server says ``slow_down`` (RFC 8628).

The file uses the official client's five-line format, so both clients share one login::

    version 1
    <access token>
    <refresh token, or empty>
    <expiry, UTC, %Y-%m-%dT%H:%M:%S.%fZ>
    <id token, or empty>

It is written with mode 0600. Expiry is always compared in UTC (the official client
compares a UTC expiry with local time).

Examples
--------
>>> import datetime as dt
>>> c = Credentials("a.b.c", dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
>>> c.token == "a.b.c", "a.b.c" in repr(c)
(True, False)
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from . import config
from .exceptions import AuthenticationError
from .files import open_atomic
from .session import Session

_EXPIRY_FORMATS = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Credentials:
    """Tokens of one login. ``repr`` never shows a token.

    Parameters
    ----------
    access_token
        The OAuth access token.
    expiry
        When the tokens expire (timezone-aware, UTC).
    refresh_token
        Refresh token of a device-code login, if any.
    id_token
        The ID token of a user login, if any. The platform is sent the ID token when
        there is one (as the official client does), else the access token.

    Examples
    --------
    >>> import datetime as dt
    >>> Credentials("acc", dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc), id_token="id").token
    'id'
    """

    access_token: str = field(repr=False)
    expiry: dt.datetime
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)

    @property
    def token(self) -> str:
        """The bearer token to send."""
        return self.id_token or self.access_token

    def valid_for(self, seconds: float, now: dt.datetime | None = None) -> bool:
        """Whether the tokens stay valid at least ``seconds`` longer (compared in UTC).

        Examples
        --------
        >>> import datetime as dt
        >>> soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
        >>> Credentials("t", soon).valid_for(3600)
        False
        """
        current = now or dt.datetime.now(dt.timezone.utc)
        return self.expiry > current + dt.timedelta(seconds=seconds)


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, read without checking its signature; ``{}`` if not a JWT.

    Used only to tell users apart (never to trust them): the cache keys its entries by a
    hash of the email or subject, so the token itself is never stored.

    Examples
    --------
    >>> jwt_claims("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1MSJ9.")
    {'sub': 'u1'}
    >>> jwt_claims("opaque-token")
    {}
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


#: The expiry of a token that names none: not known, so never treated as expired here.
NO_EXPIRY = dt.datetime.max.replace(tzinfo=dt.timezone.utc)


def token_credentials(token: str) -> Credentials:
    """Credentials of a bare bearer token: the expiry its JWT names, else :data:`NO_EXPIRY`.

    Parameters
    ----------
    token
        The bearer token (a JWT or an opaque string).

    Examples
    --------
    >>> token_credentials("opaque-token").expiry == NO_EXPIRY
    True
    >>> token_credentials("eyJhbGciOiJub25lIn0.eyJleHAiOjB9.").expiry.year
    1970
    """
    exp = jwt_claims(token).get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return Credentials(token, dt.datetime.fromtimestamp(exp, dt.timezone.utc))
    return Credentials(token, NO_EXPIRY)


def expiry_in(seconds: float) -> dt.datetime:
    """The UTC time ``seconds`` from now.

    Examples
    --------
    >>> expiry_in(60).tzinfo is not None
    True
    """
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=float(seconds))


def read_credentials(path: str | os.PathLike[str]) -> Credentials | None:
    """Read a credentials file in the official format, or ``None`` if absent or malformed.

    Examples
    --------
    >>> read_credentials("/nonexistent/.rfcx_credentials") is None
    True
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    lines = text.splitlines()
    if len(lines) != 5 or lines[0] != config.CREDENTIALS_VERSION_LINE or not lines[1]:
        return None
    expiry: dt.datetime | None = None
    for fmt in _EXPIRY_FORMATS:
        try:
            expiry = dt.datetime.strptime(lines[3], fmt).replace(tzinfo=dt.timezone.utc)
            break
        except ValueError:
            continue
    if expiry is None:
        return None
    return Credentials(access_token=lines[1], expiry=expiry,
                       refresh_token=lines[2] or None, id_token=lines[4] or None)


def write_credentials(path: str | os.PathLike[str], credentials: Credentials) -> Path:
    """Write ``credentials`` in the official five-line format, mode 0600, atomically.

    Examples
    --------
    >>> import datetime as dt, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), ".rfcx_credentials")
    >>> c = Credentials("acc", dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    >>> oct(write_credentials(p, c).stat().st_mode & 0o777)
    '0o600'
    """
    target = Path(path)
    expiry = credentials.expiry.astimezone(dt.timezone.utc).replace(tzinfo=None)
    lines = [
        config.CREDENTIALS_VERSION_LINE,
        credentials.access_token,
        credentials.refresh_token or "",
        expiry.strftime(_EXPIRY_FORMATS[0]),
        credentials.id_token or "",
    ]
    with open_atomic(target, "w", file_mode=0o600) as fh:
        fh.write("\n".join(lines) + "\n")
    return target


def _token_response(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AuthenticationError(
            f"the auth server answered HTTP {response.status_code} without a JSON body",
            status=response.status_code, request_id=response.headers.get("X-Request-Id"))
    body["_status"] = response.status_code
    return body


def _auth_error(body: dict[str, Any], what: str) -> AuthenticationError:
    detail = body.get("error_description") or body.get("error") or body.get("message")
    return AuthenticationError(f"{what} failed: {detail}", status=body.get("_status"))


def _credentials_from(body: dict[str, Any], keep_refresh: str | None = None) -> Credentials:
    if "access_token" not in body:
        raise _auth_error(body, "login")
    return Credentials(
        access_token=str(body["access_token"]),
        expiry=expiry_in(float(body.get("expires_in", 0))),
        refresh_token=body.get("refresh_token") or keep_refresh,
        id_token=body.get("id_token") or None,
    )


def _post_form(session: Session, url: str, form: dict[str, str]) -> dict[str, Any]:
    return session.request("POST", url, data=form, auth=False, parse=_token_response,
                           raise_for_status=False)


def client_credentials_login(
    session: Session, auth_url: str, client_id: str, client_secret: str
) -> Credentials:
    """Machine login with a client id and secret (never persisted).

    Examples
    --------
    >>> from rfcx_frames.emulator import running
    >>> with running(days=1) as emu:
    ...     creds = client_credentials_login(Session(rate_limit=None), emu.auth_url,
    ...                                      "my-machine", emu.client_secret)
    >>> creds.refresh_token is None, creds.valid_for(3600)
    (True, True)
    """
    body = _post_form(session, f"{auth_url}/oauth/token", {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "audience": config.AUTH_AUDIENCE,
    })
    return _credentials_from(body)


def refresh_login(
    session: Session, auth_url: str, client_id: str, refresh_token: str
) -> Credentials:
    """New tokens from a refresh token (the refresh token is kept if none is returned).

    Examples
    --------
    >>> from rfcx_frames.emulator import running
    >>> with running(days=1) as emu:
    ...     session = Session(rate_limit=None)
    ...     old = device_code_login(session, emu.auth_url, "notebook",
    ...                             out=lambda line: None, open_browser=False)
    ...     creds = refresh_login(session, emu.auth_url, "notebook", str(old.refresh_token))
    >>> creds.valid_for(3600), creds.token != old.token
    (True, True)
    """
    body = _post_form(session, f"{auth_url}/oauth/token", {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": refresh_token,
    })
    if "error" in body:
        raise _auth_error(body, "token refresh")
    return _credentials_from(body, keep_refresh=refresh_token)


def device_code_login(
    session: Session,
    auth_url: str,
    client_id: str,
    *,
    out: Callable[[str], Any] = print,
    open_browser: bool = True,
    sleep: Callable[[float], Any] = time.sleep,
) -> Credentials:
    """Interactive device-code login: print the URL and code, then poll for the tokens.

    ``slow_down`` answers add ``SLOW_DOWN_INCREMENT_S`` to the polling interval; the login
    fails after the code's ``expires_in``.

    Raises
    ------
    AuthenticationError
        If the code expires, the user denies access, or the server answers an error.

    Examples
    --------
    >>> from rfcx_frames.emulator import running
    >>> with running(days=1) as emu:
    ...     creds = device_code_login(Session(rate_limit=None), emu.auth_url, "notebook",
    ...                               out=lambda line: None, open_browser=False)
    >>> creds.refresh_token is not None
    True
    """
    start = _post_form(session, f"{auth_url}/oauth/device/code", {
        "client_id": client_id,
        "scope": config.DEVICE_SCOPE,
        "audience": config.AUTH_AUDIENCE,
    })
    if "device_code" not in start:
        raise _auth_error(start, "device-code request")
    _show_verification(start, out, open_browser)
    return _poll_device_token(session, auth_url, client_id, start, sleep)


def _show_verification(start: dict[str, Any], out: Callable[[str], Any],
                       open_browser: bool) -> None:
    """Tell the user where to approve the login (and open that page if a browser exists)."""
    uri = start.get("verification_uri_complete") or start.get("verification_uri")
    out(f"Go to this URL in a browser: {uri}\nYour code is: {start.get('user_code')}")
    if open_browser and uri:
        try:
            webbrowser.get()
            webbrowser.open(str(uri), new=2)
        except webbrowser.Error:
            pass


def _poll_device_token(session: Session, auth_url: str, client_id: str,
                       start: dict[str, Any], sleep: Callable[[float], Any]) -> Credentials:
    """Poll the token endpoint until the user approves, slowing down when asked (RFC 8628)."""
    interval = float(start.get("interval") or 5)
    deadline = time.monotonic() + float(start.get("expires_in") or config.DEVICE_FLOW_TIMEOUT_S)
    while True:
        if time.monotonic() > deadline:
            raise AuthenticationError("device-code login expired before it was approved")
        sleep(interval)
        body = _post_form(session, f"{auth_url}/oauth/token", {
            "grant_type": config.DEVICE_GRANT_TYPE,
            "device_code": str(start["device_code"]),
            "client_id": client_id,
        })
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += config.SLOW_DOWN_INCREMENT_S
            continue
        if error:
            raise _auth_error(body, "device-code login")
        return _credentials_from(body)
