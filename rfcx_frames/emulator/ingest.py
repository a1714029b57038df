"""The ingest service: upload requests, pre-signed PUTs and real processing of the file.

State machine of an upload (contract §4.10): ``0`` WAITING after ``POST /uploads``, ``10``
UPLOADED once the bytes arrive, then ``20`` INGESTED or ``30`` FAILED / ``31`` DUPLICATE /
``32`` CHECKSUM. Processing decodes the file, splits files of 120 s or more into 60 s
segments, stores lossless input as FLAC (Opus stays Opus) and adds the segments to the
stream, so they appear in ``/streams/{id}/segments``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ..files import open_atomic, write_bytes
from . import access
from . import audio as synth
from .bodies import CHUNK
from .http import HTTPError, Request, Response, json_response, s3_error, signature_mismatch
from .params import iso, parse_time
from .server import App
from .store import Store
from .worker import QueueWorker

log = logging.getLogger(__name__)

SUPPORTED = {"wav", "flac", "opus"}
SPLIT_THRESHOLD_MS = 120_000
SEGMENT_MS = 60_000
MAX_DURATION_MS = 24 * 3600_000 + 60_000
MIN_YEAR_MS = 31536000000  # 1971-01-01
PROCESSING_DELAY_S = 0.2
STATUS_NAMES = {0: "WAITING", 10: "UPLOADED", 20: "INGESTED", 30: "FAILED", 31: "DUPLICATE",
                32: "CHECKSUM"}


class IngestFailure(Exception):  # noqa: N818 (the service calls these failures)
    """A processing failure with its upload status and ``failureMessage``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _now_ms() -> int:
    return int(time.time() * 1000)


def _ext(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def upload_document(row: dict[str, Any]) -> dict[str, Any]:
    """The raw upload document the service returns (camelCase, like its Mongo model)."""
    doc: dict[str, Any] = {
        "_id": row["id"], "streamId": row["stream_id"], "userId": str(row["user_id"]),
        "status": row["status"], "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]), "timestamp": iso(row["timestamp"]),
        "originalFilename": row["original_filename"],
    }
    if row["failure_message"] is not None:
        doc["failureMessage"] = row["failure_message"]
    for key, column in (("sampleRate", "sample_rate"), ("targetBitrate", "target_bitrate"),
                        ("checksum", "checksum")):
        if row[column] is not None:
            doc[key] = row[column]
    if row["segment_ids"]:
        doc["ingestionResult"] = {"segments": json.loads(row["segment_ids"])}
    doc["__v"] = 0
    return doc


class Ingestor(QueueWorker[str]):
    """Background worker that processes uploaded files one at a time, like a queue consumer."""

    def __init__(self, store: Store, delay_s: float = PROCESSING_DELAY_S) -> None:
        self.store = store
        self.delay_s = delay_s
        super().__init__("emulator-ingest", stop_timeout_s=10)
        # Uploads received before a restart are processed now.
        for row in store.query("SELECT id FROM uploads WHERE status = 10"):
            self.put(row["id"])

    def handle(self, item: str) -> None:
        """Process one upload and record its final status."""
        time.sleep(self.delay_s)
        try:
            status, message, segment_ids = 20, None, self.process(item)
        except IngestFailure as exc:
            status, message, segment_ids = exc.status, exc.message, None
        except Exception:  # an unexpected decode or storage error: retryable upstream
            log.exception("ingest of %s failed", item)
            status, message, segment_ids = (30, "Server failed with processing your file. "
                                            "Please try again later.", None)
        with self.store.connect() as conn:
            conn.execute("UPDATE uploads SET status = ?, failure_message = ?, segment_ids = ?, "
                         "updated_at = ? WHERE id = ?",
                         (status, message, json.dumps(segment_ids) if segment_ids else None,
                          _now_ms(), item))

    def process(self, upload_id: str) -> list[dict[str, Any]]:
        """Decode, check, split and store one upload; return the new segments."""
        row = dict(self.store.query("SELECT * FROM uploads WHERE id = ?", (upload_id,))[0])
        ext = _ext(row["original_filename"])
        if ext not in SUPPORTED:
            raise IngestFailure(30, "File extension is not supported")
        raw = (self.store.upload_dir / f"{upload_id}.{ext}").read_bytes()
        sha1 = hashlib.sha1(raw).hexdigest()
        if row["checksum"] and row["checksum"] != sha1:
            raise IngestFailure(32, "Checksum mismatch.")
        if self.store.query("SELECT 1 FROM stream_source_files WHERE sha1 = ?", (sha1,)):
            raise IngestFailure(31, "Duplicate file. Matching sha1 signature already ingested.")
        try:
            with sf.SoundFile(io.BytesIO(raw)) as fh:
                rate = fh.samplerate
                data = fh.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise IngestFailure(30, "Server failed with processing your file. Please try again "
                              "later.") from exc
        frames = data.shape[0]
        if frames == 0:
            raise IngestFailure(30, "Audio sampleCount is zero")
        duration_ms = frames * 1000 // rate
        if duration_ms == 0:
            raise IngestFailure(30, "Audio duration is zero")
        if duration_ms > MAX_DURATION_MS:
            raise IngestFailure(30, "Audio duration is more than 24 hours")
        mono = data.mean(axis=1).astype(np.float32)
        return self._store_segments(row, mono, rate, duration_ms, sha1, ext)

    def _store_segments(self, row: dict[str, Any], mono: np.ndarray, rate: int, duration_ms: int,
                        sha1: str, ext: str) -> list[dict[str, Any]]:
        codec = "opus" if ext == "opus" else "flac"
        start = int(row["timestamp"])
        if duration_ms >= SPLIT_THRESHOLD_MS:
            bounds = [(o, min(o + SEGMENT_MS, duration_ms))
                      for o in range(0, duration_ms, SEGMENT_MS)]
        else:
            bounds = [(0, duration_ms)]
        now = _now_ms()
        source_id = str(uuid.uuid4())
        records = []
        with self.store.connect() as conn:
            conn.execute("INSERT INTO stream_source_files (id, stream_id, filename, duration, "
                         "sample_rate, channels, sha1, created_at) VALUES (?,?,?,?,?,?,?,?)",
                         (source_id, row["stream_id"], row["original_filename"], duration_ms,
                          rate, 1, sha1, now))
            for begin, finish in bounds:
                first = begin * rate // 1000
                last = mono.size if finish == duration_ms else finish * rate // 1000
                samples = mono[first:last]
                segment_id = str(uuid.uuid4())
                path = self.store.blob_dir / f"{segment_id}.{codec}"
                write_bytes(path, synth.encode(samples, rate, codec))
                conn.execute(
                    'INSERT OR REPLACE INTO segments (id, stream_id, start, "end", sample_count, '
                    "stream_source_file_id, file_extension, availability, synth, created_at, "
                    "updated_at) VALUES (?,?,?,?,?,?,?,1,0,?,?)",
                    (segment_id, row["stream_id"], start + begin, start + finish, samples.size,
                     source_id, f".{codec}", now, now))
                records.append({"id": segment_id, "start": iso(start + begin),
                                "end": iso(start + finish), "path": path.name})
            conn.execute(
                'UPDATE streams SET start = min(coalesce(start, ?), ?), "end" = '
                'max(coalesce("end", ?), ?), max_sample_rate = max(coalesce(max_sample_rate, 0), ?),'
                " updated_at = ? WHERE id = ?",
                (start, start, start + duration_ms, start + duration_ms, rate, now,
                 row["stream_id"]))
        return records


def create_upload(app: App, req: Request) -> Response:
    fields, _ = req.form()

    def field(name: str) -> str | None:
        values = fields.get(name)
        return values[-1] if values and values[-1] != "" else None

    missing = [n for n in ("filename", "timestamp", "stream") if field(n) is None]
    if missing:
        raise HTTPError(400, f'"{missing[0]}" is required')
    filename, stream_id = str(field("filename")), str(field("stream"))
    timestamp = parse_time(str(field("timestamp")))
    if timestamp is None:
        raise HTTPError(400, f'Invalid "timestamp": {field("timestamp")}')
    if timestamp > _now_ms():
        raise HTTPError(400, f"Future date upload: {field('timestamp')}")
    if timestamp < MIN_YEAR_MS:
        raise HTTPError(400, f"Past date upload: {field('timestamp')}")
    checksum = field("checksum")
    if checksum and app.store.query("SELECT 1 FROM stream_source_files WHERE sha1 = ?",
                                    (checksum,)):
        raise HTTPError(400, "Duplicate.")
    assert req.user is not None
    access.require_stream(app.store, req.user, stream_id, permission="U")
    upload_id = secrets.token_hex(12)
    ext = _ext(filename)
    now = _now_ms()
    sample_rate = field("sampleRate")
    bitrate = field("targetBitrate")
    with app.store.connect() as conn:
        conn.execute("INSERT INTO uploads (id, stream_id, user_id, status, timestamp, "
                     "original_filename, sample_rate, target_bitrate, checksum, created_at, "
                     "updated_at) VALUES (?,?,?,0,?,?,?,?,?,?,?)",
                     (upload_id, stream_id, req.user.id, timestamp, filename,
                      int(sample_rate) if sample_rate and sample_rate.isdigit() else None,
                      int(bitrate) if bitrate and bitrate.isdigit() else None, checksum, now, now))
    path = f"/_uploads/{upload_id}.{ext}"
    url = app.presign(req.base_url, path, extra=f"&X-Amz-SignedHeaders=content-type%3Bhost"
                                                 f"&ContentType=audio%2F{ext}")
    return json_response({"uploadId": upload_id, "url": url,
                          "path": f"{stream_id}/{upload_id}.{ext}", "bucket": "rfcx-ingest-emulated"})


def put_upload(app: App, ingestor: Ingestor, req: Request) -> Response:
    if not app.presigned(req):
        return signature_mismatch()
    name = req.path.rsplit("/", 1)[-1]
    upload_id, _, ext = name.partition(".")
    # The URL signs "audio/<lower-case ext>": any other Content-Type breaks the signature.
    if (req.header("content-type") or "") != f"audio/{ext}":
        return signature_mismatch()
    rows = app.store.query("SELECT status FROM uploads WHERE id = ?", (upload_id,))
    if not rows:
        return s3_error(404, "NoSuchUpload", "The specified upload does not exist.")
    digest = _save_stream(req, app.store.upload_dir / name)
    if rows[0]["status"] == 0:
        with app.store.connect() as conn:
            conn.execute("UPDATE uploads SET status = 10, updated_at = ? WHERE id = ?",
                         (_now_ms(), upload_id))
        ingestor.put(upload_id)  # its bytes have arrived
    resp = Response(status=200, body=b"")
    return resp.header("ETag", f'"{digest}"')


def _save_stream(req: Request, path: Path) -> str:
    """Copy the request body to ``path`` a chunk at a time; its md5 (S3's ETag)."""
    md5 = hashlib.md5()
    stream = req.stream
    with open_atomic(path, "wb") as out:
        if stream is not None:
            stream.seek(0)
            while chunk := stream.read(CHUNK):
                md5.update(chunk)
                out.write(chunk)
    return md5.hexdigest()


def get_upload(app: App, req: Request) -> Response:
    rows = app.store.query("SELECT * FROM uploads WHERE id = ?", (req.params["id"],))
    if not rows:
        raise HTTPError(404, "Upload not found")
    row = dict(rows[0])
    assert req.user is not None
    if row["user_id"] != req.user.id and not req.user.is_system:
        raise HTTPError(403, "Not authorized to access this resource")
    return json_response(upload_document(row))


def register(app: App) -> Ingestor:
    """Add the ingest routes and start the processing worker."""
    ingestor = Ingestor(app.store)
    app.workers.append(ingestor)
    app.ingest.add("POST", "/ingest/uploads", lambda req: create_upload(app, req))
    app.ingest.add("GET", "/ingest/uploads/{id}", lambda req: get_upload(app, req))
    app.storage.add("PUT", "/_uploads/{name}", lambda req: put_upload(app, ingestor, req))
    return ingestor

