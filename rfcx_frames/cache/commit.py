"""How one write of a cache entry commits: under its file lock, or by retried conditional writes.

In a folder a write holds the entry's file lock: the first write of a process deletes
what crashed writers left (nothing unnamed can be a live writer's), and a failed write
deletes every file its manifest does not name. On an object store there is no lock: a
write builds on the manifest version it read and commits with a conditional PUT; one
that loses (:class:`~rfcx_frames.objectstore.ConflictError`) deletes only the files it
wrote itself and runs again on the newer manifest. Leftovers of crashed writers there
wait for ``clear_orphans``, which tells them by age.

Examples
--------
>>> import tempfile, pathlib
>>> from rfcx_frames.cache.entry import Entry
>>> committed(Entry(pathlib.Path(tempfile.mkdtemp()), "d", "k"), lambda batches: 42)
42
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from rfcx_frames.cache.disk import locking, remove_quietly, storage_errors
from rfcx_frames.cache.partitions import Batch
from rfcx_frames.config import CacheRoot
from rfcx_frames.objectstore import ConflictError

#: Tries of one write on an object store before giving up (each lost try means another
#: writer committed, so the entry moved on), with a random pause growing by this much.
COMMIT_ATTEMPTS = 20
COMMIT_BACKOFF_S = 0.05

_T = TypeVar("_T")

# Entry folders this process has already swept of crash leftovers.
_SWEPT: set[str] = set()


class Writable(Protocol):
    """What a write needs of an entry (:class:`~rfcx_frames.cache.entry.Entry`)."""

    root: CacheRoot
    folder: CacheRoot

    def lock(self) -> AbstractContextManager[Any]: ...

    def orphans(self) -> list[CacheRoot]: ...

    def path(self, relative: str) -> CacheRoot: ...


def committed(entry: Writable, once: Callable[[list[Batch]], _T]) -> _T:
    """Run one write of ``entry``: ``once(batches)`` appends each :class:`Batch` it
    starts and commits the manifest; run again from scratch after a lost commit.

    Parameters
    ----------
    entry
        The entry written.
    once
        The write, from loading the manifest to committing it.

    Raises
    ------
    CacheError
        The storage failed, or commits kept losing :data:`COMMIT_ATTEMPTS` times.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from rfcx_frames.cache.entry import Entry
    >>> committed(Entry(pathlib.Path(tempfile.mkdtemp()), "d", "k"), lambda batches: None)
    """
    attempt = 0
    with storage_errors(entry.root):
        while True:
            batches: list[Batch] = []
            try:
                with entry.lock(), _no_orphans_left(entry, batches):
                    return once(batches)
            except ConflictError:
                attempt += 1
                if attempt >= COMMIT_ATTEMPTS:
                    raise
                # Random pauses keep writers that collided from colliding again.
                time.sleep(random.uniform(0, COMMIT_BACKOFF_S * attempt))


@contextlib.contextmanager
def _no_orphans_left(entry: Writable, batches: Sequence[Batch]) -> Iterator[None]:
    """Around a write: first delete the leftovers of writers killed earlier (once per
    process, lock held), and if the write fails, the files it wrote, which no manifest
    names yet (a full or failing disk leaves no half-written part). On an object store
    only the files of ``batches`` are deleted: another unnamed file may be a live
    writer's."""
    if not locking(entry.root):
        try:
            yield
        except BaseException:
            with contextlib.suppress(OSError):
                remove_quietly([entry.path(r) for b in batches for r in b.written])
            raise
        return
    if str(entry.folder) not in _SWEPT:
        remove_quietly(entry.orphans())
        _SWEPT.add(str(entry.folder))
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            remove_quietly(entry.orphans())
        raise
