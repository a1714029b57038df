"""Event tables: annotations and detections normalised for labelling and export.

An *event table* has ``stream_id``, ``start_ns``, ``end_ns`` (integer nanoseconds, UTC),
``value`` (the classification value) and ``kind`` (``"annotation"``, ``"confirmed"``,
``"rejected"``). Detections count as reviewed when ``review_status`` is
``"confirmed"``/``"rejected"`` (the client's labels) or ``1``/``-1`` (the API's codes).

Examples
--------
>>> f = pd.DataFrame({"stream_id": ["s"], "start": ["1970-01-01T00:00:01Z"],
...                   "end": ["1970-01-01T00:00:02Z"], "classification_value": ["frog"]})
>>> event_table(f, "annotation")[["start_ns", "end_ns", "value"]].values.tolist()
[[1000000000, 2000000000, 'frog']]
"""

from __future__ import annotations

import pandas as pd

from rfcx_frames.audio.sample_time import series_ns

#: ``review_status`` values (as lower-case text) of confirmed and rejected detections.
CONFIRMED = {"confirmed", "1", "1.0"}
REJECTED = {"rejected", "-1", "-1.0"}


def class_values(frame: pd.DataFrame) -> pd.Series:
    """The classification value of every row, as text.

    Examples
    --------
    >>> class_values(pd.DataFrame({"classification.value": ["frog"]})).tolist()
    ['frog']
    """
    for column in ("classification_value", "classification.value", "label", "class"):
        if column in frame.columns:
            return frame[column].astype(str)
    raise ValueError("frame needs a classification_value (or classification.value) column")


def event_table(frame: pd.DataFrame | None, kind: str) -> pd.DataFrame:
    """Normalise an annotations/detections frame to an event table of ``kind``.

    Examples
    --------
    >>> event_table(None, "annotation").empty
    True
    """
    columns = ["stream_id", "start_ns", "end_ns", "value", "kind"]
    if frame is None or len(frame) == 0:
        return pd.DataFrame({c: pd.Series([], dtype="object") for c in columns}).astype(
            {"start_ns": "int64", "end_ns": "int64"}
        )
    for column in ("stream_id", "start", "end"):
        if column not in frame.columns:
            raise ValueError(f"{kind} frame needs a {column!r} column")
    out = pd.DataFrame(
        {
            "stream_id": frame["stream_id"].astype(str).to_numpy(dtype=object),
            "start_ns": series_ns(frame["start"]),
            "end_ns": series_ns(frame["end"]),
            "value": class_values(frame).to_numpy(dtype=object),
            "kind": kind,
        }
    )
    if (out["end_ns"] < out["start_ns"]).any():
        raise ValueError(f"some {kind} rows end before they start")
    return out


def detection_events(detections: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The confirmed and the rejected detections as two event tables.

    Examples
    --------
    >>> d = pd.DataFrame({"stream_id": ["s", "s"], "start": ["1970-01-01T00:00:01Z"] * 2,
    ...                   "end": ["1970-01-01T00:00:02Z"] * 2,
    ...                   "classification_value": ["a", "b"], "review_status": [1, "rejected"]})
    >>> [len(t) for t in detection_events(d)]
    [1, 1]
    """
    if detections is None or len(detections) == 0:
        return event_table(None, "confirmed"), event_table(None, "rejected")
    if "review_status" not in detections.columns:
        raise ValueError("detections need a review_status column (confirmed / rejected)")
    status = detections["review_status"].astype(str).str.lower()
    confirmed = event_table(detections[status.isin(CONFIRMED).to_numpy()], "confirmed")
    rejected = event_table(detections[status.isin(REJECTED).to_numpy()], "rejected")
    return confirmed, rejected


def unreviewed_events(detections: pd.DataFrame | None) -> pd.DataFrame:
    """The detections nobody reviewed (neither confirmed nor rejected) as an event table.

    Examples
    --------
    >>> d = pd.DataFrame({"stream_id": ["s", "s"], "start": ["1970-01-01T00:00:01Z"] * 2,
    ...                   "end": ["1970-01-01T00:00:02Z"] * 2,
    ...                   "classification_value": ["a", "b"], "review_status": [None, 1]})
    >>> unreviewed_events(d)["value"].tolist()
    ['a']
    """
    if detections is None or len(detections) == 0:
        return event_table(None, "unreviewed")
    if "review_status" not in detections.columns:
        raise ValueError("detections need a review_status column (confirmed / rejected)")
    status = detections["review_status"].astype(str).str.lower()
    reviewed = status.isin(CONFIRMED | REJECTED).to_numpy()
    return event_table(detections[~reviewed], "unreviewed")
