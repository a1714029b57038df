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
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from rfcx_frames.cache.disk import LAYOUT, open_root, storage_errors
from rfcx_frames.cache.entry import MAX_PARTS, Entry, Piece
from rfcx_frames.cache.frames import (
    assemble,
    file_schema,
    schema_fingerprint,
    sort_keys,
    sort_table,
    table_from_frame,
)
from rfcx_frames.cache.intervals import (
    Interval,
    covers,
    fetched_since,
    intersect,
    oldest,
    subtract,
    time_mask,
)
from rfcx_frames.cache.manifest import Manifest, read_signature
from rfcx_frames.cache.modes import CacheArg, resolve_mode
from rfcx_frames.cache.parquet import UnreadableFilesError, read_parts
from rfcx_frames.cache.signature import FilterSignature, can_filter, local_filter
from rfcx_frames.config import DEFAULT_CACHE_HORIZON as DEFAULT_HORIZON
from rfcx_frames.exceptions import NotCachedError
from rfcx_frames.timeutil import from_ns, to_ns, utc_now

Fetch = Callable[[str, pd.Timestamp, pd.Timestamp], "pd.DataFrame | pa.Table"]
Window = tuple[str, pd.Timestamp, pd.Timestamp]
Pieces = list[tuple[str, pa.Table]]

_ATTEMPTS = 4


@dataclass
class _Source:
    """A cache entry able to answer the query, and the filters to apply to its rows."""

    entry: Entry
    manifest: Manifest
    stricter: list[str]


@dataclass
class _Plan:
    """Per stream: the intervals each source answers, and the intervals to fetch."""

    assigned: dict[int, dict[str, list[Interval]]] = field(default_factory=dict)
    missing: list[tuple[str, int, int]] = field(default_factory=list)


class _UnreadableError(Exception):
    def __init__(self, entry: Entry, paths: list[str]) -> None:
        super().__init__(f"unreadable cache files in {entry.folder}")
        self.entry = entry
        self.paths = paths


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
        root: str | os.PathLike[str] | None = None,
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
        fetch: Fetch,
        schema: pa.Schema,
        mode: CacheArg = "use",
        horizon: pd.Timedelta = DEFAULT_HORIZON,
        now: pd.Timestamp | None = None,
        max_workers: int = 1,
        dtypes: Mapping[str, Any] | None = None,
        order_by: Sequence[str] | None = None,
        max_age: pd.Timedelta | None = None,
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
            columns; rows starting outside the window are ignored. Calls are independent.
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
            :func:`~rfcx_frames.cache.frames.frame_from_table`), e.g.
            ``schemas.pandas_dtypes(entity)``.
        order_by
            Row order (all ascending); default time, stream, then
            ``classification_value``, ``classifier_id``, ``id``, ``end`` when present.
        max_age
            A cached window fetched longer ago than this is fetched again (and replaced),
            except offline; ``None``: cached windows never expire.

        Returns
        -------
        pandas.DataFrame
            Exactly ``schema``'s columns, sorted by time, stream and tie-breakers, with
            the dtypes of :func:`~rfcx_frames.cache.frames.frame_from_table`. Its
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
        resolved = resolve_mode(mode, "use")
        if signature.entity != entity:
            raise ValueError(f"signature is for {signature.entity!r}, not entity {entity!r}")
        for column in (self.time_column, self.stream_column):
            if column not in schema.names:
                raise ValueError(f"schema must have a {column!r} column")
        lo, hi = to_ns(start), to_ns(end)
        stream_ids = sorted(set(streams))
        keys = list(order_by) if order_by else sort_keys(
            schema, self.time_column, self.stream_column
        )
        moment = now if now is not None else utc_now()
        finish = functools.partial(self._finish, schema=schema, keys=keys, dtypes=dtypes,
                                   now=moment)
        if hi <= lo or not stream_ids:
            return finish([], fetched_at=None)
        if resolved == "off":
            windows = [(s, lo, hi) for s in stream_ids]
            tables = self._fetch_all(windows, fetch, schema, keys, max_workers)
            return finish([(w[0], t) for w, t in tables.items()], fetched_at=to_ns(moment))

        cutoff = to_ns(moment) - int(horizon.value)
        # Offline answers from whatever is cached, however old.
        stale_before = (to_ns(moment) - int(max_age.value)
                        if max_age is not None and resolved != "offline" else None)
        fingerprint = schema_fingerprint(schema)
        own = Entry(self.root, entity, signature.key, self.stream_column)
        fetched: dict[tuple[str, int, int], pa.Table] = {}
        for attempt in range(_ATTEMPTS):
            # The last attempt of a fetching mode reads nothing from disk, so it cannot fail;
            # offline has nothing else to read from.
            use_cache = resolved == "offline" or (
                resolved != "refresh" and attempt < _ATTEMPTS - 1)
            with storage_errors(self.root, "read from"):
                sources = self._sources(signature, schema, fingerprint) if use_cache else []
            plan = self._plan(sources, stream_ids, lo, hi, stale_before)
            if resolved == "offline" and plan.missing:
                raise self._not_cached(entity, plan.missing)
            todo = [w for w in plan.missing if w not in fetched]
            fetched.update(self._fetch_all(todo, fetch, schema, keys, max_workers))
            pieces = []
            for stream_id, w_lo, w_hi in todo:
                done = intersect([(w_lo, w_hi)], [(w_lo, cutoff)])
                if done:
                    pieces.append(Piece(stream_id, done, fetched[(stream_id, w_lo, w_hi)]))
            if pieces:
                own.store(
                    pieces,
                    signature=signature.to_dict(),
                    schema=schema,
                    fingerprint=fingerprint,
                    keys=keys,
                    time_column=self.time_column,
                    replace=resolved == "refresh",
                    max_parts=self.max_parts,
                    now=moment,
                    stale_before=stale_before,
                )
            try:
                cached: Pieces = []
                with storage_errors(self.root, "read from"):
                    for i, assigned in sorted(plan.assigned.items()):
                        cached += self._read(sources[i], assigned, schema, signature, keys)
            except _UnreadableError as bad:
                # Only files that were read and failed their checks; a failed open raised.
                with storage_errors(self.root, "read from"):
                    bad.entry.drop_unreadable(bad.paths, schema)
                continue
            ages = [to_ns(moment)] if plan.missing else []
            for i, assigned in plan.assigned.items():
                streams_of = sources[i].manifest.streams
                ages += [t for sid, intervals in assigned.items()
                         if (t := oldest(streams_of[sid].fetched, intervals)) is not None]
            return finish(cached + [(w[0], fetched[w]) for w in plan.missing],
                          fetched_at=min(ages) if ages else None, from_cache=not plan.missing)
        # Offline only: files kept turning out unreadable while being read.
        raise self._not_cached(entity, [(s, lo, hi) for s in stream_ids])

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
            sources = self._sources(signature, schema, schema_fingerprint(schema))
        stale_before = None
        if max_age is not None:
            stale_before = to_ns(now if now is not None else utc_now()) - int(max_age.value)
        plan = self._plan(sources, sorted(set(streams)), to_ns(start), to_ns(end), stale_before)
        return [(s, from_ns(a), from_ns(b)) for s, a, b in plan.missing]

    def files(self, entity: str, signature: FilterSignature | None = None) -> list[Path]:
        """The data files the manifests name (what a direct reader should read).

        Examples
        --------
        >>> import tempfile
        >>> TimeRangedCache(tempfile.mkdtemp()).files("detections")
        []
        """
        out: list[Path] = []
        for entry in self._entries(entity):
            if signature is not None and entry.key != signature.key:
                continue
            manifest = entry.load(shared=True)
            if manifest is None:
                continue
            for _, state in sorted(manifest.streams.items()):
                out += [entry.path(p.path) for p in state.files]
        return out

    # -- planning -----------------------------------------------------------------------

    def _entries(self, entity: str) -> list[Entry]:
        folder = self.root / LAYOUT / entity
        if not folder.is_dir():
            return []
        return [
            Entry(self.root, entity, p.name, self.stream_column)
            for p in sorted(folder.iterdir())
            if p.is_dir()
        ]

    def _sources(
        self, signature: FilterSignature, schema: pa.Schema, fingerprint: str
    ) -> list[_Source]:
        """Entries whose complete windows can answer ``signature``, the exact one first."""
        found: list[_Source] = []
        for entry in self._entries(signature.entity):
            if entry.key == signature.key:
                stricter: list[str] = []
            else:
                data = read_signature(entry.folder)
                try:
                    theirs = FilterSignature.from_dict(data) if data else None
                except (TypeError, ValueError):
                    theirs = None
                if theirs is None or not theirs.covers(signature):
                    continue
                stricter = theirs.stricter_fields(signature)
                if not can_filter(schema, stricter):
                    continue
            manifest = entry.load(shared=True)
            if manifest is None or manifest.schema != fingerprint:
                continue
            found.append(_Source(entry, manifest, stricter))
        found.sort(key=lambda s: (len(s.stricter), s.entry.key != signature.key, s.entry.key))
        return found

    def _plan(self, sources: list[_Source], streams: list[str], lo: int, hi: int,
              stale_before: int | None = None) -> _Plan:
        plan = _Plan()
        for stream_id in streams:
            remaining = [(lo, hi)]
            for index, source in enumerate(sources):
                state = source.manifest.streams.get(stream_id)
                if state is None or not remaining:
                    continue
                usable = state.complete if stale_before is None else intersect(
                    state.complete, fetched_since(state.fetched, stale_before))
                taken = intersect(remaining, usable)
                if taken:
                    plan.assigned.setdefault(index, {})[stream_id] = taken
                    remaining = subtract(remaining, taken)
            plan.missing += [(stream_id, a, b) for a, b in remaining]
        return plan

    # -- I/O ----------------------------------------------------------------------------

    def _read(
        self,
        source: _Source,
        assigned: dict[str, list[Interval]],
        schema: pa.Schema,
        query: FilterSignature,
        keys: Sequence[str],
    ) -> Pieces:
        """The rows of ``source`` in the assigned intervals, one piece per file read,
        each sorted by ``keys``."""
        wanted: list[tuple[str, str, list[Interval] | None, int]] = []
        for stream_id, intervals in sorted(assigned.items()):
            state = source.manifest.streams[stream_id]
            for part in sorted(state.files, key=lambda p: p.coverage[0]):
                if intersect(part.coverage, intervals):
                    # A file reaching outside the query is cut to the intervals asked.
                    cut = None if covers(intervals, part.coverage) else intervals
                    wanted.append((stream_id, part.path, cut, part.rows))
        stored = file_schema(schema, self.stream_column)
        try:
            tables = read_parts([source.entry.path(w[1]) for w in wanted], stored,
                                rows=[w[3] for w in wanted])
        except UnreadableFilesError as exc:
            folder = source.entry.folder
            raise _UnreadableError(
                source.entry, [Path(p).relative_to(folder).as_posix() for p in exc.paths]
            ) from exc
        local = local_filter(query, source.stricter, schema)
        # Files are sorted by the order their entry was created with; another order
        # asked of the same entry re-sorts each file (one stream each, hence no stream key).
        resort = None
        if list(source.manifest.order) != list(keys):
            resort = [k for k in keys if k != self.stream_column]
        pieces: Pieces = []
        for (stream_id, _, cut, _), table in zip(wanted, tables, strict=True):
            if cut is not None:
                table = table.filter(time_mask(table[self.time_column], cut))
            if local is not None:
                table = table.filter(local)
            if resort is not None:
                table = sort_table(table, resort)
            pieces.append((stream_id, table))
        return pieces

    def _fetch_all(
        self,
        windows: Sequence[tuple[str, int, int]],
        fetch: Fetch,
        schema: pa.Schema,
        keys: Sequence[str],
        max_workers: int,
    ) -> dict[tuple[str, int, int], pa.Table]:
        def one(window: tuple[str, int, int]) -> pa.Table:
            stream_id, w_lo, w_hi = window
            table = table_from_frame(fetch(stream_id, from_ns(w_lo), from_ns(w_hi)), schema)
            table = table.filter(time_mask(table[self.time_column], [(w_lo, w_hi)]))
            return sort_table(table, keys)

        if max_workers > 1 and len(windows) > 1:
            with ThreadPoolExecutor(max_workers=max_workers) as pool:
                results = list(pool.map(one, windows))
        else:
            results = [one(w) for w in windows]
        return dict(zip(windows, results, strict=True))

    def _finish(
        self,
        pieces: Pieces,
        *,
        schema: pa.Schema,
        keys: Sequence[str],
        dtypes: Mapping[str, Any] | None,
        now: pd.Timestamp,
        fetched_at: int | None,
        from_cache: bool = False,
    ) -> pd.DataFrame:
        """Merge, order and convert once (see :func:`~rfcx_frames.cache.frames.assemble`),
        with the provenance in ``attrs["cache"]``."""
        frame = assemble(pieces, schema, keys, dtypes, time_column=self.time_column,
                         stream_column=self.stream_column)
        frame.attrs["cache"] = {
            "fetched_at": from_ns(fetched_at) if fetched_at is not None else now,
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
