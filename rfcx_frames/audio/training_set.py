"""The TrainingSet: a clip table, its lazy audio, and the label views a model needs.

:func:`training_set` labels fixed-length windows around annotations and reviewed
detections (rules in :mod:`rfcx_frames.audio.training`) and returns a
:class:`TrainingSet`: ``labels`` (one row per clip), ``audio`` (a lazy
``float32 [clips, samples]``, see :class:`~rfcx_frames.audio.clip_audio.ClipAudio`),
``sample_rate``, ``clip_duration`` and ``classes``. The native rate is checked from the
segment listing before any audio is read.

Label views: :meth:`TrainingSet.multi_hot` (``uint8 [clips, classes]``),
:meth:`TrainingSet.reviewed` (the mask of where a 0 is a real negative),
:meth:`TrainingSet.single_label` (one class per clip; for windows holding two, by
default the class covering most of the window) and :meth:`TrainingSet.class_weights`.
:meth:`TrainingSet.split` keeps overlapping windows on one side
(:mod:`rfcx_frames.audio.training_split`).

Examples
--------
>>> ts = TrainingSet(pd.DataFrame({"label_a": [1, 0], "reviewed_a": [True, True]}),
...                  ClipAudio(2, 4, lambda r: np.zeros((len(r), 4), np.float32)), 4, 1.0, ["a"])
>>> ts.multi_hot().tolist(), ts.single_label("first").tolist()
([[1], [0]], ['a', 'background'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from rfcx_frames.audio.clip_audio import ClipAudio, SourceLoader, native_rate
from rfcx_frames.audio.sample_time import samples_between, seconds_to_ns
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.audio.training import DEFAULT_STATUSES, ContextMode, label_table
from rfcx_frames.audio.training_split import SplitBy, held_out_mask
from rfcx_frames.audio.window_labels import class_columns, overlap_columns
from rfcx_frames.audio.windows import GapMode
from rfcx_frames.validate import check_sample_rate

SingleRule = Literal["overlap", "drop", "rarest", "first"]


class TrainingSet:
    """Labelled clips: ``labels``, lazy ``audio``, ``sample_rate``, ``clip_duration``, ``classes``.

    Parameters
    ----------
    labels
        One row per clip with ``label_<c>`` (0/1) and ``reviewed_<c>`` columns per class.
    audio
        ``float32 [clips, samples]``, loaded when indexed.
    sample_rate
        Rate of ``audio`` in Hz.
    clip_duration
        Seconds per clip.
    classes
        Class values, in column order.

    Examples
    --------
    >>> ts = TrainingSet(pd.DataFrame({"label_a": [1], "reviewed_a": [True]}),
    ...                  ClipAudio(1, 2, lambda r: np.zeros((len(r), 2), np.float32)), 2, 1.0,
    ...                  ["a"])
    >>> len(ts), ts.audio.shape
    (1, (1, 2))
    """

    def __init__(self, labels: pd.DataFrame, audio: ClipAudio, sample_rate: int,
                 clip_duration: float, classes: Sequence[str]) -> None:
        if len(labels) != len(audio):
            raise ValueError(f"labels has {len(labels)} rows but audio {len(audio)} clips")
        self.labels = labels.reset_index(drop=True)
        self.labels.attrs["classes"] = list(classes)
        self.labels.attrs["clip_duration"] = float(clip_duration)
        self.audio = audio
        self.sample_rate = int(sample_rate)
        self.clip_duration = float(clip_duration)
        self.classes = [str(c) for c in classes]

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        state = "lazy" if "lazy" in repr(self.audio) else "in memory"
        return (f"TrainingSet({len(self)} clips, classes={self.classes}, "
                f"{self.clip_duration:g} s at {self.sample_rate} Hz, audio {state})")

    def multi_hot(self) -> np.ndarray:
        """``uint8 [clips, classes]``: 1 where the clip holds the class.

        Examples
        --------
        >>> _demo().multi_hot().tolist()
        [[1, 1], [0, 1], [0, 0]]
        """
        labels, _ = class_columns(self.classes)
        return self.labels[labels].to_numpy(dtype="uint8").reshape(len(self), len(labels))

    def reviewed(self) -> np.ndarray:
        """``bool [clips, classes]``: where someone looked for the class (a 0 is then a
        real negative; elsewhere it is unknown, e.g. to mask a loss).

        Examples
        --------
        >>> _demo().reviewed().tolist()[2]
        [True, False]
        """
        _, reviewed = class_columns(self.classes)
        return self.labels[reviewed].to_numpy(dtype=bool).reshape(len(self), len(reviewed))

    def single_label(self, rule: SingleRule = "overlap", background: str = "background"
                     ) -> pd.Series:
        """One class per clip, for single-label classifiers.

        Parameters
        ----------
        rule
            For a clip holding several classes: ``"overlap"`` the class whose events
            cover the most of the clip (the ``overlap_<c>`` seconds; on a tie, the
            class with fewer clips in this set, then the first in :attr:`classes`),
            ``"drop"`` gives ``None`` (filter with ``.notna()``), ``"rarest"`` the class
            with the fewest clips in this set, ``"first"`` the first in :attr:`classes`.
        background
            The value of clips holding no class.

        Returns
        -------
        pandas.Series
            Class values (object dtype) on the labels' index.

        Raises
        ------
        ValueError
            An unknown ``rule``, or ``"overlap"`` on labels without ``overlap_<c>``
            columns (a set written before they existed: rebuild it).

        Examples
        --------
        >>> _demo().single_label().tolist()  # clip 0: b covers 0.9 s, a 0.4 s
        ['b', 'b', 'background']
        >>> _demo().single_label("drop").tolist(), _demo().single_label("rarest").tolist()
        ([None, 'b', 'background'], ['a', 'b', 'background'])
        """
        if rule not in ("overlap", "drop", "rarest", "first"):
            raise ValueError(f"rule must be 'overlap', 'drop', 'rarest' or 'first', not {rule!r}")
        hot = self.multi_hot().astype(bool)
        order = np.arange(len(self.classes))
        if rule in ("rarest", "overlap"):
            order = np.argsort(hot.sum(axis=0), kind="stable")
        score = hot[:, order].astype("float64")
        if rule == "overlap":
            score = np.where(hot, self._overlaps(), -1.0)[:, order]
        pick = np.argmax(score, axis=1) if len(self.classes) else np.zeros(len(self))
        names = np.array(self.classes, dtype=object)[order][pick] if len(self.classes) else (
            np.full(len(self), background, dtype=object))
        count = hot.sum(axis=1)
        out = np.where(count == 0, background, names).astype(object)
        if rule == "drop":
            out[count > 1] = None
        return pd.Series(out, index=self.labels.index, name="label", dtype=object)

    def _overlaps(self) -> np.ndarray:
        """``float64 [clips, classes]``: seconds of each clip covered by each class."""
        columns = overlap_columns(self.classes)
        missing = [c for c in columns if c not in self.labels.columns]
        if missing:
            raise ValueError(f"rule='overlap' needs the {missing} columns, which these labels "
                             "lack (a set built before they existed); rebuild it with "
                             "training_set(), or pick rule='drop', 'rarest' or 'first'")
        return self.labels[columns].to_numpy(dtype="float64").reshape(len(self), len(columns))

    def class_counts(self) -> pd.DataFrame:
        """Per class: ``positive``, ``negative`` (reviewed, not positive) and ``unknown``.

        Examples
        --------
        >>> _demo().class_counts().loc["b"].tolist()
        [2, 0, 1]
        """
        hot, seen = self.multi_hot().astype(bool), self.reviewed()
        return pd.DataFrame({
            "positive": hot.sum(axis=0), "negative": (seen & ~hot).sum(axis=0),
            "unknown": (~seen & ~hot).sum(axis=0),
        }, index=pd.Index(self.classes, name="class")).astype("int64")

    def class_weights(self, method: Literal["balanced", "pos_weight"] = "balanced"
                      ) -> pd.Series:
        """Per-class loss weights from the positive counts.

        Parameters
        ----------
        method
            ``"balanced"``: ``clips / (classes * positives)`` (as scikit-learn's
            ``class_weight="balanced"``); ``"pos_weight"``: ``negatives / positives``
            per class (as ``torch.nn.BCEWithLogitsLoss(pos_weight=...)``). A class without
            positives gets 0.

        Examples
        --------
        >>> _demo().class_weights().round(2).tolist()
        [1.5, 0.75]
        """
        if method not in ("balanced", "pos_weight"):
            raise ValueError(f"method must be 'balanced' or 'pos_weight', not {method!r}")
        counts = self.class_counts()
        positive = counts["positive"].to_numpy(dtype=float)
        top = (len(self) / max(1, len(self.classes)) if method == "balanced"
               else counts["negative"].to_numpy(dtype=float))
        weights = np.divide(top, positive, out=np.zeros(len(positive)), where=positive > 0)
        return pd.Series(weights, index=counts.index, name="weight")

    def subset(self, rows: Any) -> TrainingSet:
        """The clips at these positions (or where a boolean mask is True), audio still lazy.

        Examples
        --------
        >>> len(_demo().subset(_demo().labels["label_a"] == 1))
        1
        """
        positions = np.arange(len(self))[np.asarray(rows)]
        return TrainingSet(self.labels.iloc[positions], self.audio.take(positions),
                           self.sample_rate, self.clip_duration, self.classes)

    def split(self, by: SplitBy = "recording", test_size: float = 0.2, seed: int = 0
              ) -> tuple[TrainingSet, TrainingSet]:
        """``(train, test)`` with whole streams, recordings or days on one side.

        Overlapping windows always land on one side, so no test window overlaps a train
        window (see :mod:`rfcx_frames.audio.training_split`). Compare the sides' class
        balance with :func:`split_report`.

        Parameters
        ----------
        by
            ``"stream"``, ``"recording"`` or ``"day"`` (UTC).
        test_size
            Least fraction of the clips on the test side, in (0, 1).
        seed
            Seed of the group shuffle.

        Examples
        --------
        >>> train, test = client.training_set(ann, 3.0).split("stream")  # doctest: +SKIP
        """
        test = held_out_mask(self.labels, by, test_size, seed)
        return self.subset(~test), self.subset(test)

    def materialize(self) -> TrainingSet:
        """Load every clip now (in batches) and keep it in memory; returns the set.

        Examples
        --------
        >>> _demo().materialize().audio
        ClipAudio(shape=(3, 2), dtype=float32, in memory)
        """
        self.audio.materialize()
        return self


def _demo() -> TrainingSet:
    """A three-clip set for the examples."""
    labels = pd.DataFrame({"stream_id": ["s"] * 3,
                           "start": pd.to_datetime([0, 10**9, 2 * 10**9], utc=True),
                           "end": pd.to_datetime([10**9, 2 * 10**9, 3 * 10**9], utc=True),
                           "label_a": [1, 0, 0], "label_b": [1, 1, 0],
                           "reviewed_a": [True, True, True], "reviewed_b": [True, True, False],
                           "overlap_a": [0.4, 0.0, 0.0], "overlap_b": [0.9, 1.0, 0.0]})
    return TrainingSet(labels, ClipAudio(3, 2, lambda r: np.zeros((len(r), 2), np.float32)),
                       2, 1.0, ["a", "b"])


def split_report(train: TrainingSet, test: TrainingSet) -> pd.DataFrame:
    """Class balance of a split: positives per side and the test side's share.

    Examples
    --------
    >>> split_report(_demo(), _demo())["test_share"].tolist()
    [0.5, 0.5]
    """
    a, b = train.class_counts()["positive"], test.class_counts()["positive"]
    total = (a + b).astype(float)
    share = np.divide(b.to_numpy(dtype=float), total.to_numpy(), out=np.full(len(a), np.nan),
                      where=total.to_numpy() > 0)
    return pd.DataFrame({"train": a, "test": b, "test_share": share}, index=a.index)


def training_set(
    source: SegmentSource,
    annotations: pd.DataFrame,
    clip_duration: float,
    sample_rate: int | None = None,
    *,
    step: float | None = None,
    min_overlap: float = 0.5,
    negatives: int | float = 1.0,
    classes: Sequence[str] | None = None,
    detections: pd.DataFrame | None = None,
    seed: int = 0,
    min_distance: float = 5.0,
    context: ContextMode = "drop",
    review_statuses: Sequence[str] = DEFAULT_STATUSES,
    gap: GapMode = "zero",
    batch_size: int = 256,
) -> TrainingSet:
    """A :class:`TrainingSet` of windows around annotations and reviewed detections.

    Parameters
    ----------
    source
        Where recordings are listed and audio is read (lazily).
    annotations
        ``stream_id``, ``start``, ``end``, ``classification_value``.
    clip_duration
        Window length in seconds.
    sample_rate
        Rate of the audio; ``None`` keeps the native rate, which must then be the same
        for every recording (checked from the listing, before any download).
    step, min_overlap, negatives, classes, detections, seed, min_distance
        As in :func:`rfcx_frames.audio.training.label_table`.
    context
        Context windows (near an event, without its label): ``"drop"`` (default) or
        ``"keep"`` them; see :mod:`rfcx_frames.audio.training`.
    review_statuses
        Source rows used: any of ``"annotation"``, ``"confirmed"``, ``"rejected"``,
        ``"unreviewed"``; ``("annotation", "confirmed")`` uses verified positives only.
    gap
        Missing audio inside a clip: ``"zero"``, ``"nan"`` or ``"raise"``.
    batch_size
        Clips decoded at a time when iterating.

    Returns
    -------
    TrainingSet
        Labels sorted by stream and start, audio lazy.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> ann = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:01Z"],
    ...                     "end": ["2020-01-01T00:00:02Z"], "classification_value": ["frog"]})
    >>> training_set(TableSource(pd.DataFrame()), ann, 2.0, sample_rate=100).audio.shape
    (0, 200)
    """
    rate = check_sample_rate(sample_rate)
    table = label_table(source, annotations, clip_duration, step, min_overlap, negatives,
                        classes, detections, seed, min_distance, context, review_statuses)
    if rate is None:
        rate = native_rate(source, table)
    if rate is None:
        if len(table):
            raise ValueError("no recordings under the windows tell their sample rate; "
                             "pass sample_rate=")
        rate = 0
    return with_audio(table, source, rate, gap, batch_size)


def with_audio(table: pd.DataFrame, source: SegmentSource, sample_rate: int,
               gap: GapMode = "zero", batch_size: int = 256) -> TrainingSet:
    """A :class:`TrainingSet` reading a clip table's windows from ``source``.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> t = pd.DataFrame({"stream_id": ["s"], "start": pd.to_datetime([0], utc=True),
    ...                   "end": pd.to_datetime([10**9], utc=True)})
    >>> with_audio(t, TableSource(pd.DataFrame()), 8).audio[0].tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    duration = table.attrs.get("clip_duration")
    if duration is None:
        spans = (table["end"] - table["start"]).dt.total_seconds()
        duration = float(spans.max()) if len(spans) else 0.0
    width = samples_between(0, seconds_to_ns(duration), sample_rate) if sample_rate else 0
    classes = table.attrs.get("classes") or [
        str(c)[len("label_"):] for c in table.columns if str(c).startswith("label_")]
    loader = SourceLoader(source, table, sample_rate, gap, width)
    return TrainingSet(table, ClipAudio(len(table), width, loader, batch_size, gap),
                       sample_rate, duration, classes)


__all__ = ["SingleRule", "TrainingSet", "split_report", "training_set", "with_audio"]
