"""Downloads after a crash or a cut body: leftovers swept, bad files fetched again, folders
synced per batch, bodies streamed to disk and started over on a retry."""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

import rfcx_frames.audio.download as downloads
from rfcx_frames.audio.download import download, segment_url
from rfcx_frames.audio.segment_check import AudioVerificationError
from rfcx_frames.emulator import Emulator
from rfcx_frames.exceptions import DownloadError
from rfcx_frames.files import TMP_PREFIX


def _segments(emu: Emulator, n: int) -> pd.DataFrame:
    row = emu.store.query(
        "SELECT s.stream_id, min(s.start) AS t FROM segments s JOIN streams st "
        "ON st.id = s.stream_id WHERE st.codec = 'flac' AND st.project_id IN "
        "(SELECT project_id FROM project_roles WHERE user_id = 1) "
        "GROUP BY s.stream_id ORDER BY st.max_sample_rate, s.stream_id LIMIT 1")[0]
    first = pd.Timestamp(row["t"], unit="ms", tz="UTC")
    segs = emu.client(progress=False).segments_df(str(row["stream_id"]), first,
                                                  first + pd.Timedelta(hours=1))
    return segs.head(n)


def test_a_crashed_runs_files_are_checked_and_bad_ones_fetched_again(
        demo_emulator: Emulator, tmp_path: Path) -> None:
    segs = _segments(demo_emulator, 4)
    first = download(demo_emulator.client(progress=False), segs, tmp_path)
    paths = [Path(p) for p in first["path"]]
    whole = [p.read_bytes() for p in paths]
    folder = paths[0].parent
    # What a crashed writer leaves: an empty file, bytes that are no audio, a FLAC whose
    # header promises frames its body lacks, and an old temporary beside them.
    paths[0].write_bytes(b"")
    paths[1].write_bytes(b"not audio at all")
    paths[2].write_bytes(whole[2][: len(whole[2]) * 2 // 3])
    leftover = folder / f"{TMP_PREFIX}0123abcd-{paths[3].name}"
    leftover.write_bytes(whole[3][:100])
    os.utime(leftover, (0, 0))  # written by a run long gone
    demo_emulator.reset_stats()
    again = download(demo_emulator.client(progress=False), segs, tmp_path)
    assert list(again["downloaded"]) == [True, True, True, False]
    assert [p.read_bytes() for p in paths] == whole
    assert not leftover.exists()
    # One stored file fetched per bad file, none for the good one.
    assert demo_emulator.stats()["requests"].get("GET /_blobs/...", 0) == 3
    assert all(sf.info(p).format == "FLAC" for p in paths)


def test_a_batch_fsyncs_each_folder_it_wrote_once(demo_emulator: Emulator, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # A power cut cannot be staged here, so the test counts the folder syncs instead.
    synced: list[Path] = []
    monkeypatch.setattr(downloads, "fsync_dir", lambda folder: synced.append(Path(folder)))
    segs = _segments(demo_emulator, 5)
    client = demo_emulator.client(progress=False)
    out = download(client, segs, tmp_path)
    stream_folder = Path(out["path"].iloc[0]).parent
    assert sorted(synced) == sorted([tmp_path, stream_folder])
    synced.clear()
    download(client, segs, tmp_path)  # nothing new written: nothing to sync
    assert synced == []
    synced.clear()
    flat = download(client, segs.head(2), tmp_path / "flat", by_stream=False)
    assert synced == [tmp_path / "flat"]
    assert all(Path(p).parent == tmp_path / "flat" for p in flat["path"])
    synced.clear()
    one = client.download_segment(str(segs["stream_id"].iloc[0]), tmp_path / "one",
                                  segs["start"].iloc[0])
    assert synced == [Path(one).parent]


def test_bodies_cut_short_are_fetched_again_into_an_emptied_file(
        fresh_emulator: Emulator, tmp_path: Path) -> None:
    segs = _segments(fresh_emulator, 4)
    clean = download(fresh_emulator.client(progress=False), segs, tmp_path / "clean")
    fresh_emulator.reset_stats()
    fresh_emulator.set_faults(reset_rate=0.5)  # half of them cut the body after the headers
    try:
        cut = download(fresh_emulator.client(progress=False, retries=12, backoff_factor=0.001),
                       segs, tmp_path / "cut")
    finally:
        fresh_emulator.set_faults(reset_rate=0.0)
    stats = fresh_emulator.stats()
    assert stats["faults"].get("truncate", 0) > 0
    assert stats["requests"]["GET /_blobs/..."] > len(segs)  # some files came twice or more
    for a, b in zip(clean["path"], cut["path"], strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()
    assert not [p for p in (tmp_path / "cut").rglob(f"{TMP_PREFIX}*")]


class _FullDisk(io.BytesIO):
    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_raised_at_once_never_taken_for_a_network_fault(
        demo_emulator: Emulator) -> None:
    row = _segments(demo_emulator, 1).iloc[0]
    client = demo_emulator.client(progress=False)
    demo_emulator.reset_stats()
    with pytest.raises(OSError, match="No space left"):
        client.session.request("GET", segment_url(client.api_url, row["stream_id"], row["start"]),
                               parse=lambda r: None, into=_FullDisk())
    assert demo_emulator.stats()["requests"].get("GET /_blobs/...", 0) == 1


def test_a_file_failing_its_check_is_named_and_not_kept(demo_emulator: Emulator,
                                                        tmp_path: Path) -> None:
    segs = _segments(demo_emulator, 2)
    wrong = segs.assign(end=segs["start"] + pd.Timedelta(seconds=10))  # files are longer
    with pytest.raises(DownloadError) as info:
        download(demo_emulator.client(progress=False), wrong, tmp_path)
    assert len(info.value.errors) == 2
    for exc in info.value.errors.values():
        assert isinstance(exc, AudioVerificationError)
        assert "ms segment needs" in str(exc) and TMP_PREFIX not in str(exc)
        assert str(exc).startswith(f"{segs['stream_id'].iloc[0]}_")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
