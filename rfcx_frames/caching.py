"""How the DataFrame methods use the Parquet cache (:mod:`rfcx_frames.cache`).

Time-ranged frames go through :class:`~rfcx_frames.cache.TimeRangedCache` (windows per stream,
with the filters in a signature), small listings through
:class:`~rfcx_frames.cache.WholeResultCache`. The signature names the user by a hash of the
token's email or subject, never by the token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from . import auth, timeutil
from . import cache as cache_mod
from .frames import finalize
from .schemas import DETECTION, Entity, arrow_schema, pandas_dtypes

#: The platform's ``min_confidence`` when none is sent (part of the cache's filter signature).
DEFAULT_MIN_CONFIDENCE = 0.95

#: ``fetch(stream_ids or None, start, end) -> DataFrame`` of one entity and filter set.
Fetch = Callable[[list[str] | None, pd.Timestamp, pd.Timestamp], pd.DataFrame]


class CacheMethods:
    """Mixin of the cache plumbing; :class:`~rfcx_frames.Client` provides the attributes."""

    api_url: str
    max_workers: int
    cache_dir: Any
    cache_default: Any
    cache_horizon: pd.Timedelta
    now: Callable[[], pd.Timestamp]
    _identity_token: Callable[[], str]
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
               fetch: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        mode = self._cache_mode(cache)
        if mode == "off":
            return fetch()
        frame = cache_mod.WholeResultCache(self.cache_root).get(
            entity.name, {k: v for k, v in params.items() if v is not None}, self.api_url,
            self.identity(), fetch, arrow_schema(entity), mode=mode,
            dtypes=pandas_dtypes(entity), now=self.now())
        return finalize(entity, frame)

    def _cached(self, entity: Entity, fetch: Fetch, streams: list[str] | None,
                start: pd.Timestamp, end: pd.Timestamp, params: Mapping[str, Any],
                mode: str) -> pd.DataFrame:
        if streams is None:
            # Without a stream filter the platform answers for every stream you can read.
            # Offline reads the cached listing however old; refresh lists streams anew too.
            listed = self.streams_df(progress=False,
                                     cache=mode if mode in ("offline", "refresh") else None)
            streams = [str(s) for s in listed["id"]]
        signature = cache_mod.FilterSignature.build(
            entity.name, self.api_url, self.identity(),
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
            windows = store.missing_windows(entity.name, signature, streams, start, end, schema)
            ready = self._prefetch(entity, fetch, windows)

        def fetch_window(stream: str, a: pd.Timestamp, b: pd.Timestamp) -> pd.DataFrame:
            window = (stream, timeutil.to_ns(a), timeutil.to_ns(b))
            return ready.pop(window) if window in ready else fetch([stream], a, b)

        # Already in the entity's order and free of repeats: windows are disjoint and
        # each fetch was finalized, so finalize() again would only cost time.
        return store.query(entity.name, signature, streams, start, end, fetch=fetch_window,
                           schema=schema, mode=mode, dtypes=pandas_dtypes(entity),
                           order_by=entity.order_by, max_workers=self.max_workers,
                           horizon=self.cache_horizon, now=self.now())

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
