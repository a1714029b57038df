"""The Kaggle RFCx export: annotations and detections in the Rainforest Connection data layout.

:func:`to_kaggle_rfcx` writes ``train_tp.csv``, ``train_fp.csv``, ``species.csv`` and one
FLAC per recording, like the Rainforest Connection species audio detection data set; each
file is written with :func:`rfcx_frames.files.open_atomic`.

Examples
--------
>>> _recording_id("abc", 1_000_000_000)
'abc_19700101T000001000Z'
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from rfcx_frames.audio.events import CONFIRMED, REJECTED, detection_events, event_table
from rfcx_frames.audio.naming import check_id
from rfcx_frames.audio.sample_time import NS_PER_S, seconds_to_ns, series_ns
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.audio.windows import WindowRequest, load_windows
from rfcx_frames.files import open_atomic
from rfcx_frames.progress import tqdm
from rfcx_frames.timeutil import from_ns, to_compact, to_wire
from rfcx_frames.validate import check_sample_rate, check_seconds

#: Columns of ``train_tp.csv`` and ``train_fp.csv``, in order.
COLUMNS = ["recording_id", "species_id", "songtype_id", "t_min", "f_min", "t_max", "f_max",
           "stream_id", "start_utc"]
_DTYPES = {"species_id": "int64", "songtype_id": "int64", "t_min": "float64",
           "t_max": "float64", "f_min": "float64", "f_max": "float64"}
#: Recordings decoded at a time.
_BATCH = 64

#: ``recording_id -> (stream_id, start_ns)`` of every recording the rows refer to.
Recordings = dict[str, tuple[str, int]]


def _recording_id(stream_id: str, start_ns: int) -> str:
    return f"{stream_id}_{to_compact(from_ns(start_ns))}"


def _recording_start(
    source: SegmentSource, stream_id: str, start_ns: int, duration_ns: int
) -> int:
    """Start of the segment holding ``start_ns``, or the recording grid's start."""
    table = source.segments(stream_id, from_ns(start_ns), from_ns(start_ns + 1))
    if len(table):
        starts = series_ns(table["start"])
        before = starts[starts <= start_ns]
        if len(before):
            return int(before.max())
    return (start_ns // duration_ns) * duration_ns


def _with_freq(
    frame: pd.DataFrame | None, events: pd.DataFrame, status: str | None = None
) -> pd.DataFrame:
    """Attach f_min/f_max (float, NaN if unknown) from the source frame to its events."""
    events = events.copy()
    if frame is None or len(events) == 0:
        events["f_min"] = pd.Series(np.nan, index=events.index, dtype="float64")
        events["f_max"] = pd.Series(np.nan, index=events.index, dtype="float64")
        return events
    if status is not None:
        mask = frame["review_status"].astype(str).str.lower().isin(
            CONFIRMED if status == "confirmed" else REJECTED
        )
        frame = frame[mask.to_numpy()]
    for column, target in (("frequency_min", "f_min"), ("frequency_max", "f_max")):
        if column in frame.columns:
            values = pd.to_numeric(frame[column]).astype("Float64").to_numpy(
                np.float64, na_value=np.nan
            )
        else:
            values = np.full(len(events), np.nan)
        events[target] = values
    return events


def _events(annotations: pd.DataFrame, detections: pd.DataFrame | None
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Positive events (annotations, confirmed detections) and negatives (rejected ones)."""
    confirmed, rejected = detection_events(detections)
    positives = pd.concat(
        [_with_freq(annotations, event_table(annotations, "annotation")),
         _with_freq(detections, confirmed, status="confirmed")],
        ignore_index=True,
    )
    return positives, _with_freq(detections, rejected, status="rejected")


def _rows(events: pd.DataFrame, source: SegmentSource, species_ids: dict[str, int],
          songtype_id: int, duration_ns: int, recordings: Recordings) -> pd.DataFrame:
    """The CSV rows of ``events``; adds the recordings they refer to to ``recordings``."""
    records = []
    for ev in events.itertuples():
        stream_id = check_id(ev.stream_id, "stream_id")
        ev_start, ev_end = int(ev.start_ns), int(ev.end_ns)  # type: ignore[arg-type]
        rec_start = _recording_start(source, stream_id, ev_start, duration_ns)
        rec_id = _recording_id(stream_id, rec_start)
        recordings[rec_id] = (stream_id, rec_start)
        records.append({
            "recording_id": rec_id,
            "species_id": species_ids[str(ev.value)],
            "songtype_id": songtype_id,
            "t_min": (ev_start - rec_start) / NS_PER_S,
            "f_min": ev.f_min,
            "t_max": min(ev_end - rec_start, duration_ns) / NS_PER_S,
            "f_max": ev.f_max,
            "stream_id": stream_id,
            "start_utc": to_wire(from_ns(rec_start)),
        })
    return pd.DataFrame(records, columns=COLUMNS).astype(_DTYPES)


def _write_recordings(source: SegmentSource, train: Path, recordings: Recordings,
                      duration_ns: int, sample_rate: int | None, progress: bool) -> int | None:
    """One 16-bit FLAC per recording in ``train``; returns the rate they were written at."""
    ids = sorted(recordings)
    requests = [WindowRequest(recordings[r][0], recordings[r][1], recordings[r][1] + duration_ns)
                for r in ids]
    rate = sample_rate
    with tqdm(total=len(requests), disable=not progress, unit="recording", desc="kaggle") as bar:
        for lo in range(0, len(requests), _BATCH):
            audio, covs = load_windows(source, requests[lo : lo + _BATCH], sample_rate)
            for rec_id, clip, cov in zip(ids[lo : lo + _BATCH], audio, covs, strict=True):
                rate = cov.sample_rate
                with open_atomic(train / f"{rec_id}.flac") as fh:
                    sf.write(fh, np.clip(clip, -1.0, 1.0), rate, format="FLAC",
                             subtype="PCM_16")
            bar.update(len(audio))
    return rate


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with open_atomic(path, "w") as fh:
        frame.to_csv(fh, index=False)


def to_kaggle_rfcx(
    annotations: pd.DataFrame,
    source: SegmentSource,
    out_dir: str | os.PathLike[str],
    detections: pd.DataFrame | None = None,
    recording_duration: float = 60.0,
    sample_rate: int | None = 48_000,
    songtype_id: int = 1,
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    """Export like the Rainforest Connection species audio detection data set.

    Writes ``train_tp.csv`` (annotations and confirmed detections), ``train_fp.csv``
    (rejected detections), ``species.csv`` (``species_id, classification_value``: species
    ids are the sorted classification values numbered from 0) and ``train/<recording_id>.flac``
    (16-bit FLAC, ``recording_duration`` seconds from the start of the segment holding the
    event). CSV columns: ``recording_id, species_id, songtype_id, t_min, f_min, t_max,
    f_max`` (seconds within the recording; Hz) plus ``stream_id`` and ``start_utc`` (the
    recording's start). ``recording_id`` is ``<stream_id>_<YYYYMMDDTHHMMSSmmmZ>``. Missing
    frequencies become 0 and the Nyquist frequency; ``t_max`` is clipped to the recording.

    Parameters
    ----------
    annotations
        ``stream_id``, ``start``, ``end``, ``classification_value`` and optionally
        ``frequency_min``/``frequency_max``.
    source
        Where the audio comes from.
    out_dir
        The folder to write into (created if missing).
    detections
        Optional detections with ``review_status``: confirmed ones join ``train_tp``,
        rejected ones make ``train_fp``.
    recording_duration
        Seconds of each recording.
    sample_rate
        Rate of the FLAC files; ``None`` keeps the native rate.
    songtype_id
        The ``songtype_id`` of every row.
    progress
        Show a progress bar.

    Returns
    -------
    dict
        ``{"train_tp": ..., "train_fp": ..., "species": ...}`` as written.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> import tempfile
    >>> ann = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:01Z"],
    ...     "end": ["2020-01-01T00:00:02Z"], "classification_value": ["frog"],
    ...     "frequency_min": [100], "frequency_max": [900]})
    >>> out = to_kaggle_rfcx(ann, TableSource(pd.DataFrame()), tempfile.mkdtemp(),
    ...                      sample_rate=8000, progress=False)
    >>> out["train_tp"][["recording_id", "species_id", "t_min", "t_max"]].values.tolist()
    [['s_20200101T000000000Z', 0, 1.0, 2.0]]
    """
    sample_rate = check_sample_rate(sample_rate)
    duration_ns = seconds_to_ns(check_seconds(recording_duration, "recording_duration"))
    out = Path(out_dir)
    (out / "train").mkdir(parents=True, exist_ok=True)
    positives, negatives = _events(annotations, detections)
    species = sorted(set(positives["value"]) | set(negatives["value"]))
    species_ids = {str(v): i for i, v in enumerate(species)}
    recordings: Recordings = {}
    tp = _rows(positives, source, species_ids, songtype_id, duration_ns, recordings)
    fp = _rows(negatives, source, species_ids, songtype_id, duration_ns, recordings)
    rate = _write_recordings(source, out / "train", recordings, duration_ns, sample_rate,
                             progress)
    nyquist = float(rate) / 2 if rate else np.nan
    for frame in (tp, fp):
        frame["f_min"] = frame["f_min"].fillna(0.0)
        frame["f_max"] = frame["f_max"].fillna(nyquist)
    species_frame = pd.DataFrame(
        {"species_id": np.arange(len(species), dtype="int64"),
         "classification_value": pd.Series(species, dtype="object")}
    )
    _write_csv(out / "train_tp.csv", tp)
    _write_csv(out / "train_fp.csv", fp)
    _write_csv(out / "species.csv", species_frame)
    return {"train_tp": tp, "train_fp": fp, "species": species_frame}
