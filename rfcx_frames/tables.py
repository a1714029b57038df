"""The DataFrame methods of :class:`~rfcx_frames.Client` (``detections_df`` and friends).

Every ``*_df`` returns every matching row, as a typed frame of the entity's declared
schema (:mod:`rfcx_frames.schemas`), or raises; it never returns a silently short result.
Time-ranged queries (segments, detections, annotations) select rows whose ``start`` lies
in ``[start, end)``, require both times, and are split by stream and time window into
pieces fetched concurrently (:mod:`rfcx_frames.paginate`). Each of them is built from a
pure ``fetch(stream_ids | None, start, end) -> DataFrame`` (see :meth:`TableMethods.fetcher`)
so a cache can wrap it.

Each frame carries its query in ``df.attrs["query"]``: endpoint, parameters (never a
token), time window, fetch time and API URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import requests

from . import config, ids, paginate, timeutil, validate
from .caching import CacheMethods, Fetch
from .exceptions import NotCachedError, RFCxError
from .frames import add_local_time, finalize, parse_page, to_frame, with_constant
from .idcheck import IdCheckMethods
from .paginate import Piece, Progress
from .schemas import (
    ANNOTATION,
    CLASSIFICATION,
    DETECTION,
    PROJECT,
    SEGMENT,
    STREAM,
    Entity,
)
from .session import Session
from .timeutil import TimeLike

if TYPE_CHECKING:
    from .client import Client


class TableMethods(CacheMethods, IdCheckMethods):
    """Mixin of the DataFrame methods; :class:`~rfcx_frames.Client` provides the attributes."""

    session: Session
    api_url: str
    max_workers: int
    progress: bool
    _timezones: dict[str, str | None]
    # -- plumbing ------------------------------------------------------------------------
    def _show_progress(self, progress: bool | None) -> bool:
        return self.progress if progress is None else validate.check_bool(progress, "progress")

    def _page(
        self, entity: Entity, url: str, params: Mapping[str, Any], bar: Progress,
        constant: tuple[str, str] | None = None,
    ) -> tuple[pa.StructArray, int | None]:
        def parse(response: requests.Response) -> tuple[pa.StructArray, int | None]:
            chunk = parse_page(entity, response.content)
            total = paginate.parse_total(response.headers.get("Total-Items"))
            return chunk, total

        chunk, total = self.session.request("GET", url, params=dict(params), parse=parse)
        bar.page(len(chunk))
        if constant is not None:
            chunk = with_constant(chunk, *constant)
        return chunk, total

    def _all_pages(
        self, entity: Entity, url: str, params: Mapping[str, Any], bar: Progress,
        *, stop_on_empty: bool = False, constant: tuple[str, str] | None = None,
        stop: Any = None,
    ) -> list[pa.StructArray]:
        def fetch(offset: int, limit: int) -> tuple[pa.StructArray, int | None]:
            return self._page(entity, url, {**params, "limit": limit, "offset": offset}, bar,
                              constant)

        return list(paginate.iter_pages(fetch, stop_on_empty=stop_on_empty, stop=stop))

    def _attach_query(self, frame: pd.DataFrame, endpoint: str, params: Mapping[str, Any],
                      start: pd.Timestamp | None = None,
                      end: pd.Timestamp | None = None,
                      provenance: Mapping[str, Any] | None = None) -> pd.DataFrame:
        # How old the rows are: set by the cache (attrs["cache"]), else fetched just now.
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

    # -- time-ranged fetches -----------------------------------------------------------------
    def fetcher(
        self, entity: Entity, params: Mapping[str, Any], *, progress: bool = True,
    ) -> Fetch:
        """The pure fetch of one entity and filter set: ``fetch(stream_ids, start, end)``.

        ``stream_ids=None`` asks for every stream the caller can read (not valid for
        segments); ``[]`` returns an empty frame without a request. The frame is de-duplicated
        and in the entity's stable order; rows have ``start`` in ``[start, end)``.

        Examples
        --------
        >>> from rfcx_frames.schemas import ANNOTATION
        >>> fetch = client.fetcher(ANNOTATION, {})  # doctest: +SKIP
        >>> fetch(["abc123abc123"], start, end)  # doctest: +SKIP
        """
        base = {k: v for k, v in params.items() if v is not None}

        def fetch(stream_ids: list[str] | None, start: pd.Timestamp,
                  end: pd.Timestamp) -> pd.DataFrame:
            if stream_ids is not None and not stream_ids:
                return finalize(entity, to_frame(entity, []))
            if stream_ids is None and entity is SEGMENT:
                raise ValueError("segments need a stream")
            with Progress(entity.name, enabled=progress) as bar:
                # [start, end) in whole milliseconds holds exactly the rows of [start, end).
                chunks = self._probe_then_split(entity, base, stream_ids,
                                                timeutil.ceil_epoch_ms(start),
                                                timeutil.ceil_epoch_ms(end), bar)
            frame = to_frame(entity, chunks)
            if len(frame):
                # Segment lists include a segment starting exactly at ``end``; keep [start, end).
                inside = (frame["start"] >= start) & (frame["start"] < end)
                if not bool(inside.all()):
                    frame = frame[inside.to_numpy()]
            return finalize(entity, frame)

        return fetch

    def _probe_then_split(
        self, entity: Entity, base: Mapping[str, Any], stream_ids: list[str] | None,
        start_ms: int, end_ms: int, bar: Progress,
    ) -> list[pa.StructArray]:
        """Fetch every row: one first page per stream, then split only what is dense.

        A stream whose first page is short is complete after one request. For a full one,
        the rest of the window, from the last start seen, is cut into time pieces fetched
        concurrently; rows at that start come twice and are dropped by ``finalize``.
        """
        limit = config.PAGE_LIMIT_MAX
        groups: list[str | tuple[str, ...] | None]
        if entity is DETECTION and stream_ids and len(stream_ids) > 1:
            groups = [tuple(stream_ids)]  # one probe for every stream
        else:
            groups = list(stream_ids) if stream_ids else [None]

        def first(group: str | tuple[str, ...] | None, stop: Any) -> pa.StructArray:
            url, query, constant = self._piece_request(entity, base,
                                                       Piece(group, start_ms, end_ms))
            chunk, _ = self._page(entity, url, {**query, "limit": limit, "offset": 0}, bar,
                                  constant)
            return chunk

        firsts = paginate.run_parallel(first, groups, max_workers=self.max_workers)
        chunks = list(firsts)
        full = [(g, c) for g, c in zip(groups, firsts, strict=True) if len(c) >= limit]
        pieces: list[Piece] = []
        for group, chunk in full:
            last = _last_start_ms(chunk)
            share = max(1, self.max_workers // len(full))
            pieces += paginate.plan_pieces([group] if group is not None else None, last,
                                           end_ms, max_workers=share)

        def run(piece: Piece, stop: Any) -> list[pa.StructArray]:
            def fetch(a: int, b: int, offset: int, count: int) -> pa.StructArray:
                url, query, constant = self._piece_request(entity, base,
                                                           Piece(piece.stream, a, b))
                chunk, _ = self._page(entity, url,
                                      {**query, "limit": count, "offset": offset}, bar,
                                      constant)
                return chunk

            return list(paginate.iter_keyset_pages(fetch, piece.start_ms, piece.end_ms,
                                                   last_start=_last_start_ms, stop=stop))

        for result in paginate.run_parallel(run, pieces, max_workers=self.max_workers):
            chunks += result
        return chunks

    def _piece_request(
        self, entity: Entity, base: Mapping[str, Any], piece: Piece
    ) -> tuple[str, dict[str, Any], tuple[str, str] | None]:
        query: dict[str, Any] = dict(base)
        query["start"] = timeutil.to_wire(timeutil.from_epoch_ms(piece.start_ms))
        query["end"] = timeutil.to_wire(timeutil.from_epoch_ms(piece.end_ms))
        if entity is SEGMENT:
            assert isinstance(piece.stream, str)
            url = f"{self.api_url}/streams/{ids.path_id(piece.stream, 'stream')}/segments"
            return url, query, ("stream_id", piece.stream)
        if isinstance(piece.stream, tuple):
            # Only detections take several streams in one request (``streams[]``).
            query["streams[]"] = list(piece.stream)
        elif piece.stream is not None:
            if entity is DETECTION:
                query["streams[]"] = [piece.stream]
            else:
                query["stream_id"] = piece.stream
        return f"{self.api_url}{entity.endpoint}", query, None

    def _time_ranged(
        self, entity: Entity, streams: list[str] | None, start: pd.Timestamp,
        end: pd.Timestamp, params: dict[str, Any], *, progress: bool | None,
        descending: bool = False, local_time: bool = False, cache: Any = None,
        max_age: Any = None, stream_argument: str = "streams",
    ) -> pd.DataFrame:
        fetch = self.fetcher(entity, params, progress=self._show_progress(progress))
        mode = self._cache_mode(cache)
        if max_age is not None:
            self._max_age(entity, max_age)  # bad values raise whatever the cache mode
        # Unknown ids fail before any data request; the platform would drop them silently.
        if streams is not None:
            self._check_listed("stream", streams, stream_argument, mode)
        self._check_listed("project", params.get("projects[]"), "projects", mode)
        # A project filter is resolved by the platform, not per stream: not cacheable by stream.
        if mode == "off" or params.get("projects[]") is not None:
            frame = fetch(streams, start, end)
        else:
            frame = self._cached(entity, fetch, streams, start, end, params, mode, max_age)
        provenance = frame.attrs.pop("cache", None)
        # A value with rows exists; only values without rows cost a lookup.
        if "classification_value" in frame.columns:
            self._check_present("classification", params.get("classifications[]"),
                                frame["classification_value"], "classifications", mode)
        if "classifier_id" in frame.columns:
            self._check_present("classifier", params.get("classifiers[]"),
                                frame["classifier_id"], "classifiers", mode)
        if descending:
            frame = frame.iloc[::-1].reset_index(drop=True)
        if local_time:
            asked: list[bool] = []
            frame = add_local_time(frame, self._stream_timezones(frame, mode, asked))
            if provenance is not None and any(asked):
                provenance = {**provenance, "from_cache": False}
        shown = dict(params)
        if streams is not None:
            shown["streams"] = list(streams)
        return self._attach_query(frame, entity.endpoint, shown, start, end, provenance)

    def _stream_timezones(self, frame: pd.DataFrame, mode: str = "use",
                          asked: list[bool] | None = None) -> dict[str, str | None]:
        """Timezones of the frame's streams; appends to ``asked`` whether any was fetched."""
        asked = asked if asked is not None else []
        if not self._timezones:
            # One cached listing answers most streams without a request per stream
            # (cache=False keeps off the cache folder here too).
            listing_mode = mode if mode in ("offline", "refresh", "off") else None
            for include_public in (False, True):
                try:
                    listed = self.streams_df(include_public=include_public, progress=False,
                                             cache=listing_mode)
                except RFCxError:  # the per-stream lookup below still runs and raises
                    continue
                asked.append(not listed.attrs.get("query", {}).get("from_cache", False))
                self._timezones.update(zip(listed["id"].astype(str),
                                           listed["timezone"].astype(object), strict=True))
        wanted = [str(s) for s in pd.unique(frame["stream_id"].astype(object))
                  if str(s) not in self._timezones]
        if wanted and mode == "offline":
            raise NotCachedError(
                f"cache='offline' but the timezone of {len(wanted)} stream(s) is not cached "
                f"(local_time=True needs it): {', '.join(wanted[:5])}", missing=[])

        def one(stream: str, stop: Any) -> str | None:
            body = self.session.request("GET", f"{self.api_url}/streams/{ids.path_part(stream)}",
                                        parse=lambda r: r.json())
            return body.get("timezone") if isinstance(body, dict) else None

        asked.append(bool(wanted))
        zones = paginate.run_parallel(one, wanted, max_workers=self.max_workers)
        for stream, tz in zip(wanted, zones, strict=True):
            self._timezones[stream] = tz
        return dict(self._timezones)

    # -- public DataFrame methods ----------------------------------------------------------
    def segments_df(
        self, stream: Any, start: TimeLike, end: TimeLike, *,
        progress: bool | None = None, cache: Any = None,
        max_age: Any = None,
    ) -> pd.DataFrame:
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
            (the message gives its id); see :mod:`rfcx_frames.idcheck`.
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
        return self._time_ranged(SEGMENT, streams, begin, finish, {}, progress=progress,
                                 cache=cache, max_age=max_age, stream_argument="stream")

    def detections_df(
        self, start: TimeLike, end: TimeLike, classifications: Any = None,
        classifiers: Any = None, streams: Any = None, min_confidence: float | None = None,
        *, review_statuses: Any = None, projects: Any = None, descending: bool = False,
        local_time: bool = False, progress: bool | None = None, cache: Any = None,
        max_age: Any = None,
    ) -> pd.DataFrame:
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
            As in :meth:`segments_df`.

        Returns
        -------
        pandas.DataFrame
            ``id, stream_id, classifier_id, classification_id, start, end, confidence,
            review_status, classification_value, classification_title,
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
        stream_list = validate.as_str_list(streams, "streams")
        params: dict[str, Any] = {
            "classifications[]": validate.as_str_list(classifications, "classifications"),
            "classifiers[]": validate.as_int_list(classifiers, "classifiers"),
            "projects[]": validate.as_str_list(projects, "projects"),
            "review_statuses[]": validate.review_statuses(review_statuses),
            "min_confidence": validate.check_confidence(min_confidence),
            "fields[]": list(DETECTION.fields),
        }
        return self._time_ranged(
            DETECTION, stream_list, begin, finish, params, progress=progress,
            descending=validate.check_bool(descending, "descending"),
            local_time=validate.check_bool(local_time, "local_time"), cache=cache,
            max_age=max_age)

    def annotations_df(
        self, start: TimeLike, end: TimeLike, classifications: Any = None, streams: Any = None,
        *, descending: bool = False, local_time: bool = False,
        progress: bool | None = None, cache: Any = None,
        max_age: Any = None,
    ) -> pd.DataFrame:
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
            As in :meth:`detections_df`.

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
        return self._time_ranged(
            ANNOTATION, validate.as_str_list(streams, "streams"), begin, finish, params,
            progress=progress, descending=validate.check_bool(descending, "descending"),
            local_time=validate.check_bool(local_time, "local_time"), cache=cache,
            max_age=max_age)

    def projects_df(
        self, keyword: str | None = None, created_by: str | None = None,
        only_public: bool | None = None, only_deleted: bool | None = None, *,
        progress: bool | None = None, cache: Any = None,
        max_age: Any = None,
    ) -> pd.DataFrame:
        """Every project matching the filters (all pages, using ``Total-Items``).

        Returns
        -------
        pandas.DataFrame
            ``id, name, is_public, external_id``, ordered by name.

        Examples
        --------
        >>> df = client.projects_df()  # doctest: +SKIP
        """
        params = project_params(keyword, created_by, only_public, only_deleted)

        def fetch() -> pd.DataFrame:
            with Progress("projects", enabled=self._show_progress(progress)) as bar:
                chunks = self._all_pages(PROJECT, f"{self.api_url}/projects", params, bar)
            return finalize(PROJECT, to_frame(PROJECT, chunks))

        frame = self._whole(PROJECT, params, cache, fetch, max_age)
        return self._attach_query(frame, PROJECT.endpoint, params)

    def streams_df(
        self, organizations: Any = None, projects: Any = None, created_by: str | None = None,
        name: str | None = None, keyword: str | None = None, include_public: bool = False,
        include_deleted: bool = False, *, progress: bool | None = None, cache: Any = None,
        max_age: Any = None,
    ) -> pd.DataFrame:
        """Every stream (site) matching the filters, with its timezone and project.

        ``include_public=True`` adds the public streams of other users to yours (two
        queries merged); ``include_deleted=True`` adds your deleted streams likewise.

        Returns
        -------
        pandas.DataFrame
            See :data:`rfcx_frames.schemas.STREAM`, ordered by name.

        Examples
        --------
        >>> df = client.streams_df(include_public=True)  # doctest: +SKIP
        """
        queries = stream_queries(organizations, projects, created_by, name, keyword,
                                 validate.check_bool(include_public, "include_public"),
                                 validate.check_bool(include_deleted, "include_deleted"))

        def fetch() -> pd.DataFrame:
            chunks: list[pa.StructArray] = []
            with Progress("streams", enabled=self._show_progress(progress)) as bar:
                for params in queries:
                    chunks += self._all_pages(STREAM, f"{self.api_url}/streams", params, bar)
            return finalize(STREAM, to_frame(STREAM, chunks))

        shown = {**queries[0], "include_public": include_public,
                 "include_deleted": include_deleted}
        shown.pop("only_public", None)
        shown.pop("only_deleted", None)
        frame = self._whole(STREAM, shown, cache, fetch, max_age)
        return self._attach_query(frame, STREAM.endpoint, shown)

    def effort_df(
        self, start: TimeLike, end: TimeLike, streams: Any = None, projects: Any = None,
        freq: str = "1h", local_time: bool = False, *, progress: bool | None = None,
        cache: Any = None,
    ) -> pd.DataFrame:
        """Recording effort: recorded seconds per stream and period, from the segments.

        Effort tells "no audio" from "audio, and nothing detected"; divide counts by it
        (:func:`rfcx_frames.detection_rates`) or mask occasions with too little of it
        (:func:`rfcx_frames.detection_history`).

        Parameters
        ----------
        start, end
            The window. Naive times are UTC.
        streams
            Stream ids (default: every stream of ``projects``, else every stream you can
            read). Each gets a row per period, 0 where nothing was recorded.
        projects
            Project ids whose streams to take when ``streams`` is not given.
        freq
            Period length, any pandas frequency: ``"1h"``, ``"1D"``, ``"7D"``, ``"MS"``.
            Every period overlapping ``[start, end)`` is returned whole (see
            :mod:`rfcx_frames.ecology.effort` for how periods are aligned).
        local_time
            Align periods to each stream's own timezone (local days across a DST change
            last 23 or 25 hours); default UTC.
        progress, cache
            As for :meth:`segments_df`, which this reads (and caches) underneath.

        Returns
        -------
        pandas.DataFrame
            ``stream_id, period_start, period_end, period_start_local, timezone,
            period_seconds, recorded_seconds, coverage``; segments overlapping each other
            count once, and only their part inside the window and the period.

        Examples
        --------
        >>> e = client.effort_df("2024-03-01", "2024-03-08", freq="1D", local_time=True)  # doctest: +SKIP
        >>> e.groupby("stream_id", observed=True)["recorded_seconds"].sum() / 3600  # doctest: +SKIP
        """
        from .ecology.effort import effort_from_segments, parse_freq, period_span
        from .ecology.recordings import recorded_runs

        begin, finish = timeutil.window(start, end)
        offset = parse_freq(freq)
        local = validate.check_bool(local_time, "local_time")
        mode = self._cache_mode(cache)
        ids = validate.as_str_list(streams, "streams")
        if ids is None:
            listing_mode = mode if mode in ("offline", "refresh") else None
            listed = self.streams_df(projects=projects, progress=False, cache=listing_mode)
            ids = [str(s) for s in listed["id"]]
        zones: dict[str, str | None] | None = None
        if local:
            zones = self._stream_timezones(pd.DataFrame({"stream_id": ids}), mode)
        first, last = period_span(begin, finish, offset, (zones or {}).values())
        client = cast("Client", self)  # the mixins are assembled into Client
        runs = (recorded_runs(client, ids, first, last, cache=cache, progress=progress) if ids
                else pd.DataFrame({"stream_id": [], "start": [], "end": []}))
        frame = effort_from_segments(runs, begin, finish, freq, streams=ids, timezones=zones)
        frame.attrs["cache"] = runs.attrs.get("cache")
        return self._attach_query(frame, "effort", {"freq": freq, "local_time": local,
                                                    "streams[]": ids}, begin, finish)

    def classifications_df(
        self, keyword: str | None = None, levels: Any = None, *, classifiers: Any = None,
        progress: bool | None = None, cache: Any = None,
        max_age: Any = None,
    ) -> pd.DataFrame:
        """Every classification matching ``keyword`` (title or alternative name).

        The platform counts its page limit in (classification × alternative name) rows, so
        pages are read until an empty one and split entries are merged.

        Parameters
        ----------
        keyword
            Text matched against titles and alternative names (``None``: every one).
        levels
            Classification type(s): ``species``, ``genus``, ``family`` ... ``characteristic``.
        classifiers
            Classifier id(s), or ``"*"``: only the classes those classifiers output.
        progress, cache
            As in :meth:`segments_df`.
        max_age
            A cached listing fetched longer ago than this is fetched again (instead of
            after its one-hour expiry).

        Returns
        -------
        pandas.DataFrame
            ``value, title, image, type, alternative_names``, ordered by title.

        Examples
        --------
        >>> df = client.classifications_df("sciurus", levels="species")  # doctest: +SKIP
        """
        params: dict[str, Any] = {"levels[]": validate.as_str_list(levels, "levels")}
        if classifiers is not None:
            # The platform takes classifier ids, or "*" for the outputs of any classifier.
            params["classifiers[]"] = (["*"] if classifiers == "*" else
                                       validate.as_int_list(classifiers, "classifiers"))
        if keyword is not None:
            params["keyword"] = keyword
        params = {k: v for k, v in params.items() if v is not None}

        def fetch() -> pd.DataFrame:
            with Progress("classifications", enabled=self._show_progress(progress)) as bar:
                chunks = self._all_pages(CLASSIFICATION, f"{self.api_url}/classifications",
                                         params, bar, stop_on_empty=True)
            frame = merge_alternative_names(to_frame(CLASSIFICATION, chunks))
            return finalize(CLASSIFICATION, frame)

        frame = self._whole(CLASSIFICATION, params, cache, fetch, max_age)
        return self._attach_query(frame, CLASSIFICATION.endpoint, params)


def project_params(keyword: str | None, created_by: str | None, only_public: bool | None,
                   only_deleted: bool | None) -> dict[str, Any]:
    """Query parameters of ``GET /projects`` as the official client sends them.

    Examples
    --------
    >>> project_params("bird", None, True, None)
    {'keyword': 'bird', 'only_public': 'true'}
    """
    params: dict[str, Any] = {}
    if keyword:
        params["keyword"] = keyword
    if created_by:
        params["created_by"] = created_by
    for key, value in (("only_public", only_public), ("only_deleted", only_deleted)):
        if value is not None:
            params[key] = "true" if validate.check_bool(value, key) else "false"
    return params


def stream_queries(organizations: Any, projects: Any, created_by: str | None, name: str | None,
                   keyword: str | None, include_public: bool,
                   include_deleted: bool) -> list[dict[str, Any]]:
    """The ``GET /streams`` queries whose union is the requested list.

    The platform's ``only_public``/``only_deleted`` return *only* public/deleted streams,
    so "include" means one more query each.

    Examples
    --------
    >>> [q.get("only_public") for q in stream_queries(None, None, None, None, None, True, False)]
    [None, 'true']
    """
    base: dict[str, Any] = {}
    orgs = validate.as_str_list(organizations, "organizations")
    projs = validate.as_str_list(projects, "projects")
    if orgs:
        base["organizations[]"] = orgs
    if projs:
        base["projects[]"] = projs
    for key, value in (("created_by", created_by), ("name", name), ("keyword", keyword)):
        if value:
            base[key] = value
    queries = [base]
    if include_public:
        queries.append({**base, "only_public": "true"})
    if include_deleted:
        queries.append({**base, "only_deleted": "true"})
    return queries


def merge_alternative_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Merge classifications split across pages: one row per value, names concatenated.

    Examples
    --------
    >>> df = pd.DataFrame({"value": ["a", "a"], "alternative_names": [[{"name": "x"}],
    ...                                                               [{"name": "y"}]]})
    >>> merge_alternative_names(df)["alternative_names"].tolist()
    [[{'name': 'x'}, {'name': 'y'}]]
    """
    if len(frame) == 0 or not frame["value"].duplicated().any():
        return frame
    merged: dict[Any, list[Any]] = {}
    for value, names in zip(frame["value"], frame["alternative_names"], strict=True):
        bucket = merged.setdefault(value, [])
        for item in names or []:
            if item not in bucket:
                bucket.append(item)
    out = frame.drop_duplicates(subset=["value"], keep="first").reset_index(drop=True)
    column = pd.Series([merged[v] for v in out["value"]], index=out.index, dtype=object)
    out["alternative_names"] = column
    return out


def _last_start_ms(chunk: pa.StructArray) -> int:
    """The latest ``start`` of a parsed page, in epoch ms."""
    return timeutil.to_epoch_ms(timeutil.to_utc(pc.max(chunk.field("start")).as_py()))
