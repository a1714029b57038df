"""Storage faults through the client against the emulator: each fails loudly, loses nothing.

Read-only and full folders are real mounts (see ``tests/storage_faults.py``); ``EMFILE``
comes from a real ``RLIMIT_NOFILE`` in a subprocess; ``EIO``, which no test can cause on
a healthy disk, is injected at the ``open`` boundary.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rfcx_frames import CacheError, Client
from rfcx_frames.cli import main
from rfcx_frames.emulator import Emulator
from tests.storage_faults import parts, read_only, small_tmpfs

START, MID, END = "2024-03-01", "2024-03-03", "2024-03-08"
NOW = pd.Timestamp("2024-06-01", tz="UTC")


def _client(emu: Emulator, folder: Path, **kwargs: Any) -> Client:
    return emu.client(progress=False, cache_dir=folder, clock=lambda: NOW, **kwargs)


def _streams(emu: Emulator) -> list[str]:
    with emu.client(progress=False, cache=False) as c:
        return [str(s) for s in c.streams_df()["id"]]


def _assert_names_the_way_out(err: CacheError, folder: Path) -> None:
    text = str(err)
    assert str(folder) in text and err.path == str(folder)
    assert "RFCX_FRAMES_CACHE" in text and "cache=False" in text


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and "locks" not in p.parts}


def test_read_only_cache_folder_raises_one_cache_error(demo_emulator: Emulator,
                                                       tmp_path: Path) -> None:
    streams = _streams(demo_emulator)
    folder = tmp_path / "cache"
    with _client(demo_emulator, folder) as c:
        before = c.detections_df(START, MID, streams=streams, min_confidence=0.5)
    stored = _files(folder)
    with read_only(folder), _client(demo_emulator, folder) as c:
        # What the cache holds still reads; what it would have to store fails loudly.
        again = c.detections_df(START, MID, streams=streams, min_confidence=0.5)
        with pytest.raises(CacheError) as caught:
            c.detections_df(START, END, streams=streams, min_confidence=0.5)
        _assert_names_the_way_out(caught.value, folder)
        with pytest.raises(CacheError):
            c.streams_df()
    pd.testing.assert_frame_equal(again, before)
    assert _files(folder) == stored  # nothing added, nothing lost
    with read_only(tmp_path / "empty") as empty, _client(demo_emulator, empty) as c:
        with pytest.raises(CacheError) as caught:
            c.detections_df(START, MID, streams=streams)
        _assert_names_the_way_out(caught.value, empty)
        assert parts(empty) == []


def test_full_cache_folder_raises_one_cache_error_and_leaves_no_part(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    streams = _streams(demo_emulator)
    with small_tmpfs(tmp_path / "full", "256k") as folder:
        # A month of every stream needs far more than 256 KiB: some parts fit.
        with _client(demo_emulator, folder) as c, pytest.raises(CacheError) as caught:
            c.detections_df("2024-03-01", "2024-04-01", streams=streams, min_confidence=0.1)
        _assert_names_the_way_out(caught.value, folder)
        assert "No space left" in str(caught.value)
        assert parts(folder) == []
        manifests = list(folder.rglob("_manifest.json"))
        assert all(json.loads(m.read_text())["rows"] == 0 for m in manifests)


def test_missing_cache_folder_that_cannot_be_created(demo_emulator: Emulator,
                                                     tmp_path: Path) -> None:
    streams = _streams(demo_emulator)
    (tmp_path / "a-file").write_text("not a folder")
    with read_only(tmp_path / "ro") as ro:
        for folder in (ro / "sub" / "cache", tmp_path / "a-file" / "cache"):
            with _client(demo_emulator, folder) as c:
                with pytest.raises(CacheError) as caught:
                    c.detections_df(START, MID, streams=streams)
                _assert_names_the_way_out(caught.value, folder)
                with pytest.raises(CacheError):
                    c.projects_df()
            assert not folder.exists()


def test_cache_false_never_touches_the_cache_folder(demo_emulator: Emulator, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "never"
    monkeypatch.setenv("RFCX_FRAMES_CACHE", str(folder))
    streams = _streams(demo_emulator)
    with demo_emulator.client(progress=False, clock=lambda: NOW) as c:
        # Per call, on a client that caches by default; local_time lists streams too.
        c.detections_df(START, MID, streams=streams, local_time=True, cache=False)
        c.streams_df(cache=False)
    with demo_emulator.client(progress=False, clock=lambda: NOW, cache=False) as c:
        c.detections_df(START, MID, streams=streams, local_time=True)
        annotations = c.annotations_df(START, END, streams=streams)
        c.segments_df(streams[0], START, MID)
        c.projects_df()
        c.classifications_df()
        first = annotations.iloc[0]
        window = c.load_window(str(first["stream_id"]), first["start"],
                               first["start"] + pd.Timedelta(seconds=2))
        audio, _ = c.clips(annotations.head(2), duration=1.0, progress=False)
        table = c.training_set(annotations.head(3), clip_duration=1.0)
        out = c.write_training_set(table, tmp_path / "set", progress=False)
    assert len(window) > 0 and audio.shape[0] == 2 and (out / "manifest.json").is_file()
    assert not folder.exists()


def _fill(emu: Emulator, folder: Path, streams: list[str]) -> pd.DataFrame:
    with _client(emu, folder) as c:
        return c.detections_df(START, MID, streams=streams, min_confidence=0.5)


def _offline(emu: Emulator, folder: Path, streams: list[str]) -> pd.DataFrame:
    with _client(emu, folder, cache="offline") as c:
        return c.detections_df(START, MID, streams=streams, min_confidence=0.5)


_EMFILE_READ = textwrap.dedent("""
    import json, os, resource, sys
    from rfcx_frames import CacheError, Client
    folder, api, streams, token = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    client = Client(api_url=api, token=token, cache_dir=folder, cache="offline", progress=False)
    def read():
        return client.detections_df("{start}", "{mid}", streams=streams, min_confidence=0.5)
    read()  # every import and lazy set-up done while descriptors are free
    open_now = len(os.listdir("/proc/self/fd")) - 1  # less the one listing them
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_now, open_now))  # not one more
    try:
        read()
        print("no error")
    except CacheError as err:
        print("CacheError", err.path, str(err))
""").format(start=START, mid=MID)


def test_emfile_keeps_every_file_and_a_later_read_succeeds(demo_emulator: Emulator,
                                                           tmp_path: Path) -> None:
    streams = _streams(demo_emulator)[:3]
    folder = tmp_path / "cache"
    expected = _fill(demo_emulator, folder, streams)
    stored = _files(folder)
    done = subprocess.run(
        [sys.executable, "-c", _EMFILE_READ, str(folder), demo_emulator.api_url,
         json.dumps(streams), demo_emulator.token],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "RFCX_FRAMES_CACHE_MODE": ""})
    assert done.stdout.startswith(f"CacheError {folder} "), done.stdout + done.stderr
    assert "Too many open files" in done.stdout and "Nothing stored was deleted" in done.stdout
    assert _files(folder) == stored
    demo_emulator.reset_stats()
    pd.testing.assert_frame_equal(_offline(demo_emulator, folder, streams), expected)
    assert demo_emulator.stats()["total_requests"] == 0


def _failing_open(code: int, match: Callable[[str], bool]) -> Callable[..., Any]:
    real = builtins.open

    def fake(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and match(os.fspath(file)):
            raise OSError(code, os.strerror(code), os.fspath(file))
        return real(file, *args, **kwargs)

    return fake


@pytest.mark.parametrize("code", [errno.EIO, errno.EMFILE])
@pytest.mark.parametrize("mode", ["offline", "use"])
def test_transient_read_error_keeps_good_files(demo_emulator: Emulator, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, code: int,
                                               mode: str) -> None:
    streams = _streams(demo_emulator)[:3]
    folder = tmp_path / "cache"
    expected = _fill(demo_emulator, folder, streams)
    stored = _files(folder)
    monkeypatch.setattr(builtins, "open", _failing_open(code, lambda p: "part-" in p))
    with _client(demo_emulator, folder, cache=mode) as c, pytest.raises(CacheError) as caught:
        c.detections_df(START, MID, streams=streams, min_confidence=0.5)
    assert os.strerror(code) in str(caught.value) and "cannot read from" in str(caught.value)
    monkeypatch.undo()
    assert _files(folder) == stored
    demo_emulator.reset_stats()
    pd.testing.assert_frame_equal(_offline(demo_emulator, folder, streams), expected)
    assert demo_emulator.stats()["total_requests"] == 0


def test_damaged_file_is_still_dropped_and_refetched(demo_emulator: Emulator,
                                                    tmp_path: Path) -> None:
    streams = _streams(demo_emulator)[:3]
    folder = tmp_path / "cache"
    expected = _fill(demo_emulator, folder, streams)
    victim = next(folder.rglob("part-*.parquet"))
    victim.write_bytes(victim.read_bytes()[:40])  # opens fine, fails its checks
    with _client(demo_emulator, folder) as c:
        again = c.detections_df(START, MID, streams=streams, min_confidence=0.5)
    pd.testing.assert_frame_equal(again, expected)
    assert not victim.exists()


# ------------------------------------------------------------------------ crash leftovers

OLD, FRESH = 946_684_800, 7_258_118_400  # mtimes: 2000-01-01 and 2200-01-01


def _leftovers(folder: Path, downloads: Path) -> dict[str, list[Path]]:
    """One leftover of each kind, named as a killed writer leaves them; plus fresh
    unlocked temporaries that a live writer could still own."""
    entry_part = next((folder / "v2" / "detections").rglob("part-*.parquet"))
    partition = entry_part.parent
    orphan_part = partition / "part-0123456789abcdef0123456789abcdef.parquet"
    orphan_part.write_bytes(entry_part.read_bytes())
    entry_tmp = partition / ".tmp-0123456789abcdef-part-feed.parquet"
    entry_tmp.write_bytes(b"half")
    sidecar = next((folder / "v2" / "whole").rglob("*.json"))
    stray_listing = sidecar.parent / f"{sidecar.stem}-00000000000000000000000000000000.parquet"
    stray_listing.write_bytes(b"x" * 10)
    listing_tmp = sidecar.parent / f".tmp-abcdef0123-{sidecar.stem}.json"
    listing_tmp.write_bytes(b"{")
    audio_day = next(p.parent for p in (folder / "audio").rglob("*.opus"))
    audio_tmp = audio_day / ".tmp-k1ll3d.opus"
    audio_tmp.write_bytes(b"opus")
    cache_part = folder / "audio" / ".seg.flac.0123.part"
    cache_part.write_bytes(b"p")
    download_part = downloads / ".s_2024-03-01_08-00-00.opus.abcd.part"
    download_part.write_bytes(b"p")
    fresh_audio = audio_day / ".tmp-live.opus"
    fresh_audio.write_bytes(b"live")
    fresh_download = downloads / ".live.opus.ef01.part"
    fresh_download.write_bytes(b"live")
    for path in (audio_tmp, cache_part, download_part):
        os.utime(path, (OLD, OLD))
    for path in (fresh_audio, fresh_download):
        os.utime(path, (FRESH, FRESH))
    return {"dead": [orphan_part, entry_tmp, stray_listing, listing_tmp, audio_tmp, cache_part],
            "download": [download_part], "live": [fresh_audio, fresh_download]}


def _populate(emu: Emulator, folder: Path, downloads: Path) -> tuple[list[str], pd.DataFrame]:
    streams = _streams(emu)[:2]
    with _client(emu, folder) as c:
        frame = c.detections_df(START, MID, streams=streams, min_confidence=0.5)
        c.streams_df()
        segments = c.segments_df(streams[0], START, MID).head(1)
        c.load_window(streams[0], segments["start"].iloc[0],
                      segments["start"].iloc[0] + pd.Timedelta(seconds=1))
        c.download(segments, downloads, by_stream=False, progress=False)
    return streams, frame


def test_cli_reports_and_clears_orphans(demo_emulator: Emulator, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder, downloads = tmp_path / "cache", tmp_path / "downloads"
    streams, frame = _populate(demo_emulator, folder, downloads)
    made = _leftovers(folder, downloads)
    capsys.readouterr()
    assert main(["cache", "info", "--cache-dir", str(folder)]) == 0
    report = json.loads(capsys.readouterr().out)
    listed = {folder / p for p in report["orphans"]}
    assert listed == set(made["dead"])
    assert report["orphan_bytes"] == sum(p.stat().st_size for p in made["dead"])
    assert main(["cache", "clear", "--orphans", "--cache-dir", str(folder)]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == len(made["dead"])
    assert not any(p.exists() for p in made["dead"])
    assert all(p.exists() for p in made["live"])
    demo_emulator.reset_stats()
    pd.testing.assert_frame_equal(_offline(demo_emulator, folder, streams), frame)
    assert demo_emulator.stats()["total_requests"] == 0
    assert main(["cache", "info", "--orphans", "--cache-dir", str(folder)]) == 2


_NEXT_RUN = textwrap.dedent("""
    import json, sys
    import pandas as pd
    from rfcx_frames import Client
    folder, downloads, api, streams = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    with Client(api_url=api, token=sys.argv[5], cache_dir=folder, progress=False) as c:
        c.detections_df("{start}", "{mid}", streams=streams, min_confidence=0.5, cache="refresh")
        c.streams_df(cache="refresh")
        segments = c.segments_df(streams[0], "{start}", "{mid}").iloc[1:2]
        c.load_window(streams[0], segments["start"].iloc[0],
                      segments["start"].iloc[0] + pd.Timedelta(seconds=1))
        c.download(c.segments_df(streams[0], "{start}", "{mid}").head(1), downloads,
                   by_stream=False, progress=False)
""").format(start=START, mid=MID)


def test_next_run_cleans_the_leftovers_of_the_folders_it_opens(demo_emulator: Emulator,
                                                               tmp_path: Path) -> None:
    folder, downloads = tmp_path / "cache", tmp_path / "downloads"
    streams, frame = _populate(demo_emulator, folder, downloads)
    made = _leftovers(folder, downloads)
    subprocess.run(
        [sys.executable, "-c", _NEXT_RUN, str(folder), str(downloads), demo_emulator.api_url,
         json.dumps(streams), demo_emulator.token],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "RFCX_FRAMES_CACHE_MODE": ""})
    assert [p for p in made["dead"] + made["download"] if p.exists()] == [
        p for p in made["dead"] if p.name.endswith(".part")]  # only `cache clear` sees that one
    assert all(p.exists() for p in made["live"])
    pd.testing.assert_frame_equal(_offline(demo_emulator, folder, streams), frame)
