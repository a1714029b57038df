"""The time-ranged cache: detections, annotations and segments by stream and time window.

A query for ``[start, end)`` on some streams is answered per stream from the windows
the cache holds completely (in the query's own entry or in a looser one, filtered
locally) plus one ``fetch(stream, w_start, w_end)`` per window it lacks. Fetched rows
are stored, and their windows marked complete, except the part within ``horizon`` of
now, which the platform may still fill.

Rows belong to the window containing their ``start`` (half-open ``[start, end)``),
for segments too: a segment is cached with the window in which it starts.

Examples
--------
>>> import tempfile
>>> cache = TimeRangedCache(tempfile.mkdtemp())
>>> cache.root.exists()
True
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from rfcx_frames.cache import planning
from rfcx_frames.cache.assemble import assemble, schema_fingerprint, sort_keys
from rfcx_frames.cache.disk import open_root, storage_errors
from rfcx_frames.cache.entry import MAX_PARTS, Entry, Piece
from rfcx_frames.cache.intervals import intersect, oldest, time_mask
from rfcx_frames.cache.modes import CacheArg, resolve_mode
from rfcx_frames.cache.signature import FilterSignature
from rfcx_frames.config import DEFAULT_CACHE_HORIZON, CacheRoot, RootArg
from rfcx_frames.convert import sort_table, table_from_frame
from rfcx_frames.exceptions import NotCachedError
from rfcx_frames.timeutil import from_ns, to_ns, utc_now

Fetch = Callable[[str, pd.Timestamp, pd.Timestamp], "pd.DataFrame | pa.Table"]
Window = tuple[str, pd.Timestamp, pd.Timestamp]
FetchMany = Callable[[Sequence[Window]], "Sequence[pd.DataFrame | pa.Table]"]
Pieces = list[tuple[str, pa.Table]]

_ATTEMPTS = 4


@dataclass
class _Job:
    """One query's settings, resolved once."""

    signature: FilterSignature
    streams: list[str]
    lo: int
    hi: int
    schema: pa.Schema
    dtypes: Mapping[str, Any] | None
    mode: str
    keys: list[str]
    now: pd.Timestamp
    horizon: pd.Timedelta
    max_age: pd.Timedelta | None
    fetch_many: FetchMany
    presorted: bool

    @property
    def cutoff(self) -> int:
        """Windows ending after this are returned but never marked complete."""
        return to_ns(self.now) - int(self.horizon.value)

    @property
    def stale_before(self) -> int | None:
        """Cached windows fetched before this are fetched again (offline takes any age)."""
        if self.max_age is None or self.mode == "offline":
            return None
        return to_ns(self.now) - int(self.max_age.value)

    @functools.cached_property
    def fingerprint(self) -> str:
        return schema_fingerprint(self.schema)


def _one_by_one(fetch: Fetch, max_workers: int) -> FetchMany:
    """``fetch_many`` made of one ``fetch`` per window, on ``max_workers`` threads."""

    def fetch_many(windows: Sequence[Window]) -> list[Any]:
        if max_workers > 1 and len(windows) > 1:
            with ThreadPoolExecutor(max_workers=max_workers) as pool:
                return list(pool.map(lambda w: fetch(*w), windows))
        return [fetch(*w) for w in windows]

    return fetch_many


class TimeRangedCache:
    """A Parquet cache of time-ranged entities under ``root`` (see ``docs/cache.md``).

    Parameters
    ----------
    root
        The cache folder; default :func:`~rfcx_frames.config.cache_path`.
    max_parts
        A stream-day partition holding more files than this is merged into one.
    time_column, stream_column
        The columns that place a row in a stream and a window.

    Examples
    --------
    >>> import tempfile
    >>> TimeRangedCache(tempfile.mkdtemp()).time_column
    'start'
    """

    def __init__(
        self,
        root: RootArg = None,
        *,
        max_parts: int = MAX_PARTS,
        time_column: str = "start",
        stream_column: str = "stream_id",
    ) -> None:
        self.root = open_root(root)
        self.max_parts = max_parts
        self.time_column = time_column
        self.stream_column = stream_column

    # -- public API ---------------------------------------------------------------------

    def query(
        self,
        entity: str,
        signature: FilterSignature,
        streams: Sequence[str],
        start: pd.Timestamp | str,
        end: pd.Timestamp | str,
        fetch: Fetch | None,
        schema: pa.Schema,
        mode: CacheArg = "use",
        horizon: pd.Timedelta = DEFAULT_CACHE_HORIZON,
        now: pd.Timestamp | None = None,
        max_workers: int = 1,
        dtypes: Mapping[str, Any] | None = None,
        order_by: Sequence[str] | None = None,
        max_age: pd.Timedelta | None = None,
        *,
        fetch_many: FetchMany | None = None,
    ) -> pd.DataFrame:
        """Rows of ``streams`` in ``[start, end)``, from the cache plus fetches of what it lacks.

        Parameters
        ----------
        entity
            The entity name; must equal ``signature.entity``.
        signature
            What the rows are filtered by (see :class:`FilterSignature`).
        streams
            Stream ids; duplicates are ignored.
        start, end
            The half-open time range (naive values are UTC).
        fetch
            ``fetch(stream_id, w_start, w_end)`` returns the platform's rows of one stream
            in ``[w_start, w_end)`` as a DataFrame or Arrow table with ``schema``'s
            columns; rows starting outside the window are ignored. Calls are independent
            and run on ``max_workers`` threads. ``None`` when ``fetch_many`` is given.
        schema
            The Arrow schema of the result; it must have the time and stream columns.
        mode
            ``"use"``, ``"refresh"`` (fetch everything, replace what is stored),
            ``"offline"`` (never fetch; raise :class:`NotCachedError` when incomplete) or
            ``"off"``/``False`` (fetch everything, store nothing).
        horizon
            Windows ending later than ``now - horizon`` are returned but never marked
            complete.
        now
            The current time (for tests); default the clock.
        max_workers
            How many fetches may run at once (threads).
        dtypes
            pandas dtype per column (see
            :func:`~rfcx_frames.convert.frame_from_table`), e.g.
            ``schemas.pandas_dtypes(entity)``.
        order_by
            Row order (all ascending); default time, stream, then
            ``classification_value``, ``classifier_id``, ``id``, ``end`` when present.
        max_age
            A cached window fetched longer ago than this is fetched again (and replaced),
            except offline; ``None``: cached windows never expire.
        fetch_many
            Instead of ``fetch``: ``fetch_many(windows)`` gets every ``(stream_id,
            w_start, w_end)`` the cache lacks at once (so it can batch and parallelise
            requests as the platform allows) and returns one table per window, in order,
            each already sorted by ``order_by``.

        Returns
        -------
        pandas.DataFrame
            Exactly ``schema``'s columns, sorted by time, stream and tie-breakers, with
            the dtypes of :func:`~rfcx_frames.convert.frame_from_table`. Its
            ``attrs["cache"]`` says how old its rows are: ``fetched_at``, the oldest fetch
            time of the windows answering it (``now`` for what was fetched), and
            ``from_cache``, whether nothing was fetched.

        Raises
        ------
        NotCachedError
            In offline mode, listing the ``(stream_id, start, end)`` windows missing.
        CacheError
            The cache folder cannot be created or written (read-only, full), or a file
            could not be opened or read (``EMFILE``, ``EIO``); no stored file is dropped
            for that, and no new data file is left behind.

        Examples
        --------
        >>> import tempfile
        >>> schema = pa.schema([("stream_id", pa.string()),
        ...                     ("start", pa.timestamp("ms", tz="UTC"))])
        >>> cache = TimeRangedCache(tempfile.mkdtemp())
        >>> sig = FilterSignature("detections", "http://x")
        >>> fetch = lambda s, a, b: pd.DataFrame({"stream_id": [s], "start": [a]})
        >>> len(cache.query("detections", sig, ["s1"], "2020-01-01", "2020-01-02", fetch, schema))
        1
        """
        if signature.entity != entity:
            raise ValueError(f"signature is for {signature.entity!r}, not entity {entity!r}")
        for column in (self.time_column, self.stream_column):
            if column not in schema.names:
                raise ValueError(f"schema must have a {column!r} column")
        if (fetch is None) == (fetch_many is None):
            raise TypeError("pass exactly one of fetch and fetch_many")
        job = _Job(
            signature=signature, streams=sorted(set(streams)), lo=to_ns(start), hi=to_ns(end),
            schema=schema, dtypes=dtypes, mode=resolve_mode(mode, "use"),
            keys=list(order_by) if order_by else sort_keys(schema, self.time_column,
                                                            self.stream_column),
            now=now if now is not None else utc_now(), horizon=horizon, max_age=max_age,
            fetch_many=fetch_many or _one_by_one(fetch, max_workers),  # type: ignore[arg-type]
            presorted=fetch_many is not None)
        if job.hi <= job.lo or not job.streams:
            return self._finish(job, [], fetched_at=None)
        if job.mode == "off":
            windows = [(s, job.lo, job.hi) for s in job.streams]
            tables = self._fetch_all(job, windows)
            return self._finish(job, [(w[0], tables[w]) for w in windows],
                                fetched_at=to_ns(job.now))
        return self._answer(job)

    def _answer(self, job: _Job) -> pd.DataFrame:
        """Cached rows plus fetches of what the cache lacks; rereads after dropping bad files."""
        own = Entry(self.root, job.signature.entity, job.signature.key, self.stream_column)
        fetched: dict[tuple[str, int, int], pa.Table] = {}
        for attempt in range(_ATTEMPTS):
            # The last attempt of a fetching mode reads nothing from disk, so it cannot fail;
            # offline has nothing else to read from.
            use_cache = job.mode == "offline" or (job.mode != "refresh" and attempt < _ATTEMPTS - 1)
            with storage_errors(self.root, "read from"):
                found = planning.find_sources(self.root, job.signature, job.schema,
                                              job.fingerprint, self.stream_column) if use_cache else []
            plan = planning.plan(found, job.streams, job.lo, job.hi, job.stale_before)
            if job.mode == "offline" and plan.missing:
                raise self._not_cached(job.signature.entity, plan.missing)
            todo = [w for w in plan.missing if w not in fetched]
            fetched.update(self._fetch_all(job, todo))
            self._store(job, own, [(w, fetched[w]) for w in todo])
            try:
                cached = self._read_plan(job, found, plan)
            except planning.UnreadableSourceError as bad:
                # Only files that were read and failed their checks; a failed open raised.
                with storage_errors(self.root, "read from"):
                    bad.entry.drop_unreadable(bad.paths, job.schema)
                continue
            return self._finish(job, cached + [(w[0], fetched[w]) for w in plan.missing],
                                fetched_at=self._oldest(job, found, plan),
                                from_cache=not plan.missing)
        # Offline only: files kept turning out unreadable while being read.
        raise self._not_cached(job.signature.entity, [(s, job.lo, job.hi) for s in job.streams])

    def _store(self, job: _Job, own: Entry,
               fetched: list[tuple[tuple[str, int, int], pa.Table]]) -> None:
        """Store fetched windows, marking complete what ends before the horizon."""
        pieces = []
        for (stream_id, w_lo, w_hi), table in fetched:
            done = intersect([(w_lo, w_hi)], [(w_lo, job.cutoff)])
            if done:
                pieces.append(Piece(stream_id, done, table))
        if pieces:
            own.store(pieces, signature=job.signature.to_dict(), schema=job.schema,
                      fingerprint=job.fingerprint, keys=job.keys, time_column=self.time_column,
                      replace=job.mode == "refresh", max_parts=self.max_parts, now=job.now,
                      stale_before=job.stale_before)

    def _read_plan(self, job: _Job, found: list[planning.Source], plan: planning.Plan) -> Pieces:
        cached: Pieces = []
        with storage_errors(self.root, "read from"):
            for i, assigned in sorted(plan.assigned.items()):
                cached += planning.read_source(found[i], assigned, job.schema, job.signature,
                                              job.keys, self.time_column, self.stream_column)
        return cached

    @staticmethod
    def _oldest(job: _Job, found: list[planning.Source], plan: planning.Plan) -> int | None:
        """When the oldest row of the answer was fetched (now, when anything was)."""
        ages = [to_ns(job.now)] if plan.missing else []
        for i, assigned in plan.assigned.items():
            streams_of = found[i].manifest.streams
            ages += [t for sid, intervals in assigned.items()
                     if (t := oldest(streams_of[sid].fetched, intervals)) is not None]
        return min(ages) if ages else None

    def missing_windows(
        self,
        entity: str,
        signature: FilterSignature,
        streams: Sequence[str],
        start: pd.Timestamp | str,
        end: pd.Timestamp | str,
        schema: pa.Schema,
        max_age: pd.Timedelta | None = None,
        now: pd.Timestamp | None = None,
    ) -> list[Window]:
        """The ``(stream_id, start, end)`` windows a query would have to fetch.

        ``max_age`` and ``now`` as in :meth:`query`.

        Examples
        --------
        >>> import tempfile
        >>> schema = pa.schema([("stream_id", pa.string()), ("start", pa.timestamp("ms"))])
        >>> sig = FilterSignature("detections", "http://x")
        >>> TimeRangedCache(tempfile.mkdtemp()).missing_windows(
        ...     "detections", sig, ["s"], "2020-01-01", "2020-01-02", schema)[0][0]
        's'
        """
        if signature.entity != entity:
            raise ValueError(f"signature is for {signature.entity!r}, not entity {entity!r}")
        with storage_errors(self.root, "read from"):
            found = planning.find_sources(self.root, signature, schema, schema_fingerprint(schema),
                                          self.stream_column)
        stale_before = None
        if max_age is not None:
            stale_before = to_ns(now if now is not None else utc_now()) - int(max_age.value)
        plan = planning.plan(found, sorted(set(streams)), to_ns(start), to_ns(end), stale_before)
        return [(s, from_ns(a), from_ns(b)) for s, a, b in plan.missing]

    def files(self, entity: str, signature: FilterSignature | None = None) -> list[CacheRoot]:
        """The data files the manifests name (what a direct reader should read).

        Examples
        --------
        >>> import tempfile
        >>> TimeRangedCache(tempfile.mkdtemp()).files("detections")
        []
        """
        out: list[CacheRoot] = []
        for entry in planning.entries(self.root, entity, self.stream_column):
            if signature is not None and entry.key != signature.key:
                continue
            manifest = entry.load(shared=True)
            if manifest is None:
                continue
            for _, state in sorted(manifest.streams.items()):
                out += [entry.path(p.path) for p in state.files]
        return out

    def _fetch_all(self, job: _Job, windows: Sequence[tuple[str, int, int]]
                   ) -> dict[tuple[str, int, int], pa.Table]:
        if not windows:
            return {}
        asked = [(s, from_ns(lo), from_ns(hi)) for s, lo, hi in windows]
        out = {}
        for window, data in zip(windows, job.fetch_many(asked), strict=True):
            table = table_from_frame(data, job.schema)
            table = table.filter(time_mask(table[self.time_column], [window[1:]]))
            out[window] = table if job.presorted else sort_table(table, job.keys)
        return out

    def _finish(self, job: _Job, pieces: Pieces, *, fetched_at: int | None,
                from_cache: bool = False) -> pd.DataFrame:
        """Merge, order and convert once (see :func:`~rfcx_frames.cache.assemble.assemble`),
        with the provenance in ``attrs["cache"]``."""
        frame = assemble(pieces, job.schema, job.keys, job.dtypes, time_column=self.time_column,
                         stream_column=self.stream_column)
        frame.attrs["cache"] = {
            "fetched_at": from_ns(fetched_at) if fetched_at is not None else job.now,
            "from_cache": from_cache or fetched_at is None,
        }
        return frame

    @staticmethod
    def _not_cached(entity: str, missing: list[tuple[str, int, int]]) -> NotCachedError:
        windows = [(s, from_ns(a), from_ns(b)) for s, a, b in missing]
        shown = "; ".join(f"{s} [{a.isoformat()}, {b.isoformat()})" for s, a, b in windows[:5])
        more = f" and {len(windows) - 5} more" if len(windows) > 5 else ""
        return NotCachedError(
            f"cache='offline' but the cache lacks {len(windows)} window(s) of {entity}: "
            f"{shown}{more}",
            missing=list(windows),
        )
