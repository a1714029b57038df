"""The cache root: layout version, entry locks, atomic writes, storage errors, leftover sweeps.

A root is a local folder (:class:`~pathlib.Path`) or a prefix in an object store
(:class:`~rfcx_frames.objectstore.ObjectPath`); cache modules handle both through the
pathlib methods they share and, where the two differ, through this module: a local file
is written by :mod:`rfcx_frames.files` (temporary, fsync, rename) and guarded by a file
lock; an object is one atomic PUT, and with no locks a manifest is replaced only if it is
still the version read (:func:`write_if`).

Examples
--------
>>> import tempfile
>>> root = open_root(tempfile.mkdtemp())
>>> with lock(root, "detections", "abc"):
...     pass
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pandas as pd
from filelock import FileLock

from rfcx_frames import files
from rfcx_frames.config import CacheRoot, RootArg, cache_root
from rfcx_frames.exceptions import CacheError
from rfcx_frames.objectstore import ObjectPath
from rfcx_frames.timeutil import utc_now

#: The layout folder this version reads and writes (``<root>/v2/...``).
LAYOUT = "v2"
LOCK_TIMEOUT_S = 600.0

#: Crash leftovers (temporaries, ``.part`` downloads) without a lock to prove them dead
#: are removed only once this old: no writer keeps one temporary open that long.
ORPHAN_AGE = pd.Timedelta(minutes=30)


@contextlib.contextmanager
def storage_errors(root: CacheRoot, action: str = "write to") -> Iterator[None]:
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


def open_root(root: RootArg) -> CacheRoot:
    """The cache root (see :func:`~rfcx_frames.config.cache_root`), created if missing;
    an object store's bucket is checked to answer.

    Parameters
    ----------
    root
        An explicit folder, or ``None`` for the configured one.

    Raises
    ------
    CacheError
        When the folder cannot be created (read-only parent, full disk), or the bucket
        cannot be reached (endpoint down, no such bucket, credentials refused).

    Examples
    --------
    >>> import tempfile
    >>> open_root(Path(tempfile.mkdtemp()) / "new").is_dir()
    True
    """
    folder = cache_root(root)
    if isinstance(folder, ObjectPath):
        with storage_errors(folder, "reach"):
            folder.check()
        return folder
    with storage_errors(folder, "create"):
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def stale_files(folder: CacheRoot, patterns: Sequence[str], now: pd.Timestamp | None = None,
                age: pd.Timedelta = ORPHAN_AGE) -> list[CacheRoot]:
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
    found = [path for pattern in patterns for path in folder.glob(pattern)]
    return sorted(set(older(found, now, age)))


def older(paths: Iterable[CacheRoot], now: pd.Timestamp | None = None,
          age: pd.Timedelta = ORPHAN_AGE) -> list[CacheRoot]:
    """The files of ``paths`` last modified more than ``age`` before ``now`` (default:
    the system clock, which file times follow).

    On an object store nothing proves a writer dead (there are no locks), so this age
    is what tells a crashed writer's leftovers from a live writer's uncommitted files.

    Parameters
    ----------
    paths
        Files (local or objects).
    now, age
        Files modified after ``now - age`` are left out.

    Examples
    --------
    >>> older([Path("/nonexistent")])
    []
    """
    limit = ((now if now is not None else utc_now()) - age).timestamp()
    found: list[CacheRoot] = []
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mtime < limit:
                found.append(path)
    return found


def remove_quietly(paths: Iterable[CacheRoot]) -> int:
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


class NoLock:
    """:func:`lock` on an object store: nothing to hold (writers commit with :func:`write_if`).

    Examples
    --------
    >>> with NoLock().acquire(timeout=0):
    ...     pass
    """

    def acquire(self, timeout: float | None = None) -> NoLock:
        """Returns itself at once."""
        return self

    def __enter__(self) -> NoLock:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def locking(root: CacheRoot) -> bool:
    """Whether writers under ``root`` hold file locks (a folder), or commit by conditional
    writes (an object store, where an unnamed file may be a live writer's).

    Examples
    --------
    >>> locking(Path("/c")), locking(ObjectPath("bkt", "c"))
    (True, False)
    """
    return not isinstance(root, ObjectPath)


def lock(root: CacheRoot, *name: str) -> FileLock | NoLock:
    """The inter-process lock of one cache entry (kept outside the entry's folder);
    :class:`NoLock` on an object store.

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
    if not isinstance(root, Path):
        return NoLock()
    folder = root / LAYOUT / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ("-".join(name) + ".lock")), timeout=LOCK_TIMEOUT_S)


def json_bytes(value: Any) -> bytes:
    """The bytes every JSON file of the cache holds (as :func:`rfcx_frames.files.write_json`).

    Examples
    --------
    >>> json_bytes({"b": 1, "a": 2}).splitlines()[1]
    b'  "a": 2,'
    """
    return json.dumps(value, indent=2, sort_keys=True).encode("utf-8")


def read_json(path: CacheRoot) -> Any:
    """The parsed JSON of a file or object; ``None`` when absent or damaged.

    Examples
    --------
    >>> read_json(Path("/nonexistent.json")) is None
    True
    """
    if isinstance(path, ObjectPath):
        try:
            return json.loads(path.read_bytes())
        except (FileNotFoundError, ValueError):
            return None
    return files.read_json(path)


def write_json(path: CacheRoot, value: Any) -> None:
    """Write ``value`` as JSON, atomically (a crash-safe file, or one PUT).

    Parameters
    ----------
    path
        A local file or an object.
    value
        Anything :func:`json.dumps` takes.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.json"
    >>> write_json(target, [1]); read_json(target)
    [1]
    """
    if isinstance(path, ObjectPath):
        path.write_bytes(json_bytes(value))
    else:
        files.write_json(path, value)


@contextlib.contextmanager
def open_atomic(path: CacheRoot) -> Iterator[IO[bytes]]:
    """A binary handle whose content replaces ``path`` on a clean exit, and only then.

    Parameters
    ----------
    path
        A local file (through :func:`rfcx_frames.files.open_atomic`) or an object.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.bin"
    >>> with open_atomic(target) as handle:
    ...     _ = handle.write(b"1")
    >>> target.read_bytes()
    b'1'
    """
    opened = path.open_atomic() if isinstance(path, ObjectPath) else files.open_atomic(path)
    with opened as handle:
        yield handle


def read_versioned(path: CacheRoot) -> tuple[bytes | None, str | None]:
    """A manifest's bytes (``None``: absent) and the version :func:`write_if` checks.

    Locally the version is ``None``: the entry's lock already keeps writers apart.

    Parameters
    ----------
    path
        A local file or an object.

    Examples
    --------
    >>> read_versioned(Path("/nonexistent.json"))
    (None, None)
    """
    try:
        if isinstance(path, ObjectPath):
            data, version = path.read_versioned()
            return data, version
        return path.read_bytes(), None
    except (FileNotFoundError, NotADirectoryError):
        return None, None


def write_if(path: CacheRoot, value: Any, version: str | None) -> None:
    """Replace a manifest with ``value`` (JSON) if nobody replaced it since it was read.

    Parameters
    ----------
    path
        A local file (written under the entry's lock) or an object (a conditional PUT).
    value
        The JSON document.
    version
        What :func:`read_versioned` returned with the bytes the new value was built from.

    Raises
    ------
    rfcx_frames.objectstore.ConflictError
        On an object store, when another writer committed first: the caller starts over
        from the new version.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "m.json"
    >>> write_if(target, {"a": 1}, None); read_json(target)
    {'a': 1}
    """
    if isinstance(path, ObjectPath):
        path.write_if(json_bytes(value), version)
    else:
        files.write_json(path, value)


def remove_tree(path: CacheRoot) -> None:
    """Delete a folder (or prefix) and everything under it, ignoring what is already gone.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> remove_tree(folder); folder.exists()
    False
    """
    if isinstance(path, ObjectPath):
        path.remove_tree()
    else:
        shutil.rmtree(path, ignore_errors=True)



def children(folder: CacheRoot) -> list[CacheRoot]:
    """What lies directly in ``folder`` (files and sub-folders, or objects and prefixes),
    sorted by name; nothing when it does not exist.

    Parameters
    ----------
    folder
        A local folder or a prefix.

    Examples
    --------
    >>> children(Path("/nonexistent"))
    []
    """
    if not folder.is_dir():
        return []
    found: list[CacheRoot] = list(folder.iterdir())
    return sorted(found, key=lambda child: child.name)


def relative(path: CacheRoot, folder: CacheRoot) -> str:
    """``path`` relative to ``folder``, with ``/`` separators.

    Parameters
    ----------
    path
        A file or object under ``folder``.
    folder
        A folder or prefix of the same kind.

    Examples
    --------
    >>> relative(Path("/c/v2/x/y"), Path("/c"))
    'v2/x/y'
    """
    if isinstance(path, ObjectPath) and isinstance(folder, ObjectPath):
        return path.relative_to(folder).as_posix()
    if isinstance(path, Path) and isinstance(folder, Path):
        return path.relative_to(folder).as_posix()
    raise ValueError(f"{path} is not under {folder}")


def store_errors(root: CacheRoot, action: str = "read from") -> contextlib.AbstractContextManager[None]:
    """:func:`storage_errors` on an object store, where every call is a request that may
    fail; nothing on a folder, whose readers have always let their ``OSError`` through.

    Parameters
    ----------
    root
        The cache root, named by the error.
    action
        What was being done to it.

    Examples
    --------
    >>> with store_errors(Path("/c")):
    ...     pass
    """
    return storage_errors(root, action) if isinstance(root, ObjectPath) else contextlib.nullcontext()
