"""Crash-safe files: the one way rfcx_frames writes a file that a reader may open.

Every file goes to a hidden temporary name in its final folder, is written, flushed and
fsynced, then moved into place with :func:`os.replace`, and the folder is fsynced so the
rename survives a power cut. A crash leaves either the old file or the new one, plus at
worst a hidden temporary (``.tmp-<hex>-<name>``) that readers ignore (pyarrow skips names
starting with ``.``) and the cache's orphan sweep removes. ``durable=False`` skips the two
fsyncs (the rename stays atomic against a crashed process): only for files every reader
checks before trusting them, such as downloaded segments, whose check replaces a file a
power cut left short (a download batch fsyncs each of its folders once, at its end).

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_bytes(folder / "a.bin", b"hi")
>>> (folder / "a.bin").read_bytes()
b'hi'
>>> with open_atomic(folder / "b.txt", "w") as fh:
...     _ = fh.write("text")
>>> (folder / "b.txt").read_text()
'text'
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

#: Prefix of every temporary this module writes; the cache's orphan sweep matches it.
TMP_PREFIX = ".tmp-"


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename in ``folder`` durable (where the platform allows a directory fsync).

    Parameters
    ----------
    folder
        The folder whose entries changed.

    Examples
    --------
    >>> import tempfile
    >>> fsync_dir(tempfile.mkdtemp())
    """
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def temporary_name(path: Path) -> Path:
    """The hidden temporary a write of ``path`` goes through, in ``path``'s own folder.

    Parameters
    ----------
    path
        The final file.

    Returns
    -------
    Path
        ``path.parent / ".tmp-<32 hex>-<name>"``: unique per call, same filesystem as the
        target (so the rename is atomic), and skipped by readers that ignore dot files.

    Examples
    --------
    >>> temporary_name(Path("/a/b.parquet")).name.startswith(".tmp-")
    True
    """
    return path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[Path]:
    """A temporary path to write ``path`` through; it replaces ``path`` only on success.

    The caller writes the temporary (and fsyncs it, or uses :func:`open_atomic`, which
    does); on a clean exit it is renamed over ``path`` and the folder is fsynced; on an
    exception it is removed and ``path`` keeps its old content (or stays absent).

    Parameters
    ----------
    path
        The final file; its folder is created if missing.
    durable
        Fsync the folder after the rename (see the module docstring).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.bin"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_bytes(b"1")
    >>> target.read_bytes()
    b'1'
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
        if durable:
            fsync_dir(final.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike[str], mode: str = "wb", *,
                file_mode: int | None = None, durable: bool = True) -> Iterator[IO[Any]]:
    """Open a file handle whose content becomes ``path`` only when the block succeeds.

    Parameters
    ----------
    path
        The final file.
    mode
        ``"wb"`` (default) or ``"w"`` (UTF-8 text).
    file_mode
        Permission bits set on the file before any byte is written (e.g. ``0o600`` for
        credentials), so a secret is never readable by others, not even briefly.
    durable
        Fsync the file and its folder (see the module docstring).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "secret"
    >>> with open_atomic(target, "w", file_mode=0o600) as fh:
    ...     _ = fh.write("s")
    >>> oct(target.stat().st_mode & 0o777)
    '0o600'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    with atomic_path(path, durable=durable) as tmp:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        fd = os.open(tmp, flags, 0o666 if file_mode is None else file_mode)
        if file_mode is not None:
            os.chmod(fd, file_mode)  # the umask must not widen or narrow a requested mode
        encoding = "utf-8" if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())


def write_bytes(path: str | os.PathLike[str], data: bytes, *, file_mode: int | None = None,
                durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    path
        The final file.
    data
        Its whole content.
    file_mode
        Permission bits, as in :func:`open_atomic`.
    durable
        Fsync the file and its folder (see the module docstring).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.bin"
    >>> write_bytes(p, b"hi"); p.read_bytes()
    b'hi'
    """
    with open_atomic(path, "wb", file_mode=file_mode, durable=durable) as handle:
        handle.write(data)


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    """Write ``value`` as indented, key-sorted JSON, atomically.

    Parameters
    ----------
    path
        The final file.
    value
        Anything :func:`json.dumps` takes.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.json"
    >>> write_json(p, [1]); p.read_text()
    '[\\n  1\\n]'
    """
    write_bytes(path, json.dumps(value, indent=2, sort_keys=True).encode("utf-8"))


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON content of ``path``, or ``None`` when it is missing or unreadable.

    Parameters
    ----------
    path
        The file to read.

    Examples
    --------
    >>> read_json("/nonexistent/file.json") is None
    True
    """
    try:
        return json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
