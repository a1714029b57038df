"""Request bodies kept off the heap: spooled to disk as they arrive, multipart parsed in chunks.

A body is read only once the request is known to be allowed (see :mod:`.server`), into a
:class:`~tempfile.SpooledTemporaryFile` that stays in memory while small and moves to a
file in the data directory when it grows, so a 300 MB upload costs a few hundred KB of
memory. Multipart bodies are split from that file chunk by chunk; each file part is a
spooled file again, so a route copies it to its final place without holding it.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import HTTP
from pathlib import Path
from typing import IO, Protocol

from ..files import open_atomic

CHUNK = 256 * 1024
#: Bodies and file parts up to this size stay in memory; larger ones go to disk.
IN_MEMORY = 1024 * 1024
#: The most header bytes one multipart part may carry.
MAX_PART_HEADER = 16 * 1024


class Readable(Protocol):
    """A binary input: a socket's buffered reader, a file, ``BytesIO``."""

    def read(self, size: int = ..., /) -> bytes: ...

    def readline(self, size: int = ..., /) -> bytes: ...


class BodyError(ValueError):
    """A body the server cannot take: ``status`` is 400 (malformed) or 413 (too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def spooled(folder: Path) -> IO[bytes]:
    """An empty file that stays in memory up to :data:`IN_MEMORY` bytes, then in ``folder``.

    Examples
    --------
    >>> with spooled(Path(tempfile.gettempdir())) as fh:
    ...     fh.write(b"x")
    1
    """
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.SpooledTemporaryFile(max_size=IN_MEMORY, mode="w+b", dir=str(folder))


def spool(rfile: Readable, length: int | None, chunked: bool, folder: Path,
          limit: int | None) -> IO[bytes]:
    """Read a request body (``Content-Length`` or chunked) into a spooled file.

    Parameters
    ----------
    rfile
        The connection's input.
    length
        The declared ``Content-Length`` (already checked), or ``None``.
    chunked
        Whether the body uses chunked transfer coding.
    folder
        Where a large body is written.
    limit
        The most bytes a chunked body may hold (``None``: no limit); beyond it a 413.

    Returns
    -------
    file
        The body, positioned at its start.

    Raises
    ------
    BodyError
        A malformed chunk header (400) or a chunked body over ``limit`` (413).

    Examples
    --------
    >>> with spool(io.BytesIO(b"3\\r\\nabc\\r\\n0\\r\\n\\r\\n"), None, True,
    ...            Path(tempfile.gettempdir()), None) as body:
    ...     body.read()
    b'abc'
    """
    out = spooled(folder)
    try:
        if length:
            _copy(rfile, out.write, length)
        elif chunked:
            _copy_chunks(rfile, out.write, limit)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def _copy_chunks(rfile: Readable, sink: Callable[[bytes], object], limit: int | None) -> None:
    total = 0
    while True:
        line = rfile.readline(1024).strip().split(b";")[0]
        if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", line):
            raise BodyError(400, "malformed chunk size")
        size = int(line, 16)
        total += size
        if limit is not None and total > limit:
            raise BodyError(413, "body too large")
        if size == 0:
            rfile.readline(1024)
            return
        _copy(rfile, sink, size)
        rfile.readline(1024)


def discard(rfile: Readable, length: int) -> None:
    """Read and drop ``length`` bytes of a body that will not be used.

    Examples
    --------
    >>> src = io.BytesIO(b"abcdef"); discard(src, 4); src.read()
    b'ef'
    """
    _copy(rfile, lambda chunk: None, length)


def _copy(rfile: Readable, sink: Callable[[bytes], object], length: int) -> None:
    left = length
    while left > 0:
        chunk = rfile.read(min(CHUNK, left))
        if not chunk:
            raise BodyError(400, "body shorter than its Content-Length")
        sink(chunk)
        left -= len(chunk)


@dataclass
class UploadedFile:
    """One file part of a multipart body, held in a spooled file."""

    field: str
    filename: str
    content_type: str
    file: IO[bytes]

    @property
    def data(self) -> bytes:
        """The whole content (for small files; large ones use :meth:`save`)."""
        self.file.seek(0)
        return self.file.read()

    def save(self, path: Path) -> None:
        """Copy the content to ``path`` atomically, a chunk at a time."""
        self.file.seek(0)
        with open_atomic(path, "wb") as out:
            shutil.copyfileobj(self.file, out, CHUNK)


Form = tuple[dict[str, list[str]], list[UploadedFile], list[str]]


def parse_multipart(content_type: str, body: IO[bytes], folder: Path) -> Form:
    """Fields, files and part names (as sent) of a multipart body, read in chunks.

    A name ending in ``[]`` is stored without it, as multer does; the names as sent
    are returned too, since the platform treats one part named ``x`` (a string) and one
    named ``x[]`` (a list) differently.

    Parameters
    ----------
    content_type
        The request's ``Content-Type`` (with its ``boundary``).
    body
        The spooled body.
    folder
        Where large file parts are written.

    Raises
    ------
    BodyError
        No boundary, or a body that does not follow it (400).

    Examples
    --------
    >>> raw = b'--b\\r\\nContent-Disposition: form-data; name="v[]"\\r\\n\\r\\nx\\r\\n--b--\\r\\n'
    >>> fields, files, names = parse_multipart("multipart/form-data; boundary=b",
    ...                                        io.BytesIO(raw), Path(tempfile.gettempdir()))
    >>> fields, files, names
    ({'v': ['x']}, [], ['v[]'])
    """
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise BodyError(400, "Malformed multipart body")
    delimiter = b"--" + match.group(1).encode("latin-1")
    files: list[UploadedFile] = []
    try:
        return _parts(body, delimiter, folder, files)
    except BaseException:
        for upload in files:
            upload.file.close()
        raise


def _parts(body: IO[bytes], delimiter: bytes, folder: Path, files: list[UploadedFile]) -> Form:
    fields: dict[str, list[str]] = {}
    names: list[str] = []
    rest, found = _until(body, b"", delimiter, lambda chunk: None)
    while found:
        rest = _fill(body, rest, 2)
        if rest.startswith(b"--"):
            break
        head = bytearray()
        rest, found = _until(body, rest, b"\r\n\r\n", _capped(head))
        headers = BytesHeaderParser(policy=HTTP).parsebytes(bytes(head).lstrip(b"\r\n"))
        name = headers.get_param("name", header="content-disposition")
        filename = headers.get_filename()
        sink: IO[bytes] = io.BytesIO() if filename is None else spooled(folder)
        rest, found = _until(body, rest, b"\r\n" + delimiter, sink.write)
        if not isinstance(name, str):
            sink.close()
            continue
        names.append(name)
        key = name[:-2] if name.endswith("[]") else name
        if filename is None:
            value = sink.getvalue() if isinstance(sink, io.BytesIO) else b""
            charset = headers.get_content_charset() or "utf-8"
            fields.setdefault(key, []).append(value.decode(charset, errors="replace"))
        else:
            sink.seek(0)
            files.append(UploadedFile(key, filename, headers.get_content_type(), sink))
    if not found:
        raise BodyError(400, "Malformed multipart body")
    return fields, files, names


def _capped(head: bytearray) -> Callable[[bytes], None]:
    def add(chunk: bytes) -> None:
        head.extend(chunk)
        if len(head) > MAX_PART_HEADER:
            raise BodyError(400, "Malformed multipart body")
    return add


def _fill(body: IO[bytes], buffer: bytes, size: int) -> bytes:
    while len(buffer) < size:
        chunk = body.read(CHUNK)
        if not chunk:
            break
        buffer += chunk
    return buffer


def _until(body: IO[bytes], buffer: bytes, marker: bytes,
           sink: Callable[[bytes], object]) -> tuple[bytes, bool]:
    """Pass bytes to ``sink`` up to ``marker``; the bytes after it, and whether it was found."""
    keep = len(marker) - 1
    while True:
        at = buffer.find(marker)
        if at >= 0:
            sink(buffer[:at])
            return buffer[at + len(marker):], True
        if len(buffer) > keep:
            sink(buffer[:len(buffer) - keep])
            buffer = buffer[len(buffer) - keep:]
        chunk = body.read(CHUNK)
        if not chunk:
            return b"", False
        buffer += chunk
