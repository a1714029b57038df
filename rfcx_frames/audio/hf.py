"""Hugging Face ``datasets`` export of a TrainingSet: an ``Audio`` column plus its labels.

:func:`to_hf_dataset` encodes each clip as a 32-bit float WAV (exact) in a
``datasets.Audio(sampling_rate=ts.sample_rate)`` column, and copies the labels: one
``label_<class>`` (``uint8``) and ``reviewed_<class>`` (``bool``) column per class, a
``labels`` column of the multi-hot vector, and ``stream_id``, ``start``, ``end`` (ISO
text, UTC), ``kind`` and ``review_status`` where the set has them. ``datasets`` is an
optional dependency: ``pip install 'rfcx-frames[hf]'``.

Examples
--------
>>> sorted(_text_columns(pd.DataFrame({"kind": ["a"], "x": [1]})))
['kind']
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import soundfile as sf

from rfcx_frames.audio.training_set import TrainingSet
from rfcx_frames.audio.window_labels import class_columns

_TEXT = ("stream_id", "kind", "review_status")


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("to_hf_dataset needs the 'datasets' package: "
                          "pip install 'rfcx-frames[hf]'") from exc
    return datasets


def _text_columns(labels: pd.DataFrame) -> list[str]:
    return [c for c in _TEXT if c in labels.columns]


def _wav(clip: np.ndarray, rate: int) -> dict[str, Any]:
    buffer = io.BytesIO()
    sf.write(buffer, clip, rate, format="WAV", subtype="FLOAT")
    return {"bytes": buffer.getvalue(), "path": None}


def _columns(ts: TrainingSet, lo: int, hi: int, audio: np.ndarray) -> dict[str, Any]:
    labels = ts.labels.iloc[lo:hi]
    label_cols, reviewed_cols = class_columns(ts.classes)
    out: dict[str, Any] = {"audio": [_wav(clip, ts.sample_rate) for clip in audio]}
    out["labels"] = ts.multi_hot()[lo:hi].tolist()
    for column in _text_columns(labels):
        out[column] = labels[column].astype(str).tolist()
    for column in ("start", "end"):
        if column in labels.columns:
            out[column] = [t.isoformat() for t in pd.to_datetime(labels[column], utc=True)]
    for column in label_cols:
        out[column] = labels[column].to_numpy(dtype="uint8").tolist()
    for column in reviewed_cols:
        out[column] = labels[column].to_numpy(dtype=bool).tolist()
    return out


def _features(ts: TrainingSet, datasets: Any) -> Any:
    label_cols, reviewed_cols = class_columns(ts.classes)
    spec: dict[str, Any] = {"audio": datasets.Audio(sampling_rate=ts.sample_rate),
                            "labels": datasets.Sequence(datasets.Value("uint8"))}
    for column in _text_columns(ts.labels):
        spec[column] = datasets.Value("string")
    for column in ("start", "end"):
        if column in ts.labels.columns:
            spec[column] = datasets.Value("string")
    spec.update({c: datasets.Value("uint8") for c in label_cols})
    spec.update({c: datasets.Value("bool") for c in reviewed_cols})
    return datasets.Features(spec)


def to_hf_dataset(ts: TrainingSet, batch_size: int = 256) -> Any:
    """A ``datasets.Dataset`` of the set's clips and labels (see the module docstring).

    Audio is loaded ``batch_size`` clips at a time; the dataset itself is held in
    memory until saved (``ds.save_to_disk(path)``).

    Parameters
    ----------
    ts
        The training set.
    batch_size
        Clips loaded and encoded at a time.

    Returns
    -------
    datasets.Dataset
        ``audio`` (``datasets.Audio`` at ``ts.sample_rate``), ``labels`` (multi-hot),
        the per-class columns and the window's stream and times.

    Examples
    --------
    >>> ds = to_hf_dataset(ts)  # doctest: +SKIP
    >>> ds.save_to_disk("train_hf")  # doctest: +SKIP
    """
    if not isinstance(ts, TrainingSet):
        raise TypeError(f"ts must be a TrainingSet, not {type(ts).__name__}")
    datasets = _datasets()
    features = _features(ts, datasets)
    schema = features.arrow_schema
    tables = [pa.Table.from_pydict({name: [] for name in features}, schema=schema)]
    size = max(1, int(batch_size))
    for lo, audio in zip(range(0, len(ts), size), ts.audio.iter_batches(size), strict=False):
        tables.append(pa.Table.from_pydict(_columns(ts, lo, lo + len(audio), audio),
                                           schema=schema))
    # Arrow rows already in the Audio feature's storage (WAV bytes): building the dataset
    # from them skips the feature's own encoder, which needs torchcodec.
    table = pa.concat_tables(tables).combine_chunks()
    return datasets.Dataset(table, info=datasets.DatasetInfo(features=features))


__all__ = ["to_hf_dataset"]
