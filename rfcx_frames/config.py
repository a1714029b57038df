"""Every tunable, constant and environment-variable name of rfcx_frames, in one place.

Other modules import these names instead of repeating literals, so a reader can see every
default the toolkit applies (and change one) without searching the code.

Examples
--------
>>> from rfcx_frames import config
>>> config.PAGE_LIMIT_MAX
1000
>>> config.DEFAULT_API_URL
'https://api.rfcx.org'
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import platformdirs

from .objectstore import ObjectPath, is_object_url
from .version import __version__

#: Where the cache lives: a local folder, or a prefix in an object store (``s3://``).
CacheRoot = Path | ObjectPath
#: A cache root as callers pass it (``None``: ``$RFCX_FRAMES_CACHE``, else the user cache).
RootArg = str | os.PathLike[str] | ObjectPath | None

# --- Hosts (contract §1) -------------------------------------------------------------
DEFAULT_API_URL = "https://api.rfcx.org"
DEFAULT_INGEST_URL = "https://ingest.rfcx.org/uploads"
DEFAULT_AUTH_URL = "https://auth.rfcx.org"
AUTH_AUDIENCE = "https://rfcx.org"
#: The official client's public Auth0 application id (used when AUTH0_CLIENT_ID is unset).
DEFAULT_CLIENT_ID = "LS4dJlP8J2iOBr2snzm6N8I5u7FLSUGd"
#: Hosts under this domain are the platform's own; they get the ingress rate limit.
PLATFORM_DOMAIN = "rfcx.org"
INGEST_UPLOADS_SUFFIX = "/uploads"

# --- Environment variables ----------------------------------------------------------
ENV_API_URL = "RFCX_API_URL"
ENV_INGEST_URL = "RFCX_INGEST_URL"
ENV_AUTH_URL = "RFCX_AUTH_URL"
ENV_TOKEN = "RFCX_TOKEN"
ENV_CLIENT_ID = "AUTH0_CLIENT_ID"
ENV_CLIENT_SECRET = "AUTH0_CLIENT_SECRET"
#: ``RFCX_FRAMES_PROGRESS=0`` (or ``false``/``no``/``off``) turns every progress bar off.
ENV_PROGRESS = "RFCX_FRAMES_PROGRESS"
#: The cache folder (default: the user cache folder of :data:`APP_NAME`).
ENV_CACHE_DIR = "RFCX_FRAMES_CACHE"
#: The folder for what stays on each machine (downloaded audio) when the cache root is an
#: object store (default: the user cache folder of :data:`APP_NAME`).
ENV_LOCAL_CACHE = "RFCX_FRAMES_LOCAL_CACHE"
#: The cache mode when neither the call nor the client names one.
ENV_CACHE_MODE = "RFCX_FRAMES_CACHE_MODE"
#: Where the emulator keeps rendered synthetic audio shared by every world (``off``: none).
ENV_EMULATOR_AUDIO_CACHE = "RFCX_FRAMES_EMULATOR_AUDIO"

# --- Transport ------------------------------------------------------------------------
#: (connect, read) timeout in seconds applied to every request.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 120.0)
#: Overall seconds one request may take (connect, every read, every retry): a server that
#: trickles its answer byte by byte cannot hold a page longer than this.
DEFAULT_DEADLINE = 300.0
#: File uploads (``ingest_file``'s PUT, ``upload_classifier``) get at least this long.
UPLOAD_DEADLINE = 3600.0
#: Attempts after the first one for connection errors, timeouts, 429 and 5xx (urllib3 Retry).
RETRIES = 6
#: Exponential backoff: factor * 2**(n-1) seconds between attempts, capped by BACKOFF_MAX.
BACKOFF_FACTOR = 0.2
BACKOFF_MAX = 20.0
BACKOFF_JITTER = 0.1
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Longest ``Retry-After`` the client is willing to honour, in seconds.
RETRY_AFTER_MAX = 120.0
#: Extra attempts for failures urllib3 cannot retry: a body cut short, a reset while the
#: body streams, JSON that does not decode.
BODY_RETRIES = 4
#: Requests per minute on the platform's hosts: the nginx ingress's ``limit-rpm``.
PLATFORM_RATE_LIMIT = 300
#: Requests the ingress lets through at once: ingress-nginx's default burst multiplier (5)
#: times ``limit-rpm`` (nginx ``limit_req ... burst=1500 nodelay``).
PLATFORM_RATE_BURST = 5 * PLATFORM_RATE_LIMIT
#: The slowest the client paces a host that keeps answering 429/503 (requests per minute);
#: below it a throttled answer counts against ``retries`` like any other failure.
PACE_FLOOR_PER_MINUTE = 6.0
#: After a 429/503 halves the pace, it climbs back to where it was over this many requests.
PACE_RECOVERY_REQUESTS = 10
USER_AGENT: str = f"rfcx-frames/{__version__} (+https://github.com/rfcx; python-requests)"
#: Longest part of an error body quoted in an exception.
ERROR_BODY_CHARS = 300

# --- Pagination ---------------------------------------------------------------------
#: Largest page the platform serves (detections reject more with a 400).
PAGE_LIMIT_MAX = 1000
DEFAULT_MAX_WORKERS = 8
#: Concurrent segment downloads, and requests in flight, against a server on this machine
#: (the emulator, a local mirror): it has no ingress limit, and more requests in flight
#: overlap the waits of each (issue 15). Platform hosts keep ``max_workers``.
LOOPBACK_WORKERS = 32
#: The planner aims for about this many pieces per worker so slow pieces even out.
PIECES_PER_WORKER = 4
#: Time windows are never cut shorter than this (ms); tiny windows only add requests.
MIN_WINDOW_MS = 3_600_000
#: Rows asked of one ``/clustered-detections`` request (the platform sets no maximum); a
#: full answer is split in time at a bucket edge rather than paged by offset.
COUNTS_LIMIT = 5000
#: Bucket widths (ms) the pagination planner may ask counts in, finest first.
PLAN_INTERVALS_MS = (60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000)
#: The planner picks the finest width whose buckets hold at most this many rows on average
#: (finer cuts waste less of a page) within :data:`PLAN_MAX_BUCKETS` buckets per request.
PLAN_ROWS_PER_BUCKET = 40
PLAN_MAX_BUCKETS = 2000
#: A progress bar appears only when a query runs longer than this many seconds.
PROGRESS_DELAY_S = 1.0

# --- Seed-parity defaults -----------------------------------------------------------
#: The official client's default window for ``stream_segments``/``detections``/``annotations``
#: when no dates are given (kept only in those seed-parity methods).
SEED_DEFAULT_WINDOW_DAYS = 30
#: How far before an effort window segments are looked up: a segment that starts this long
#: before the window can still reach into it (the platform's segments last at most minutes).
EFFORT_SEGMENT_LOOKBACK = "1h"

# --- Authentication -----------------------------------------------------------------
CREDENTIALS_FILE = ".rfcx_credentials"
CREDENTIALS_VERSION_LINE = "version 1"
#: A persisted token is reused only while it stays valid this much longer (seconds).
TOKEN_MIN_REMAINING_S = 3600
DEVICE_SCOPE = "openid email profile offline_access"
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
#: Added to the polling interval each time the server answers ``slow_down`` (RFC 8628).
SLOW_DOWN_INCREMENT_S = 5.0
#: Give up a device-code login after this long if the server gave no ``expires_in``.
DEVICE_FLOW_TIMEOUT_S = 900.0

# --- Ingest ------------------------------------------------------------------------
INGEST_STATUS_NAMES: dict[int, str] = {
    0: "WAITING",
    10: "UPLOADED",
    20: "INGESTED",
    30: "FAILED",
    31: "DUPLICATE",
    32: "CHECKSUM",
}
INGEST_DONE_STATUS = 20
CHECK_INGEST_POLL_S = 5.0
CHECK_INGEST_TIMEOUT_S = 600.0
UPLOAD_TIMEOUT: tuple[float, float] = (10.0, 600.0)

# --- Detections ------------------------------------------------------------------------
REVIEW_STATUSES: tuple[str, ...] = ("unreviewed", "rejected", "uncertain", "confirmed")
#: Detections sent per ``POST /streams/{id}/detections`` (one JSON array; the platform
#: stores each array in one insert, and the ingress refuses bodies over 100 MB).
UPLOAD_DETECTIONS_BATCH = 1000

# --- Cache ------------------------------------------------------------------------------
#: The name of the user cache folder (``~/.cache/rfcx_frames`` on Linux).
APP_NAME = "rfcx_frames"
#: Windows this close to now are fetched but never marked complete: the platform may
#: still fill them.
DEFAULT_CACHE_HORIZON = pd.Timedelta(hours=6)
#: How long a cached listing (projects, streams, classifications) answers.
DEFAULT_CACHE_TTL = pd.Timedelta(hours=1)
#: How long cached detections and annotations answer before they are fetched again:
#: reviews change them on the platform, and 12 hours keeps a working day's repeats warm
#: while the next morning's run sees the reviews of the day before.
DEFAULT_LABEL_MAX_AGE = pd.Timedelta(hours=12)


def env(name: str) -> str | None:
    """The value of environment variable ``name``, or ``None`` when unset or empty.

    Parameters
    ----------
    name
        The variable's name (one of the ``ENV_*`` constants).

    Examples
    --------
    >>> env("RFCX_FRAMES_SURELY_UNSET_VARIABLE") is None
    True
    """
    value = os.environ.get(name)
    return value if value else None


def progress_enabled_by_env() -> bool:
    """Whether the environment allows progress bars (``RFCX_FRAMES_PROGRESS``).

    Examples
    --------
    >>> import os
    >>> os.environ["RFCX_FRAMES_PROGRESS"] = "0"
    >>> progress_enabled_by_env()
    False
    >>> del os.environ["RFCX_FRAMES_PROGRESS"]
    """
    value = env(ENV_PROGRESS)
    return value is None or value.strip().lower() not in {"0", "false", "no", "off"}


def cache_root(root: RootArg = None) -> CacheRoot:
    """The cache root: ``root`` if given, else ``$RFCX_FRAMES_CACHE``, else the user cache.

    The one place that resolves it. A value starting ``s3://`` is a prefix in an object
    store (:class:`~rfcx_frames.objectstore.ObjectPath`, reached with the standard AWS
    environment), anything else a folder. The user cache is
    ``platformdirs.user_cache_dir("rfcx_frames")`` (for example ``~/.cache/rfcx_frames``
    on Linux). Nothing is created here.

    Parameters
    ----------
    root
        An explicit root (``Client(cache_dir=...)``, ``--cache-dir``), or ``None``.

    Raises
    ------
    ValueError
        For an ``s3://`` URL without a valid bucket name.

    Examples
    --------
    >>> str(cache_root("/tmp/my-cache")), str(cache_root("s3://team-bucket/rfcx/"))
    ('/tmp/my-cache', 's3://team-bucket/rfcx')
    """
    if isinstance(root, ObjectPath):
        return root
    if root is None:
        folder = env(ENV_CACHE_DIR)
        if folder is None or not folder.strip():
            return Path(platformdirs.user_cache_dir(APP_NAME))
        root = folder.strip()
    if is_object_url(root):
        return ObjectPath.from_url(str(root))
    return Path(root).expanduser()


def cache_path(root: RootArg = None) -> Path:
    """The cache folder on this machine, as :func:`cache_root` resolves it.

    The audio store and anything else that needs local files use it; the Parquet cache
    itself uses :func:`cache_root`, which may also be an object store. With an object-store
    root, local files go to ``$RFCX_FRAMES_LOCAL_CACHE`` or the user cache folder: tables
    are shared through the bucket, audio stays on the machine that downloaded it (it is
    large, and any worker can fetch it again).

    Parameters
    ----------
    root
        An explicit folder or ``s3://`` root (``Client(cache_dir=...)``, ``--cache-dir``),
        or ``None``.

    Examples
    --------
    >>> str(cache_path("/tmp/my-cache"))
    '/tmp/my-cache'
    """
    resolved = cache_root(root)
    if isinstance(resolved, ObjectPath):
        folder = env(ENV_LOCAL_CACHE)
        if folder is None or not folder.strip():
            return Path(platformdirs.user_cache_dir(APP_NAME))
        return Path(folder.strip()).expanduser()
    return resolved


def root_argument(root: RootArg) -> Path | str | ObjectPath | None:
    """A ``cache_dir`` argument as a client keeps it: a folder as a ``Path``, a URL as given.

    Parameters
    ----------
    root
        What the user passed.

    Examples
    --------
    >>> root_argument("s3://bkt/cache"), root_argument("/tmp/c")
    ('s3://bkt/cache', PosixPath('/tmp/c'))
    """
    if root is None or isinstance(root, ObjectPath) or is_object_url(root):
        return root  # type: ignore[return-value]
    return Path(root)


def emulator_audio_path() -> Path | None:
    """The emulator's folder of rendered synthetic audio, or ``None`` when turned off.

    ``$RFCX_FRAMES_EMULATOR_AUDIO`` names it (``off``, ``0`` or ``false``: no folder, every
    segment is rendered anew); by default ``emulator-audio`` in the user cache of
    :data:`APP_NAME`. The folder is not created here.

    Examples
    --------
    >>> import os
    >>> os.environ["RFCX_FRAMES_EMULATOR_AUDIO"] = "off"
    >>> emulator_audio_path() is None
    True
    >>> del os.environ["RFCX_FRAMES_EMULATOR_AUDIO"]
    """
    value = (env(ENV_EMULATOR_AUDIO_CACHE) or "").strip()
    if value.lower() in {"off", "0", "false", "no"}:
        return None
    if value:
        return Path(value).expanduser()
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "emulator-audio"
