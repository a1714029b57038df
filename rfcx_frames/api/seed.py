"""The official client's list methods: one page of plain dicts, as ``rfcx`` 0.3.1 returns.

They keep the official client's names, arguments, defaults and return values, but raise
typed exceptions (:mod:`rfcx_frames.exceptions`) instead of returning ``None``, and fix
its known bugs (contract §7): ``stream()`` works, ``min_confidence=0`` is sent,
``include_public``/``include_deleted`` add to your own streams, naive times are UTC and
``limit`` outside 1..1000 raises ``ValueError``. ``stream_segments``, ``detections`` and
``annotations`` default to the last 30 days when no dates are given.

Examples
--------
>>> projects(client, keyword="bird")  # doctest: +SKIP
"""


from collections.abc import Sequence
from typing import Any

import pandas as pd

from .. import config, ids, timeutil, validate
from ..timeutil import TimeLike
from .context import Context
from .listings import project_params, stream_queries


def _seed_window(ctx: Context, start: TimeLike | None, end: TimeLike | None,
                 names: tuple[str, str] = ("start", "end")) -> tuple[str, str]:
    now = ctx.now()
    begin = (timeutil.to_utc(start, names[0]) if start is not None
             else now - pd.Timedelta(days=config.SEED_DEFAULT_WINDOW_DAYS))
    finish = timeutil.to_utc(end, names[1]) if end is not None else now
    if begin > finish:
        raise ValueError(f"{names[0]} ({timeutil.to_wire(begin)}) is after "
                         f"{names[1]} ({timeutil.to_wire(finish)})")
    return timeutil.to_wire(begin), timeutil.to_wire(finish)

# -- seed-parity methods -------------------------------------------------------------

def projects(ctx: Context, keyword: str | None = None, created_by: str | None = None,
             only_public: bool | None = None, only_deleted: bool | None = None,
             fields: Sequence[str] | None = None, limit: int = 1000,
             offset: int = 0) -> list[dict[str, Any]]:
    """One page of projects (``id, name, is_public, external_id`` by default).

    Parameters
    ----------
    keyword, created_by, only_public, only_deleted
        Filters as the platform takes them (see :func:`rfcx_frames.api.listings.projects_df`).
    fields
        Item fields to return instead of the default ones.
    limit, offset
        The page: ``limit`` in 1..1000, ``offset`` >= 0.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> client.projects(keyword="bird")  # doctest: +SKIP
    [{'id': '...', 'name': 'Bird survey', 'is_public': False, 'external_id': None}]
    """
    params = project_params(keyword, created_by, only_public, only_deleted)
    params.update(limit=validate.check_limit(limit), offset=validate.check_offset(offset))
    if fields is not None:
        params["fields[]"] = validate.as_str_list(fields, "fields")
    result: list[dict[str, Any]] = ctx.get_json("/projects", params)
    return result

def streams(ctx: Context, organizations: Any = None, projects: Any = None,
            created_by: str | None = None, name: str | None = None,
            keyword: str | None = None, include_public: bool = False,
            include_deleted: bool = False, fields: Sequence[str] | None = None,
            limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
    """One page of streams; ``include_public``/``include_deleted`` add to your own.

    ``limit`` and ``offset`` apply to each underlying query.

    Parameters
    ----------
    organizations, projects, created_by, name, keyword
        Filters as the platform takes them.
    include_public, include_deleted
        Add other users' public streams / your deleted streams (one more query each).
    fields
        Item fields to return instead of the default ones.
    limit, offset
        The page of each query.

    Returns
    -------
    list of dict
        Each stream once.

    Examples
    --------
    >>> client.streams(include_public=True)  # doctest: +SKIP
    """
    queries = stream_queries(organizations, projects, created_by, name, keyword,
                             validate.check_bool(include_public, "include_public"),
                             validate.check_bool(include_deleted, "include_deleted"))
    extra: dict[str, Any] = {"limit": validate.check_limit(limit),
                             "offset": validate.check_offset(offset)}
    if fields is not None:
        extra["fields[]"] = validate.as_str_list(fields, "fields")
    out: list[dict[str, Any]] = []
    seen: set[Any] = set()
    for query in queries:
        for item in ctx.get_json("/streams", {**query, **extra}):
            key = item.get("id", id(item))
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out

def stream(ctx: Context, stream_id: str | None = None,
           fields: Sequence[str] | None = None) -> dict[str, Any]:
    """One stream's information.

    Parameters
    ----------
    stream_id
        The stream's id.
    fields
        Item fields to return instead of the default ones.

    Returns
    -------
    dict

    Raises
    ------
    NotFoundError, ForbiddenError
        Unknown or unreadable stream.

    Examples
    --------
    >>> client.stream("abc123abc123")["timezone"]  # doctest: +SKIP
    'America/Sao_Paulo'
    """
    if not stream_id or not isinstance(stream_id, str):
        raise TypeError("stream_id is required (a stream id string)")
    params = {"fields[]": validate.as_str_list(fields, "fields")} if fields else None
    result: dict[str, Any] = ctx.get_json(f"/streams/{ids.path_id(stream_id, 'stream_id')}",
                                       params)
    return result

def stream_segments(ctx: Context, stream: str, start: TimeLike | None = None,
                    end: TimeLike | None = None, limit: int = 50,
                    offset: int = 0) -> list[dict[str, Any]]:
    """One page of a stream's segments (default window: the last 30 days).

    Parameters
    ----------
    stream
        Stream id.
    start, end
        The window (default: the 30 days before the client's clock); naive = UTC.
    limit, offset
        The page.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> client.stream_segments("abc123abc123", "2024-03-01", "2024-03-02")  # doctest: +SKIP
    """
    if not stream or not isinstance(stream, str):
        raise TypeError("stream is required (a stream id string)")
    begin, finish = _seed_window(ctx, start, end)
    params = {"start": begin, "end": finish, "limit": validate.check_limit(limit),
              "offset": validate.check_offset(offset)}
    result: list[dict[str, Any]] = ctx.get_json(
        f"/streams/{ids.path_id(stream, 'stream')}/segments", params)
    return result

def detections(ctx: Context, min_date: TimeLike | None = None, max_date: TimeLike | None = None,
               classifications: Any = None, classifiers: Any = None, streams: Any = None,
               min_confidence: float | None = None, limit: int = 50,
               offset: int = 0) -> list[dict[str, Any]]:
    """One page of detections (default window: the last 30 days).

    Parameters
    ----------
    min_date, max_date
        The window (default: the 30 days before the client's clock); naive = UTC.
    classifications, classifiers, streams
        Filters: classification values, classifier ids, stream ids.
    min_confidence
        ``None`` leaves the platform's default (0.95); ``0`` is sent.
    limit, offset
        The page.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> client.detections("2024-03-01", "2024-03-02", min_confidence=0)  # doctest: +SKIP
    """
    begin, finish = _seed_window(ctx, min_date, max_date, ("min_date", "max_date"))
    params: dict[str, Any] = {
        "start": begin, "end": finish, "limit": validate.check_limit(limit),
        "offset": validate.check_offset(offset),
        "classifications[]": validate.as_str_list(classifications, "classifications"),
        "classifiers[]": validate.as_int_list(classifiers, "classifiers"),
        "streams[]": validate.as_str_list(streams, "streams"),
        "min_confidence": validate.check_confidence(min_confidence),
    }
    result: list[dict[str, Any]] = ctx.get_json(
        "/detections", {k: v for k, v in params.items() if v is not None})
    return result

def annotations(ctx: Context, start: TimeLike | None = None, end: TimeLike | None = None,
                classifications: Any = None, stream: str | None = None, limit: int = 50,
                offset: int = 0) -> list[dict[str, Any]]:
    """One page of annotations (default window: the last 30 days).

    Parameters
    ----------
    start, end
        The window (default: the 30 days before the client's clock); naive = UTC.
    classifications
        Classification values.
    stream
        One stream id.
    limit, offset
        The page.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> client.annotations("2024-03-01", "2024-04-01", stream="abc123abc123")  # doctest: +SKIP
    """
    begin, finish = _seed_window(ctx, start, end)
    params: dict[str, Any] = {
        "start": begin, "end": finish, "limit": validate.check_limit(limit),
        "offset": validate.check_offset(offset),
        "classifications[]": validate.as_str_list(classifications, "classifications"),
        "stream_id": stream or None,
    }
    result: list[dict[str, Any]] = ctx.get_json(
        "/annotations", {k: v for k, v in params.items() if v is not None})
    return result

def classifications(ctx: Context, keyword: str | None, levels: Any = None, limit: int = 1000,
                    offset: int = 0) -> list[dict[str, Any]]:
    """One page of classifications matching ``keyword`` (``None``: no keyword filter).

    Parameters
    ----------
    keyword
        Text matched against titles and alternative names.
    levels
        Classification type(s): ``species``, ``genus`` ...
    limit, offset
        The page.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> client.classifications("squirrel", levels=["species"])  # doctest: +SKIP
    """
    params: dict[str, Any] = {"limit": validate.check_limit(limit),
                              "offset": validate.check_offset(offset)}
    if keyword is not None:
        params["keyword"] = keyword
    level_list = validate.as_str_list(levels, "levels")
    if level_list:
        params["levels[]"] = level_list
    result: list[dict[str, Any]] = ctx.get_json("/classifications", params)
    return result

