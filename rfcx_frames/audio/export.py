"""Writing training sets to disk and reading them back; the Kaggle RFCx export.

:func:`write_training_set` stores a clip table from :func:`~rfcx_frames.audio.training.
training_set` as ``labels.parquet`` plus one audio file per clip, switched in as a whole;
:func:`read_training_set` reads it back, verified against its manifest.
:func:`to_kaggle_rfcx` writes annotations in the layout of the Rainforest Connection
species audio detection data (``train_tp.csv``, ``train_fp.csv``, 60 s FLAC); each of its
files is written to a temporary name and moved into place.

Examples
--------
>>> import tempfile
>>> p = Path(tempfile.mkdtemp()) / "x.txt"
>>> atomic_write(p, lambda tmp: tmp.write_text("done"))
>>> p.read_text()
'done'
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import soundfile as sf

from rfcx_frames.audio.atomic_dir import (
    MANIFEST,
    TrainingSetError,
    load_manifest,
    read_verified,
    reading,
    replacing,
    write_file,
)
from rfcx_frames.audio.clips import iter_clips
from rfcx_frames.audio.events import CONFIRMED, REJECTED, detection_events, event_table
from rfcx_frames.audio.source import NS_PER_S, SegmentSource, seconds_to_ns, series_ns
from rfcx_frames.audio.store import check_id, compact_time
from rfcx_frames.audio.windows import GapMode, WindowRequest, load_windows
from rfcx_frames.progress import tqdm
from rfcx_frames.timeutil import from_ns

AudioFormat = Literal["npz", "flac"]


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then move the result to ``path``; no partial file on error.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "y.txt"
    >>> atomic_write(p, lambda tmp: tmp.write_text("ok"))
    >>> p.read_text()
    'ok'
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_training_set(
    table: pd.DataFrame,
    source: SegmentSource,
    out_dir: str | os.PathLike[str],
    format: AudioFormat = "npz",
    sample_rate: int | None = None,
    gap: GapMode = "zero",
    batch_size: int = 256,
    progress: bool = True,
) -> Path:
    """Write a clip table's audio and labels: ``labels.parquet`` + ``audio/<row>.<format>``.

    ``labels.parquet`` holds the table plus ``file`` (path relative to ``out_dir``),
    ``sample_rate`` and ``n_samples``; ``dataset.json`` holds the classes, clip duration,
    rate and format; ``manifest.json`` names every file with its size and SHA-256. FLAC
    is 24-bit PCM (values clipped to [-1, 1]); ``.npz`` keeps float32 exactly.

    The set is built in a hidden folder beside ``out_dir`` and switched in whole (see
    :mod:`rfcx_frames.audio.atomic_dir`): rewriting a set in place leaves, whatever the
    moment of a crash, the whole old set or the whole new one. ``out_dir`` must be new,
    empty, or an earlier training set, which is replaced entirely.

    Raises
    ------
    ValueError
        A bad ``format``/``gap``, or an ``out_dir`` holding something else.

    Examples
    --------
    >>> from rfcx_frames.audio.source import TableSource
    >>> import tempfile
    >>> t = pd.DataFrame({"stream_id": ["s"], "start": pd.to_datetime(["2020-01-01"], utc=True),
    ...                   "end": pd.to_datetime(["2020-01-01 00:00:01"], utc=True)})
    >>> out = write_training_set(t, TableSource(pd.DataFrame()), Path(tempfile.mkdtemp()) / "ds",
    ...                          sample_rate=100, progress=False)
    >>> sorted(p.name for p in out.iterdir())
    ['audio', 'dataset.json', 'labels.parquet', 'manifest.json']
    """
    if format not in ("npz", "flac"):
        raise ValueError(f"format must be 'npz' or 'flac', not {format!r}")
    if format == "flac" and gap == "nan":
        raise ValueError("FLAC cannot hold NaN; use gap='zero' or format='npz'")
    out = Path(out_dir)
    with replacing(out, is_ours=(MANIFEST, "labels.parquet")) as staging:
        files: list[str] = []
        n_samples: list[int] = []
        rate = 0
        frame = table[["stream_id", "start", "end"]]
        for audio, meta in iter_clips(
            source, frame, sample_rate=sample_rate, gap=gap, batch_size=batch_size,
            progress=progress,
        ):
            rate = int(meta["sample_rate"].iloc[0])
            for row, clip, n in zip(meta.index, audio, meta["n_samples"], strict=True):
                name = f"audio/{row:06d}.{format}"
                write_file(staging, name, _encode(clip[: int(n)], format, rate))
                files.append(name)
                n_samples.append(int(n))
        labels = table.reset_index(drop=True).copy()
        labels["file"] = pd.Series(files, dtype="object")
        labels["sample_rate"] = np.full(len(labels), rate, dtype="int64")
        labels["n_samples"] = np.asarray(n_samples, dtype="int64")
        info = {
            "classes": list(table.attrs.get("classes", _classes_from_columns(table))),
            "clip_duration": table.attrs.get("clip_duration"),
            "sample_rate": rate,
            "format": format,
            "rows": len(labels),
        }
        write_file(staging, "dataset.json", json.dumps(info, indent=2).encode())
        labels.attrs = {}
        buffer = io.BytesIO()
        labels.to_parquet(buffer, index=False)
        write_file(staging, "labels.parquet", buffer.getvalue())
    return out


def _encode(data: np.ndarray, format: AudioFormat, rate: int) -> bytes:
    buffer = io.BytesIO()
    if format == "npz":
        np.savez(buffer, audio=data)
    else:
        sf.write(buffer, np.clip(data, -1.0, 1.0), rate, format="FLAC", subtype="PCM_24")
    return buffer.getvalue()


def _classes_from_columns(table: pd.DataFrame) -> list[str]:
    return [c[len("label_") :] for c in table.columns if str(c).startswith("label_")]


def read_training_set(out_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Read back what :func:`write_training_set` wrote: ``(labels, audio[N, samples])``.

    Clips shorter than the longest are right-padded with zeros (``labels.n_samples``).
    Every file is checked against ``manifest.json`` (size and SHA-256); a rewrite that
    was interrupted between its two renames (platforms without an atomic folder swap) is
    finished first.

    Raises
    ------
    TrainingSetError
        The folder has no manifest (incomplete, or written by an older version), or a
        file is missing, changed, or not listed.

    Examples
    --------
    >>> from rfcx_frames.audio.source import TableSource
    >>> import tempfile
    >>> t = pd.DataFrame({"stream_id": ["s"], "start": pd.to_datetime(["2020-01-01"], utc=True),
    ...                   "end": pd.to_datetime(["2020-01-01 00:00:01"], utc=True)})
    >>> out = write_training_set(t, TableSource(pd.DataFrame()), Path(tempfile.mkdtemp()) / "ds",
    ...                          sample_rate=100, progress=False)
    >>> labels, audio = read_training_set(out)
    >>> audio.shape
    (1, 100)
    """
    with reading(Path(out_dir)) as out:
        manifest = load_manifest(out)
        labels = pd.read_parquet(io.BytesIO(read_verified(out, manifest, "labels.parquet")))
        info = json.loads(read_verified(out, manifest, "dataset.json"))
        if int(info.get("rows", len(labels))) != len(labels):
            raise TrainingSetError(f"{out}: dataset.json and labels.parquet disagree", out)
        labels.attrs["classes"] = info["classes"]
        labels.attrs["clip_duration"] = info["clip_duration"]
        width = int(labels["n_samples"].max()) if len(labels) else 0
        audio = np.zeros((len(labels), width), dtype=np.float32)
        for i, name in enumerate(labels["file"]):
            raw = io.BytesIO(read_verified(out, manifest, str(name)))
            if str(name).endswith(".npz"):
                with np.load(raw) as npz:
                    data = npz["audio"]
            else:
                data, _ = sf.read(raw, dtype="float32")
            audio[i, : len(data)] = data
    return labels, audio


# --------------------------------------------------------------------------- Kaggle export


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


def _iso(ns: int) -> str:
    ts = from_ns(ns)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


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

    Returns
    -------
    dict
        ``{"train_tp": ..., "train_fp": ..., "species": ...}`` as written.

    Examples
    --------
    >>> from rfcx_frames.audio.source import TableSource
    >>> import tempfile
    >>> ann = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:01Z"],
    ...     "end": ["2020-01-01T00:00:02Z"], "classification_value": ["frog"],
    ...     "frequency_min": [100], "frequency_max": [900]})
    >>> out = to_kaggle_rfcx(ann, TableSource(pd.DataFrame()), tempfile.mkdtemp(),
    ...                      sample_rate=8000, progress=False)
    >>> out["train_tp"][["recording_id", "species_id", "t_min", "t_max"]].values.tolist()
    [['s_20200101T000000000Z', 0, 1.0, 2.0]]
    """
    out = Path(out_dir)
    (out / "train").mkdir(parents=True, exist_ok=True)
    duration_ns = seconds_to_ns(recording_duration)
    confirmed, rejected = detection_events(detections)
    positives = pd.concat(
        [_with_freq(annotations, event_table(annotations, "annotation")),
         _with_freq(detections, confirmed, status="confirmed")],
        ignore_index=True,
    )
    negatives = _with_freq(detections, rejected, status="rejected")
    species = sorted(set(positives["value"]) | set(negatives["value"]))
    species_ids = {v: i for i, v in enumerate(species)}

    recordings: dict[str, tuple[str, int]] = {}

    def rows(events: pd.DataFrame) -> pd.DataFrame:
        records = []
        for ev in events.itertuples():
            stream_id = check_id(ev.stream_id, "stream_id")
            ev_start, ev_end = int(ev.start_ns), int(ev.end_ns)  # type: ignore[arg-type]
            rec_start = _recording_start(source, stream_id, ev_start, duration_ns)
            rec_id = f"{stream_id}_{compact_time(from_ns(rec_start))}"
            recordings[rec_id] = (stream_id, rec_start)
            records.append(
                {
                    "recording_id": rec_id,
                    "species_id": species_ids[ev.value],
                    "songtype_id": songtype_id,
                    "t_min": (ev_start - rec_start) / NS_PER_S,
                    "f_min": ev.f_min,
                    "t_max": min(ev_end - rec_start, duration_ns) / NS_PER_S,
                    "f_max": ev.f_max,
                    "stream_id": stream_id,
                    "start_utc": _iso(rec_start),
                }
            )
        columns = ["recording_id", "species_id", "songtype_id", "t_min", "f_min", "t_max",
                   "f_max", "stream_id", "start_utc"]
        return pd.DataFrame(records, columns=columns).astype(
            {"species_id": "int64", "songtype_id": "int64", "t_min": "float64",
             "t_max": "float64", "f_min": "float64", "f_max": "float64"}
        )

    tp, fp = rows(positives), rows(negatives)
    ids = sorted(recordings)
    requests = [
        WindowRequest(recordings[r][0], recordings[r][1], recordings[r][1] + duration_ns)
        for r in ids
    ]
    rate = sample_rate
    bar = tqdm(total=len(requests), disable=not progress, unit="recording", desc="kaggle")
    for lo in range(0, len(requests), 64):
        audio, covs = load_windows(source, requests[lo : lo + 64], sample_rate)
        for rec_id, clip, cov in zip(ids[lo : lo + 64], audio, covs, strict=True):
            rate = cov.sample_rate
            atomic_write(
                out / "train" / f"{rec_id}.flac",
                lambda p, d=clip, r=cov.sample_rate: sf.write(
                    p, np.clip(d, -1.0, 1.0), r, format="FLAC", subtype="PCM_16"
                ),
            )
        bar.update(len(audio))
    bar.close()
    nyquist = float(rate) / 2 if rate else np.nan
    for frame in (tp, fp):
        frame["f_min"] = frame["f_min"].fillna(0.0)
        frame["f_max"] = frame["f_max"].fillna(nyquist)
    species_frame = pd.DataFrame(
        {"species_id": np.arange(len(species), dtype="int64"),
         "classification_value": pd.Series(species, dtype="object")}
    )
    atomic_write(out / "train_tp.csv", lambda p: tp.to_csv(p, index=False))
    atomic_write(out / "train_fp.csv", lambda p: fp.to_csv(p, index=False))
    atomic_write(out / "species.csv", lambda p: species_frame.to_csv(p, index=False))
    return {"train_tp": tp, "train_fp": fp, "species": species_frame}


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
