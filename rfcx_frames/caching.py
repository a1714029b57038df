"""How the DataFrame methods use the Parquet cache (:mod:`rfcx_frames.cache`).

Time-ranged frames go through :class:`~rfcx_frames.cache.TimeRangedCache` (windows per stream,
with the filters in a signature), small listings through
:class:`~rfcx_frames.cache.WholeResultCache`. The signature names the user by a hash of the
token's email or subject, never by the token, and the platform by its identity
(:mod:`rfcx_frames.cache.platforms`), not by its URL's port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from . import auth, timeutil
from . import cache as cache_mod
from .exceptions import RFCxError
from .frames import finalize
from .schemas import ANNOTATION, DETECTION, Entity, arrow_schema, pandas_dtypes
from .session import Session
from .urls import is_platform_host

#: The platform's ``min_confidence`` when none is sent (part of the cache's filter signature).
DEFAULT_MIN_CONFIDENCE = 0.95

#: ``fetch(stream_ids or None, start, end) -> DataFrame`` of one entity and filter set.
Fetch = Callable[[list[str] | None, pd.Timestamp, pd.Timestamp], pd.DataFrame]

#: Entities whose rows change on the platform after they were cached (reviews, edits).
LABELS: tuple[Entity, ...] = (DETECTION, ANNOTATION)


class CacheMethods:
    """Mixin of the cache plumbing; :class:`~rfcx_frames.Client` provides the attributes."""

    api_url: str
    max_workers: int
    cache_dir: Any
    cache_default: Any
    cache_horizon: pd.Timedelta
    cache_max_age: pd.Timedelta | None
    now: Callable[[], pd.Timestamp]
    _identity_token: Callable[[], str]
    session: Session
    streams_df: Callable[..., pd.DataFrame]

    def _cache_mode(self, cache: Any) -> str:
        # Per call, then the client's explicit setting, then the environment, then "use".
        if cache is None or cache is True:
            cache = self.cache_default
        return cache_mod.resolve_mode(cache, default="use")

    @property
    def cache_root(self) -> Any:
        """Folder of the local Parquet cache (argument, ``RFCX_FRAMES_CACHE``, user cache)."""
        return cache_mod.cache_path(self.cache_dir)

    def _max_age(self, entity: Entity, max_age: Any) -> pd.Timedelta | None:
        # Per call, then the client's setting for labels; segments keep the horizon rule.
        if max_age is not None:
            return cache_mod.parse_max_age(max_age, "max_age")
        return self.cache_max_age if entity in LABELS else None

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
        offline = self._cache_mode(cache) == "offline"
        known: dict[str, str] = self.__dict__.setdefault("_platform_ids", {})
        if self.api_url in known:
            return known[self.api_url]

        def ask() -> str | None:
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

        found = cache_mod.resolve_platform(self.cache_root, self.api_url,
                                           None if offline else ask,
                                           stable=is_platform_host(self.api_url))
        if not offline:
            # Offline guessed from memory; a later online call asks and may learn better.
            known[self.api_url] = found
        return found

    def identity(self) -> str:
        """A non-secret identity of the signed-in user, to keep users' caches apart.

        Read from the token's claims (email, else subject) when it is a JWT; otherwise a
        hash of the token, so the token itself is never written anywhere.
        """
        token = self._identity_token()
        claims = auth.jwt_claims(token)
        who = str(claims.get("email") or claims.get("sub") or "") if claims else ""
        return cache_mod.user_identity(who or "token:" + token)

    def _whole(self, entity: Entity, params: Mapping[str, Any], cache: Any,
               fetch: Callable[[], pd.DataFrame], max_age: Any = None) -> pd.DataFrame:
        mode = self._cache_mode(cache)
        limit = cache_mod.parse_max_age(max_age, "max_age") if max_age is not None else None
        if mode == "off":
            return fetch()
        frame = cache_mod.WholeResultCache(self.cache_root).get(
            entity.name, {k: v for k, v in params.items() if v is not None}, self.platform(mode),
            self.identity(), fetch, arrow_schema(entity), mode=mode,
            dtypes=pandas_dtypes(entity), now=self.now(), max_age=limit)
        provenance = frame.attrs.pop("cache", None)
        frame = finalize(entity, frame)
        frame.attrs["cache"] = provenance
        return frame

    def _cached(self, entity: Entity, fetch: Fetch, streams: list[str] | None,
                start: pd.Timestamp, end: pd.Timestamp, params: Mapping[str, Any],
                mode: str, max_age: Any = None) -> pd.DataFrame:
        """The frame from the cache, with its provenance in ``attrs["cache"]``."""
        limit = self._max_age(entity, max_age)
        listing_fetched = False
        if streams is None:
            # Without a stream filter the platform answers for every stream you can read.
            # Offline reads the cached listing however old; refresh lists streams anew too.
            listed = self.streams_df(progress=False,
                                     cache=mode if mode in ("offline", "refresh") else None)
            streams = [str(s) for s in listed["id"]]
            listing_fetched = not listed.attrs.get("query", {}).get("from_cache", False)
        signature = cache_mod.FilterSignature.build(
            entity.name, self.platform(mode), self.identity(),
            classifications=params.get("classifications[]"),
            classifiers=params.get("classifiers[]"),
            min_confidence=(self._effective_confidence(params) if entity is DETECTION
                            else None),
            review_statuses=params.get("review_statuses[]"))
        store = cache_mod.TimeRangedCache(self.cache_root)
        schema = arrow_schema(entity)
        ready: dict[tuple[str, int, int], pd.DataFrame] = {}
        if mode == "refresh":
            # Refresh fetches every stream's whole window again.
            windows = [(s, start, end) for s in dict.fromkeys(streams)]
            ready = self._prefetch(entity, fetch, windows)
        elif mode != "offline":
            windows = store.missing_windows(entity.name, signature, streams, start, end, schema,
                                            max_age=limit, now=self.now())
            ready = self._prefetch(entity, fetch, windows)

        def fetch_window(stream: str, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
            window = (stream, timeutil.to_ns(a), timeutil.to_ns(b))
            return ready.pop(window) if window in ready else fetch([stream], a, b)

        # Already in the entity's order and free of repeats: windows are disjoint and
        # each fetch was finalized, so finalize() again would only cost time.
        frame = store.query(entity.name, signature, streams, start, end, fetch=fetch_window,
                            schema=schema, mode=mode, dtypes=pandas_dtypes(entity),
                            order_by=entity.order_by, max_workers=self.max_workers,
                            horizon=self.cache_horizon, now=self.now(), max_age=limit)
        if listing_fetched:
            # The listing only chose the streams (its age is not the rows'), but it was a request.
            frame.attrs["cache"] = {**frame.attrs["cache"], "from_cache": False}
        return frame

    @staticmethod
    def _prefetch(entity: Entity, fetch: Fetch,
                  windows: list[tuple[str, pd.Timestamp, pd.Timestamp]],
                  ) -> dict[tuple[str, int, int], pd.DataFrame]:
        """Fetch ``(stream, start, end)`` windows with one query per window for all its streams.

        The cache asks per stream; detections can name many streams in one request, so
        streams needing the same window are fetched together and split afterwards.
        """
        if entity is not DETECTION:
            return {}
        by_window: dict[tuple[int, int], list[str]] = {}
        for stream, w_start, w_end in windows:
            key = (timeutil.to_ns(w_start), timeutil.to_ns(w_end))
            by_window.setdefault(key, []).append(stream)
        ready: dict[tuple[str, int, int], pd.DataFrame] = {}
        for (lo, hi), group in by_window.items():
            if len(group) < 2:
                continue
            frame = fetch(group, timeutil.from_ns(lo), timeutil.from_ns(hi))
            ids = frame["stream_id"].astype(str)
            for stream in group:
                ready[(stream, lo, hi)] = frame[(ids == stream).to_numpy()].reset_index(drop=True)
        return ready

    @staticmethod
    def _effective_confidence(params: Mapping[str, Any]) -> float:
        value = params.get("min_confidence")
        return float(value) if value is not None else DEFAULT_MIN_CONFIDENCE
