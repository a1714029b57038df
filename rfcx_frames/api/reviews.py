"""Writing detections: reviews (``review_detections``) and a model's output (``upload_detections``).

Both check the whole frame before the first request, send it in the platform's units (one
review per stream, start, class and classifier; one JSON array of up to
``config.UPLOAD_DETECTIONS_BATCH`` detections per stream), are never cached, and forget
the cached detection windows they changed, in every filter signature, so the next
``detections_df`` fetches exactly those windows again. A review is a state the platform
sets (sending it twice changes nothing), so it is retried like a GET; an upload adds rows,
so it is retried only when the platform has not seen it (429/503).

Examples
--------
>>> changed = client.review_detections(df[df.confidence > 0.99], "confirmed")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import pandas as pd

from .. import config, validate
from ..cache import invalidate
from ..exceptions import NotFoundError, PartialWriteError, RFCxError, UnknownIdError
from ..ids import path_id
from ..schemas import DETECTION, REVIEW_STATUS_DTYPE, arrow_schema
from ..timeutil import to_wire
from .context import Context
from .idcheck import check_listed

T = TypeVar("T")

#: The columns that name what one review request covers, in the platform's terms.
REVIEW_KEY = ("stream_id", "start", "classification_value", "classifier_id")
#: The columns ``upload_detections`` needs.
UPLOAD_COLUMNS = ("stream_id", "start", "end", "confidence", "classification_value")
_MS = pd.Timedelta(milliseconds=1)


def _require(frame: Any, columns: Sequence[str], argument: str = "frame") -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{argument} must be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{argument} lacks the column(s) {', '.join(missing)}; it needs "
                         f"{', '.join(columns)} (as detections_df returns them)")
    empty = [c for c in columns if frame[c].isna().any()]
    if empty:
        raise ValueError(f"{argument} has missing values in {', '.join(empty)}")
    return frame


def _times(frame: pd.DataFrame, column: str) -> pd.Series:
    """A time column as UTC timestamps; naive values are UTC, anything else is refused."""
    values = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(values):
        raise TypeError(f"frame column {column!r} must hold datetimes (dtype {values.dtype}); "
                        f"convert it with pd.to_datetime(frame[{column!r}], utc=True)")
    return values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")


def _run_all(ctx: Context, jobs: Sequence[Callable[[], T]]) -> list[T | RFCxError]:
    """Every job on the client's workers; a platform failure is kept in its job's place."""
    def attempt(job: Callable[[], T]) -> T | RFCxError:
        try:
            return job()
        except RFCxError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=min(ctx.max_workers, max(len(jobs), 1))) as pool:
        return list(pool.map(attempt, jobs))


def _forget(ctx: Context, windows: Sequence[tuple[str, pd.Timestamp, pd.Timestamp]]) -> None:
    if windows:
        invalidate(DETECTION.name, arrow_schema(DETECTION), root=ctx.cache_root,
                   now=ctx.now(), windows=windows)


# -- reviews ----------------------------------------------------------------------------


def review_detections(ctx: Context, frame: pd.DataFrame, status: str) -> pd.DataFrame:
    """Set your review of the detections of ``frame`` to ``status``, on the platform.

    The platform reviews by stream, start, classification and classifier (and the
    ``classifier_job_id`` when the frame has it): one request per distinct one of those,
    covering every detection there (whatever its confidence). Each detection's status
    is then the majority of its reviewers' (a tie is ``uncertain``); ``"unreviewed"``
    withdraws your review. The cached windows of those detections are forgotten.

    Parameters
    ----------
    frame
        Detections as :meth:`~rfcx_frames.Client.detections_df` returns them: columns
        ``stream_id, start, classification_value, classifier_id`` (``id`` and
        ``review_status`` give the ``status_before`` column).
    status
        ``"confirmed"``, ``"rejected"``, ``"uncertain"`` or ``"unreviewed"``.

    Returns
    -------
    pandas.DataFrame
        One row per detection reviewed: ``id, stream_id, start, classification_value,
        classifier_id, status_before, status_after, changed`` (``status_before`` is
        ``<NA>`` for detections the frame did not hold).

    Raises
    ------
    ValueError, TypeError
        A bad ``status`` or frame, before any request.
    rfcx_frames.exceptions.PartialWriteError
        Some reviews failed (e.g. a stream where you are only a guest): ``.applied`` holds
        what changed, ``.failed`` the frame's rows that did not, with an ``error`` column.

    Examples
    --------
    >>> df = client.detections_df("2024-03-01", "2024-03-02", streams="abc123abc123")  # doctest: +SKIP
    >>> client.review_detections(df.head(3), "confirmed")  # doctest: +SKIP
    """
    if status not in config.REVIEW_STATUSES:
        raise ValueError(f"status must be one of {', '.join(config.REVIEW_STATUSES)}, "
                         f"not {status!r}")
    rows = _require(frame, REVIEW_KEY).copy()
    rows["start"] = _times(rows, "start")
    key = [*REVIEW_KEY, *(["classifier_job_id"] if "classifier_job_id" in rows.columns else [])]
    groups = rows[key].drop_duplicates().reset_index(drop=True)
    jobs = [partial(_review_one, ctx, g, status) for g in groups.to_dict("records")]
    answers = _run_all(ctx, jobs)
    done = [a for a in answers if not isinstance(a, RFCxError)]
    applied = _review_frame(groups, answers, rows)
    _forget(ctx, [(str(s), t, t + _MS) for s, t in zip(applied["stream_id"], applied["start"],
                                                        strict=True)])
    failures = [(i, a) for i, a in enumerate(answers) if isinstance(a, RFCxError)]
    if failures:
        failed = rows.merge(groups.iloc[[i for i, _ in failures]].assign(
            error=[str(a) for _, a in failures]), on=key)
        raise PartialWriteError(
            f"{len(failures)} of {len(answers)} reviews failed ({len(done)} applied): "
            f"{failures[0][1]}", applied=applied, failed=failed, errors=[a for _, a in failures])
    return applied


def _review_one(ctx: Context, group: dict[str, Any], status: str) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"status": status,
                            "classification": str(group["classification_value"]),
                            "classifier": int(group["classifier_id"])}
    job = group.get("classifier_job_id")
    if job is not None and not pd.isna(job):
        body["classifier_job"] = int(job)
    url = (f"{ctx.api_url}/streams/{path_id(str(group['stream_id']), 'stream_id')}"
           f"/detections/{to_wire(group['start'])}/review")
    answer: list[dict[str, Any]] = ctx.session.request(
        "POST", url, data=json.dumps(body), headers={"Content-Type": "application/json"},
        idempotent=True, parse=lambda r: r.json())
    return answer


def _review_frame(groups: pd.DataFrame, answers: Sequence[Any],
                  rows: pd.DataFrame) -> pd.DataFrame:
    """What the platform reviewed, with each detection's status before (from ``rows``)."""
    records = [{"id": int(item["id"]), **{k: groups.at[i, k] for k in REVIEW_KEY},
                "status_after": item["status"]}
               for i, answer in enumerate(answers) if not isinstance(answer, RFCxError)
               for item in answer]
    out = pd.DataFrame.from_records(records, columns=["id", *REVIEW_KEY, "status_after"])
    out = out.astype({"id": "int64", "classifier_id": "Int32"})
    out["start"] = pd.to_datetime(out["start"], utc=True).astype("datetime64[ms, UTC]")
    before = pd.Series(pd.NA, index=out.index, dtype=REVIEW_STATUS_DTYPE)
    if {"id", "review_status"} <= set(rows.columns):
        known = rows.drop_duplicates("id")
        status = pd.Series(known["review_status"].astype(object).to_numpy(),
                           index=known["id"].astype("int64").to_numpy())
        before = out["id"].map(status).astype(REVIEW_STATUS_DTYPE)
    out.insert(len(REVIEW_KEY) + 1, "status_before", before)
    out["status_after"] = out["status_after"].astype(REVIEW_STATUS_DTYPE)
    out["changed"] = (out["status_before"].astype(object) != out["status_after"].astype(object))
    return out.reset_index(drop=True)


# -- uploads ----------------------------------------------------------------------------


def upload_detections(ctx: Context, frame: pd.DataFrame, classifier_id: int) -> pd.DataFrame:
    """Publish a model's detections under one of your classifiers, for review in Arbimon.

    The whole frame is checked first, against the detection columns and the classifier's
    outputs (the platform would drop, without a word, a row of a class the classifier
    does not output or with a confidence not above that output's threshold); then each
    stream's rows go in batches of ``config.UPLOAD_DETECTIONS_BATCH``. You need to be
    allowed to change the streams, and to read the classifier (yours, or public).

    Parameters
    ----------
    frame
        Columns ``stream_id, start, end, confidence, classification_value`` (datetimes for
        ``start``/``end``, naive ones are UTC), optionally ``classifier_job_id``.
    classifier_id
        The classifier the detections come from.

    Returns
    -------
    pandas.DataFrame
        The rows sent: ``stream_id, start, end, classification_value, confidence,
        classifier_id, classifier_job_id``, in the frame's order.

    Raises
    ------
    ValueError, TypeError
        A missing column or value, a time that is not a datetime, ``start >= end``, a
        confidence outside [0, 1] or not above the output's threshold, a class the
        classifier does not output; nothing is sent.
    rfcx_frames.exceptions.UnknownIdError
        A stream you cannot read, or a classifier that does not exist.
    rfcx_frames.exceptions.PartialWriteError
        Some batches failed: ``.applied`` holds the rows stored, ``.failed`` the others.

    Examples
    --------
    >>> client.upload_detections(my_model_output, classifier_id=12)  # doctest: +SKIP
    """
    classifier = validate.check_positive_int(classifier_id, "classifier_id")
    rows = _upload_rows(ctx, frame, classifier)
    batches = [part for _, group in rows.groupby("stream_id", sort=False, observed=True)
               for part in (group.iloc[i:i + config.UPLOAD_DETECTIONS_BATCH]
                            for i in range(0, len(group), config.UPLOAD_DETECTIONS_BATCH))]
    answers = _run_all(ctx, [partial(_send_batch, ctx, b) for b in batches])
    sent = [b for b, a in zip(batches, answers, strict=True) if not isinstance(a, RFCxError)]
    applied = (pd.concat(sent).sort_index() if sent else rows.iloc[:0]).drop(
        columns=["output_class_name"])
    _forget(ctx, [(str(s), t, t + _MS) for s, t in zip(applied["stream_id"], applied["start"],
                                                        strict=True)])
    failures = [(b, a) for b, a in zip(batches, answers, strict=True) if isinstance(a, RFCxError)]
    if failures:
        failed = pd.concat([b.assign(error=str(a)) for b, a in failures]).sort_index()
        raise PartialWriteError(
            f"{len(failed)} of {len(rows)} detections were not stored: {failures[0][1]}",
            applied=applied.reset_index(drop=True),
            failed=failed.drop(columns=["output_class_name"]), errors=[a for _, a in failures])
    return applied.reset_index(drop=True)


def _upload_rows(ctx: Context, frame: Any, classifier: int) -> pd.DataFrame:
    """The frame checked and in wire terms (UTC times, output class names), or an error."""
    rows = _require(frame, UPLOAD_COLUMNS).reset_index(drop=True)
    out = pd.DataFrame({"stream_id": rows["stream_id"].astype(str),
                        "start": _times(rows, "start"), "end": _times(rows, "end"),
                        "classification_value": rows["classification_value"].astype(str)})
    if not pd.api.types.is_numeric_dtype(rows["confidence"]):
        raise TypeError(f"frame column 'confidence' must be numeric (dtype "
                        f"{rows['confidence'].dtype})")
    out["confidence"] = rows["confidence"].astype("float64")
    bad = out.index[out["start"] >= out["end"]]
    if len(bad):
        raise ValueError(f"frame rows {list(bad[:10])} have start >= end")
    outside = out.index[(out["confidence"] < 0) | (out["confidence"] > 1)]
    if len(outside):
        raise ValueError(f"frame rows {list(outside[:10])} have a confidence outside [0, 1]")
    outputs = _outputs(ctx, classifier)
    unknown = sorted(set(out["classification_value"]) - set(outputs))
    if unknown:
        raise ValueError(f"classifier {classifier} has no output for {', '.join(unknown)}; "
                         f"its outputs are {', '.join(sorted(outputs)) or 'none'}")
    out["output_class_name"] = out["classification_value"].map(lambda v: outputs[v][0])
    threshold = out["classification_value"].map(lambda v: outputs[v][1])
    low = out.index[out["confidence"] <= threshold]
    if len(low):
        limits = dict(sorted(zip(out.loc[low, "classification_value"], threshold[low],
                                 strict=True)))
        raise ValueError(f"frame rows {list(low[:10])} have a confidence not above their "
                         f"output's threshold ({limits}), and the platform drops those "
                         f"rows: keep only confidence > threshold")
    check_listed(ctx, "stream", sorted(set(out["stream_id"])), "frame", ctx.cache_mode(None))
    out["classifier_id"] = pd.array([classifier] * len(out), dtype="Int32")
    job = rows["classifier_job_id"] if "classifier_job_id" in rows.columns else None
    out["classifier_job_id"] = pd.array(job if job is not None else [pd.NA] * len(out),
                                        dtype="Int32")
    return out


def _outputs(ctx: Context, classifier: int) -> dict[str, tuple[str, float]]:
    """Classification value -> (output class name, threshold) of a classifier."""
    try:
        doc = ctx.get_json(f"/classifiers/{classifier}",
                           {"fields[]": ["id", "name", "version", "outputs"]})
    except NotFoundError as exc:
        raise UnknownIdError(f"classifier_id {classifier} does not exist",
                             argument="classifier_id", unknown=[classifier]) from exc
    found: dict[str, tuple[str, float]] = {}
    for item in doc.get("outputs") or []:
        # The platform's own answer is camelCase with the classification nested.
        value = item.get("classification_value") or (item.get("classification") or {}).get("value")
        name = item.get("output_class_name", item.get("outputClassName"))
        threshold = item.get("ignore_threshold", item.get("ignoreThreshold", 0.5))
        if value and name:
            found[str(value)] = (str(name), float(threshold))
    return found


def _send_batch(ctx: Context, batch: pd.DataFrame) -> None:
    body = []
    for r in batch.to_dict("records"):
        item = {"start": to_wire(r["start"]), "end": to_wire(r["end"]),
                "classification": str(r["output_class_name"]),
                "classifier": int(r["classifier_id"]), "confidence": float(r["confidence"])}
        if not pd.isna(r["classifier_job_id"]):
            item["classifier_job_id"] = int(r["classifier_job_id"])
        body.append(item)
    stream = path_id(str(batch["stream_id"].iloc[0]), "stream_id")
    ctx.session.request("POST", f"{ctx.api_url}/streams/{stream}/detections",
                        data=json.dumps(body), headers={"Content-Type": "application/json"},
                        timeout=config.UPLOAD_TIMEOUT, parse=lambda r: None)
