"""The opensoundscape layout: one audio file per labelled clip, and its multi-hot labels frame.

:func:`to_opensoundscape` writes every clip of a labels frame (a training set's
``stream_id, start, end, label_<class>`` rows, or annotations) as a 16-bit audio file and
returns the frame opensoundscape's ``AudioFileDataset`` takes: a MultiIndex
``(file, start_time, end_time)`` (the file's path, 0.0 and the clip's length in seconds)
and one ``int64`` 0/1 column per class, nothing else (opensoundscape treats every column
as a class). Layout written::

    <out_dir>/audio/<stream>_<YYYYMMDDTHHMMSSmmmZ>_<duration ms>ms.<ext>   one per clip
    <out_dir>/labels.csv   the frame, with ``file`` relative to ``out_dir``
    <out_dir>/clips.csv    file, stream_id, start, end (UTC): where each clip came from

Files are written atomically; a re-run keeps clip files that already decode whole, so an
interrupted export resumes where it stopped.

Examples
--------
>>> ann = pd.DataFrame({"stream_id": ["s", "s"], "start": ["2020-01-01T00:00:01Z"] * 2,
...                     "end": ["2020-01-01T00:00:04Z"] * 2,
...                     "classification_value": ["frog", "bird"]})
>>> spans, classes, hot = multi_hot(ann)
>>> classes, hot.tolist()
(['bird', 'frog'], [[1, 1]])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf

from rfcx_frames.audio.clips import iter_clips
from rfcx_frames.audio.events import class_values
from rfcx_frames.audio.naming import FORMATS, check_format, clip_file_name
from rfcx_frames.audio.sample_time import NS_PER_S, ns_to_series, samples_between, series_ns
from rfcx_frames.audio.segment_check import AudioVerificationError, read_facts
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.files import open_atomic
from rfcx_frames.validate import check_sample_rate

#: Names of the labels frame's index levels, as opensoundscape names them.
INDEX_NAMES = ("file", "start_time", "end_time")
#: Clips cut and written per batch (bounds memory).
_BATCH = 128


def _labels_of(labels: Any) -> pd.DataFrame:
    """The frame of a training set (its ``labels``) or the frame itself."""
    frame = labels if isinstance(labels, pd.DataFrame) else getattr(labels, "labels", None)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("labels must be a DataFrame or a training set with a .labels frame, "
                        f"not {type(labels).__name__}")
    for column in ("stream_id", "start", "end"):
        if column not in frame.columns:
            raise ValueError(f"labels need a {column!r} column")
    return frame


def multi_hot(labels: Any) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """Clip spans, classes and the 0/1 matrix of a labels frame or of annotations.

    A frame with ``label_<class>`` columns keeps its rows and classes; annotations (a
    ``classification_value`` per row) make one clip per distinct ``(stream_id, start,
    end)``, labelled with every class annotated on it.

    Parameters
    ----------
    labels
        A training set's labels (``stream_id, start, end, label_<class>``), a training set
        with a ``labels`` frame, or annotations.

    Returns
    -------
    tuple
        ``spans`` (``stream_id``, ``start_ns``, ``end_ns``), the class names, and an
        ``int64`` matrix ``[clips, classes]``.

    Examples
    --------
    >>> f = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:00Z"],
    ...                   "end": ["2020-01-01T00:00:03Z"], "label_frog": [1]})
    >>> multi_hot(f)[1:]
    (['frog'], array([[1]]))
    """
    frame = _labels_of(labels)
    spans = pd.DataFrame({"stream_id": frame["stream_id"].astype(str).to_numpy(dtype=object),
                          "start_ns": series_ns(frame["start"]),
                          "end_ns": series_ns(frame["end"])})
    if (spans["end_ns"] <= spans["start_ns"]).any():
        raise ValueError("every clip must end after it starts")
    columns = [c for c in frame.columns if str(c).startswith("label_")]
    if columns:
        hot = frame[columns].fillna(0).to_numpy(dtype="int64")
        if not np.isin(hot, (0, 1)).all():
            raise ValueError("label_<class> columns must hold 0 or 1")
        return spans.reset_index(drop=True), [str(c)[len("label_"):] for c in columns], hot
    keyed = spans.assign(value=class_values(frame).to_numpy(dtype=object))
    table = pd.crosstab([keyed["stream_id"], keyed["start_ns"], keyed["end_ns"]], keyed["value"])
    hot = (table.to_numpy() > 0).astype("int64")
    return table.index.to_frame(index=False), [str(c) for c in table.columns], hot


def _whole(path: Path, start_ns: int, end_ns: int, rate: int | None) -> bool:
    """Whether a clip written by an earlier run is there, at ``rate`` and of full length.

    The length is checked against the span: a WAV header cut with its body is rewritten
    by libsndfile to match what is left, so decoding alone would accept it.
    """
    if not path.exists():
        return False
    try:
        facts = read_facts(path, path.name)
    except AudioVerificationError:
        return False
    if rate is not None and facts.sample_rate != rate:
        return False
    return facts.frames == samples_between(start_ns, end_ns, facts.sample_rate)


def _write_audio(source: SegmentSource, spans: pd.DataFrame, paths: list[Path], ext: str,
                 sample_rate: int | None, progress: bool) -> None:
    """Cut the clips whose file is missing or broken and write each atomically."""
    todo = [i for i, (path, a, b) in enumerate(zip(paths, spans["start_ns"], spans["end_ns"],
                                                    strict=True))
            if not _whole(path, int(a), int(b), sample_rate)]
    if not todo:
        return
    rows = spans.iloc[todo]
    frame = pd.DataFrame({"stream_id": rows["stream_id"].to_numpy(),
                          "start": ns_to_series(rows["start_ns"].to_numpy()).to_numpy(),
                          "end": ns_to_series(rows["end_ns"].to_numpy()).to_numpy()})
    fmt, subtype = FORMATS[ext]
    batches = iter_clips(source, frame, sample_rate=sample_rate, batch_size=_BATCH,
                         progress=progress)
    for audio, meta in batches:
        for pos, clip, n, rate in zip(meta.index, audio, meta["n_samples"], meta["sample_rate"],
                                      strict=True):
            with open_atomic(paths[todo[int(pos)]]) as fh:
                sf.write(fh, np.clip(clip[: int(n)], -1.0, 1.0), int(rate), format=fmt,
                         subtype=subtype)


def _write_tables(out: Path, spans: pd.DataFrame, names: list[str], labels: pd.DataFrame
                  ) -> None:
    """``labels.csv`` (relative files, so the folder can move) and ``clips.csv``."""
    relative = labels.rename(index=dict(zip(labels.index.get_level_values("file"), names,
                                            strict=True)), level="file")
    with open_atomic(out / "labels.csv", "w") as fh:
        relative.to_csv(fh)
    clips = pd.DataFrame({"file": names, "stream_id": spans["stream_id"].to_numpy(),
                          "start": ns_to_series(spans["start_ns"].to_numpy()).to_numpy(),
                          "end": ns_to_series(spans["end_ns"].to_numpy()).to_numpy()})
    with open_atomic(out / "clips.csv", "w") as fh:
        clips.to_csv(fh, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")


def to_opensoundscape(labels: Any, source: SegmentSource, out_dir: str | os.PathLike[str], *,
                      sample_rate: int | None = None, file_ext: str = "wav",
                      progress: bool = True) -> pd.DataFrame:
    """Write clips and the labels frame opensoundscape's ``AudioFileDataset`` reads.

    Parameters
    ----------
    labels
        A training set's labels (``stream_id``, ``start``, ``end``, ``label_<class>``; rows
        with no label stay as all-zero negatives), a training set with a ``labels`` frame,
        or annotations (``classification_value``: one clip per distinct span).
    source
        Where the audio comes from.
    out_dir
        Folder to write into (created if missing); see the module docstring for its layout.
    sample_rate
        Rate of the clip files; ``None`` keeps the native rate (all clips must share it),
        or a training set's ``sample_rate`` when one is passed.
    file_ext
        ``"wav"`` (default) or ``"flac"``.
    progress
        Show a progress bar.

    Returns
    -------
    pandas.DataFrame
        Index ``(file, start_time, end_time)``: absolute path (str), 0.0 and the clip's
        length in seconds (float64); one ``int64`` 0/1 column per class.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> import tempfile
    >>> f = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:00Z"],
    ...                   "end": ["2020-01-01T00:00:03Z"], "label_frog": [1]})
    >>> out = to_opensoundscape(f, TableSource(pd.DataFrame()), tempfile.mkdtemp(),
    ...                         sample_rate=8000, progress=False)
    >>> list(out.index.names), out.index.get_level_values("end_time").tolist(), out["frog"].tolist()
    (['file', 'start_time', 'end_time'], [3.0], [1])
    """
    ext = check_format(file_ext)
    if ext not in ("wav", "flac"):
        raise ValueError(f"file_ext must be 'wav' or 'flac', not {file_ext!r}")
    if sample_rate is None:
        sample_rate = getattr(labels, "sample_rate", None)
    rate = check_sample_rate(sample_rate)
    spans, classes, hot = multi_hot(labels)
    names = [f"audio/{clip_file_name(s, a, b, ext)}" for s, a, b in spans.itertuples(index=False)]
    if len(set(names)) < len(names):
        raise ValueError("labels hold two clips of one stream within a millisecond of each other")
    out = Path(out_dir).resolve()
    (out / "audio").mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in names]
    _write_audio(source, spans, paths, ext, rate, progress)
    lengths = (spans["end_ns"] - spans["start_ns"]).to_numpy() / NS_PER_S
    index = pd.MultiIndex.from_arrays(
        [pd.Index([str(p) for p in paths], dtype=object), np.zeros(len(paths)), lengths],
        names=list(INDEX_NAMES))
    frame = pd.DataFrame(hot.reshape(len(paths), len(classes)), index=index, columns=classes)
    _write_tables(out, spans, names, frame)
    return frame
