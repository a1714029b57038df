"""Entry manifests: which windows of which streams an entry holds, in which files, since when.

An entry's ``_manifest.json`` is the truth about it: a data file counts only once the
manifest names it, and a window is complete only once the manifest lists it. Instants
are stored as ISO text (:func:`~rfcx_frames.timeutil.ns_to_iso`) and held as integer
nanoseconds.

Examples
--------
>>> m = Manifest("detections", "k", {}, "schema", ns_to_iso(0), ns_to_iso(0))
>>> m.streams["s1"] = StreamState(complete=[(0, 10)])
>>> Manifest.from_json(m.to_json()).streams["s1"].complete
[(0, 10)]
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from rfcx_frames.cache.disk import read_json
from rfcx_frames.cache.intervals import Interval, Stamped, clip, normalize, subtract
from rfcx_frames.config import CacheRoot
from rfcx_frames.timeutil import iso_to_ns, ns_to_iso

#: The file names of an entry folder: its manifest and its signature in clear.
MANIFEST = "_manifest.json"
SIGNATURE_FILE = "_signature.json"


@dataclass
class PartFile:
    """One Parquet file of a stream-day partition and the windows its rows fill."""

    path: str
    date: str
    coverage: list[Interval]
    rows: int
    bytes: int
    written: str

    def to_json(self) -> dict[str, Any]:
        """JSON form (instants as ISO text).

        Examples
        --------
        >>> PartFile("p", "1970-01-01", [(0, 1)], 0, 0, "t").to_json()["coverage"]
        [['1970-01-01T00:00:00+00:00', '1970-01-01T00:00:00.000000001+00:00']]
        """
        return {
            "path": self.path,
            "date": self.date,
            "coverage": [[ns_to_iso(s), ns_to_iso(e)] for s, e in self.coverage],
            "rows": self.rows,
            "bytes": self.bytes,
            "written": self.written,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartFile:
        """Inverse of :meth:`to_json`: instants are parsed back to nanoseconds and the
        coverage is normalized.

        Parameters
        ----------
        data
            One element of a stream's ``files`` list.

        Examples
        --------
        >>> p = PartFile("p", "1970-01-01", [(0, 5)], 1, 2, "t")
        >>> PartFile.from_json(p.to_json()) == p
        True
        """
        return cls(
            path=str(data["path"]),
            date=str(data["date"]),
            coverage=normalize((iso_to_ns(s), iso_to_ns(e)) for s, e in data["coverage"]),
            rows=int(data["rows"]),
            bytes=int(data["bytes"]),
            written=str(data["written"]),
        )


@dataclass
class StreamState:
    """The complete windows of one stream, when each was fetched, and the files of their rows.

    ``fetched`` covers ``complete`` exactly once written (windows dropped from
    ``complete`` are dropped from it on writing).
    """

    complete: list[Interval] = field(default_factory=list)
    files: list[PartFile] = field(default_factory=list)
    fetched: list[Stamped] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON form.

        Examples
        --------
        >>> StreamState().to_json()
        {'complete': [], 'files': [], 'rows': 0, 'fetched': []}
        """
        return {
            "complete": [[ns_to_iso(s), ns_to_iso(e)] for s, e in self.complete],
            "files": [f.to_json() for f in self.files],
            "rows": sum(f.rows for f in self.files),
            "fetched": [[ns_to_iso(s), ns_to_iso(e), ns_to_iso(t)]
                        for s, e, t in clip(self.fetched, self.complete)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], default_fetched: int = 0) -> StreamState:
        """Inverse of :meth:`to_json`.

        Complete windows without a fetch time (manifests written before fetch times were
        kept) count as fetched at ``default_fetched``, the manifest's creation: the
        oldest they can be.

        Parameters
        ----------
        data
            The parsed JSON of one stream.
        default_fetched
            The fetch time (ns) of complete windows that have none.

        Examples
        --------
        >>> StreamState.from_json({"complete": [], "files": []})
        StreamState(complete=[], files=[], fetched=[])
        """
        complete = normalize((iso_to_ns(s), iso_to_ns(e)) for s, e in data["complete"])
        fetched: list[Stamped] = sorted(
            (iso_to_ns(s), iso_to_ns(e), iso_to_ns(t)) for s, e, t in data.get("fetched", []))
        unstamped = subtract(complete, [(s, e) for s, e, _ in fetched])
        if unstamped:
            fetched = sorted([*fetched, *((s, e, default_fetched) for s, e in unstamped)])
        return cls(
            complete=complete,
            files=[PartFile.from_json(f) for f in data["files"]],
            fetched=fetched,
        )


MANIFEST_KEYS: frozenset[str] = frozenset(
    {"format", "entity", "key", "signature", "schema", "order", "created", "updated", "rows",
     "streams"}
)


@dataclass
class Manifest:
    """Which windows of which streams one (entity, signature) entry holds completely.

    ``order`` names the columns every data file of the entry is sorted by, fixed when
    the entry is created, so a reader knows whether files are already in the order it
    wants.
    """

    entity: str
    key: str
    signature: dict[str, Any]
    schema: str
    created: str
    updated: str
    streams: dict[str, StreamState] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON form; its top-level keys are exactly :data:`MANIFEST_KEYS`.

        Examples
        --------
        >>> sorted(Manifest("d", "k", {}, "s", "t", "t").to_json()) == sorted(MANIFEST_KEYS)
        True
        """
        return {
            "format": 1,
            "entity": self.entity,
            "key": self.key,
            "signature": self.signature,
            "schema": self.schema,
            "order": list(self.order),
            "created": self.created,
            "updated": self.updated,
            "rows": sum(f.rows for s in self.streams.values() for f in s.files),
            "streams": {sid: st.to_json() for sid, st in sorted(self.streams.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Inverse of :meth:`to_json`; raises ``KeyError``/``ValueError`` on a bad document.

        Parameters
        ----------
        data
            The parsed JSON of a whole manifest.

        Examples
        --------
        >>> m = Manifest("d", "k", {}, "s", ns_to_iso(0), ns_to_iso(0))
        >>> Manifest.from_json(m.to_json()) == m
        True
        """
        if data.get("format") != 1:
            raise ValueError(f"unknown manifest format {data.get('format')!r}")
        created = iso_to_ns(str(data["created"]))
        return cls(
            entity=str(data["entity"]),
            key=str(data["key"]),
            signature=dict(data["signature"]),
            schema=str(data["schema"]),
            created=str(data["created"]),
            updated=str(data["updated"]),
            streams={sid: StreamState.from_json(st, created)
                     for sid, st in data["streams"].items()},
            order=[str(k) for k in data.get("order", [])],
        )


_SHARED: dict[str, tuple[bytes, Manifest]] = {}
_SHARED_LOCK = threading.Lock()


def load_manifest(path: CacheRoot, *, shared: bool = False) -> Manifest | None:
    """The manifest at ``path``, or ``None`` when absent or damaged.

    A manifest that cannot be opened or read (``EMFILE``, ``EIO``) raises its
    ``OSError``: taking it for absent would let the next write forget its files.

    With ``shared=True`` the parsed manifest is kept in memory and handed out again
    while the file holds the very same bytes (reading them is cheap; parsing the
    windows of hundreds of files is not). A shared manifest must not be modified;
    writers load their own copy.

    Parameters
    ----------
    path
        The ``_manifest.json`` file (or object).
    shared
        Reuse the parsed copy while the file's bytes are unchanged.

    Examples
    --------
    >>> import pathlib
    >>> load_manifest(pathlib.Path("/nonexistent/manifest.json")) is None
    True
    """
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if shared:
        with _SHARED_LOCK:
            hit = _SHARED.get(str(path))
        if hit is not None and hit[0] == raw:
            return hit[1]
    manifest = parse_manifest(raw)
    if shared and manifest is not None:
        with _SHARED_LOCK:
            _SHARED[str(path)] = (raw, manifest)
    return manifest


def parse_manifest(raw: bytes) -> Manifest | None:
    """The manifest these bytes hold, or ``None`` when they are not one.

    Parameters
    ----------
    raw
        The bytes of a ``_manifest.json``.

    Examples
    --------
    >>> parse_manifest(b"not json") is None
    True
    """
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return Manifest.from_json(data)
    except (KeyError, ValueError, TypeError):
        return None


def read_signature(folder: CacheRoot) -> dict[str, object] | None:
    """The ``_signature.json`` of an entry folder, or ``None``.

    Parameters
    ----------
    folder
        The entry folder.

    Examples
    --------
    >>> import pathlib
    >>> read_signature(pathlib.Path("/nonexistent")) is None
    True
    """
    data = read_json(folder / SIGNATURE_FILE)
    return data if isinstance(data, dict) else None
