"""Real storage faults for tests: read-only and full folders that stop root too.

Tests run as root in CI, where ``chmod`` stops nothing. A read-only bind mount and a
small tmpfs make the kernel itself refuse writes (``EROFS``, ``ENOSPC``); each helper
checks that a write really fails before handing the folder over.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _write_fails(folder: Path, size: int, code: int) -> bool:
    probe = folder / ".probe"
    try:
        with probe.open("wb") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return exc.errno == code
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return False


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` (created if missing) bind-mounted read-only onto itself."""
    folder.mkdir(parents=True, exist_ok=True)
    _run("mount", "--bind", str(folder), str(folder))
    try:
        _run("mount", "-o", "remount,bind,ro", str(folder))
        assert _write_fails(folder, 1, errno.EROFS), "the read-only mount accepts writes"
        yield folder
    finally:
        _run("umount", "-l", str(folder))


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str = "256k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        assert _write_fails(folder, 4 << 20, errno.ENOSPC), "the tmpfs is not full at 4 MiB"
        yield folder
    finally:
        _run("umount", "-l", str(folder))


def parts(folder: Path) -> list[Path]:
    """Every Parquet data file and cache temporary under ``folder``."""
    return sorted([*folder.rglob("part-*.parquet"), *folder.rglob(".tmp-*")])
