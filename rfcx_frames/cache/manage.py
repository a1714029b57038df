"""Inspect and clear the cache (what ``rfcx-frames cache info|path|clear`` calls).

Examples
--------
>>> import tempfile
>>> info(tempfile.mkdtemp())["entries"]
0
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from rfcx_frames.cache.config import cache_path, parse_duration
from rfcx_frames.cache.entry import Entry
from rfcx_frames.cache.store import LAYOUT, MANIFEST, read_json
from rfcx_frames.cache.whole import WHOLE
from rfcx_frames.timeutil import utc_now

Root = str | os.PathLike[str] | None


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for child in path.rglob("*"):
        with contextlib.suppress(OSError):
            if child.is_file():
                total += child.stat().st_size
    return total


def _ranged_entries(root: Path) -> list[Entry]:
    base = root / LAYOUT
    if not base.is_dir():
        return []
    out = []
    for entity_dir in sorted(base.iterdir()):
        if not entity_dir.is_dir() or entity_dir.name in (WHOLE, "locks"):
            continue
        out += [
            Entry(root, entity_dir.name, d.name) for d in sorted(entity_dir.iterdir()) if d.is_dir()
        ]
    return out


def obsolete_layouts(root: Root = None) -> list[Path]:
    """Folders of older cache layouts (``v1`` ...), which this version never reads.

    :func:`clear` deletes them; :func:`info` reports their size.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "v1").mkdir()
    >>> [p.name for p in obsolete_layouts(folder)]
    ['v1']
    """
    folder = cache_path(root)
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir()
        if p.is_dir() and re.fullmatch(r"v\d+", p.name) and p.name != LAYOUT
    )


def _whole_sidecars(root: Path) -> list[Path]:
    base = root / LAYOUT / WHOLE
    return sorted(base.glob("*/*.json")) if base.is_dir() else []


def info(root: Root = None) -> dict[str, Any]:
    """Size, entries and complete windows per stream of the cache at ``root``.

    Returns
    -------
    dict
        ``path``, ``size_bytes``, ``entries`` (count), ``ranged`` (one dict per
        (entity, signature): ``entity``, ``key``, ``signature``, ``updated``,
        ``size_bytes``, ``rows``, ``streams`` → ``{stream_id: {"windows": [[start,
        end], ...], "rows", "files"}}``), ``whole`` (one dict per cached listing) and
        ``obsolete_bytes`` (older layouts left by earlier versions, freed by
        :func:`clear`).

    Examples
    --------
    >>> import tempfile
    >>> sorted(info(tempfile.mkdtemp()))
    ['entries', 'obsolete_bytes', 'path', 'ranged', 'size_bytes', 'whole']
    """
    folder = cache_path(root)
    ranged: list[dict[str, Any]] = []
    for entry in _ranged_entries(folder):
        manifest = entry.load()
        if manifest is None:
            continue
        doc = manifest.to_json()
        ranged.append(
            {
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
        )
    whole: list[dict[str, Any]] = []
    for sidecar in _whole_sidecars(folder):
        meta = read_json(sidecar)
        if not isinstance(meta, dict) or "file" not in meta:
            continue
        data = sidecar.parent / str(meta["file"])
        whole.append(
            {
                "entity": meta.get("entity"),
                "key": sidecar.stem,
                "params": meta.get("params"),
                "created": meta.get("created"),
                "expires": meta.get("expires"),
                "rows": meta.get("rows"),
                "size_bytes": _size(data) if data.exists() else 0,
            }
        )
    return {
        "path": str(folder),
        "size_bytes": _size(folder) if folder.exists() else 0,
        "entries": len(ranged) + len(whole),
        "ranged": ranged,
        "whole": whole,
        "obsolete_bytes": sum(_size(p) for p in obsolete_layouts(folder)),
    }


def windows_frame(root: Root = None) -> pd.DataFrame:
    """One row per complete window: entity, key, stream_id, start, end.

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
    folder = cache_path(root)
    limit = None
    if older_than is not None:
        limit = (now if now is not None else utc_now()) - parse_duration(older_than)
    removed = freed = 0
    for entry in _ranged_entries(folder):
        if entity is not None and entry.entity != entity:
            continue
        with entry.lock():
            manifest = entry.load()
            if (
                limit is not None
                and manifest is not None
                and pd.Timestamp(manifest.updated) >= limit
            ):
                continue
            size = _size(entry.folder)
            # Forget first (one atomic unlink), then delete the rows.
            with contextlib.suppress(FileNotFoundError):
                (entry.folder / MANIFEST).unlink()
            shutil.rmtree(entry.folder, ignore_errors=True)
        removed += 1
        freed += size
    for sidecar in _whole_sidecars(folder):
        if entity is not None and sidecar.parent.name != entity:
            continue
        meta = read_json(sidecar)
        created = meta.get("created") if isinstance(meta, dict) else None
        if limit is not None and created is not None and pd.Timestamp(created) >= limit:
            continue
        size = _size(sidecar)
        with contextlib.suppress(FileNotFoundError):
            sidecar.unlink()
        for data in sidecar.parent.glob(f"{sidecar.stem}-*.parquet"):
            size += _size(data)
            with contextlib.suppress(FileNotFoundError):
                data.unlink()
        removed += 1
        freed += size
    if entity is None:
        for old in obsolete_layouts(folder):
            freed += _size(old)
            shutil.rmtree(old, ignore_errors=True)
            removed += 1
    return {"entries": removed, "bytes": freed}
