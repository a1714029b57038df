"""Core API routes of segments: list, one segment, its file's signed URL (contract §4.3-§4.4).

A segment is found by its stream and exact start (or, with ``strict=false``, the segment
covering a time), before any stream check, as the platform's segment DAO does.
"""

from __future__ import annotations

from typing import Any

from . import access, json_sql
from .http import (
    HTTPError,
    Request,
    Response,
    encoded_json_response,
    json_response,
    text_response,
)
from .params import Converter, iso, parse_time
from .render import column_value
from .server import App
from .sql import limit_sql, page_params

SEGMENT_FIELDS = ("id", "start", "end", "path", "sample_count", "stream_id",
                  "stream_source_file_id", "file_extension_id", "availability", "created_at",
                  "updated_at")
FILE_EXTENSION_IDS = {".flac": 1, ".opus": 2, ".wav": 3}


def list_segments(app: App, req: Request) -> Response:
    """``GET /streams/{id}/segments``: segments with start in ``[start, end]`` (strict)."""
    conv = Converter(req.query)
    start, end = conv.window()
    limit, offset = page_params(conv, None)
    strict = conv.boolean("strict", default=True)
    conv.validate()
    assert req.user is not None
    if end < start:
        raise HTTPError(400, '"end" attribute cannot be less than "start" attribute')
    stream_id = req.params["id"]
    access.require_stream(app.store, req.user, stream_id)
    if strict:
        where = 'stream_id = ? AND start BETWEEN ? AND ?'
        args: list[object] = [stream_id, start, end]
    else:
        where = 'stream_id = ? AND start < ? AND "end" > ?'
        args = [stream_id, end, start]
    # Written by SQLite, byte for byte as json.dumps of the rows (a test compares them).
    item = json_sql.object_sql([
        ("id", "s.id"), ("start", json_sql.column_sql("start", "s.start", "INTEGER")),
        ("end", json_sql.column_sql("end", 's."end"', "INTEGER")),
        ("file_extension", "s.file_extension")])
    # An omitted limit reaches Sequelize as undefined (every row); limit=0 as LIMIT 0 (none).
    items = app.store.connection().execute(
        f"SELECT group_concat(j, ',') FROM (SELECT {item} AS j FROM segments s WHERE {where} "
        f'ORDER BY start ASC, {app.tie_break("rowid")}'
        f'{limit_sql(limit, offset, "Failed getting stream segments")})', args).fetchone()[0]
    # The platform reads a property its DAO never sets, so the header says "undefined".
    return encoded_json_response(b"[" + (items or "").encode("utf-8") + b"]",
                                 headers=[("Total-Items", "undefined")])


def _find_segment(app: App, req: Request, failure: str) -> dict[str, Any]:
    """The segment, looked up before any stream check, as the platform's segment DAO does.

    An unknown stream is therefore ``Segment not found``; an unreadable one the default 403.
    A start that is no time reaches the platform's SQL as ``Invalid date`` and fails there
    with the route's 500 ``failure`` message, whatever the stream.
    """
    assert req.user is not None
    stream_id = req.params["id"]
    at = parse_time(req.params["start"])
    if at is None:
        raise HTTPError(500, failure)
    strict = Converter(req.query).boolean("strict", default=True)
    if strict:
        rows = app.store.query("SELECT * FROM segments WHERE stream_id = ? AND start = ?",
                               (stream_id, at))
    else:
        rows = app.store.query('SELECT * FROM segments WHERE stream_id = ? AND start <= ? AND '
                               '"end" > ? ORDER BY start DESC LIMIT 1', (stream_id, at, at))
    if not rows:
        raise HTTPError(404, "Segment not found")
    access.require_stream(app.store, req.user, stream_id)
    return dict(rows[0])


def _segment_field(seg: dict[str, Any], field: str, source_file: dict[str, Any] | None) -> Any:
    if field == "path":
        return segment_path(seg)
    if field == "file_extension_id":
        return FILE_EXTENSION_IDS.get(seg["file_extension"], 0)
    if field == "stream_source_file":
        return source_file
    return seg[field] if field == "file_extension" else column_value(field, seg[field])


def get_segment(app: App, req: Request) -> Response:
    """``GET /streams/{id}/segments/{start}``: one segment by its exact start."""
    seg = _find_segment(app, req, "Failed getting stream segment")
    fields = Converter(req.query).array("fields")
    ssf_rows = app.store.query("SELECT id, filename, duration, sample_rate FROM "
                               "stream_source_files WHERE id = ?", (seg["stream_source_file_id"],))
    ssf = dict(ssf_rows[0]) if ssf_rows else None
    if not fields:
        return json_response({"id": seg["id"], "start": iso(seg["start"]),
                              "end": iso(seg["end"]), "stream_source_file": ssf,
                              "file_extension": seg["file_extension"]})
    known = (*SEGMENT_FIELDS, "stream_source_file", "file_extension")
    return json_response({f: _segment_field(seg, f, ssf) for f in fields if f in known})


def segment_path(seg: dict[str, Any]) -> str:
    """The storage folder of a segment, ``YYYY/MM/DD/<stream>``.

    Examples
    --------
    >>> segment_path({"start": 1709251200000, "stream_id": "abc"})
    '2024/03/01/abc'
    """
    day = (iso(seg["start"]) or "")[:10].replace("-", "/")
    return f"{day}/{seg['stream_id']}"


def segment_file(app: App, req: Request) -> Response:
    """``GET /streams/{id}/segments/{start}/file``: 302 to the stored file's signed URL."""
    seg = _find_segment(app, req, "Failed getting stream segment file")
    path = f"/_blobs/{segment_path(seg)}/{seg['id']}{seg['file_extension']}"
    url = app.presign(req.base_url, path)
    resp = text_response(f"Found. Redirecting to {url}", status=302)
    return resp.header("Location", url).header("Vary", "Accept")
