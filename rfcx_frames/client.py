"""The :class:`Client`: settings, login and session; every call lives in :mod:`rfcx_frames.api`.

A Client is a :class:`~rfcx_frames.api.context.Context` (URLs, session, cache settings,
clock) plus the login. Each public method is a function of :mod:`rfcx_frames.api` taking
the client first (the official client's methods in :mod:`~rfcx_frames.api.seed` and
:mod:`~rfcx_frames.api.ingest`, frames in :mod:`~rfcx_frames.api.listings`,
:mod:`~rfcx_frames.api.ranged` and :mod:`~rfcx_frames.api.effort`, audio in
:mod:`~rfcx_frames.api.audio`), so its documentation and code sit in one place.

Examples
--------
>>> c = Client(api_url="http://127.0.0.1:8080", token="secret-token")
>>> "secret-token" in repr(c)
False
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import auth, config, timeutil, validate
from .api import (
    audio,
    counts,
    effort,
    formats,
    indices,
    ingest,
    job_runs,
    jobs,
    listings,
    ranged,
    reviews,
    seed,
    training,
)
from .api.context import Context
from .exceptions import AuthenticationError
from .ratelimit import AUTO, RateLimitSetting
from .session import Session
from .urls import check_url


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


class Client(Context):
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
        Pacing, shared by every client of the process. Default ``AUTO``: on the
        platform's hosts the ingress's bucket (300/min, burst 1,500), elsewhere unpaced
        until a host answers 429/503; every 429/503 lowers the pace. A number: requests
        per minute (burst 5x); a ``RateLimit``; a ``Pacer``; ``None``: never pace.
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
        rate_limit: RateLimitSetting = AUTO,
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
        api, api_label = _resolve_url(api_url, config.ENV_API_URL, config.DEFAULT_API_URL,
                                      "api_url")
        ingest, ingest_label = _resolve_url(ingest_url, config.ENV_INGEST_URL,
                                            config.DEFAULT_INGEST_URL, "ingest_url")
        self.auth_url, auth_label = _resolve_url(auth_url, config.ENV_AUTH_URL,
                                                 config.DEFAULT_AUTH_URL, "auth_url")
        self.client_id = config.env(config.ENV_CLIENT_ID) or config.DEFAULT_CLIENT_ID
        self._token: str | None = token or config.env(config.ENV_TOKEN)
        self._credentials: auth.Credentials | None = None
        self._credentials_path: Path | None = None
        self._persist = False
        session = Session(token=self._bearer, timeout=timeout, retries=retries,
                          backoff_factor=backoff_factor, rate_limit=rate_limit,
                          pool_size=validate.check_positive_int(max_workers, "max_workers"),
                          deadline=deadline,
                          settings={api_label: api, ingest_label: ingest_endpoint(ingest),
                                    auth_label: self.auth_url})
        super().__init__(api, session, self._identity_token,
                         ingest_url=ingest_endpoint(ingest), cache_dir=cache_dir, cache=cache,
                         cache_horizon=cache_horizon, cache_max_age=cache_max_age,
                         max_workers=max_workers, progress=progress, clock=clock)

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

    def credentials(self) -> auth.Credentials:
        """The token requests go out with now, to hand to another process in memory.

        For Dask workers and the like (``map_windows`` sends it this way): pass the object
        itself, never write it to a file, a task key or a log; its ``repr`` hides the
        tokens. Credentials about to expire are refreshed first. The refresh token stays
        with this client, so a receiver can send requests but not renew its access.

        Raises
        ------
        AuthenticationError
            When the client has no token (see :meth:`authenticate`).

        Examples
        --------
        >>> creds = Client(api_url="http://127.0.0.1:9", token="s3cret").credentials()
        >>> creds.token, "s3cret" in repr(creds)
        ('s3cret', False)
        """
        token = self._bearer()
        held = self._credentials
        if held is not None and held.token == token:
            return auth.Credentials(held.access_token, held.expiry, id_token=held.id_token)
        return auth.token_credentials(token)

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

    # -- the official client's methods: one page of plain dicts -------------------------
    projects = seed.projects
    streams = seed.streams
    stream = seed.stream
    stream_segments = seed.stream_segments
    detections = seed.detections
    annotations = seed.annotations
    classifications = seed.classifications
    ingest_file = ingest.ingest_file
    check_ingest = ingest.check_ingest
    upload_classifier = ingest.upload_classifier

    # -- DataFrames ----------------------------------------------------------------------
    projects_df = listings.projects_df
    streams_df = listings.streams_df
    classifications_df = listings.classifications_df
    segments_df = ranged.segments_df
    detections_df = ranged.detections_df
    annotations_df = ranged.annotations_df
    effort_df = effort.effort_df

    # counts the platform computes
    detection_counts = counts.detection_counts

    # -- classifiers and classifier jobs ---------------------------------------------------
    classifiers_df = jobs.classifiers_df
    classifier_jobs_df = jobs.classifier_jobs_df
    classifier_job = jobs.classifier_job
    classifier_job_summary = jobs.classifier_job_summary
    best_detections_df = jobs.best_detections_df
    create_classifier_job = job_runs.create_classifier_job
    cancel_classifier_job = job_runs.cancel_classifier_job
    wait_for_classifier_job = job_runs.wait_for_classifier_job

    # -- reviews and uploaded detections: writes that change detections ------------------
    review_detections = reviews.review_detections
    upload_detections = reviews.upload_detections

    # -- audio ---------------------------------------------------------------------------
    audio_source = audio.audio_source
    download_segment = audio.download_segment
    download_segments = audio.download_segments
    download = audio.download
    load_window = audio.load_window
    clips = audio.clips
    iter_clips = audio.iter_clips
    to_kaggle_rfcx = audio.to_kaggle_rfcx

    # -- acoustic indices ----------------------------------------------------------------
    indices_df = indices.indices_df

    # -- other tools' formats: Raven selection tables, opensoundscape ------------------
    to_raven = formats.to_raven
    to_opensoundscape = formats.to_opensoundscape

    # -- training sets -------------------------------------------------------------------
    training_set = training.training_set
    write_training_set = training.write_training_set
