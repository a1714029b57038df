"""Segment downloads against the emulator over real HTTP, with faults and kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import soundfile as sf

from rfcx_frames.audio.download import download
from rfcx_frames.audio.naming import file_name
from rfcx_frames.audio.sources import ClientSource
from rfcx_frames.audio.store import AudioStore
from rfcx_frames.emulator import Emulator, running
from rfcx_frames.exceptions import DownloadError
from rfcx_frames.files import TMP_PREFIX


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running(world="demo", days=1, data_dir=tmp_path_factory.mktemp("dl-world")) as e:
        yield e


def _flac_stream(emu: Emulator) -> str:
    row = emu.store.query(
        "SELECT s.id FROM streams s WHERE s.codec = 'flac' AND s.project_id IN "
        "(SELECT project_id FROM project_roles WHERE user_id = 1) ORDER BY s.max_sample_rate "
        "LIMIT 1")
    return str(row[0]["id"])


def _first_segments(emu: Emulator, stream: str, n: int) -> pd.DataFrame:
    first = emu.store.query("SELECT min(start) AS t FROM segments WHERE stream_id = ?",
                            (stream,))[0]["t"]
    client = emu.client(progress=False)
    segs = client.segments_df(stream, pd.Timestamp(first, unit="ms", tz="UTC"),
                              pd.Timestamp(first + 3_600_000, unit="ms", tz="UTC"))
    return segs.head(n)


def test_download_keeps_real_format_and_verifies(emu: Emulator, tmp_path: Path) -> None:
    stream = _flac_stream(emu)
    segs = _first_segments(emu, stream, 3)
    out = download(emu.client(progress=False), segs, tmp_path)
    assert out["downloaded"].all()
    for path, (_, row) in zip(out["path"], segs.iterrows(), strict=True):
        p = Path(path)
        assert p.parent == tmp_path / stream
        assert p.suffix == ".flac"
        info = sf.info(p)
        assert info.format == "FLAC"
        expected = (row["end"] - row["start"]) / pd.Timedelta(seconds=1) * info.samplerate
        assert abs(info.frames - expected) <= info.samplerate / 1000 + 1
    # A second run finds verified files and downloads nothing.
    again = download(emu.client(progress=False), segs, tmp_path)
    assert not again["downloaded"].any()


def test_conversion_writes_real_wav_bytes(emu: Emulator, tmp_path: Path) -> None:
    segs = _first_segments(emu, _flac_stream(emu), 1)
    out = download(emu.client(progress=False), segs, tmp_path, file_ext="wav")
    path = Path(out["path"].iloc[0])
    assert path.suffix == ".wav"
    assert path.read_bytes()[:4] == b"RIFF"
    assert sf.info(path).format == "WAV"


def test_downloads_survive_injected_faults(emu: Emulator, tmp_path: Path) -> None:
    segs = _first_segments(emu, _flac_stream(emu), 6)
    clean = download(emu.client(progress=False), segs, tmp_path / "clean")
    emu.set_faults(fault_rate=0.2, reset_rate=0.1)
    try:
        faulty = download(emu.client(progress=False, backoff_factor=0.01), segs,
                          tmp_path / "faulty")
    finally:
        emu.set_faults(fault_rate=0.0, reset_rate=0.0)
    for a, b in zip(clean["path"], faulty["path"], strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()
    assert not list((tmp_path / "faulty").rglob("*.part"))


def test_unrecoverable_faults_are_collected_and_raised(emu: Emulator, tmp_path: Path) -> None:
    segs = _first_segments(emu, _flac_stream(emu), 3)
    emu.set_faults(fault_rate=1.0)
    try:
        with pytest.raises(DownloadError) as info:
            download(emu.client(progress=False, retries=1, backoff_factor=0.01), segs, tmp_path)
    finally:
        emu.set_faults(fault_rate=0.0)
    assert len(info.value.errors) == 3
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_names_cannot_escape_the_destination(emu: Emulator, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stream id"):
        file_name("../../x", "2024-03-01", "wav")
    evil = pd.DataFrame({"stream_id": ["../../etc"], "start": [pd.Timestamp("2024-03-01", tz="UTC")],
                         "end": [pd.Timestamp("2024-03-01 00:01", tz="UTC")],
                         "file_extension": [".flac"]})
    with pytest.raises(ValueError, match="stream id"):
        download(emu.client(progress=False), evil, tmp_path)
    assert not list(tmp_path.parent.glob("etc*"))


def test_bad_file_ext_names_the_argument(emu: Emulator, tmp_path: Path) -> None:
    segs = _first_segments(emu, _flac_stream(emu), 1)
    with pytest.raises(ValueError, match="file_ext must be one of"):
        download(emu.client(progress=False), segs, tmp_path, file_ext="mp3")


def _final_files(dest: Path) -> list[Path]:
    """Files under their final names (a write in progress is a hidden ``.tmp-`` file)."""
    return [p for p in dest.rglob("*.flac") if not p.name.startswith(TMP_PREFIX)]


def test_sigkill_mid_download_then_rerun_leaves_no_corrupt_file(emu: Emulator,
                                                                tmp_path: Path) -> None:
    stream = _flac_stream(emu)
    segs = _first_segments(emu, stream, 12)
    table = tmp_path / "segs.parquet"
    segs.to_parquet(table)
    dest = tmp_path / "out"
    script = textwrap.dedent(f"""
        import pandas as pd
        from rfcx_frames import Client
        from rfcx_frames.audio.download import download
        c = Client(api_url={emu.api_url!r}, token={emu.token!r}, progress=False, max_workers=2)
        download(c, pd.read_parquet({str(table)!r}), {str(dest)!r})
    """)
    emu.set_faults(latency_ms=150)
    try:
        proc = subprocess.Popen([sys.executable, "-c", script])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _final_files(dest):
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        emu.set_faults(latency_ms=0)
    partial = _final_files(dest)
    assert 0 < len(partial) < len(segs)
    for p in partial:  # everything under a final name is whole
        sf.read(p)
    out = download(emu.client(progress=False), segs, dest)
    assert out["downloaded"].sum() == len(segs) - len(partial)
    for path in out["path"]:
        sf.read(path)


def test_client_source_fetches_into_the_store_once(emu: Emulator, tmp_path: Path) -> None:
    stream = _flac_stream(emu)
    segs = _first_segments(emu, stream, 2)
    source = ClientSource(emu.client(progress=False), AudioStore(tmp_path / "store"))
    listed = source.segments(stream, segs["start"].iloc[0] + pd.Timedelta(seconds=30),
                             segs["start"].iloc[1] + pd.Timedelta(seconds=1))
    assert list(listed["id"]) == list(segs["id"])
    emu.reset_stats()
    path = source.fetch(listed.iloc[0].to_dict())
    assert path.exists()
    assert source.fetch(listed.iloc[0].to_dict()) == path
    blob_requests = emu.stats()["requests"].get("GET /_blobs/...", 0)
    assert blob_requests == 1


def test_a_cut_short_file_is_not_taken_for_a_finished_one(emu: Emulator, tmp_path: Path) -> None:
    segs = _first_segments(emu, _flac_stream(emu), 2)
    first = download(emu.client(progress=False), segs, tmp_path)
    victim = Path(first["path"].iloc[0])
    whole = victim.read_bytes()
    victim.write_bytes(whole[: len(whole) // 2])  # the header still promises every frame
    again = download(emu.client(progress=False), segs, tmp_path)
    assert list(again["downloaded"]) == [True, False]
    assert victim.read_bytes() == whole
