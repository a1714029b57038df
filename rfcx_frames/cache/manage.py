"""Inspect and clear the cache (what ``rfcx-frames cache info|path|clear`` calls).

Examples
--------
>>> import tempfile
>>> info(tempfile.mkdtemp())["entries"]
0
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import Timeout

from rfcx_frames.cache.disk import (
    LAYOUT,
    children,
    lock,
    locking,
    older,
    read_json,
    relative,
    remove_quietly,
    remove_tree,
    stale_files,
    store_errors,
)
from rfcx_frames.cache.entry import Entry
from rfcx_frames.cache.manifest import MANIFEST
from rfcx_frames.cache.modes import parse_duration
from rfcx_frames.cache.whole import WHOLE
from rfcx_frames.config import CacheRoot, RootArg, cache_root
from rfcx_frames.files import TMP_PREFIX
from rfcx_frames.timeutil import utc_now

Root = RootArg

#: The audio store's folder inside the cache folder.
AUDIO = "audio"


def _size(path: CacheRoot) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for child in path.rglob("*"):
        with contextlib.suppress(OSError):
            if child.is_file():
                total += child.stat().st_size
    return total


def _ranged_entries(root: CacheRoot) -> list[Entry]:
    out = []
    for entity_dir in children(root / LAYOUT):
        if not entity_dir.is_dir() or entity_dir.name in (WHOLE, "locks"):
            continue
        out += [Entry(root, entity_dir.name, d.name) for d in children(entity_dir) if d.is_dir()]
    return out


def obsolete_layouts(root: Root = None) -> list[CacheRoot]:
    """Folders of older cache layouts (``v1`` ...), which this version never reads.

    :func:`clear` deletes them; :func:`info` reports their size.

    Parameters
    ----------
    root
        The cache folder holding the layout folders (``v1``, ``v2`` ...); default
        :func:`~rfcx_frames.config.cache_path`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "v1").mkdir()
    >>> [p.name for p in obsolete_layouts(folder)]
    ['v1']
    """
    folder = cache_root(root)
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir()
        if p.is_dir() and re.fullmatch(r"v\d+", p.name) and p.name != LAYOUT
    )


def _entry_orphans(entry: Entry, remove: bool, now: pd.Timestamp | None) -> list[CacheRoot]:
    """An entry's orphans, taken under its lock so a live writer's files are never
    counted; a busy entry is skipped, one whose lock cannot be created (a read-only
    folder) is only reported. On an object store (no lock) only old ones count."""
    try:
        with entry.lock().acquire(timeout=0):
            found = entry.orphans()
            if not locking(entry.root):
                found = older(found, now)
            if remove:
                remove_quietly(found)
            return found
    except Timeout:
        return []
    except OSError:
        return [] if remove else entry.orphans()


_TMP_KEY = re.compile(rf"^{re.escape(TMP_PREFIX)}[0-9a-f]+-([0-9a-f]+)[-.]")


def _whole_orphans(root: CacheRoot, remove: bool, now: pd.Timestamp | None) -> list[CacheRoot]:
    """Listing files named by no sidecar, and temporaries, each under its key's lock (on
    an object store, without locks, only old ones)."""
    base = root / LAYOUT / WHOLE
    found: list[CacheRoot] = []
    if not base.is_dir():
        return found
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        for key, paths in sorted(_files_by_key(folder).items()):
            try:
                with lock(root, WHOLE, folder.name, key).acquire(timeout=0):
                    stray = _unnamed(folder, key, paths)
                    if not locking(root):
                        stray = older(stray, now)
                    if remove:
                        remove_quietly(stray)
            except Timeout:
                continue
            except OSError:
                # No lock can be taken (a read-only folder): report, never remove.
                if remove:
                    continue
                stray = _unnamed(folder, key, paths)
            found += stray
    return found


def _files_by_key(folder: CacheRoot) -> dict[str, list[CacheRoot]]:
    """The data files and temporaries of a listing folder, by the key they belong to."""
    by_key: dict[str, list[CacheRoot]] = {}
    for path in folder.iterdir():
        match = _TMP_KEY.match(path.name)
        if match:
            by_key.setdefault(match.group(1), []).append(path)
        elif path.suffix == ".parquet" and "-" in path.name:
            by_key.setdefault(path.name.split("-", 1)[0], []).append(path)
    return by_key


def _unnamed(folder: CacheRoot, key: str, paths: list[CacheRoot]) -> list[CacheRoot]:
    """The files of ``paths`` that the key's sidecar does not name."""
    meta = read_json(folder / f"{key}.json")
    named = meta.get("file") if isinstance(meta, dict) else None
    return [p for p in paths if p.name != named and p.is_file()]


def orphans(root: Root = None, now: pd.Timestamp | None = None) -> list[CacheRoot]:
    """Crash leftovers in the cache folder, none of which any reader uses.

    Data files and temporaries of a time-ranged entry that its manifest does not name
    (a ``refresh`` killed midway), listing files named by no sidecar, audio-store
    temporaries and ``.part`` downloads. Files of an entry or listing count only while
    its lock is free (no writer is at work); temporaries without a lock only once
    older than :data:`~rfcx_frames.cache.disk.ORPHAN_AGE` before ``now``.

    Parameters
    ----------
    root
        The cache folder; default :func:`~rfcx_frames.config.cache_path`.
    now
        The time temporaries' ages are measured from (default: the system clock).

    Examples
    --------
    >>> import tempfile
    >>> orphans(tempfile.mkdtemp())
    []
    """
    folder = cache_root(root)
    with store_errors(folder):
        return _orphans(folder, now, remove=False)


def _orphans(folder: CacheRoot, now: pd.Timestamp | None, remove: bool) -> list[CacheRoot]:
    found: list[CacheRoot] = []
    if not folder.is_dir():
        return found
    for entry in _ranged_entries(folder):
        found += _entry_orphans(entry, remove, now)
    found += _whole_orphans(folder, remove, now)
    loose: list[CacheRoot] = []
    if not isinstance(folder, Path):
        return sorted(set(found))  # audio and downloads are local files only
    audio = folder / AUDIO
    if audio.is_dir():
        for sub in [audio, *(p for p in audio.rglob("*") if p.is_dir())]:
            loose += stale_files(sub, [f"{TMP_PREFIX}*"], now)
    for sub in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        loose += stale_files(sub, ["*.part"], now)
    if remove:
        remove_quietly(loose)
    return sorted(set(found + loose))


def clear_orphans(root: Root = None, now: pd.Timestamp | None = None) -> dict[str, int]:
    """Delete the crash leftovers :func:`orphans` lists (entries stay), returning the
    count of ``files`` removed and the ``bytes`` freed.

    Parameters
    ----------
    root, now
        As for :func:`orphans`.

    Examples
    --------
    >>> import tempfile
    >>> clear_orphans(tempfile.mkdtemp())
    {'files': 0, 'bytes': 0}
    """
    folder = cache_root(root)
    with store_errors(folder, "clear"):
        return _clear_orphans(folder, now)


def _clear_orphans(folder: CacheRoot, now: pd.Timestamp | None) -> dict[str, int]:
    sizes = {p: _size(p) for p in _orphans(folder, now, remove=False)}
    gone = [p for p in _orphans(folder, now, remove=True) if not p.exists()]
    return {"files": len(gone), "bytes": sum(sizes.get(p, 0) for p in gone)}


def _whole_sidecars(root: CacheRoot) -> list[CacheRoot]:
    base = root / LAYOUT / WHOLE
    return sorted(base.glob("*/*.json"), key=str) if base.is_dir() else []


def info(root: Root = None, now: pd.Timestamp | None = None) -> dict[str, Any]:
    """Size, entries and complete windows per stream of the cache at ``root``.

    Parameters
    ----------
    root
        The cache folder; default :func:`~rfcx_frames.config.cache_path`.
    now
        As for :func:`orphans`.

    Returns
    -------
    dict
        ``path``, ``size_bytes``, ``entries`` (count), ``ranged`` (one dict per
        (entity, signature): ``entity``, ``key``, ``signature``, ``updated``,
        ``size_bytes``, ``rows``, ``streams`` → ``{stream_id: {"windows": [[start,
        end], ...], "rows", "files"}}``), ``whole`` (one dict per cached listing) and
        ``obsolete_bytes`` (older layouts left by earlier versions, freed by
        :func:`clear`), ``orphans`` (crash leftovers, see :func:`orphans`, as paths
        relative to the folder) and ``orphan_bytes`` (freed by :func:`clear_orphans`).

    Examples
    --------
    >>> import tempfile
    >>> sorted(info(tempfile.mkdtemp()))
    ['entries', 'obsolete_bytes', 'orphan_bytes', 'orphans', 'path', 'ranged', 'size_bytes', 'whole']
    """
    folder = cache_root(root)
    with store_errors(folder):
        return _info(folder, now)


def _info(folder: CacheRoot, now: pd.Timestamp | None) -> dict[str, Any]:
    ranged = [d for d in map(_entry_info, _ranged_entries(folder)) if d is not None]
    whole = [d for d in map(_listing_info, _whole_sidecars(folder)) if d is not None]
    leftovers = _orphans(folder, now, remove=False)
    return {
        "path": str(folder),
        "size_bytes": _size(folder) if folder.exists() else 0,
        "entries": len(ranged) + len(whole),
        "ranged": ranged,
        "whole": whole,
        "obsolete_bytes": sum(_size(p) for p in obsolete_layouts(folder)),
        "orphans": [relative(p, folder) for p in leftovers],
        "orphan_bytes": sum(_size(p) for p in leftovers),
    }


def _entry_info(entry: Entry) -> dict[str, Any] | None:
    """What :func:`info` reports of one time-ranged entry (``None``: no readable manifest)."""
    manifest = entry.load()
    if manifest is None:
        return None
    doc = manifest.to_json()
    return {
        "entity": entry.entity,
        "key": entry.key,
        "signature": manifest.signature,
        "updated": manifest.updated,
        "size_bytes": _size(entry.folder),
        "rows": doc["rows"],
        "streams": {
            sid: {"windows": st["complete"], "rows": st["rows"], "files": len(st["files"])}
            for sid, st in doc["streams"].items()
        },
    }


def _listing_info(sidecar: CacheRoot) -> dict[str, Any] | None:
    """What :func:`info` reports of one cached listing (``None``: unreadable sidecar)."""
    meta = read_json(sidecar)
    if not isinstance(meta, dict) or "file" not in meta:
        return None
    data = sidecar.parent / str(meta["file"])
    return {
        "entity": meta.get("entity"),
        "key": sidecar.stem,
        "params": meta.get("params"),
        "created": meta.get("created"),
        "expires": meta.get("expires"),
        "rows": meta.get("rows"),
        "size_bytes": _size(data) if data.exists() else 0,
    }


def windows_frame(root: Root = None) -> pd.DataFrame:
    """One row per complete window: entity, key, stream_id, start, end.

    Parameters
    ----------
    root
        As for :func:`info`, whose ``ranged`` windows these are.

    Examples
    --------
    >>> import tempfile
    >>> list(windows_frame(tempfile.mkdtemp()).columns)
    ['entity', 'key', 'stream_id', 'start', 'end']
    """
    rows = [
        (entry["entity"], entry["key"], sid, start, end)
        for entry in info(root)["ranged"]
        for sid, state in entry["streams"].items()
        for start, end in state["windows"]
    ]
    frame = pd.DataFrame(rows, columns=["entity", "key", "stream_id", "start", "end"])
    for column in ("start", "end"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def clear(
    root: Root = None,
    older_than: pd.Timedelta | str | None = None,
    entity: str | None = None,
    now: pd.Timestamp | None = None,
) -> dict[str, int]:
    """Delete cache entries, all or those last written more than ``older_than`` ago.

    A time-ranged entry (one entity and filter signature) goes as a whole when its
    manifest's ``updated`` time is older; a whole-result entry when its ``created``
    time is. ``entity`` restricts the clearing to one entity. Folders of older cache
    layouts (see :func:`obsolete_layouts`) are deleted by every call without
    ``entity``, each counted as one entry.

    Parameters
    ----------
    root
        The cache folder; default :func:`~rfcx_frames.config.cache_path`.
    older_than
        Only entries last written longer ago than this duration (``"7d"``, a
        ``Timedelta``); default: all.
    entity
        Only this entity's entries (``"detections"``, ``"streams"`` ...).
    now
        The time ``older_than`` counts back from (default: the system clock).

    Returns
    -------
    dict
        ``entries`` removed and ``bytes`` freed.

    Examples
    --------
    >>> import tempfile
    >>> clear(tempfile.mkdtemp(), older_than="7d")
    {'entries': 0, 'bytes': 0}
    """
    folder = cache_root(root)
    with store_errors(folder, "clear"):
        return _clear(folder, older_than, entity, now)


def _clear(folder: CacheRoot, older_than: pd.Timedelta | str | None, entity: str | None,
           now: pd.Timestamp | None) -> dict[str, int]:
    limit = None
    if older_than is not None:
        limit = (now if now is not None else utc_now()) - parse_duration(older_than)
    sizes = [_clear_entry(e, limit) for e in _ranged_entries(folder)
             if entity in (None, e.entity)]
    sizes += [_clear_listing(c, limit) for c in _whole_sidecars(folder)
              if entity in (None, c.parent.name)]
    if entity is None:
        sizes += [_remove_tree(old) for old in obsolete_layouts(folder)]
    freed = [size for size in sizes if size is not None]
    return {"entries": len(freed), "bytes": sum(freed)}


def _remove_tree(folder: CacheRoot) -> int:
    """Delete a folder; the bytes freed."""
    size = _size(folder)
    remove_tree(folder)
    return size


def _clear_entry(entry: Entry, limit: pd.Timestamp | None) -> int | None:
    """Delete a time-ranged entry updated before ``limit`` (any, without one); the bytes
    freed, or ``None`` when it is kept."""
    with entry.lock():
        manifest = entry.load()
        if limit is not None and manifest is not None and pd.Timestamp(manifest.updated) >= limit:
            return None
        size = _size(entry.folder)
        # Forget first (one atomic unlink), then delete the rows.
        with contextlib.suppress(FileNotFoundError):
            (entry.folder / MANIFEST).unlink()
        remove_tree(entry.folder)
    return size


def _clear_listing(sidecar: CacheRoot, limit: pd.Timestamp | None) -> int | None:
    """Delete a cached listing created before ``limit`` (any, without one); the bytes
    freed, or ``None`` when it is kept."""
    meta = read_json(sidecar)
    created = meta.get("created") if isinstance(meta, dict) else None
    if limit is not None and created is not None and pd.Timestamp(created) >= limit:
        return None
    size = _size(sidecar)
    # The sidecar goes first: without it the data file answers nothing.
    with contextlib.suppress(FileNotFoundError):
        sidecar.unlink()
    for data in sidecar.parent.glob(f"{sidecar.stem}-*.parquet"):
        size += _size(data)
        with contextlib.suppress(FileNotFoundError):
            data.unlink()
    return size
