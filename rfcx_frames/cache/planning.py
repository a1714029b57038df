"""Which cached entries answer a query, which windows each answers, and reading them.

A query's windows are answered by its own entry or by a looser one (filtered locally);
:func:`plan` assigns each stream's intervals to the first source holding them complete
and lists the rest as missing; :func:`read_source` reads the assigned rows file by file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from rfcx_frames.cache.assemble import file_schema
from rfcx_frames.cache.disk import LAYOUT, children, relative
from rfcx_frames.cache.entry import Entry
from rfcx_frames.cache.intervals import (
    Interval,
    covers,
    fetched_since,
    intersect,
    subtract,
    time_mask,
)
from rfcx_frames.cache.manifest import Manifest, read_signature
from rfcx_frames.cache.parquet import UnreadableFilesError, read_parts
from rfcx_frames.cache.signature import FilterSignature, can_filter, local_filter
from rfcx_frames.config import CacheRoot
from rfcx_frames.convert import sort_table

Pieces = list[tuple[str, pa.Table]]


@dataclass
class Source:
    """A cache entry able to answer the query, and the filters to apply to its rows."""

    entry: Entry
    manifest: Manifest
    stricter: list[str]


@dataclass
class Plan:
    """Per stream: the intervals each source answers, and the intervals to fetch."""

    assigned: dict[int, dict[str, list[Interval]]] = field(default_factory=dict)
    missing: list[tuple[str, int, int]] = field(default_factory=list)


class UnreadableSourceError(Exception):
    """Files of one entry failed their checks while being read."""

    def __init__(self, entry: Entry, paths: list[str]) -> None:
        super().__init__(f"unreadable cache files in {entry.folder}")
        self.entry = entry
        self.paths = paths



def entries(root: CacheRoot, entity: str, stream_column: str = "stream_id") -> list[Entry]:
    """Every entry (one per filter signature) of ``entity`` under ``root``."""
    return [Entry(root, entity, p.name, stream_column)
            for p in children(root / LAYOUT / entity) if p.is_dir()]

def find_sources(root: CacheRoot, signature: FilterSignature, schema: pa.Schema, fingerprint: str,
                 stream_column: str = "stream_id") -> list[Source]:
    """Entries whose complete windows can answer ``signature``, the exact one first."""
    found: list[Source] = []
    for entry in entries(root, signature.entity, stream_column):
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
        found.append(Source(entry, manifest, stricter))
    found.sort(key=lambda s: (len(s.stricter), s.entry.key != signature.key, s.entry.key))
    return found

def plan(sources: list[Source], streams: list[str], lo: int, hi: int,
         stale_before: int | None = None) -> Plan:
    """Per stream, the intervals of ``[lo, hi)`` each source answers and what is missing.

    Sources are tried in order; a window fetched before ``stale_before`` does not count.
    """
    found = Plan()
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
                found.assigned.setdefault(index, {})[stream_id] = taken
                remaining = subtract(remaining, taken)
        found.missing += [(stream_id, a, b) for a, b in remaining]
    return found

def read_source(
    source: Source,
    assigned: dict[str, list[Interval]],
    schema: pa.Schema,
    query: FilterSignature,
    keys: Sequence[str],
    time_column: str = "start",
    stream_column: str = "stream_id",
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
    stored = file_schema(schema, stream_column)
    try:
        tables = read_parts([source.entry.path(w[1]) for w in wanted], stored,
                            rows=[w[3] for w in wanted])
    except UnreadableFilesError as exc:
        folder = source.entry.folder
        raise UnreadableSourceError(
            source.entry, [relative(p, folder) for p in exc.paths]
        ) from exc
    local = local_filter(query, source.stricter, schema)
    # Files are sorted by the order their entry was created with; another order
    # asked of the same entry re-sorts each file (one stream each, hence no stream key).
    resort = None
    if list(source.manifest.order) != list(keys):
        resort = [k for k in keys if k != stream_column]
    pieces: Pieces = []
    for (stream_id, _, cut, _), table in zip(wanted, tables, strict=True):
        if cut is not None:
            table = table.filter(time_mask(table[time_column], cut))
        if local is not None:
            table = table.filter(local)
        if resort is not None:
            table = sort_table(table, resort)
        pieces.append((stream_id, table))
    return pieces

