"""The :class:`Client`: settings, authentication, the official client's methods, DataFrames.

The seed-parity methods keep the official ``rfcx`` client's names, arguments, defaults
and return values (lists of dicts, an ``int`` from ``upload_classifier``, a tuple from
``check_ingest``) but raise typed exceptions (:mod:`rfcx_frames.exceptions`) instead of
returning ``None``, and fix its known bugs (contract §7): ``stream()`` works,
``min_confidence=0`` is sent, ``include_public``/``include_deleted`` add to your own
streams, naive times are UTC, ``limit`` outside 1..1000 raises ``ValueError``, and
``check_ingest`` waits with a timeout. As in the official client, ``stream_segments``,
``detections`` and ``annotations`` default to the last 30 days when no dates are given;
the ``*_df`` methods have no such default.

Examples
--------
>>> c = Client(api_url="http://127.0.0.1:8080", token="secret-token")
>>> "secret-token" in repr(c)
False
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from . import auth, config, ids, timeutil, validate
from . import cache as cache_mod
from .audio.methods import AudioMethods
from .exceptions import AuthenticationError, RFCxError
from .ratelimit import AUTO, AutoRateLimit
from .session import Session
from .tables import TableMethods, project_params, stream_queries
from .timeutil import TimeLike
from .urls import check_url


def _json(response: requests.Response) -> Any:
    return response.json()


def _resolve_url(value: str | None, env_name: str, default: str, name: str) -> tuple[str, str]:
    """The URL of a setting and its label for errors (which says if it came from the env)."""
    from_env = value is None and config.env(env_name) is not None
    label = f"{name} (from {env_name})" if from_env else name
    url = value or config.env(env_name) or default
    return check_url(url, label).rstrip("/"), label


def ingest_endpoint(url: str) -> str:
    """The uploads endpoint for an ingest URL given with or without ``/uploads``.

    Examples
    --------
    >>> ingest_endpoint("https://ingest.rfcx.org")
    'https://ingest.rfcx.org/uploads'
    >>> ingest_endpoint("https://ingest.rfcx.org/uploads/")
    'https://ingest.rfcx.org/uploads'
    """
    url = url.rstrip("/")
    return url if url.endswith(config.INGEST_UPLOADS_SUFFIX) else url + config.INGEST_UPLOADS_SUFFIX


class Client(TableMethods, AudioMethods):
    """Authenticate and query the RFCx/Arbimon platform.

    Parameters
    ----------
    api_url, ingest_url, auth_url
        Core API, ingest uploads endpoint and Auth0 tenant. Default: ``RFCX_API_URL``,
        ``RFCX_INGEST_URL`` (``RFCX_AUTH_URL``) from the environment, else the platform's
        hosts. ``ingest_url`` is the uploads endpoint; a base without ``/uploads`` gets it.
    token
        Bearer token (else ``RFCX_TOKEN``, else :meth:`authenticate`, else a valid
        ``.rfcx_credentials`` in the working directory, read on first use).
    cache_dir
        Folder of the local Parquet cache (default: ``RFCX_FRAMES_CACHE``, else the user
        cache folder).
    max_workers
        Concurrent requests of one query.
    rate_limit
        Requests per minute. Default: 300/min on the platform's hosts (its ingress limit),
        no limit elsewhere (the emulator, a proxy); ``None``: never limit.
    progress
        Show progress bars on long queries (``RFCX_FRAMES_PROGRESS=0`` disables all).
    timeout
        Seconds for every request: one positive number, or ``(connect, read)``.
    deadline
        Overall seconds one request may take, connect, every read and every retry
        included (default 300; ``None``: no overall limit). A server that answers too
        slowly raises :class:`~rfcx_frames.exceptions.DeadlineExceededError` instead of
        stalling the call. File uploads get at least an hour.
    cache
        Default cache mode of every ``*_df``: ``"use"``, ``"refresh"``, ``"offline"`` or
        ``False``. ``None``: ``RFCX_FRAMES_CACHE_MODE`` if set, else ``"use"``. A ``cache=``
        given to one call outranks both.
    cache_horizon
        Windows ending less than this before now are fetched again next time instead of
        being cached as complete, because the platform may still add rows there (e.g.
        ``"6h"``, ``"2d"``, a ``Timedelta``; default 6 hours).
    cache_max_age
        Cached detections and annotations fetched longer ago than this are fetched
        again, because reviews change them on the platform (``"12h"``, ``"2d"``, a
        ``Timedelta``, or ``"never"``; default 12 hours: a working day's repeats stay
        warm, the next day's see the reviews). Segments and listings keep their own
        rules; a ``max_age=`` given to one call outranks this.
    retries, backoff_factor
        Retries of transient failures and their exponential backoff.
    clock
        Where "now" comes from (a callable returning a UTC ``Timestamp``): the cache
        horizon, the official client's 30-day default windows and provenance times use
        it. Default: the system clock. Tests and replays pass a fixed one.

    Examples
    --------
    >>> Client(api_url="http://127.0.0.1:8080/").api_url
    'http://127.0.0.1:8080'
    """

    def __init__(
        self,
        api_url: str | None = None,
        ingest_url: str | None = None,
        auth_url: str | None = None,
        token: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        max_workers: int = config.DEFAULT_MAX_WORKERS,
        rate_limit: float | AutoRateLimit | None = AUTO,
        progress: bool = True,
        timeout: float | tuple[float, float] = config.DEFAULT_TIMEOUT,
        *,
        cache: Any = None,
        cache_horizon: Any = None,
        cache_max_age: Any = None,
        retries: int = config.RETRIES,
        backoff_factor: float = config.BACKOFF_FACTOR,
        clock: timeutil.Clock | None = None,
        deadline: float | None = config.DEFAULT_DEADLINE,
    ) -> None:
        self.api_url, api_label = _resolve_url(api_url, config.ENV_API_URL,
                                               config.DEFAULT_API_URL, "api_url")
        ingest, ingest_label = _resolve_url(ingest_url, config.ENV_INGEST_URL,
                                            config.DEFAULT_INGEST_URL, "ingest_url")
        self.ingest_url = ingest_endpoint(ingest)
        self.auth_url, auth_label = _resolve_url(auth_url, config.ENV_AUTH_URL,
                                                 config.DEFAULT_AUTH_URL, "auth_url")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        # An explicit client setting outranks the environment; None leaves it to
        # RFCX_FRAMES_CACHE_MODE, then "use".
        self.cache_default: Any = (None if cache is None or cache is True
                                   else cache_mod.resolve_mode(cache, default="use"))
        self.cache_horizon = (cache_mod.DEFAULT_HORIZON if cache_horizon is None
                              else cache_mod.parse_duration(cache_horizon)
                              if isinstance(cache_horizon, str) else pd.Timedelta(cache_horizon))
        if self.cache_horizon < pd.Timedelta(0):
            raise ValueError(f"cache_horizon must be >= 0, got {cache_horizon!r}")
        self.cache_max_age = (cache_mod.DEFAULT_LABEL_MAX_AGE if cache_max_age is None
                              else cache_mod.parse_max_age(cache_max_age, "cache_max_age"))
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a callable returning a Timestamp, not {type(clock).__name__}")
        self.clock: timeutil.Clock = clock if clock is not None else timeutil.utc_now
        self.max_workers = validate.check_positive_int(max_workers, "max_workers")
        self.progress = validate.check_bool(progress, "progress")
        self.client_id = config.env(config.ENV_CLIENT_ID) or config.DEFAULT_CLIENT_ID
        self._token: str | None = token or config.env(config.ENV_TOKEN)
        self._credentials: auth.Credentials | None = None
        self._credentials_path: Path | None = None
        self._persist = False
        self._timezones: dict[str, str | None] = {}
        self._known_ids: dict[str, set[str]] = {}
        self.session = Session(token=self._bearer, timeout=timeout, retries=retries,
                               backoff_factor=backoff_factor, rate_limit=rate_limit,
                               pool_size=self.max_workers, deadline=deadline,
                               settings={api_label: self.api_url,
                                         ingest_label: self.ingest_url,
                                         auth_label: self.auth_url})

    def __repr__(self) -> str:
        return (f"Client(api_url={self.api_url!r}, ingest_url={self.ingest_url!r}, "
                f"auth_url={self.auth_url!r}, authenticated={self.authenticated})")

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()

    # -- authentication ----------------------------------------------------------------
    @property
    def authenticated(self) -> bool:
        """Whether a token is set (it may still be rejected by the platform)."""
        return bool(self._token or self._credentials)

    def _bearer(self) -> str:
        if self._token:
            return self._token
        if self._credentials is None:
            creds = auth.read_credentials(config.CREDENTIALS_FILE)
            if creds is not None and creds.valid_for(60):
                self._credentials = creds
        elif not self._credentials.valid_for(60) and self._credentials.refresh_token:
            self._refresh()
        if self._credentials is None:
            raise AuthenticationError(
                "not authenticated: pass token=, set RFCX_TOKEN, or call authenticate()")
        return self._credentials.token

    def _identity_token(self) -> str:
        """The token that names the user, without any network call (may be expired).

        The cache keys entries by user; ``cache="offline"`` must work with expired
        credentials and no network, so no refresh happens here.
        """
        if self._token:
            return self._token
        creds = self._credentials or auth.read_credentials(config.CREDENTIALS_FILE)
        if creds is None:
            raise AuthenticationError(
                "not authenticated: pass token=, set RFCX_TOKEN, or call authenticate()")
        return creds.token

    def _refresh(self) -> None:
        assert self._credentials is not None and self._credentials.refresh_token
        self._credentials = auth.refresh_login(self.session, self.auth_url, self.client_id,
                                               self._credentials.refresh_token)
        if self._persist and self._credentials_path is not None:
            auth.write_credentials(self._credentials_path, self._credentials)

    def authenticate(self, persist: bool = True,
                     persisted_credentials_path: str = config.CREDENTIALS_FILE, *,
                     open_browser: bool = True) -> None:
        """Log in and keep the token for every later call.

        In order: client credentials when ``AUTH0_CLIENT_SECRET`` is set (never persisted);
        the persisted credentials file, refreshed if it expires within the hour; the
        interactive device-code flow (prints a URL and a code). The file is the official
        client's format (both clients share a login), written with mode 0600.

        Raises
        ------
        AuthenticationError
            If the login fails (secret rejected, code expired or denied, refresh refused
            and no interactive login possible).

        Examples
        --------
        >>> client.authenticate()  # doctest: +SKIP
        Go to this URL in a browser: https://auth.rfcx.org/activate?user_code=ABCD-EFGH
        Your code is: ABCD-EFGH
        """
        path = Path(persisted_credentials_path)
        self._persist, self._credentials_path = bool(persist), path
        self._token = None
        secret = config.env(config.ENV_CLIENT_SECRET)
        if secret:
            client_id = config.env(config.ENV_CLIENT_ID)
            if not client_id:
                raise AuthenticationError("AUTH0_CLIENT_SECRET is set but AUTH0_CLIENT_ID is not")
            self._credentials = auth.client_credentials_login(self.session, self.auth_url,
                                                              client_id, secret)
            return
        stored = auth.read_credentials(path)
        if stored is not None:
            if stored.valid_for(config.TOKEN_MIN_REMAINING_S):
                self._credentials = stored
                return
            if stored.refresh_token:
                try:
                    self._credentials = stored
                    self._refresh()
                    return
                except AuthenticationError:
                    self._credentials = None
        self._credentials = auth.device_code_login(self.session, self.auth_url,
                                                   self.client_id, open_browser=open_browser)
        if persist:
            auth.write_credentials(path, self._credentials)

    # -- plumbing ------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.session.request("GET", f"{self.api_url}{path}", params=params, parse=_json)

    def _upload_deadline(self) -> float | None:
        # An upload's size is the user's own file: give it at least UPLOAD_DEADLINE.
        own = self.session.deadline
        return None if own is None else max(own, config.UPLOAD_DEADLINE)

    def now(self) -> pd.Timestamp:
        """The current UTC time as this client sees it (its ``clock``).

        Examples
        --------
        >>> fixed = pd.Timestamp("2024-03-01", tz="UTC")
        >>> Client(api_url="http://127.0.0.1:1", clock=lambda: fixed).now()
        Timestamp('2024-03-01 00:00:00+0000', tz='UTC')
        """
        return timeutil.to_utc(self.clock(), "clock()")

    def _seed_window(self, start: TimeLike | None, end: TimeLike | None,
                     names: tuple[str, str] = ("start", "end")) -> tuple[str, str]:
        now = self.now()
        begin = (timeutil.to_utc(start, names[0]) if start is not None
                 else now - pd.Timedelta(days=config.SEED_DEFAULT_WINDOW_DAYS))
        finish = timeutil.to_utc(end, names[1]) if end is not None else now
        if begin > finish:
            raise ValueError(f"{names[0]} ({timeutil.to_wire(begin)}) is after "
                             f"{names[1]} ({timeutil.to_wire(finish)})")
        return timeutil.to_wire(begin), timeutil.to_wire(finish)

    # -- seed-parity methods -------------------------------------------------------------
    def projects(self, keyword: str | None = None, created_by: str | None = None,
                 only_public: bool | None = None, only_deleted: bool | None = None,
                 fields: Sequence[str] | None = None, limit: int = 1000,
                 offset: int = 0) -> list[dict[str, Any]]:
        """One page of projects (``id, name, is_public, external_id`` by default).

        Examples
        --------
        >>> client.projects(keyword="bird")  # doctest: +SKIP
        [{'id': '...', 'name': 'Bird survey', 'is_public': False, 'external_id': None}]
        """
        params = project_params(keyword, created_by, only_public, only_deleted)
        params.update(limit=validate.check_limit(limit), offset=validate.check_offset(offset))
        if fields is not None:
            params["fields[]"] = validate.as_str_list(fields, "fields")
        result: list[dict[str, Any]] = self._get("/projects", params)
        return result

    def streams(self, organizations: Any = None, projects: Any = None,
                created_by: str | None = None, name: str | None = None,
                keyword: str | None = None, include_public: bool = False,
                include_deleted: bool = False, fields: Sequence[str] | None = None,
                limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
        """One page of streams; ``include_public``/``include_deleted`` add to your own.

        ``limit`` and ``offset`` apply to each underlying query.

        Examples
        --------
        >>> client.streams(include_public=True)  # doctest: +SKIP
        """
        queries = stream_queries(organizations, projects, created_by, name, keyword,
                                 validate.check_bool(include_public, "include_public"),
                                 validate.check_bool(include_deleted, "include_deleted"))
        extra: dict[str, Any] = {"limit": validate.check_limit(limit),
                                 "offset": validate.check_offset(offset)}
        if fields is not None:
            extra["fields[]"] = validate.as_str_list(fields, "fields")
        out: list[dict[str, Any]] = []
        seen: set[Any] = set()
        for query in queries:
            for item in self._get("/streams", {**query, **extra}):
                key = item.get("id", id(item))
                if key not in seen:
                    seen.add(key)
                    out.append(item)
        return out

    def stream(self, stream_id: str | None = None,
               fields: Sequence[str] | None = None) -> dict[str, Any]:
        """One stream's information.

        Raises
        ------
        NotFoundError, ForbiddenError
            Unknown or unreadable stream.

        Examples
        --------
        >>> client.stream("abc123abc123")["timezone"]  # doctest: +SKIP
        'America/Sao_Paulo'
        """
        if not stream_id or not isinstance(stream_id, str):
            raise TypeError("stream_id is required (a stream id string)")
        params = {"fields[]": validate.as_str_list(fields, "fields")} if fields else None
        result: dict[str, Any] = self._get(f"/streams/{ids.path_id(stream_id, 'stream_id')}",
                                           params)
        return result

    def stream_segments(self, stream: str, start: TimeLike | None = None,
                        end: TimeLike | None = None, limit: int = 50,
                        offset: int = 0) -> list[dict[str, Any]]:
        """One page of a stream's segments (default window: the last 30 days).

        Examples
        --------
        >>> client.stream_segments("abc123abc123", "2024-03-01", "2024-03-02")  # doctest: +SKIP
        """
        if not stream or not isinstance(stream, str):
            raise TypeError("stream is required (a stream id string)")
        begin, finish = self._seed_window(start, end)
        params = {"start": begin, "end": finish, "limit": validate.check_limit(limit),
                  "offset": validate.check_offset(offset)}
        result: list[dict[str, Any]] = self._get(
            f"/streams/{ids.path_id(stream, 'stream')}/segments", params)
        return result

    def detections(self, min_date: TimeLike | None = None, max_date: TimeLike | None = None,
                   classifications: Any = None, classifiers: Any = None, streams: Any = None,
                   min_confidence: float | None = None, limit: int = 50,
                   offset: int = 0) -> list[dict[str, Any]]:
        """One page of detections (default window: the last 30 days).

        ``min_confidence=None`` leaves the platform's default (0.95); ``0`` is sent.

        Examples
        --------
        >>> client.detections("2024-03-01", "2024-03-02", min_confidence=0)  # doctest: +SKIP
        """
        begin, finish = self._seed_window(min_date, max_date, ("min_date", "max_date"))
        params: dict[str, Any] = {
            "start": begin, "end": finish, "limit": validate.check_limit(limit),
            "offset": validate.check_offset(offset),
            "classifications[]": validate.as_str_list(classifications, "classifications"),
            "classifiers[]": validate.as_int_list(classifiers, "classifiers"),
            "streams[]": validate.as_str_list(streams, "streams"),
            "min_confidence": validate.check_confidence(min_confidence),
        }
        result: list[dict[str, Any]] = self._get(
            "/detections", {k: v for k, v in params.items() if v is not None})
        return result

    def annotations(self, start: TimeLike | None = None, end: TimeLike | None = None,
                    classifications: Any = None, stream: str | None = None, limit: int = 50,
                    offset: int = 0) -> list[dict[str, Any]]:
        """One page of annotations (default window: the last 30 days).

        Examples
        --------
        >>> client.annotations("2024-03-01", "2024-04-01", stream="abc123abc123")  # doctest: +SKIP
        """
        begin, finish = self._seed_window(start, end)
        params: dict[str, Any] = {
            "start": begin, "end": finish, "limit": validate.check_limit(limit),
            "offset": validate.check_offset(offset),
            "classifications[]": validate.as_str_list(classifications, "classifications"),
            "stream_id": stream or None,
        }
        result: list[dict[str, Any]] = self._get(
            "/annotations", {k: v for k, v in params.items() if v is not None})
        return result

    def classifications(self, keyword: str | None, levels: Any = None, limit: int = 1000,
                        offset: int = 0) -> list[dict[str, Any]]:
        """One page of classifications matching ``keyword`` (``None``: no keyword filter).

        Examples
        --------
        >>> client.classifications("squirrel", levels=["species"])  # doctest: +SKIP
        """
        params: dict[str, Any] = {"limit": validate.check_limit(limit),
                                  "offset": validate.check_offset(offset)}
        if keyword is not None:
            params["keyword"] = keyword
        level_list = validate.as_str_list(levels, "levels")
        if level_list:
            params["levels[]"] = level_list
        result: list[dict[str, Any]] = self._get("/classifications", params)
        return result

    def ingest_file(self, stream: str, filepath: str | os.PathLike[str],
                    timestamp: TimeLike) -> str:
        """Upload one audio file to a stream; returns the upload (ingest) id.

        Requests an upload URL (``POST`` to the ingest endpoint), then ``PUT`` s the bytes
        there with ``Content-Type: audio/<lower-case extension>``. ``timestamp`` is the
        recording start; naive times are UTC.

        Examples
        --------
        >>> client.ingest_file("abc123abc123", "20240301_060000.WAV", "2024-03-01T06:00")  # doctest: +SKIP
        '65f0c1e2a3b4c5d6e7f80912'
        """
        if not stream or not isinstance(stream, str):
            raise TypeError("stream is required (a stream id string)")
        path = Path(filepath)
        if not path.is_file():
            raise FileNotFoundError(f"filepath {str(path)!r} is not a file")
        when = timeutil.to_wire(timeutil.to_utc(timestamp, "timestamp"))
        form = {"filename": path.name, "timestamp": when, "stream": stream}
        ticket = self.session.request("POST", self.ingest_url, data=form, parse=_json)
        if not isinstance(ticket, dict) or "url" not in ticket or "uploadId" not in ticket:
            # Name the keys only: the answer may hold a pre-signed (secret) upload URL.
            keys = sorted(ticket) if isinstance(ticket, dict) else type(ticket).__name__
            raise RFCxError(f"unexpected answer from the ingest service (keys: {keys})")
        content_type = f"audio/{path.suffix.lstrip('.').lower()}"
        self.session.request("PUT", str(ticket["url"]), data=path.read_bytes(),
                             headers={"Content-Type": content_type}, auth=False,
                             timeout=config.UPLOAD_TIMEOUT, deadline=self._upload_deadline(),
                             parse=lambda r: None)
        return str(ticket["uploadId"])

    def check_ingest(self, ingest_id: str, wait_for_completion: bool = False,
                     timeout: float = config.CHECK_INGEST_TIMEOUT_S,
                     poll_interval: float = config.CHECK_INGEST_POLL_S
                     ) -> tuple[int, str, str | None]:
        """Status of an upload: ``(status, status_name, failure_message)``.

        Statuses: 0 WAITING (URL issued), 10 UPLOADED (received, queued), 20 INGESTED,
        30 FAILED, 31 DUPLICATE, 32 CHECKSUM. With ``wait_for_completion`` polls every
        ``poll_interval`` seconds until the status is final (>= 20).

        Raises
        ------
        TimeoutError
            If ``wait_for_completion`` and the upload is not final within ``timeout`` s.
        NotFoundError
            Unknown or expired (14 days) upload id.

        Examples
        --------
        >>> client.check_ingest(upload_id, wait_for_completion=True, timeout=120)  # doctest: +SKIP
        (20, 'INGESTED', None)
        """
        if not ingest_id or not isinstance(ingest_id, str):
            raise TypeError("ingest_id is required (the id returned by ingest_file)")
        deadline = time.monotonic() + float(timeout)
        while True:
            doc = self.session.request("GET", f"{self.ingest_url}/{ids.path_part(ingest_id)}",
                                       parse=_json)
            status = int(doc.get("status", -1))
            name = config.INGEST_STATUS_NAMES.get(status, "UNKNOWN")
            result = (status, name, doc.get("failureMessage"))
            if not wait_for_completion or status >= config.INGEST_DONE_STATUS:
                return result
            if time.monotonic() + poll_interval > deadline:
                raise TimeoutError(f"upload {ingest_id} still {name} (status {status}) "
                                   f"after {timeout:g} s")
            time.sleep(poll_interval)

    def upload_classifier(self, filepath: str | os.PathLike[str], name: str, version: int,
                          classification_values: Sequence[str], *,
                          active_streams: Sequence[str] | None = None) -> int:
        """Upload a classifier model (``.tar.gz``); returns the new classifier's id.

        ``classification_values`` items are ``from[:to][:threshold]``, e.g.
        ``"bird_song:sciurus_carolinensis:0.5"``. ``active_streams`` (not in the official
        client) asks the platform to run the classifier on those streams.

        Examples
        --------
        >>> values = ["song:sciurus_carolinensis"]
        >>> client.upload_classifier("model.tar.gz", "birds", 1, values)  # doctest: +SKIP
        3
        """
        path = Path(filepath)
        if not path.is_file():
            raise FileNotFoundError(f"filepath {str(path)!r} is not a file")
        values = validate.as_str_list(classification_values, "classification_values")
        if not values:
            raise ValueError("classification_values must hold at least one mapping")
        upload_name = path.name if path.name.endswith(".tar.gz") else "model.tar.gz"
        form: dict[str, Any] = {"name": str(name), "version": str(version),
                                "classification_values": values}
        streams = validate.as_str_list(active_streams, "active_streams")
        if streams:
            form["active_streams"] = streams
        with path.open("rb") as fh:
            location = self.session.request(
                "POST", f"{self.api_url}/classifiers", data=form,
                files={"file": (upload_name, fh, "application/gzip")},
                timeout=config.UPLOAD_TIMEOUT, deadline=self._upload_deadline(),
                allow_redirects=False,
                parse=lambda r: r.headers.get("Location", ""))
        match = re.search(r"/([0-9]+)$", location or "")
        if match is None:
            raise RFCxError(f"the platform did not return the new classifier's id "
                            f"(Location: {location!r})")
        return int(match.group(1))
