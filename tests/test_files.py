"""The one crash-safe writer: a failed write leaves the old file and no temporary."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rfcx_frames import files


def test_failed_write_keeps_old_content_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    files.write_bytes(target, b"old")
    with pytest.raises(RuntimeError), files.open_atomic(target) as handle:
        handle.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_new_file_appears_only_complete(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.json"
    with files.atomic_path(target) as tmp:
        tmp.write_text("{}")
        assert not target.exists()
        assert tmp.parent == target.parent and tmp.name.startswith(files.TMP_PREFIX)
    assert files.read_json(target) == {}


def test_secret_mode_is_set_before_content(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        files.write_bytes(tmp_path / "s", b"token", file_mode=0o600)
    finally:
        os.umask(old)
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o600


def test_bad_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode must be"), files.open_atomic(tmp_path / "x", "a"):
        pass
    assert list(tmp_path.iterdir()) == []
