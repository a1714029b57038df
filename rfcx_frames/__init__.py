"""rfcx_frames: typed DataFrames and numpy audio from the RFCx/Arbimon platform.

The module-level functions run on a default :class:`Client`, created on first use from
the environment (``RFCX_API_URL``, ``RFCX_TOKEN`` ...) unless :func:`set_default_client`
installed one.

Examples
--------
>>> import rfcx_frames as rf
>>> df = rf.detections_df(start="2024-03-01", end="2024-03-08", streams="abc123abc123")  # doctest: +SKIP
"""


import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any

from . import plot
from .api.jobs import ClassifierJob
from .audio import (
    TrainingSet,
    TrainingSetError,
    log_mel,
    read_raven,
    read_training_set,
    split_report,
    to_hf_dataset,
)
from .client import Client
from .ecology import (
    DetectionHistory,
    detection_history,
    detection_rates,
    to_darwin_core,
    with_local_time,
    with_sites,
    with_sun,
)
from .exceptions import (
    AuthenticationError,
    CacheError,
    ConfigurationError,
    CrowdedInstantWarning,
    DeadlineExceededError,
    DownloadError,
    ForbiddenError,
    NotCachedError,
    NotFoundError,
    PartialWriteError,
    PartitionsFailedError,
    RateLimitError,
    RFCxError,
    ServerError,
    UnknownIdError,
    ValidationError,
)
from .frames import concat
from .ratelimit import AUTO
from .version import __version__ as __version__

__all__ = [
    "AUTO",
    "AuthenticationError",
    "CacheError",
    "ClassifierJob",
    "Client",
    "ConfigurationError",
    "CrowdedInstantWarning",
    "DeadlineExceededError",
    "DetectionHistory",
    "DownloadError",
    "ForbiddenError",
    "NotCachedError",
    "NotFoundError",
    "PartialWriteError",
    "PartitionsFailedError",
    "RFCxError",
    "RateLimitError",
    "ServerError",
    "TrainingSet",
    "TrainingSetError",
    "UnknownIdError",
    "ValidationError",
    "annotations",
    "annotations_df",
    "authenticate",
    "best_detections_df",
    "cancel_classifier_job",
    "check_ingest",
    "classifications",
    "classifications_df",
    "classifier_job",
    "classifier_job_summary",
    "classifier_jobs_df",
    "classifiers_df",
    "clips",
    "concat",
    "create_classifier_job",
    "detection_counts",
    "detection_history",
    "detection_rates",
    "detections",
    "detections_df",
    "download",
    "download_segment",
    "download_segments",
    "effort_df",
    "get_default_client",
    "ingest_file",
    "iter_clips",
    "load_window",
    "log_mel",
    "plot",
    "projects",
    "projects_df",
    "read_raven",
    "read_training_set",
    "review_detections",
    "segments_df",
    "set_default_client",
    "split_report",
    "stream",
    "stream_segments",
    "streams",
    "streams_df",
    "to_darwin_core",
    "to_hf_dataset",
    "to_kaggle_rfcx",
    "to_opensoundscape",
    "to_raven",
    "training_set",
    "upload_classifier",
    "upload_detections",
    "wait_for_classifier_job",
    "with_local_time",
    "with_sites",
    "with_sun",
    "write_training_set",
]

_default: Client | None = None
_default_lock = threading.Lock()


def get_default_client() -> Client:
    """The client used by the module-level functions (created from the environment).

    Examples
    --------
    >>> isinstance(get_default_client(), Client)
    True
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def set_default_client(client: Client | None) -> None:
    """Use ``client`` for the module-level functions (``None``: recreate on next use).

    Examples
    --------
    >>> set_default_client(Client(api_url="http://127.0.0.1:8080"))
    >>> get_default_client().api_url
    'http://127.0.0.1:8080'
    >>> set_default_client(None)
    """
    global _default
    if client is not None and not isinstance(client, Client):
        raise TypeError(f"client must be a rfcx_frames.Client, not {type(client).__name__}")
    with _default_lock:
        _default = client


def _default_client_hint(exc: AuthenticationError, client: Client) -> AuthenticationError:
    """``exc`` again, with what a user of the ``rf.*`` functions can do about it."""
    hint = (f"the rf.* functions use the default client (api_url {client.api_url}, made "
            f"from RFCX_API_URL and RFCX_TOKEN); to fix: set RFCX_TOKEN, call "
            f"rf.authenticate(), or install a client with rf.set_default_client(...), e.g. "
            f"rf.set_default_client(rf.Client(token=...)) or, on the emulator, "
            f"rf.set_default_client(emu.client())")
    return AuthenticationError(f"{exc.message}; {hint}", status=exc.status,
                               request_id=exc.request_id, url=exc.url)


def _hinted(items: Iterator[Any], client: Client) -> Iterator[Any]:
    try:
        yield from items
    except AuthenticationError as exc:
        raise _default_client_hint(exc, client) from exc


def _on_default_client(name: str) -> Callable[..., Any]:
    """A module-level function that calls ``Client.<name>`` on the default client.

    It carries the method's signature (without ``self``) and docstring, so ``help()``
    and IDEs show the real arguments. An ``AuthenticationError`` says how to give the
    default client a token.
    """
    method = getattr(Client, name)

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        client = get_default_client()
        try:
            result = getattr(client, name)(*args, **kwargs)
        except AuthenticationError as exc:
            if name == "authenticate":  # the login itself failed: its message says why
                raise
            raise _default_client_hint(exc, client) from exc
        # iter_clips: the requests run while the caller iterates.
        return _hinted(result, client) if isinstance(result, Iterator) else result

    sig = inspect.signature(method)
    call.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=list(sig.parameters.values())[1:])
    call.__qualname__ = name
    return call


#: Seed-parity methods, DataFrames and audio, each on the default client.
authenticate = _on_default_client("authenticate")
projects = _on_default_client("projects")
streams = _on_default_client("streams")
stream = _on_default_client("stream")
stream_segments = _on_default_client("stream_segments")
detections = _on_default_client("detections")
annotations = _on_default_client("annotations")
classifications = _on_default_client("classifications")
ingest_file = _on_default_client("ingest_file")
check_ingest = _on_default_client("check_ingest")
upload_classifier = _on_default_client("upload_classifier")
projects_df = _on_default_client("projects_df")
streams_df = _on_default_client("streams_df")
segments_df = _on_default_client("segments_df")
detections_df = _on_default_client("detections_df")
annotations_df = _on_default_client("annotations_df")
classifications_df = _on_default_client("classifications_df")
effort_df = _on_default_client("effort_df")
detection_counts = _on_default_client("detection_counts")
download_segment = _on_default_client("download_segment")
download_segments = _on_default_client("download_segments")
download = _on_default_client("download")
load_window = _on_default_client("load_window")
clips = _on_default_client("clips")
iter_clips = _on_default_client("iter_clips")
training_set = _on_default_client("training_set")
write_training_set = _on_default_client("write_training_set")
to_kaggle_rfcx = _on_default_client("to_kaggle_rfcx")
to_raven = _on_default_client("to_raven")
to_opensoundscape = _on_default_client("to_opensoundscape")
classifiers_df = _on_default_client("classifiers_df")
classifier_jobs_df = _on_default_client("classifier_jobs_df")
classifier_job = _on_default_client("classifier_job")
classifier_job_summary = _on_default_client("classifier_job_summary")
best_detections_df = _on_default_client("best_detections_df")
create_classifier_job = _on_default_client("create_classifier_job")
cancel_classifier_job = _on_default_client("cancel_classifier_job")
wait_for_classifier_job = _on_default_client("wait_for_classifier_job")

# Reviews and uploaded detections: writes that change detections.
review_detections = _on_default_client("review_detections")
upload_detections = _on_default_client("upload_detections")

#: Subpackages a user imports by name (``rf.cache.dataset``, ``rf.plot.daily``).
_PUBLIC_MODULES = ("audio", "cache", "ecology", "plot", "schemas")


def __dir__() -> list[str]:
    """What tab completion shows: the public API, not the helpers this module imports."""
    return sorted({*__all__, *_PUBLIC_MODULES, "__version__"})
