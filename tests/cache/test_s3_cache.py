"""The cache on an object store: ``s3://`` roots against a local S3 (moto) over real HTTP."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import moto.settings
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from rfcx_frames import cache
from rfcx_frames.cli import main as cli_main
from rfcx_frames.emulator import Emulator
from rfcx_frames.exceptions import CacheError, NotCachedError
from rfcx_frames.objectstore import ObjectPath

START, MID, END = "2024-03-01", "2024-03-03", "2024-03-05"
NOW = pd.Timestamp("2024-06-01", tz="UTC")
#: A secret key that must never show up in a message, a repr or a log.
SECRET = "wJalrXUtnFEMI-K7MDENG-never-print-me"


def _now() -> pd.Timestamp:
    return NOW


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The standard AWS environment a cluster user sets, pointing at the local S3."""
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    return env


@pytest.fixture()
def root(aws_env: dict[str, str]) -> str:
    """A fresh bucket and the cache root under it."""
    bucket = f"rfcx-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/team/cache"


def _streams(emu: Emulator, n: int = 3) -> list[str]:
    with emu.client(progress=False, cache=False) as c:
        return [str(s) for s in c.streams_df()["id"]][:n]


def _queries(streams: list[str]) -> dict[str, Callable[[Any], pd.DataFrame]]:
    return {
        "detections": lambda c: c.detections_df(START, END, streams=streams, min_confidence=0.5),
        "annotations": lambda c: c.annotations_df(START, END, streams=streams),
        "segments": lambda c: c.segments_df(streams[0], START, MID),
        "projects": lambda c: c.projects_df(),
        "streams": lambda c: c.streams_df(),
        "classifications": lambda c: c.classifications_df(),
    }


_WORKER = """
import os, pickle, sys
import pandas as pd
from rfcx_frames import Client
NOW = pd.Timestamp("2024-06-01", tz="UTC")
expected, streams = pickle.load(open(sys.argv[1], "rb"))
queries = {
    "detections": lambda c: c.detections_df("2024-03-01", "2024-03-05", streams=streams,
                                            min_confidence=0.5),
    "annotations": lambda c: c.annotations_df("2024-03-01", "2024-03-05", streams=streams),
    "segments": lambda c: c.segments_df(streams[0], "2024-03-01", "2024-03-03"),
    "projects": lambda c: c.projects_df(),
    "streams": lambda c: c.streams_df(),
    "classifications": lambda c: c.classifications_df(),
}
with Client(clock=lambda: NOW, progress=False) as client:
    for name, query in queries.items():
        frame = query(client)
        pd.testing.assert_frame_equal(frame, expected[name])
print("warm", len(expected["detections"]))
"""


def test_a_second_process_answers_warm_from_the_shared_bucket(
        demo_emulator: Emulator, root: str, aws_env: dict[str, str], tmp_path: Path) -> None:
    streams = _streams(demo_emulator)
    with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as client:
        cold = {name: query(client) for name, query in _queries(streams).items()}
    assert len(cold["detections"]) > 100 and len(cold["segments"]) > 100
    (tmp_path / "expected.pkl").write_bytes(pickle.dumps((cold, streams)))
    # A cluster worker: another process, configured by the environment alone.
    env = {**os.environ, **aws_env, "RFCX_FRAMES_CACHE": root,
           "RFCX_API_URL": demo_emulator.api_url, "RFCX_TOKEN": demo_emulator.token}
    demo_emulator.reset_stats()
    done = subprocess.run([sys.executable, "-c", _WORKER, str(tmp_path / "expected.pkl")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("warm")
    assert demo_emulator.stats()["total_requests"] == 0


def test_duckdb_dataset_and_the_cli_work_on_an_s3_root(
        demo_emulator: Emulator, root: str, capsys: pytest.CaptureFixture[str]) -> None:
    streams = _streams(demo_emulator)
    with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as client:
        frame = client.detections_df(START, END, streams=streams, min_confidence=0.5)
        client.streams_df()
    con = cache.duckdb(root)
    sql = con.sql("SELECT stream_id, count(*) AS n FROM detections GROUP BY ALL "
                  "ORDER BY stream_id").df()
    expected = frame.groupby("stream_id", observed=True).size()
    assert sql["n"].tolist() == expected.tolist() and sql["n"].sum() == len(frame)
    assert cache.dataset("streams", root).num_rows > 0
    assert cli_main(["cache", "info", "--cache-dir", root]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["path"] == root and shown["entries"] == 2 and shown["size_bytes"] > 0
    assert shown["ranged"][0]["rows"] == len(frame) and shown["orphans"] == []
    assert cli_main(["cache", "clear", "--cache-dir", root]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 2
    assert cache.dataset("detections", root).num_rows == 0
    assert cache.info(root)["entries"] == 0


def test_audio_stays_on_this_machine_beside_a_shared_table_cache(
        demo_emulator: Emulator, root: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RFCX_FRAMES_LOCAL_CACHE", str(tmp_path / "local"))
    stream = _streams(demo_emulator, 1)[0]
    with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as client:
        segments = client.segments_df(stream, START, END)
        first = segments["start"].iloc[0]
        audio = client.load_window(stream, first, first + pd.Timedelta(seconds=2),
                                   sample_rate=8000)
    assert audio.shape == (16000,) and audio.any()
    assert any((tmp_path / "local").rglob("*.*")), "the segment file is kept locally"
    assert cache.dataset("segments", root).num_rows == len(segments)


def test_two_writers_at_once_and_a_reader_never_see_a_broken_cache(
        demo_emulator: Emulator, root: str) -> None:
    streams = _streams(demo_emulator, 4)
    windows = [(START, "2024-03-04", streams), ("2024-03-02", END, streams[::-1])]
    errors: list[BaseException] = []
    seen: list[int] = []
    writing = threading.Event()

    def write(begin: str, end: str, ids: list[str]) -> None:
        try:
            with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as c:
                for _ in range(2):
                    c.detections_df(begin, end, streams=ids, min_confidence=0.2)
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        while writing.is_set():
            try:
                table = cache.dataset("detections", root)
            except BaseException as exc:
                errors.append(exc)
                return
            ids = table["id"].to_pylist()
            assert len(ids) == len(set(ids))
            seen.append(len(ids))

    writers = [threading.Thread(target=write, args=w) for w in windows]
    reader = threading.Thread(target=read)
    writing.set()
    reader.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    writing.clear()
    reader.join()
    assert not errors, errors
    with demo_emulator.client(progress=False, cache=False) as c:
        fresh = c.detections_df(START, END, streams=streams, min_confidence=0.2)
    with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as c:
        both = c.detections_df(START, END, streams=streams, min_confidence=0.2, cache="offline")
    pd.testing.assert_frame_equal(both, fresh)
    # Every object under the root is named by a manifest or sidecar: nothing was orphaned.
    assert cache.orphans(root, now=NOW + pd.Timedelta(days=36500)) == []


def test_a_lost_commit_is_redone_on_the_newer_manifest(
        demo_emulator: Emulator, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    streams = _streams(demo_emulator, 2)
    real = ObjectPath.write_if
    raced: list[str] = []

    def racing(self: ObjectPath, data: bytes, version: str | None) -> None:
        # The first commit finds that another writer committed in between (a real 412).
        if not raced and self.name == "_manifest.json":
            raced.append(str(self))
            with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as other:
                other.detections_df(MID, END, streams=streams, min_confidence=0.4)
        real(self, data, version)

    monkeypatch.setattr(ObjectPath, "write_if", racing)
    with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as c:
        c.detections_df(START, MID, streams=streams, min_confidence=0.4)
        demo_emulator.reset_stats()
        warm = c.detections_df(START, END, streams=streams, min_confidence=0.4)
        assert demo_emulator.stats()["total_requests"] == 0
    with demo_emulator.client(progress=False, cache=False) as c:
        fresh = c.detections_df(START, END, streams=streams, min_confidence=0.4)
    assert raced
    pd.testing.assert_frame_equal(warm, fresh)
    assert cache.orphans(root, now=NOW + pd.Timedelta(days=36500)) == []


def test_an_interrupted_write_leaves_nothing_a_reader_picks_up(
        demo_emulator: Emulator, root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    streams = _streams(demo_emulator, 2)

    def crash(self: ObjectPath, data: bytes, version: str | None) -> None:
        raise KeyboardInterrupt  # the writer stops after its part files, before its commit

    with monkeypatch.context() as patched:
        patched.setattr(ObjectPath, "write_if", crash)
        with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as c, \
                pytest.raises(KeyboardInterrupt):
            c.detections_df(START, END, streams=streams)
    assert cache.dataset("detections", root).num_rows == 0
    assert not list(ObjectPath.from_url(root).rglob("part-*"))
    # A killed writer cleans up nothing: its parts stay unnamed, readers skip them, and
    # only once they are old does clear_orphans take them (a young one may be a live
    # writer's).
    with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as c:
        kept = c.detections_df(START, MID, streams=streams)
    entry = next(ObjectPath.from_url(root).rglob("_manifest.json")).parent
    stray = entry / f"stream_id={streams[0]}" / "date=2024-03-01" / "part-killed.parquet"
    stray.write_bytes(b"PAR1 half a file")
    written = pd.Timestamp(stray.stat().st_mtime, unit="s", tz="UTC")
    assert cache.orphans(root, now=written + pd.Timedelta(minutes=1)) == []
    assert cache.clear_orphans(root, now=written + pd.Timedelta(hours=1))["files"] == 1
    assert not stray.is_file()
    with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as c:
        again = c.detections_df(START, MID, streams=streams, cache="offline")
    pd.testing.assert_frame_equal(again, kept)
    with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as c, \
            pytest.raises(NotCachedError):
        c.detections_df(MID, END, streams=streams, cache="offline")


def _no_secret(err: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert SECRET not in str(err) and SECRET not in repr(err)
    assert SECRET not in caplog.text


def test_store_failures_are_cache_errors_naming_the_root_never_the_secret(
        demo_emulator: Emulator, root: str, aws_env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    missing = "s3://rfcx-no-such-bucket/cache"
    with demo_emulator.client(progress=False, cache_dir=missing, clock=_now) as c:
        assert SECRET not in repr(c)
        with pytest.raises(CacheError, match="no bucket 'rfcx-no-such-bucket'") as err:
            c.streams_df()
    _no_secret(err.value, caplog)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    for action in (lambda: cache.TimeRangedCache(root), lambda: cache.dataset("segments", root),
                   lambda: cache.info(root)):
        with pytest.raises(CacheError, match=root) as err:
            action()
        _no_secret(err.value, caplog)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env["AWS_ENDPOINT_URL"])
    # The local S3 checks credentials from here on, and knows none: a refused key.
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    with demo_emulator.client(progress=False, cache_dir=root, clock=_now) as c, \
            pytest.raises(CacheError, match="check the AWS credentials") as err:
        c.detections_df(START, MID, streams=_streams(demo_emulator, 1))
    _no_secret(err.value, caplog)
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CacheError, match=r"(?i)credentials"):
        cache.WholeResultCache(root)
    with pytest.raises(ValueError, match="s3://<bucket>"):
        cache.info("s3://x/cache")
    # What needs local files (the audio store) keeps them on this machine, never in "s3:".
    monkeypatch.setenv("RFCX_FRAMES_LOCAL_CACHE", "/tmp/rfcx-local")
    assert cache.cache_path(root) == Path("/tmp/rfcx-local")
