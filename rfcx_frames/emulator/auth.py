"""Tokens and users of the emulated platform, and the emulated Auth0 tenant.

Tokens are JWT-shaped (``header.payload.signature``, HS256 with the world's secret) so
clients that decode the ID token's payload, as the official one does, work unchanged.
Validity is decided by the ``tokens`` table (known token, not expired), which also lets
the emulator revoke or expire a token for tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .store import Store

FAR_FUTURE_S = 4102444800  # 2100-01-01, the expiry of world tokens
DEVICE_POLLS_BEFORE_APPROVAL = 2
ACCESS_TOKEN_LIFETIME_S = 86400


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint_jwt(secret: str, claims: dict[str, Any]) -> str:
    """A compact HS256 JWT for ``claims``.

    Examples
    --------
    >>> token = mint_jwt("s", {"sub": "u1"})
    >>> token.count(".")
    2
    """
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def world_secret(store: Store) -> str:
    """The signing secret of this data directory (created once, then kept)."""
    secret = store.meta("jwt_secret")
    if secret is None:
        secret = secrets.token_hex(16)
        store.set_meta("jwt_secret", secret)
    return secret


def issue_token(
    store: Store,
    user_id: int,
    *,
    kind: str = "id",
    expires_at_s: int | None = FAR_FUTURE_S,
    issued_at_s: int | None = None,
    conn: sqlite3.Connection | None = None,
    secret: str | None = None,
    nonce: str | None = None,
) -> str:
    """Mint a token for ``user_id`` and record it in the ``tokens`` table.

    ``nonce`` makes the token deterministic (world tokens); without it a random one is used.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> with store.connect() as c:
    ...     _ = c.execute("INSERT INTO users (id, guid, email, firstname, lastname) "
    ...                   "VALUES (1, 'g1', 'a@b.c', 'A', 'B')")
    >>> issue_token(store, 1).count(".")
    2
    """
    own = conn is None
    db = conn if conn is not None else store.connection()
    user = db.execute("SELECT guid, email, firstname, lastname, roles FROM users WHERE id = ?",
                      (user_id,)).fetchone()
    if user is None:
        raise ValueError(f"no user with id {user_id}")
    claims: dict[str, Any] = {
        "iss": "https://auth.rfcx.org/",
        "sub": f"auth0|{user[0]}",
        "aud": "https://rfcx.org",
        "iat": issued_at_s if issued_at_s is not None else int(time.time()),
        "typ": kind,
        "jti": nonce if nonce is not None else secrets.token_hex(8),
    }
    if expires_at_s is not None:
        claims["exp"] = expires_at_s
    if kind == "id":
        claims.update({"email": user[1], "given_name": user[2], "family_name": user[3],
                       "https://rfcx.org/app_metadata": {"guid": user[0],
                                                         "authorization": {"roles":
                                                                           user[4].split(",")}}})
    token = mint_jwt(secret if secret is not None else world_secret(store), claims)
    expires_ms = expires_at_s * 1000 if expires_at_s is not None else None
    db.execute("INSERT OR REPLACE INTO tokens (token, user_id, kind, expires_at) VALUES (?,?,?,?)",
               (token, user_id, kind, expires_ms))
    if own:
        db.commit()
    return token


@dataclass(frozen=True)
class User:
    """The caller behind a token."""

    id: int
    guid: str
    email: str
    firstname: str
    lastname: str
    picture: str | None
    is_super: bool
    roles: tuple[str, ...]

    @property
    def is_system(self) -> bool:
        """``systemUser`` role or super user: bypasses read filters."""
        return self.is_super or "systemUser" in self.roles


def user_for_token(store: Store, token: str | None, now_ms: int | None = None) -> User | None:
    """The user a bearer token belongs to, or ``None`` if unknown or expired."""
    if not token:
        return None
    row = store.query(
        "SELECT u.*, t.expires_at, t.kind FROM tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token = ?", (token,))
    if not row:
        return None
    r = row[0]
    if r["kind"] == "refresh":
        return None
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    if r["expires_at"] is not None and r["expires_at"] <= now:
        return None
    return User(id=r["id"], guid=r["guid"], email=r["email"], firstname=r["firstname"],
                lastname=r["lastname"], picture=r["picture"], is_super=bool(r["is_super"]),
                roles=tuple(x for x in r["roles"].split(",") if x))


@dataclass
class DeviceCode:
    """A pending device-code login."""

    device_code: str
    user_code: str
    user_id: int
    expires_at_s: float
    polls: int = 0
    last_poll_s: float = 0.0


@dataclass
class Auth0:
    """In-memory state of the emulated Auth0 tenant (pending device codes)."""

    store: Store
    interval_s: int = 1
    approve_after_polls: int = DEVICE_POLLS_BEFORE_APPROVAL
    client_secrets: dict[str, str] = field(default_factory=dict)
    _codes: dict[str, DeviceCode] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start_device_flow(self, user_id: int) -> DeviceCode:
        """Create a device code that the emulated user approves after a few polls."""
        code = DeviceCode(device_code=secrets.token_urlsafe(24),
                          user_code=f"{secrets.token_hex(2).upper()}-{secrets.token_hex(2).upper()}",
                          user_id=user_id, expires_at_s=time.time() + 900)
        with self._lock:
            self._codes[code.device_code] = code
        return code

    def poll(self, device_code: str) -> tuple[str, DeviceCode | None]:
        """Advance a device code: ``'pending'``, ``'slow_down'``, ``'approved'`` or ``'expired'``."""
        with self._lock:
            code = self._codes.get(device_code)
            if code is None or code.expires_at_s < time.time():
                return "expired", None
            now = time.time()
            too_fast = code.last_poll_s and now - code.last_poll_s < self.interval_s * 0.5
            code.last_poll_s = now
            code.polls += 1
            if too_fast:
                return "slow_down", code
            if code.polls <= self.approve_after_polls:
                return "pending", code
            del self._codes[device_code]
            return "approved", code

    def grant(self, user_id: int, lifetime_s: int = ACCESS_TOKEN_LIFETIME_S) -> dict[str, Any]:
        """Token response body for a successful grant (access, id and refresh tokens)."""
        exp = int(time.time()) + lifetime_s
        access = issue_token(self.store, user_id, kind="access", expires_at_s=exp)
        id_token = issue_token(self.store, user_id, kind="id", expires_at_s=exp)
        refresh = issue_token(self.store, user_id, kind="refresh", expires_at_s=None)
        return {"access_token": access, "id_token": id_token, "refresh_token": refresh,
                "expires_in": lifetime_s, "token_type": "Bearer",
                "scope": "openid email profile offline_access"}

    def user_for_refresh(self, refresh_token: str) -> int | None:
        """The user of a refresh token, or ``None``."""
        rows = self.store.query("SELECT user_id FROM tokens WHERE token = ? AND kind = 'refresh'",
                                (refresh_token,))
        return int(rows[0]["user_id"]) if rows else None
