"""What every platform call of a client shares: URLs, session, workers, cache settings, clock.

:class:`Context` is the state the functions of :mod:`rfcx_frames.api` take as their first
argument; :class:`~rfcx_frames.Client` is a Context plus the login. Keeping it a plain
object (no network at construction) lets every operation live in a module of its own and
be called, and tested, without the rest of the client.

Examples
--------
>>> import pandas as pd
>>> from rfcx_frames.session import Session
>>> fixed = pd.Timestamp("2024-03-01", tz="UTC")
>>> ctx = Context(api_url="http://127.0.0.1:1", session=Session(token=lambda: "t"),
...               token_source=lambda: "t", clock=lambda: fixed)
>>> ctx.now(), ctx.cache_mode(False)
(Timestamp('2024-03-01 00:00:00+0000', tz='UTC'), 'off')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from .. import auth, config, timeutil, validate
from .. import cache as cache_mod
from ..exceptions import RFCxError
from ..schemas import Entity
from ..session import Session
from ..urls import is_platform_host


class Context:
    """The shared state of one client's platform calls.

    Parameters
    ----------
    api_url
        Core API base URL (checked, no trailing slash).
    session
        The HTTP session every request goes through.
    token_source
        Returns the current token without any network call (may be expired): it names
        the user in cache keys, never the token itself.
    ingest_url
        The ingest uploads endpoint.
    cache_dir, cache, cache_horizon, cache_max_age, max_workers, progress, clock
        As for :class:`~rfcx_frames.Client`.

    Examples
    --------
    >>> ctx = Context(api_url="http://127.0.0.1:1", session=Session(token=lambda: "t"),
    ...               token_source=lambda: "t")
    >>> ctx.max_workers
    8
    """

    def __init__(
        self,
        api_url: str,
        session: Session,
        token_source: Callable[[], str],
        *,
        ingest_url: str = "",
        cache_dir: str | os.PathLike[str] | None = None,
        cache: Any = None,
        cache_horizon: Any = None,
        cache_max_age: Any = None,
        max_workers: int = config.DEFAULT_MAX_WORKERS,
        progress: bool = True,
        clock: timeutil.Clock | None = None,
    ) -> None:
        self.api_url = api_url
        self.ingest_url = ingest_url
        self.session = session
        self.token_source = token_source
        self.cache_dir = config.root_argument(cache_dir)
        # An explicit setting outranks the environment; None leaves it to
        # RFCX_FRAMES_CACHE_MODE, then "use".
        self.cache_default: Any = (None if cache is None or cache is True
                                   else cache_mod.resolve_mode(cache, default="use"))
        self.cache_horizon = _horizon(cache_horizon)
        self.cache_max_age = (config.DEFAULT_LABEL_MAX_AGE if cache_max_age is None
                              else cache_mod.parse_max_age(cache_max_age, "cache_max_age"))
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a callable returning a Timestamp, not {type(clock).__name__}")
        self.clock: timeutil.Clock = clock if clock is not None else timeutil.utc_now
        self.max_workers = validate.check_positive_int(max_workers, "max_workers")
        self.progress = validate.check_bool(progress, "progress")
        #: Memory of one client's lifetime: stream timezones, ids known to exist,
        #: platform identities by URL, and the audio source of the client's audio calls.
        self.timezones: dict[str, str | None] = {}
        self.known_ids: dict[str, set[str]] = {}
        self.platform_ids: dict[str, str] = {}
        self.shared_audio_source: Any = None

    def now(self) -> pd.Timestamp:
        """The current UTC time as this client sees it (its ``clock``).

        Examples
        --------
        >>> fixed = pd.Timestamp("2024-03-01", tz="UTC")
        >>> Context("http://x", Session(token=lambda: "t"), lambda: "t", clock=lambda: fixed).now()
        Timestamp('2024-03-01 00:00:00+0000', tz='UTC')
        """
        return timeutil.to_utc(self.clock(), "clock()")

    def show_progress(self, progress: bool | None) -> bool:
        """A call's ``progress`` argument, else the client's setting."""
        return self.progress if progress is None else validate.check_bool(progress, "progress")

    def cache_mode(self, cache: Any) -> str:
        """The cache mode of one call: its ``cache``, the client's, the environment, ``"use"``.

        Examples
        --------
        >>> Context("http://x", Session(token=lambda: "t"), lambda: "t").cache_mode("offline")
        'offline'
        """
        if cache is None or cache is True:
            cache = self.cache_default
        return cache_mod.resolve_mode(cache, default="use")

    @property
    def cache_root(self) -> config.CacheRoot:
        """Root of the Parquet cache (argument, ``RFCX_FRAMES_CACHE``, user cache): a
        folder, or an ``s3://`` prefix."""
        return config.cache_root(self.cache_dir)

    def max_age(self, entity: Entity, max_age: Any) -> pd.Timedelta | None:
        """How old cached rows of ``entity`` may be: the call's, else the client's for labels."""
        if max_age is not None:
            return cache_mod.parse_max_age(max_age, "max_age")
        return self.cache_max_age if entity.mutable else None

    def platform(self, cache: Any = None) -> str:
        """The identity of the platform at ``api_url``, which the cache keys entries by.

        The platform's own hosts are known by their URL. Any other server is asked once
        per client (``GET /_emulator/identity``; an emulator answers the id of its world,
        anything else is known by its URL), and the answer is remembered in the cache
        folder so that ``cache="offline"`` finds it later without a request.

        Examples
        --------
        >>> client.platform()  # doctest: +SKIP
        'emulator:demo-0-1f3a9c0d2b4e5f60'
        """
        offline = self.cache_mode(cache) == "offline"
        if self.api_url in self.platform_ids:
            return self.platform_ids[self.api_url]
        found = cache_mod.resolve_platform(self.cache_root, self.api_url,
                                           None if offline else self._ask_identity,
                                           stable=is_platform_host(self.api_url))
        if not offline:
            # Offline guessed from memory; a later online call asks and may learn better.
            self.platform_ids[self.api_url] = found
        return found

    def _ask_identity(self) -> str | None:
        try:
            body = self.session.request(
                "GET", f"{self.api_url}{cache_mod.IDENTITY_ROUTE}", auth=False,
                raise_for_status=False, allow_redirects=False,
                parse=lambda r: r.json() if r.status_code == 200 else None)
        except RFCxError as exc:
            raise ConnectionError(str(exc)) from exc
        except ValueError:  # a 200 that is not JSON: not an emulator
            return None
        return body.get("id") if isinstance(body, dict) else None

    def identity(self) -> str:
        """A non-secret identity of the signed-in user, to keep users' caches apart.

        Read from the token's claims (email, else subject) when it is a JWT; otherwise a
        hash of the token, so the token itself is never written anywhere.
        """
        token = self.token_source()
        claims = auth.jwt_claims(token)
        who = str(claims.get("email") or claims.get("sub") or "") if claims else ""
        return cache_mod.user_identity(who or "token:" + token)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """``GET {api_url}{path}`` and its decoded JSON body."""
        return self.session.request("GET", f"{self.api_url}{path}",
                                    params=dict(params) if params is not None else None,
                                    parse=lambda r: r.json())

    def attach_query(self, frame: pd.DataFrame, endpoint: str, params: Mapping[str, Any],
                     start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
                     provenance: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Record the query in ``frame.attrs["query"]`` (never a token) and return the frame.

        ``provenance`` (``fetched_at``, ``from_cache``) defaults to the cache's
        ``attrs["cache"]``, else "fetched just now".
        """
        provenance = provenance or frame.attrs.pop("cache", None) or {
            "fetched_at": self.now(), "from_cache": False}
        frame.attrs.pop("cache", None)
        frame.attrs["query"] = {
            "endpoint": endpoint,
            "params": {k: v for k, v in params.items() if v is not None},
            "start": timeutil.to_wire(start) if start is not None else None,
            "end": timeutil.to_wire(end) if end is not None else None,
            "fetched_at": timeutil.to_wire(provenance["fetched_at"]),
            "from_cache": bool(provenance["from_cache"]),
            "api_url": self.api_url,
        }
        return frame


def _horizon(value: Any) -> pd.Timedelta:
    horizon = (config.DEFAULT_CACHE_HORIZON if value is None
               else cache_mod.parse_duration(value) if isinstance(value, str)
               else pd.Timedelta(value))
    if horizon < pd.Timedelta(0):
        raise ValueError(f"cache_horizon must be >= 0, got {value!r}")
    return horizon
