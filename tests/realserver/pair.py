"""The same request sent to the platform's own server and to the emulator, answers side by side.

Both serve one world under the same ids (``../shared/realserver/world.sh`` loads the
emulator's demo world into the real server's Postgres); each role's token exists on both
sides (``realserver_tokens.json``: ``{role: {"emulator": ..., "real": ...}}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import requests

#: Headers whose value is compared (the rest are per-response noise: ids, dates, ETags).
COMPARED_HEADERS = ("Total-Items",)


@dataclass(frozen=True)
class Case:
    """One request of the differential: who sends it, where, with which query."""

    name: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    role: str = "demo"
    method: str = "GET"
    #: ``"bearer"`` (default), ``"raw"`` (the token without ``Bearer ``) or ``"none"``.
    auth: str = "bearer"
    #: Dotted keys of the body whose value is measured, not stored (masked on both sides).
    volatile: tuple[str, ...] = ()

    def resolved(self, ids: dict[str, str]) -> Case:
        """The case with ``{placeholders}`` in its path and values replaced by world ids."""
        return Case(self.name, self.path.format(**ids),
                    tuple((k, v.format(**ids)) for k, v in self.params),
                    self.role, self.method, self.auth, self.volatile)


@dataclass
class Answer:
    """What one server answered, reduced to what is compared."""

    status: int
    headers: dict[str, str | None]
    body: Any = field(default=None)
    json: bool = False


def send(session: requests.Session, base_url: str, token: str, case: Case) -> Answer:
    """Send ``case`` to one server and reduce its answer to an :class:`Answer`."""
    headers = {}
    if case.auth == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif case.auth == "raw":
        headers["Authorization"] = token
    response = session.request(case.method, base_url.rstrip("/") + case.path,
                               params=list(case.params), headers=headers,
                               allow_redirects=False, timeout=60)
    kept = {name: response.headers.get(name) for name in COMPARED_HEADERS}
    if "Location" in response.headers:
        # Only the path: each server names its own host.
        kept["Location"] = requests.utils.urlparse(response.headers["Location"]).path
    try:
        body = json.loads(response.content)
    except ValueError:
        return Answer(response.status_code, kept,
                      response.content[:2000].decode(errors="replace"))
    for key in case.volatile:
        _mask(body, key.split("."))
    return Answer(response.status_code, kept, body, True)


def _mask(body: Any, path: list[str]) -> None:
    """Replace the value at ``path`` (dict keys) by ``"<volatile>"`` where it exists."""
    for key in path[:-1]:
        if not isinstance(body, dict) or key not in body:
            return
        body = body[key]
    if isinstance(body, dict) and path[-1] in body:
        body[path[-1]] = "<volatile>"
