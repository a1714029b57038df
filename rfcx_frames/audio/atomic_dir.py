"""A folder written as a whole: built beside its target, sealed by a manifest, switched in.

A training set is many files that only make sense together (labels row ``i`` describes
``audio/00000i.npz``). Rewriting them one by one in place lets a crash leave old labels
over new audio. Instead the new folder is built as a hidden sibling
``.<name>.new-<uuid>``; ``manifest.json``, written last, names every file with its size
and SHA-256; then the sibling takes the target's place:

* on Linux one ``renameat2(RENAME_EXCHANGE)`` swaps the two folders atomically;
* elsewhere the old folder is renamed aside (``.<name>.old-<uuid>``) and the new one into
  place; a crash between the two renames leaves no target, and the next writer or reader
  (under the same lock) moves the sealed new folder in, or else the old one back.

Writers and recovering readers hold the lock file ``.<name>.lock`` beside the target, so
leftovers (``.new-*``, ``.old-*``) are removed only when no writer is at work.

Files inside the staging folder are written with :func:`rfcx_frames.files.write_bytes`.

A resumable build (``replacing(..., resume=key)``) stages in ``.<name>.partial-<key>``
instead, which a failure leaves in place: the next build with the same key carries on
with what it holds, and a build with another key removes it.

Examples
--------
>>> MANIFEST
'manifest.json'
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from rfcx_frames.files import fsync_dir, write_json

MANIFEST = "manifest.json"
LOCK_TIMEOUT_S = 600.0
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class TrainingSetError(ValueError):
    """A training-set folder is incomplete or does not match its manifest.

    Parameters
    ----------
    message
        What is wrong (a file missing, changed or added to the labels).
    path
        The folder or file; kept as ``path``.
    """

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def _lock(target: Path) -> FileLock:
    return FileLock(str(target.parent / f".{target.name}.lock"), timeout=LOCK_TIMEOUT_S)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(done == 0)


def _siblings(target: Path, kind: str) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.{kind}-*"))


def _sealed(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def _recover(target: Path) -> None:
    """With the lock held: finish an interrupted switch, then remove leftovers."""
    if not target.exists():
        for candidate in [*_siblings(target, "new"), *_siblings(target, "old")]:
            if _sealed(candidate):
                os.rename(candidate, target)
                fsync_dir(target.parent)
                break
    for leftover in [*_siblings(target, "new"), *_siblings(target, "old")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _check_target(target: Path, is_ours: list[str]) -> None:
    if target.exists() and not target.is_dir():
        raise ValueError(f"out_dir {target} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()) and not any(
            (target / name).exists() for name in is_ours):
        raise ValueError(
            f"out_dir {target} is not empty and holds no training set; it is replaced as a "
            "whole, so choose a new or empty folder")


def _staging(target: Path, resume: str | None) -> Path:
    """A fresh staging folder, or the kept one of an interrupted build with this key."""
    if resume is None:
        staging = target.parent / f".{target.name}.new-{uuid.uuid4().hex}"
        staging.mkdir()
        return staging
    staging = target.parent / f".{target.name}.partial-{resume}"
    for other in _siblings(target, "partial"):
        if other != staging:
            shutil.rmtree(other, ignore_errors=True)
    staging.mkdir(exist_ok=True)
    (staging / MANIFEST).unlink(missing_ok=True)
    return staging


@contextlib.contextmanager
def replacing(target: Path, is_ours: tuple[str, ...] = (MANIFEST,),
              resume: str | None = None) -> Iterator[Path]:
    """Build a folder's new content in a staging folder; on success switch it in whole.

    The block writes files with :func:`rfcx_frames.files.write_bytes` into the yielded
    staging folder; the manifest is written after the block, then the folder replaces
    ``target``. On an exception the staging folder is removed and ``target`` is untouched.

    Parameters
    ----------
    target
        The folder to create or replace. An existing non-empty folder must hold one of
        ``is_ours`` (it is replaced entirely, so it must be one of ours).
    is_ours
        File names that mark a folder as one this module wrote.
    resume
        A key naming what is built (e.g. a hash of the plan): the staging folder is kept
        after a failure and reused by the next build with the same key.

    Yields
    ------
    Path
        The staging folder to write into.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "t"
    >>> from rfcx_frames.files import write_bytes
    >>> with replacing(target) as staging:
    ...     write_bytes(staging / "x" / "y.bin", b"1")
    >>> sorted(p.name for p in target.iterdir())
    ['manifest.json', 'x']
    >>> read_verified(target, load_manifest(target), "x/y.bin")
    b'1'
    """
    target = Path(os.path.abspath(target))
    _check_target(target, list(is_ours))
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target):
        _recover(target)
        staging = _staging(target, resume)
        done = False
        try:
            yield staging
            files = {
                path.relative_to(staging).as_posix(): _describe(path)
                for path in sorted(staging.rglob("*")) if path.is_file()
            }
            write_json(staging / MANIFEST, {"format": 1, "files": files})
            fsync_dir(staging)
            _switch(staging, target)
            done = True
        finally:
            if done or resume is None:
                shutil.rmtree(staging, ignore_errors=True)


def _switch(staging: Path, target: Path) -> None:
    aside = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
    if not target.exists():
        os.rename(staging, target)
    elif _exchange(staging, target):
        # The staging name now holds the old folder: move it out of the ".new-" names
        # that recovery may promote, before it is removed piece by piece.
        os.rename(staging, aside)
    else:
        # A crash between these two renames leaves no target: recovery promotes the
        # sealed new folder (or else the old one) under the lock.
        os.rename(target, aside)
        os.rename(staging, target)
    fsync_dir(target.parent)
    for old in _siblings(target, "old"):
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(target.parent)


def _describe(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


@contextlib.contextmanager
def reading(target: Path) -> Iterator[Path]:
    """Hold the folder's lock while reading it, after finishing an interrupted switch.

    Where the lock cannot be taken (a read-only location) the folder is read as it is.

    Examples
    --------
    >>> import tempfile
    >>> with reading(Path(tempfile.mkdtemp()) / "t") as folder:
    ...     folder.name
    't'
    """
    target = Path(os.path.abspath(target))
    try:
        lock = _lock(target)
        lock.acquire()
    except (OSError, Timeout):
        yield target
        return
    try:
        with contextlib.suppress(OSError):
            _recover(target)
        yield target
    finally:
        lock.release()


def load_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """The ``{relative path: {"bytes", "sha256"}}`` a sealed folder's manifest lists.

    Raises
    ------
    TrainingSetError
        The folder or its manifest is missing or unreadable.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     load_manifest(Path(tempfile.mkdtemp()))
    ... except TrainingSetError as err:
    ...     "no manifest.json" in str(err)
    True
    """
    path = folder / MANIFEST
    try:
        document = json.loads(path.read_bytes())
        files = document["files"]
        if document.get("format") != 1 or not isinstance(files, dict):
            raise ValueError("unknown manifest format")
    except FileNotFoundError:
        raise TrainingSetError(
            f"{folder} has no manifest.json: it is not a complete training set (or was "
            "written by an older rfcx_frames); write it again", folder) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise TrainingSetError(f"{path} is damaged: {exc}", path) from exc
    return {str(k): dict(v) for k, v in files.items()}


def read_verified(folder: Path, manifest: dict[str, dict[str, Any]], relative: str) -> bytes:
    """A file's bytes, checked against the manifest's size and SHA-256.

    Raises
    ------
    TrainingSetError
        The manifest does not list the file, or it is missing or differs.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     read_verified(Path(tempfile.mkdtemp()), {}, "x")
    ... except TrainingSetError as err:
    ...     "lists no file x" in str(err)
    True
    """
    expected = manifest.get(relative)
    if expected is None:
        raise TrainingSetError(f"the manifest of {folder} lists no file {relative}; the "
                               "set was changed after it was written", folder / relative)
    try:
        data = (folder / relative).read_bytes()
    except FileNotFoundError:
        raise TrainingSetError(f"{folder / relative} is missing", folder / relative) from None
    if len(data) != expected["bytes"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
        raise TrainingSetError(
            f"{folder / relative} does not match the manifest (changed after the set was "
            "written)", folder / relative)
    return data
