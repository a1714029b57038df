"""Cache roots on an object store (``s3://bucket/prefix``): keys shaped like pathlib paths.

:class:`ObjectPath` answers the part of :class:`pathlib.Path` the cache uses (``/``,
``name``, ``read_bytes``, ``iterdir``, ``glob``, ``unlink``, ``stat`` ...) with S3
requests through boto3, so the cache's manifest and Parquet logic runs unchanged on a
bucket. Two things differ from a folder, and the cache asks for them by name: a PUT of
one object is atomic (no temporary and rename), and there are no file locks, so a
manifest is replaced only if it is still the version that was read
(:meth:`ObjectPath.write_if`, S3's conditional ``If-Match``/``If-None-Match`` writes).

Credentials, region and endpoint come from the standard AWS environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_PROFILE``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``/
``AWS_ENDPOINT_URL_S3``), read by boto3 itself; nothing here holds or prints a secret.
Every failure is an ``OSError`` (a missing object a ``FileNotFoundError``) naming the
``s3://`` URL, which the cache turns into its ``CacheError``.

Examples
--------
>>> root = ObjectPath.from_url("s3://my-bucket/team/cache/")
>>> str(root / "v2" / "detections")
's3://my-bucket/team/cache/v2/detections'
>>> (root / "v2" / "x.json").parent.name, (root / "a.parquet").stem
('v2', 'a')
>>> is_object_url("s3://b/p"), is_object_url("/tmp/cache")
(True, False)
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import io
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, NamedTuple

#: The URL schemes a cache root may use for an object store.
SCHEMES = ("s3",)
#: The optional extra that installs boto3.
EXTRA = "s3"

_URL = re.compile(r"^(?P<scheme>[a-z0-9]+)://(?P<bucket>[^/]*)(?:/(?P<key>.*))?$")
# S3's bucket naming rules: 3-63 of lowercase letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# What boto3 reads from the environment; a client is built anew when one of them changes.
_AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
            "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
_CLIENTS: dict[tuple[str | None, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_REFUSED = frozenset({"403", "Forbidden", "AccessDenied", "InvalidAccessKeyId",
                      "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"})
#: Appended to a refusal: where the credentials come from (names only, never values).
CREDENTIALS_HINT = ("check the AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    "or AWS_PROFILE) and that they may use this bucket")
_CONFLICT = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


class ObjectStoreError(OSError):
    """An object-store request failed (unreachable endpoint, missing bucket, refused
    credentials); ``filename`` is the ``s3://`` URL."""


class ConflictError(ObjectStoreError):
    """A conditional write lost: another writer replaced the object since it was read."""


class _Stat(NamedTuple):
    st_size: int
    st_mtime: float


def is_object_url(value: object) -> bool:
    """Whether ``value`` is an object-store URL (``s3://...``) rather than a folder.

    Parameters
    ----------
    value
        A cache root as given (string, path or anything else).

    Examples
    --------
    >>> is_object_url("s3://bucket"), is_object_url("relative/s3:"), is_object_url(3)
    (True, False, False)
    """
    return isinstance(value, str) and any(value.startswith(f"{s}://") for s in SCHEMES)


def _client() -> Any:
    """One boto3 S3 client per AWS environment (clients are thread-safe, sessions not)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ImportError("a cache on s3:// needs boto3: "
                          f"pip install 'rfcx-frames[{EXTRA}]'") from exc
    key = tuple(os.environ.get(name) for name in _AWS_ENV)
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            # Few quick retries: an unreachable endpoint must fail in seconds, not minutes.
            config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                            read_timeout=60, max_pool_connections=32)
            _CLIENTS[key] = boto3.session.Session().client("s3", config=config)
        return _CLIENTS[key]


def _failure(exc: Exception, action: str, url: str) -> OSError:
    """A boto3/botocore failure as an ``OSError`` naming ``url``, never a credential."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = str(error.get("Code", ""))
        text = f"{action} failed: {code} {error.get('Message', '')}".strip()
        if code in _MISSING:
            return FileNotFoundError(errno.ENOENT, text, url)
        if code in _CONFLICT:
            return ConflictError(errno.EAGAIN, text, url)
        if code in _REFUSED:
            return ObjectStoreError(errno.EACCES, f"{text}; {CREDENTIALS_HINT}", url)
        return ObjectStoreError(errno.EIO, text, url)
    return ObjectStoreError(errno.EIO, f"{action} failed: {type(exc).__name__}: {exc}", url)


@contextlib.contextmanager
def _requests(action: str, url: str) -> Iterator[None]:
    try:
        yield
    except OSError:
        raise
    except Exception as exc:
        # botocore's errors (ClientError, EndpointConnectionError, NoCredentialsError ...)
        # share no base class worth importing eagerly; all mean "the store failed".
        if type(exc).__module__.split(".")[0] not in {"botocore", "boto3", "urllib3"}:
            raise
        raise _failure(exc, action, url) from None


@dataclass(frozen=True, order=True)
class ObjectPath:
    """One key (object or "folder" prefix) in a bucket, shaped like :class:`pathlib.Path`.

    Folders are prefixes: they exist while an object is under them, ``mkdir`` is a
    no-op, and :meth:`glob`/:meth:`rglob` yield objects only.

    Examples
    --------
    >>> p = ObjectPath("bucket", "cache/v2/whole/streams/k.json")
    >>> p.suffix, p.relative_to(ObjectPath("bucket", "cache")).as_posix()
    ('.json', 'v2/whole/streams/k.json')
    """

    bucket: str
    key: str = ""
    size: int | None = field(default=None, compare=False, repr=False)
    mtime: float | None = field(default=None, compare=False, repr=False)
    prefix: bool = field(default=False, compare=False, repr=False)

    @classmethod
    def from_url(cls, url: str) -> ObjectPath:
        """Parse ``s3://bucket[/prefix]``.

        Parameters
        ----------
        url
            The root as a user writes it.

        Raises
        ------
        ValueError
            For another scheme or an invalid bucket name.

        Examples
        --------
        >>> ObjectPath.from_url("s3://bkt//a/b/").key
        'a/b'
        """
        match = _URL.match(url.strip())
        if match is None or match["scheme"] not in SCHEMES or not _BUCKET.match(match["bucket"]):
            raise ValueError(f"cache root must be a folder or s3://<bucket>[/<prefix>] with a valid "
                             f"bucket name (3-63 of a-z, 0-9, '.', '-'); got {url!r}")
        return cls(match["bucket"], _join("", match["key"] or ""))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"

    def as_posix(self) -> str:
        """The URL (what ``str`` gives).

        Examples
        --------
        >>> ObjectPath("bkt", "a").as_posix()
        's3://bkt/a'
        """
        return str(self)

    def __truediv__(self, part: str | PurePosixPath) -> ObjectPath:
        return ObjectPath(self.bucket, _join(self.key, str(part)))

    @property
    def name(self) -> str:
        """The last part of the key."""
        return self.key.rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        """The name without its suffix."""
        return PurePosixPath(self.name).stem

    @property
    def suffix(self) -> str:
        """The name's last suffix (``.json``)."""
        return PurePosixPath(self.name).suffix

    @property
    def parent(self) -> ObjectPath:
        """The enclosing prefix."""
        return ObjectPath(self.bucket, self.key.rsplit("/", 1)[0] if "/" in self.key else "")

    def relative_to(self, other: ObjectPath) -> PurePosixPath:
        """The key below ``other``, as a relative path.

        Examples
        --------
        >>> ObjectPath("b", "a/x/y").relative_to(ObjectPath("b", "a")).as_posix()
        'x/y'
        """
        prefix = f"{other.key}/" if other.key else ""
        if other.bucket != self.bucket or not self.key.startswith(prefix):
            raise ValueError(f"{self} is not below {other}")
        return PurePosixPath(self.key[len(prefix):])

    # -- requests -----------------------------------------------------------------------

    def read_versioned(self) -> tuple[bytes, str]:
        """The object's bytes and its version (ETag) from one GET, for :meth:`write_if`.

        Raises
        ------
        FileNotFoundError
            When there is no such object.
        """
        with _requests("GET", str(self)):
            answer = _client().get_object(Bucket=self.bucket, Key=self.key)
            return answer["Body"].read(), str(answer["ETag"])

    def read_bytes(self) -> bytes:
        """The object's bytes (``FileNotFoundError`` when absent)."""
        return self.read_versioned()[0]

    def write_bytes(self, data: bytes) -> int:
        """Store ``data`` as the object: one PUT, which readers see whole or not at all."""
        with _requests("PUT", str(self)):
            _client().put_object(Bucket=self.bucket, Key=self.key, Body=data)
        return len(data)

    def write_if(self, data: bytes, version: str | None) -> None:
        """Store ``data`` only if the object is still at ``version`` (``None``: still absent).

        Raises
        ------
        ConflictError
            Another writer replaced (or created) the object meanwhile.
        """
        condition = {"IfMatch": version} if version is not None else {"IfNoneMatch": "*"}
        with _requests("conditional PUT", str(self)):
            _client().put_object(Bucket=self.bucket, Key=self.key, Body=data, **condition)

    @contextlib.contextmanager
    def open_atomic(self) -> Iterator[io.BytesIO]:
        """A buffer whose content becomes the object on a clean exit (nothing otherwise)."""
        buffer = io.BytesIO()
        yield buffer
        self.write_bytes(buffer.getvalue())

    def unlink(self, missing_ok: bool = True) -> None:
        """Delete the object (deleting an absent one is not an error on S3)."""
        with _requests("DELETE", str(self)):
            _client().delete_object(Bucket=self.bucket, Key=self.key)

    def stat(self) -> _Stat:
        """Size and modification time (from the listing that found it, else a HEAD)."""
        if self.size is not None and self.mtime is not None:
            return _Stat(self.size, self.mtime)
        with _requests("HEAD", str(self)):
            answer = _client().head_object(Bucket=self.bucket, Key=self.key)
        return _Stat(int(answer["ContentLength"]), answer["LastModified"].timestamp())

    def is_file(self) -> bool:
        """Whether an object has this key."""
        if self.size is not None:
            return True
        try:
            self.stat()
        except FileNotFoundError:
            return False
        return True

    def is_dir(self) -> bool:
        """Whether any object lies under this prefix (the bucket root always is one)."""
        if not self.key or self.prefix:
            return True
        if self.size is not None:
            return False
        with _requests("LIST", str(self)):
            answer = _client().list_objects_v2(Bucket=self.bucket, Prefix=f"{self.key}/", MaxKeys=1)
        return bool(answer.get("KeyCount"))

    def exists(self) -> bool:
        """Whether this is an object or a non-empty prefix now (asked anew, not from the
        listing that found it)."""
        fresh = ObjectPath(self.bucket, self.key)
        return fresh.is_file() or fresh.is_dir()

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: a prefix exists once an object is written under it."""

    def check(self) -> None:
        """Make sure the bucket can be reached with the environment's credentials.

        Raises
        ------
        ObjectStoreError
            Unreachable endpoint, missing bucket, refused credentials.
        """
        try:
            with _requests("HEAD bucket", str(self)):
                _client().head_bucket(Bucket=self.bucket)
        except FileNotFoundError as exc:
            raise ObjectStoreError(errno.ENOENT, f"no bucket {self.bucket!r} at this endpoint "
                                   "(AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)", str(self)) from exc

    def iterdir(self) -> Iterator[ObjectPath]:
        """The objects and sub-prefixes directly under this prefix."""
        yield from self._list(delimiter=True)

    def glob(self, pattern: str) -> Iterator[ObjectPath]:
        """Objects under this prefix whose relative key matches ``pattern`` part by part."""
        parts = pattern.split("/")
        for child in self._list(delimiter=len(parts) == 1):
            relative = child.relative_to(self).parts
            if child.size is not None and len(relative) == len(parts) and all(
                    fnmatch.fnmatchcase(n, p) for n, p in zip(relative, parts, strict=True)):
                yield child

    def rglob(self, pattern: str) -> Iterator[ObjectPath]:
        """Objects at any depth under this prefix whose name matches ``pattern``."""
        for child in self._list(delimiter=False):
            if fnmatch.fnmatchcase(child.name, pattern):
                yield child

    def _list(self, *, delimiter: bool) -> Iterator[ObjectPath]:
        prefix = f"{self.key}/" if self.key else ""
        options = {"Bucket": self.bucket, "Prefix": prefix, **({"Delimiter": "/"} if delimiter else {})}
        with _requests("LIST", str(self)):
            for page in _client().get_paginator("list_objects_v2").paginate(**options):
                for common in page.get("CommonPrefixes", []):
                    yield ObjectPath(self.bucket, common["Prefix"].rstrip("/"), prefix=True)
                for item in page.get("Contents", []):
                    yield ObjectPath(self.bucket, item["Key"], int(item["Size"]),
                                     item["LastModified"].timestamp())

    def remove_tree(self) -> None:
        """Delete every object under this prefix (and the object of this key)."""
        keys = [{"Key": p.key} for p in self._list(delimiter=False)]
        with _requests("DELETE", str(self)):
            for i in range(0, len(keys), 1000):
                _client().delete_objects(Bucket=self.bucket, Delete={"Objects": keys[i:i + 1000]})
        self.unlink()


def _join(key: str, part: str) -> str:
    return "/".join(p for p in [*key.split("/"), *part.split("/")] if p)
