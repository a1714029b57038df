"""Time-ranged frames: ``segments_df``, ``detections_df``, ``annotations_df``.

Every one returns every matching row, as a typed frame of the entity's declared schema
(:mod:`rfcx_frames.schemas`), or raises; it never returns a silently short result. Rows
are those whose ``start`` lies in ``[start, end)``; both times are required. Each frame
carries its query in ``df.attrs["query"]``: endpoint, parameters (never a token), time
window, fetch time and API URL.

One path serves every query: ids are checked (:mod:`.idcheck`), rows come from the cache
(:mod:`.cached`) or straight from :func:`.pieces.fetcher` as Arrow, and are converted to
pandas once (:func:`rfcx_frames.convert.frame_from_table`).

Examples
--------
>>> df = detections_df(client, "2024-03-01", "2024-03-08")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import convert, frames, timeutil, validate
from ..schemas import ANNOTATION, DETECTION, SEGMENT, STREAM, Entity
from ..timeutil import TimeLike
from . import cached, idcheck, listings
from .context import Context
from .pieces import fetcher
from .timezones import stream_timezones


def time_ranged(ctx: Context, entity: Entity, streams: list[str] | None, start: pd.Timestamp,
                end: pd.Timestamp, params: dict[str, Any], *, progress: bool | None,
                descending: bool = False, local_time: bool = False, cache: Any = None,
                max_age: Any = None, stream_argument: str = "streams") -> pd.DataFrame:
    """Every row of a time-ranged entity: checked ids, cache or fetch, one conversion.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        ``SEGMENT``, ``DETECTION`` or ``ANNOTATION``.
    streams
        Stream ids, or ``None`` for every stream you can read.
    start, end
        The window, UTC.
    params
        The entity's query parameters (``None`` values are not sent).
    progress, descending, local_time, cache, max_age
        As for :func:`detections_df`.
    stream_argument
        The user's name of the stream argument, for error messages.

    Returns
    -------
    pandas.DataFrame
    """
    fetch = fetcher(ctx, entity, params, progress=ctx.show_progress(progress))
    mode = ctx.cache_mode(cache)
    if max_age is not None:
        ctx.max_age(entity, max_age)  # bad values raise whatever the cache mode
    # Unknown ids fail before any data request; the platform would drop them silently.
    if streams is not None:
        idcheck.check_listed(ctx, "stream", streams, stream_argument, mode)
    idcheck.check_listed(ctx, "project", params.get("projects[]"), "projects", mode)
    if mode == "off" or not entity.cacheable(params):
        frame = convert.entity_frame(entity, fetch(streams, start, end))
    else:
        frame = _from_cache(ctx, entity, fetch, streams, start, end, params, mode, max_age)
    provenance = frame.attrs.pop("cache", None)
    _check_filters(ctx, frame, params, mode)
    if descending:
        frame = frame.iloc[::-1].reset_index(drop=True)
    if local_time:
        asked: list[bool] = []
        zones = stream_timezones(ctx, list(frame["stream_id"].astype(str).unique()), mode, asked)
        frame = frames.add_local_time(frame, zones)
        if provenance is not None and any(asked):
            provenance = {**provenance, "from_cache": False}
    shown = dict(params)
    if streams is not None:
        shown["streams"] = list(streams)
    return ctx.attach_query(frame, entity.endpoint, shown, start, end, provenance)


def _from_cache(ctx: Context, entity: Entity, fetch: Any, streams: list[str] | None,
                start: pd.Timestamp, end: pd.Timestamp, params: dict[str, Any], mode: str,
                max_age: Any) -> pd.DataFrame:
    listing_fetched = False
    if streams is None:
        # Without a stream filter the platform answers for every stream you can read.
        # Offline reads the cached listing however old; refresh lists streams anew too.
        listed, from_cache = listings.own_listing(
            ctx, STREAM, mode if mode in ("offline", "refresh") else None)
        streams = [str(s) for s in listed.column("id").to_pylist()]
        listing_fetched = not from_cache
    frame = cached.ranged(ctx, entity, fetch, streams, start, end, params, mode, max_age)
    if listing_fetched:
        # The listing only chose the streams (its age is not the rows'), but it was a request.
        frame.attrs["cache"] = {**frame.attrs["cache"], "from_cache": False}
    return frame


def _check_filters(ctx: Context, frame: pd.DataFrame, params: dict[str, Any], mode: str) -> None:
    # A value with rows exists; only values without rows cost a lookup.
    if "classification_value" in frame.columns:
        idcheck.check_present(ctx, "classification", params.get("classifications[]"),
                              frame["classification_value"], "classifications", mode)
    if "classifier_id" in frame.columns:
        idcheck.check_present(ctx, "classifier", params.get("classifiers[]"),
                              frame["classifier_id"], "classifiers", mode)


def segments_df(ctx: Context, stream: Any, start: TimeLike, end: TimeLike, *,
                progress: bool | None = None, cache: Any = None,
                max_age: Any = None) -> pd.DataFrame:
    """Every audio segment of one or more streams with ``start`` in ``[start, end)``.

    Parameters
    ----------
    stream
        A stream id (or stream dict), or an iterable of them.
    start, end
        The window; required. Naive times are UTC.
    progress
        Show a progress bar for long queries (default: the client's setting).
    cache
        ``"use"`` (default: answer from the local Parquet cache, fetch only what it
        lacks), ``"refresh"`` (fetch again and replace), ``"offline"`` (no request;
        :class:`~rfcx_frames.exceptions.NotCachedError` if the cache cannot answer) or
        ``False`` (bypass). Default: the client's ``cache``.
    max_age
        Cached windows fetched longer ago than this are fetched again (``"12h"``,
        ``"7d"``, a ``Timedelta``, or ``"never"``). Default: never for segments, the
        client's ``cache_max_age`` for detections and annotations. Offline ignores it.

    Returns
    -------
    pandas.DataFrame
        Columns ``id, stream_id, start, end, file_extension``.

    Raises
    ------
    rfcx_frames.exceptions.UnknownIdError
        A stream that does not exist or that you cannot read, or a stream *name*
        (the message gives its id); see :mod:`rfcx_frames.api.idcheck`.
    ValueError
        A time not in an accepted form (``docs/time.md``), or ``start`` after ``end``.

    Examples
    --------
    >>> df = client.segments_df("abc123abc123", "2024-03-01", "2024-03-02")  # doctest: +SKIP
    """
    streams = validate.as_str_list(stream, "stream")
    if streams is None:
        raise TypeError("stream is required (a stream id or an iterable of ids)")
    begin, finish = timeutil.window(start, end)
    return time_ranged(ctx, SEGMENT, streams, begin, finish, {}, progress=progress,
                       cache=cache, max_age=max_age, stream_argument="stream")


def detections_df(ctx: Context, start: TimeLike, end: TimeLike, classifications: Any = None,
                  classifiers: Any = None, streams: Any = None,
                  min_confidence: float | None = None, *, review_statuses: Any = None,
                  projects: Any = None, descending: bool = False, local_time: bool = False,
                  progress: bool | None = None, cache: Any = None,
                  max_age: Any = None) -> pd.DataFrame:
    """Every detection with ``start`` in ``[start, end)`` matching the filters.

    Parameters
    ----------
    start, end
        The window; required. Naive times are UTC.
    classifications
        Classification value(s), e.g. ``"sciurus_carolinensis"``.
    classifiers
        Classifier id(s).
    streams
        Stream id(s); ``None`` = every stream you can read (public streams of other
        users only when named here).
    min_confidence
        Keep ``confidence >= min_confidence``; ``None`` = the platform's default 0.95.
    review_statuses
        Any of ``unreviewed, rejected, uncertain, confirmed``.
    projects
        Project id(s).
    descending
        Newest first.
    local_time
        Add ``start_local``: naive wall-clock start in each stream's timezone.
    progress, cache, max_age
        As in :meth:`~rfcx_frames.Client.segments_df`.

    Returns
    -------
    pandas.DataFrame
        ``id, stream_id, classifier_id, classification_id, classifier_job_id, start,
        end, confidence, review_status, classification_value, classification_title,
        classification_image`` (+ ``start_local``), ordered by start, stream,
        classification, classifier, id.

    Raises
    ------
    rfcx_frames.exceptions.UnknownIdError
        Unknown or unreadable ``streams``, ``projects``, ``classifiers`` or
        ``classifications`` (every one of the argument is named); a stream name.
    ValueError
        A time not in an accepted form (``docs/time.md``), or ``start`` after ``end``.

    Examples
    --------
    >>> df = client.detections_df("2024-03-01", "2024-03-08", min_confidence=0.5)  # doctest: +SKIP
    """
    begin, finish = timeutil.window(start, end)
    params: dict[str, Any] = {
        "classifications[]": validate.as_str_list(classifications, "classifications"),
        "classifiers[]": validate.as_int_list(classifiers, "classifiers"),
        "projects[]": validate.as_str_list(projects, "projects"),
        "review_statuses[]": validate.review_statuses(review_statuses),
        "min_confidence": validate.check_confidence(min_confidence),
        "fields[]": list(DETECTION.fields),
    }
    return time_ranged(ctx, DETECTION, validate.as_str_list(streams, "streams"), begin, finish,
                       params, progress=progress,
                       descending=validate.check_bool(descending, "descending"),
                       local_time=validate.check_bool(local_time, "local_time"), cache=cache,
                       max_age=max_age)


def annotations_df(ctx: Context, start: TimeLike, end: TimeLike, classifications: Any = None,
                   streams: Any = None, *, descending: bool = False, local_time: bool = False,
                   progress: bool | None = None, cache: Any = None,
                   max_age: Any = None) -> pd.DataFrame:
    """Every annotation with ``start`` in ``[start, end)`` matching the filters.

    Parameters
    ----------
    start, end
        The window; required. Naive times are UTC.
    classifications
        Classification value(s).
    streams
        Stream id(s); ``None`` = every stream you can read.
    descending, local_time, progress, cache, max_age
        As in :meth:`~rfcx_frames.Client.detections_df`.

    Returns
    -------
    pandas.DataFrame
        ``id, stream_id, start, end, frequency_min, frequency_max,
        classification_value, classification_title, classification_image``.

    Raises
    ------
    rfcx_frames.exceptions.UnknownIdError
        Unknown or unreadable ``streams`` or ``classifications``; a stream name.

    Examples
    --------
    >>> df = client.annotations_df("2024-03-01", "2024-04-01")  # doctest: +SKIP
    """
    begin, finish = timeutil.window(start, end)
    params = {"classifications[]": validate.as_str_list(classifications, "classifications")}
    return time_ranged(ctx, ANNOTATION, validate.as_str_list(streams, "streams"), begin, finish,
                       params, progress=progress,
                       descending=validate.check_bool(descending, "descending"),
                       local_time=validate.check_bool(local_time, "local_time"), cache=cache,
                       max_age=max_age)
