"""Checking the ids a query names, so an unknown one is an error and never an empty frame.

The platform silently drops stream and project ids the caller cannot read from a
detections or annotations query (contract §4.5), so a typo looks like "no data". Each
``*_df`` therefore checks its ids:

- **streams and projects, before the query**, against your listing (``streams_df()`` /
  ``projects_df()``): read from the local cache however old (no request), else fetched
  and cached (one request); with the cache off, fetched once per client. An id missing from a cached listing
  fetches it anew once (one request); an id not in the fresh listing either (another
  user's public stream) is looked up by ``GET /streams/{id}`` (``/projects/{id}``); a
  value that is a *name* in your listing is reported with its id.
- **classifiers and classification values, after the query**: a value with rows in the
  result exists; only one without rows is looked up (``GET /classifiers/{id}``,
  ``GET /classifications/{value}``).

Ids found are remembered for the client's lifetime. With ``cache="offline"`` only what is
cached or remembered is checked (an id the cache holds no data for fails anyway with
:class:`~rfcx_frames.exceptions.NotCachedError`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from . import ids, paginate
from .exceptions import ForbiddenError, NotCachedError, NotFoundError, UnknownIdError
from .session import Session

#: ``(kind, path of one item)`` of each checked id kind.
PATHS: dict[str, str] = {"stream": "/streams/", "project": "/projects/",
                         "classifier": "/classifiers/", "classification": "/classifications/"}


class IdCheckMethods:
    """Mixin of the id checks; :class:`~rfcx_frames.Client` provides the attributes."""

    session: Session
    api_url: str
    max_workers: int
    _known_ids: dict[str, set[str]]
    streams_df: Callable[..., pd.DataFrame]
    projects_df: Callable[..., pd.DataFrame]

    def _check_listed(self, kind: str, values: Sequence[str] | None, argument: str,
                      mode: str) -> None:
        """Raise :class:`UnknownIdError` for stream/project ids that are not readable."""
        known = self._known_ids.setdefault(kind, set())
        todo = [v for v in values or () if v not in known]
        if not todo:
            return
        lister = self.streams_df if kind == "stream" else self.projects_df
        # A cached listing answers however old it is: an id missing from it costs one
        # fresh listing (a stream created since), never a failure by itself. With the
        # cache off the cache folder is not touched at all.
        fetch_mode: str | bool = False if mode == "off" else "refresh"
        fresh = mode in ("refresh", "off")
        try:
            listed = lister(progress=False, cache=fetch_mode if fresh else "offline")
        except NotCachedError:
            if mode == "offline":
                return  # offline without a listing: the cache answers only for what it holds
            listed, fresh = lister(progress=False, cache=fetch_mode), True
        by_id = _names(listed)
        if not fresh and mode != "offline" and any(v not in by_id for v in todo):
            by_id = _names(lister(progress=False, cache=fetch_mode))
        known.update(v for v in todo if v in by_id)
        missing = [v for v in todo if v not in by_id]
        names = {v: hits for v in missing if (hits := ids.name_matches(by_id, v))}
        candidates = [v for v in missing if v not in names and ids.is_platform_id(v)]
        if mode == "offline":
            # Not in the cached listing and no request allowed: left to the cache.
            missing = [v for v in missing if v not in candidates]
        else:
            found = self._lookup(kind, candidates)
            known.update(found)
            missing = [v for v in missing if v not in found]
        unknown = [v for v in missing if v not in names]
        if unknown or names:
            raise UnknownIdError(ids.unknown_message(kind, argument, unknown, names),
                                 argument=argument, unknown=list(unknown), names=names)

    def _check_present(self, kind: str, values: Sequence[Any] | None, present: pd.Series,
                       argument: str, mode: str) -> None:
        """Raise :class:`UnknownIdError` for filter values without rows that do not exist."""
        if not values:
            return
        known = self._known_ids.setdefault(kind, set())
        seen = {str(v) for v in pd.unique(present.dropna().astype(object))}
        known.update(str(v) for v in values if str(v) in seen)
        absent = [v for v in values if str(v) not in known]
        if not absent or mode == "offline":
            return
        found = self._lookup(kind, [str(v) for v in absent])
        known.update(found)
        unknown = [v for v in absent if str(v) not in found]
        if unknown:
            raise UnknownIdError(ids.unknown_message(kind, argument, unknown),
                                 argument=argument, unknown=list(unknown))

    def _lookup(self, kind: str, values: Sequence[str]) -> set[str]:
        """The values among ``values`` that ``GET {path}{value}`` finds readable."""

        def exists(value: str, stop: Any) -> bool:
            url = f"{self.api_url}{PATHS[kind]}{ids.path_part(value)}"
            try:
                self.session.request("GET", url, parse=lambda r: None)
            except (NotFoundError, ForbiddenError):
                return False
            return True

        answers = paginate.run_parallel(exists, list(values), max_workers=self.max_workers)
        return {v for v, ok in zip(values, answers, strict=True) if ok}


def _names(listed: pd.DataFrame) -> dict[str, str]:
    """``id -> name`` of a stream or project listing."""
    return dict(zip(listed["id"].astype(str), listed["name"].astype(object), strict=True))
