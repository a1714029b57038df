"""The cache folder on disk: layout version, entry locks, storage errors, leftover sweeps.

Files themselves are written by :mod:`rfcx_frames.files` (crash-safe) and
:mod:`rfcx_frames.cache.parquet`; this module holds what every cache writer shares
around them.

Examples
--------
>>> import tempfile
>>> root = open_root(tempfile.mkdtemp())
>>> with lock(root, "detections", "abc"):
...     pass
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd
from filelock import FileLock

from rfcx_frames.config import cache_path
from rfcx_frames.exceptions import CacheError
from rfcx_frames.timeutil import utc_now

#: The layout folder this version reads and writes (``<root>/v2/...``).
LAYOUT = "v2"
LOCK_TIMEOUT_S = 600.0

#: Crash leftovers (temporaries, ``.part`` downloads) without a lock to prove them dead
#: are removed only once this old: no writer keeps one temporary open that long.
ORPHAN_AGE = pd.Timedelta(minutes=30)


@contextlib.contextmanager
def storage_errors(root: Path, action: str = "write to") -> Iterator[None]:
    """Turn an ``OSError`` (or SQLite error) of cache I/O into one :class:`CacheError`.

    Wrap only file-system work: network errors are ``OSError`` too.

    Parameters
    ----------
    root
        The cache folder, named by the error.
    action
        What was being done to it, for the message (``"write to"``, ``"create"``).

    Examples
    --------
    >>> try:
    ...     with storage_errors(Path("/c")):
    ...         raise OSError(28, "No space left on device")
    ... except CacheError as err:
    ...     print(err.path)
    /c
    """
    try:
        yield
    except CacheError:
        raise
    except (OSError, sqlite3.Error) as exc:
        raise CacheError(root, exc, action=action) from exc


def open_root(root: str | os.PathLike[str] | None) -> Path:
    """The cache folder (see :func:`~rfcx_frames.config.cache_path`), created if missing.

    Parameters
    ----------
    root
        An explicit folder, or ``None`` for the configured one.

    Raises
    ------
    CacheError
        When the folder cannot be created (read-only parent, full disk).

    Examples
    --------
    >>> import tempfile
    >>> open_root(Path(tempfile.mkdtemp()) / "new").is_dir()
    True
    """
    folder = cache_path(root)
    with storage_errors(folder, "create"):
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def stale_files(folder: Path, patterns: Sequence[str], now: pd.Timestamp | None = None,
                age: pd.Timedelta = ORPHAN_AGE) -> list[Path]:
    """Files directly in ``folder`` matching a glob of ``patterns``, last modified more
    than ``age`` before ``now`` (default: the system clock, which file times follow).

    Parameters
    ----------
    folder
        Where to look (not recursive).
    patterns
        Glob patterns of file names.
    now, age
        Files modified after ``now - age`` are kept out.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / ".tmp-x").write_text("")
    0
    >>> stale_files(folder, [".tmp-*"], now=pd.Timestamp("2200-01-01", tz="UTC"))[0].name
    '.tmp-x'
    """
    limit = ((now if now is not None else utc_now()) - age).timestamp()
    found: list[Path] = []
    for pattern in patterns:
        for path in folder.glob(pattern):
            with contextlib.suppress(OSError):
                if path.is_file() and path.stat().st_mtime < limit:
                    found.append(path)
    return sorted(set(found))


def remove_quietly(paths: Iterable[Path]) -> int:
    """Delete files, ignoring those already gone or not deletable; returns how many went.

    Cleaning leftovers must never turn a read into a failure (a read-only cache).

    Parameters
    ----------
    paths
        The files to delete.

    Examples
    --------
    >>> import tempfile
    >>> leftover = Path(tempfile.mkdtemp()) / ".tmp-x"
    >>> _ = leftover.write_bytes(b"")
    >>> remove_quietly([leftover, Path("/nonexistent/x")])
    1
    """
    removed = 0
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


def lock(root: Path, *name: str) -> FileLock:
    """The inter-process lock of one cache entry (kept outside the entry's folder).

    Parameters
    ----------
    root
        The cache folder.
    *name
        The parts naming the entry (entity, key ...), joined into the lock's file name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with lock(pathlib.Path(tempfile.mkdtemp()), "detections", "abc"):
    ...     pass
    """
    folder = root / LAYOUT / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ("-".join(name) + ".lock")), timeout=LOCK_TIMEOUT_S)
