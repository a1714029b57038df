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

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from .. import ids, paginate
from ..exceptions import ForbiddenError, NotCachedError, NotFoundError, UnknownIdError
from ..schemas import PROJECT, STREAM
from . import listings
from .context import Context

#: ``(kind, path of one item)`` of each checked id kind.
PATHS: dict[str, str] = {"stream": "/streams/", "project": "/projects/",
                         "classifier": "/classifiers/", "classification": "/classifications/"}


def check_listed(ctx: Context, kind: str, values: Sequence[str] | None, argument: str,
                 mode: str) -> None:
    """Raise :class:`UnknownIdError` for stream/project ids that are not readable.

    Parameters
    ----------
    ctx
        The client's shared state (its ``known_ids`` remember what was found).
    kind
        ``"stream"`` or ``"project"``.
    values
        The ids named by the query.
    argument
        The argument's name, for the message.
    mode
        The query's cache mode.
    """
    known = ctx.known_ids.setdefault(kind, set())
    todo = [v for v in values or () if v not in known]
    if not todo:
        return
    by_id = _listing(ctx, kind, todo, mode)
    if by_id is None:
        return  # offline without a listing: the cache answers only for what it holds
    known.update(v for v in todo if v in by_id)
    missing = [v for v in todo if v not in by_id]
    names = {v: hits for v in missing if (hits := ids.name_matches(by_id, v))}
    candidates = [v for v in missing if v not in names and ids.is_platform_id(v)]
    if mode == "offline":
        # Not in the cached listing and no request allowed: left to the cache.
        missing = [v for v in missing if v not in candidates]
    else:
        found = lookup(ctx, kind, candidates)
        known.update(found)
        missing = [v for v in missing if v not in found]
    unknown = [v for v in missing if v not in names]
    if unknown or names:
        raise UnknownIdError(ids.unknown_message(kind, argument, unknown, names),
                             argument=argument, unknown=list(unknown), names=names)


def _listing(ctx: Context, kind: str, todo: list[str], mode: str) -> dict[str, str] | None:
    """``id -> name`` of your streams or projects: cached however old, else fetched.

    A cached listing missing one of ``todo`` costs one fresh listing (a stream created
    since), never a failure by itself. With the cache off the folder is not touched.
    """
    entity = STREAM if kind == "stream" else PROJECT
    fetch_mode: str | bool = False if mode == "off" else "refresh"
    fresh = mode in ("refresh", "off")
    try:
        listed = listings.own_listing(ctx, entity, fetch_mode if fresh else "offline")[0]
    except NotCachedError:
        if mode == "offline":
            return None
        listed, fresh = listings.own_listing(ctx, entity, fetch_mode)[0], True
    by_id = _names(listed)
    if not fresh and mode != "offline" and any(v not in by_id for v in todo):
        by_id = _names(listings.own_listing(ctx, entity, fetch_mode)[0])
    return by_id


def check_present(ctx: Context, kind: str, values: Sequence[Any] | None, present: pd.Series,
                  argument: str, mode: str) -> None:
    """Raise :class:`UnknownIdError` for filter values without rows that do not exist.

    Parameters
    ----------
    ctx
        The client's shared state.
    kind
        ``"classifier"`` or ``"classification"``.
    values
        The values the query filtered by.
    present
        The result's column of that kind: a value with rows exists.
    argument, mode
        As for :func:`check_listed`.
    """
    if not values:
        return
    known = ctx.known_ids.setdefault(kind, set())
    seen = {str(v) for v in pd.unique(present.dropna().astype(object))}
    known.update(str(v) for v in values if str(v) in seen)
    absent = [v for v in values if str(v) not in known]
    if not absent or mode == "offline":
        return
    found = lookup(ctx, kind, [str(v) for v in absent])
    known.update(found)
    unknown = [v for v in absent if str(v) not in found]
    if unknown:
        raise UnknownIdError(ids.unknown_message(kind, argument, unknown),
                             argument=argument, unknown=list(unknown))


def lookup(ctx: Context, kind: str, values: Sequence[str]) -> set[str]:
    """The values among ``values`` that ``GET {path}{value}`` finds readable.

    Parameters
    ----------
    ctx
        The client's shared state.
    kind
        A key of :data:`PATHS`.
    values
        Ids or classification values.

    Returns
    -------
    set of str
    """

    def exists(value: str, stop: Any) -> bool:
        url = f"{ctx.api_url}{PATHS[kind]}{ids.path_part(value)}"
        try:
            ctx.session.request("GET", url, parse=lambda r: None)
        except (NotFoundError, ForbiddenError):
            return False
        return True

    answers = paginate.run_parallel(exists, list(values), max_workers=ctx.max_workers)
    return {v for v, ok in zip(values, answers, strict=True) if ok}


def _names(listed: pa.Table) -> dict[str, str]:
    """``id -> name`` of a stream or project listing."""
    return dict(zip(listed.column("id").to_pylist(), listed.column("name").to_pylist(),
                    strict=True))
