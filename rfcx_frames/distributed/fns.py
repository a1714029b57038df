"""Ready-made ``fn``s for ``map_windows``: acoustic indices, and any model's scores.

Each returns a picklable callable ``fn(audio, meta) -> DataFrame``:

* :func:`indices_fn`: one row of ACI, ADI, AEI, BI, NDSI and H per window
  (:func:`~rfcx_frames.audio.indices.acoustic_indices`).
* :func:`model_fn`: a user's model on each batch, as detections: one row per window and
  class, ``stream_id``, ``start``, ``end``, ``classification_value``, ``confidence``, the
  columns ``detection_history`` and ``detection_rates`` read.

Examples
--------
>>> fn = model_fn(lambda audio, meta: np.ones((len(audio), 2)) * 0.7, classes=["frog", "bird"])
>>> meta = pd.DataFrame({"stream_id": ["s"], "start": [pd.Timestamp(0, tz="UTC")],
...                      "end": [pd.Timestamp(10**9, tz="UTC")], "sample_rate": [8000]})
>>> rows = fn(np.zeros((1, 8000), "float32"), meta)
>>> rows["classification_value"].tolist(), rows["confidence"].dtype.name
(['frog', 'bird'], 'float32')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rfcx_frames.audio.indices import IndicesFn, indices_fn

DETECTION_COLUMNS = ("stream_id", "start", "end", "classification_value", "confidence")


@dataclass(frozen=True)
class ModelFn:
    """``fn(audio, meta)``: a model's scores as detection rows (see :func:`model_fn`).

    Examples
    --------
    >>> ModelFn(len, ("a",), 0.0).classes
    ('a',)
    """

    model: Callable[..., Any]
    classes: tuple[str, ...]
    min_confidence: float

    def __call__(self, audio: np.ndarray, meta: pd.DataFrame) -> pd.DataFrame:
        scores = np.asarray(self.model(audio, meta), dtype=np.float64)
        if scores.ndim == 1:
            scores = scores[:, None]
        if scores.shape != (len(meta), len(self.classes)):
            raise ValueError(f"the model returned scores of shape {scores.shape}; expected "
                             f"({len(meta)} windows, {len(self.classes)} classes)")
        rows, cols = np.nonzero(scores >= self.min_confidence)
        picked = meta.iloc[rows][["stream_id", "start", "end"]].reset_index(drop=True)
        return picked.assign(
            classification_value=np.asarray(self.classes, dtype=object)[cols],
            confidence=scores[rows, cols].astype(np.float32)).loc[:, list(DETECTION_COLUMNS)]


def model_fn(model: Callable[..., Any], classes: Sequence[str], *,
             min_confidence: float = 0.0) -> ModelFn:
    """A ``map_windows`` fn that runs ``model`` on each batch and keeps its scores as detections.

    Parameters
    ----------
    model
        Any callable ``model(audio, meta)`` returning scores ``[windows, classes]`` (or
        ``[windows]`` for one class): a Keras/PyTorch/sklearn wrapper, a function.
    classes
        The class of each score column (the ``classification_value`` of its rows).
    min_confidence
        Scores below it are dropped (0: every window x class is a row).

    Returns
    -------
    ModelFn
        ``fn(audio, meta)`` returning ``stream_id``, ``start``, ``end``,
        ``classification_value``, ``confidence``: a frame ``detection_history`` and
        ``detection_rates`` take as detections.

    Examples
    --------
    >>> model_fn(lambda a, m: a.mean(axis=1), ["tone"]).classes
    ('tone',)
    """
    if not callable(model):
        raise TypeError(f"model must be a callable model(audio, meta), not {type(model).__name__}")
    if isinstance(classes, str) or not classes:
        raise ValueError(f"classes must be a non-empty list of class names, not {classes!r}")
    return ModelFn(model, tuple(str(c) for c in classes), float(min_confidence))


__all__ = ["DETECTION_COLUMNS", "IndicesFn", "ModelFn", "indices_fn", "model_fn"]
