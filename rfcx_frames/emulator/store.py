"""SQLite storage of the emulated platform: one database plus a folder of audio blobs.

Every time is stored as integer epoch **milliseconds** (UTC), so ordering and interval
filters are plain integer comparisons and tests can compare frames with SQL directly.
The layout of the data directory is::

    <data_dir>/platform.sqlite3   the database (schema below)
    <data_dir>/blobs/              stored segment files, named ``<segment id><ext>``
    <data_dir>/uploads/            bytes PUT to ingest upload URLs, before processing

Blobs of synthetic segments may be missing: the world records how to synthesise them
(``segments.synth``) and the server renders them on first request, then keeps the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

DB_NAME = "platform.sqlite3"
BLOB_DIR = "blobs"
UPLOAD_DIR = "uploads"


def _roles_table(kind: str) -> str:
    """The table of who holds which role (see :mod:`.access`) on each project or stream."""
    return (f"CREATE TABLE IF NOT EXISTS {kind}_roles (\n"
            "    user_id INTEGER NOT NULL REFERENCES users(id),\n"
            f"    {kind}_id TEXT NOT NULL REFERENCES {kind}s(id),\n"
            "    role_id INTEGER NOT NULL,\n"
            f"    PRIMARY KEY (user_id, {kind}_id)\n);")


def _dropped_when_written(kind: str) -> str:
    """Triggers dropping the kept JSON of a ``kind`` row (``<kind>_json``) on any write to it."""
    kept, key = f"{kind}_json", f"{kind}_id"
    return "".join(
        f"CREATE TRIGGER IF NOT EXISTS {kept}_{event.lower()} AFTER {event} ON {kind}s\n"
        f"BEGIN DELETE FROM {kept} WHERE {key} IN ({rows}); END;\n"
        for event, rows in (("INSERT", "new.id"), ("UPDATE", "old.id, new.id"),
                            ("DELETE", "old.id")))


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    guid TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    firstname TEXT NOT NULL,
    lastname TEXT NOT NULL,
    picture TEXT,
    is_super INTEGER NOT NULL DEFAULT 0,
    roles TEXT NOT NULL DEFAULT 'rfcxUser'          -- comma list; 'systemUser' bypasses filters
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,                              -- 'access' | 'id' | 'refresh'
    expires_at INTEGER                               -- epoch ms; NULL = never
);
CREATE TABLE IF NOT EXISTS organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_public INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,                             -- 12 chars
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    is_public INTEGER NOT NULL DEFAULT 0,
    is_partner INTEGER NOT NULL DEFAULT 0,
    external_id INTEGER,
    created_by_id INTEGER NOT NULL REFERENCES users(id),
    organization_id TEXT REFERENCES organizations(id),
    min_latitude REAL, min_longitude REAL, max_latitude REAL, max_longitude REAL,
    preferred_platform TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
-- role_id: 1 Admin (CRUD), 2 Member (CRU), 3 Guest (R), 4 Owner (CRUD)
""" + _roles_table("project") + """
CREATE TABLE IF NOT EXISTS streams (
    id TEXT PRIMARY KEY,                             -- 12 chars
    name TEXT NOT NULL,
    description TEXT,
    project_id TEXT REFERENCES projects(id),
    is_public INTEGER NOT NULL DEFAULT 0,
    hidden INTEGER NOT NULL DEFAULT 0,
    latitude REAL, longitude REAL, altitude REAL,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    timezone_locked INTEGER NOT NULL DEFAULT 0,
    max_sample_rate INTEGER,
    external_id INTEGER,
    created_by_id INTEGER NOT NULL REFERENCES users(id),
    country_code TEXT,
    start INTEGER,                                   -- first segment start (ms) or NULL
    "end" INTEGER,                                   -- last segment end (ms) or NULL
    codec TEXT NOT NULL DEFAULT 'flac',              -- 'flac' | 'opus': how the world stores audio
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
""" + _roles_table("stream") + """
CREATE TABLE IF NOT EXISTS stream_source_files (
    id TEXT PRIMARY KEY,                             -- uuid
    stream_id TEXT NOT NULL REFERENCES streams(id),
    filename TEXT NOT NULL,
    duration INTEGER NOT NULL,                       -- ms
    sample_rate INTEGER NOT NULL,
    channels INTEGER NOT NULL DEFAULT 1,
    sha1 TEXT,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    id TEXT PRIMARY KEY,                             -- uuid
    stream_id TEXT NOT NULL REFERENCES streams(id),
    start INTEGER NOT NULL,                          -- ms
    "end" INTEGER NOT NULL,                          -- ms, = start + floor(duration ms)
    sample_count INTEGER NOT NULL,
    stream_source_file_id TEXT NOT NULL REFERENCES stream_source_files(id),
    file_extension TEXT NOT NULL,                    -- with leading dot: '.flac' | '.opus' | '.wav'
    availability INTEGER NOT NULL DEFAULT 1,         -- 0 unavailable, 1 available, 2 cold
    synth INTEGER NOT NULL DEFAULT 1,                -- 1: blob is rendered from the world on demand
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS segments_stream_start ON segments (stream_id, start);
CREATE TABLE IF NOT EXISTS classifications (
    id INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    type TEXT NOT NULL,                              -- species, genus, ..., characteristic
    image TEXT,
    description TEXT,
    frequency_min INTEGER,
    frequency_max INTEGER,
    parent_id INTEGER REFERENCES classifications(id)
);
CREATE TABLE IF NOT EXISTS classification_alternative_names (
    id INTEGER PRIMARY KEY,
    classification_id INTEGER NOT NULL REFERENCES classifications(id),
    name TEXT NOT NULL,
    language_id TEXT NOT NULL,
    rank INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS classifiers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    external_id TEXT,
    model_url TEXT NOT NULL DEFAULT '',
    model_runner TEXT NOT NULL DEFAULT 'tf2',
    parameters TEXT,
    created_by_id INTEGER REFERENCES users(id),
    last_executed_at INTEGER,
    created_at INTEGER NOT NULL,
    is_public INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS classifier_outputs (
    classifier_id INTEGER NOT NULL REFERENCES classifiers(id),
    classification_id INTEGER NOT NULL REFERENCES classifications(id),
    output_class_name TEXT NOT NULL,
    ignore_threshold REAL NOT NULL DEFAULT 0.5
);
-- Ground truth of the synthetic world: every call rendered into the audio.
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams(id),
    classification_id INTEGER NOT NULL REFERENCES classifications(id),
    start INTEGER NOT NULL,                          -- ms
    "end" INTEGER NOT NULL,                          -- ms
    frequency_min INTEGER NOT NULL,                  -- Hz
    frequency_max INTEGER NOT NULL,                  -- Hz
    amplitude REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_stream_start ON calls (stream_id, start);
CREATE TABLE IF NOT EXISTS detections (
    id INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL REFERENCES streams(id),
    classifier_id INTEGER NOT NULL REFERENCES classifiers(id),
    classification_id INTEGER NOT NULL REFERENCES classifications(id),
    classifier_job_id INTEGER,
    start INTEGER NOT NULL,                          -- ms
    "end" INTEGER NOT NULL,                          -- ms
    confidence REAL NOT NULL,
    review_status INTEGER,                           -- NULL unreviewed, -1 rejected, 0 uncertain, 1 confirmed
    call_id INTEGER REFERENCES calls(id)             -- ground truth the detection overlaps, if any
);
CREATE INDEX IF NOT EXISTS detections_start ON detections (start);
CREATE INDEX IF NOT EXISTS detections_stream_start ON detections (stream_id, start);
-- One review per (detection, user); the detection's review_status is their majority.
CREATE TABLE IF NOT EXISTS detection_reviews (
    id INTEGER PRIMARY KEY,
    detection_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    status INTEGER NOT NULL,                         -- -1 rejected, 0 uncertain, 1 confirmed
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (detection_id, user_id)
);
-- Emulator only: each detection's members as the routes write them in JSON, each with its
-- leading comma and key (',"start":"2024-03-01T00:00:00.000Z"'), kept when a world is built
-- (emulator/detection_pages.py), and each classification's nested object. Any insert,
-- change or delete of a detection or a classification drops its row, whoever writes it.
CREATE TABLE IF NOT EXISTS detection_json (
    detection_id INTEGER PRIMARY KEY,
    j_id TEXT NOT NULL, j_stream_id TEXT NOT NULL, j_classifier_id TEXT NOT NULL,
    j_classification_id TEXT NOT NULL, j_classifier_job_id TEXT NOT NULL,
    j_start TEXT NOT NULL, j_end TEXT NOT NULL, j_confidence TEXT NOT NULL,
    j_review_status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS classification_json (    -- ',"classification":{...}'
    classification_id INTEGER PRIMARY KEY,
    j TEXT NOT NULL
);
""" + _dropped_when_written("detection") + _dropped_when_written("classification") + """
CREATE TABLE IF NOT EXISTS annotations (
    id TEXT PRIMARY KEY,                             -- uuid
    stream_id TEXT NOT NULL REFERENCES streams(id),
    classification_id INTEGER NOT NULL REFERENCES classifications(id),
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    frequency_min INTEGER,
    frequency_max INTEGER,
    created_by_id INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    call_id INTEGER REFERENCES calls(id)
);
CREATE INDEX IF NOT EXISTS annotations_start ON annotations (start);
CREATE INDEX IF NOT EXISTS annotations_stream_start ON annotations (stream_id, start);
-- Classifier jobs (status: 0 waiting, 20 running, 30 done, 40 error, 50 cancelled,
-- 60 awaiting cancellation); query_start/query_end are dates, query_hours "0-23" style.
CREATE TABLE IF NOT EXISTS classifier_jobs (
    id INTEGER PRIMARY KEY,
    classifier_id INTEGER NOT NULL REFERENCES classifiers(id),
    project_id TEXT NOT NULL REFERENCES projects(id),
    query_streams TEXT,
    query_start TEXT,
    query_end TEXT,
    query_hours TEXT,
    minutes_total INTEGER,
    minutes_completed INTEGER NOT NULL DEFAULT 0,
    status INTEGER NOT NULL DEFAULT 0,
    created_by_id INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    segments_done INTEGER NOT NULL DEFAULT 0         -- emulator only: the runner's progress
);
CREATE TABLE IF NOT EXISTS classifier_job_streams (
    classifier_job_id INTEGER NOT NULL REFERENCES classifier_jobs(id),
    stream_id TEXT NOT NULL REFERENCES streams(id),
    PRIMARY KEY (classifier_job_id, stream_id)
);
CREATE INDEX IF NOT EXISTS detections_job ON detections (classifier_job_id);
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,                             -- 24 hex chars, like a Mongo ObjectId
    stream_id TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    status INTEGER NOT NULL,                         -- 0, 10, 20, 30, 31, 32
    timestamp INTEGER NOT NULL,                      -- ms, recording start
    original_filename TEXT NOT NULL,
    failure_message TEXT,
    sample_rate INTEGER,
    target_bitrate INTEGER,
    checksum TEXT,
    sha1 TEXT,                                       -- of the bytes actually received
    segment_ids TEXT,                                -- JSON list once ingested
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"""


class Store:
    """The emulator's database and blob folders under one data directory.

    Each thread gets its own SQLite connection (WAL mode), so the threaded server can
    read concurrently; writes are serialised by SQLite itself.

    Examples
    --------
    >>> import tempfile
    >>> store = Store(tempfile.mkdtemp())
    >>> store.query("SELECT count(*) AS n FROM streams")[0]["n"]
    0
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.blob_dir.mkdir(exist_ok=True)
        self.upload_dir.mkdir(exist_ok=True)
        self.db_path = self.data_dir / DB_NAME
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self.connect() as conn:
            conn.executescript(SCHEMA)
            columns = {r["name"] for r in conn.execute("PRAGMA table_info(classifiers)")}
            if "is_public" not in columns:
                # Data directories made before classifiers had owners' privacy: their
                # classifiers stay readable by everyone, as they were.
                conn.execute("ALTER TABLE classifiers ADD COLUMN is_public INTEGER NOT NULL "
                             "DEFAULT 1")

    @property
    def blob_dir(self) -> Path:
        """Folder of stored segment files."""
        return self.data_dir / BLOB_DIR

    @property
    def upload_dir(self) -> Path:
        """Folder of bytes received by ingest upload URLs."""
        return self.data_dir / UPLOAD_DIR

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def shared_connection(self) -> sqlite3.Connection:
        """A new connection for any thread (its user serialises access), closed by :meth:`close`."""
        conn = sqlite3.connect(self.db_path, timeout=30, check_same_thread=False)
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection inside a transaction (commit on success)."""
        conn = self.connection()
        with conn:
            yield conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query and return every row."""
        return self.connection().execute(sql, params).fetchall()

    def meta(self, key: str, default: str | None = None) -> str | None:
        """A value of the ``meta`` table (world name, seed, signing secret ...)."""
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else default

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the ``meta`` table."""
        with self.connect() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def release(self) -> None:
        """Close this thread's connection, if it has one (a request thread that ends).

        Every connection is also listed for :meth:`close`, so without this one per
        client connection would stay open, with its files, for the server's lifetime.
        """
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._lock:
            self._all = [c for c in self._all if c is not conn]
        conn.close()

    def close(self) -> None:
        """Close every connection opened by any thread."""
        with self._lock:
            for conn in self._all:
                with suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._all.clear()
        self._local = threading.local()
