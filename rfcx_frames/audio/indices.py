"""Acoustic indices of audio windows (ACI, ADI, AEI, BI, NDSI, H) with scikit-maad.

:func:`acoustic_indices` is pure: a batch of windows (``float32 [N, samples]``, as
:func:`~rfcx_frames.audio.clips.clips` and :func:`~rfcx_frames.audio.load_windows`
return) in, one row of indices per window out. Each window's spectrogram is computed
once and every spectral index reads it; only the window's real samples are used (a
clip batch pads shorter rows, ``n_samples`` says how many are real).

The indices and their scikit-maad functions:

======  ==============================================  ====================================
column  index                                           scikit-maad
======  ==============================================  ====================================
aci     Acoustic Complexity Index (summed over bins)    ``acoustic_complexity_index``
adi     Acoustic Diversity Index (Shannon, 1 kHz bins)  ``acoustic_diversity_index``
aei     Acoustic Evenness Index (Gini, 1 kHz bins)      ``acoustic_eveness_index``
bi      Bioacoustic Index (2-8 kHz by default)          ``bioacoustics_index``
ndsi    Normalized Difference Soundscape Index          ``soundscape_index``
h       Acoustic entropy H = Ht x Hf                    ``temporal_entropy``, ``frequency_entropy``
======  ==============================================  ====================================

Examples
--------
>>> rng = np.random.default_rng(0)
>>> noise = rng.standard_normal((1, 16000)).astype("float32") * 0.1
>>> round(float(acoustic_indices(noise, 16000)["h"].iloc[0]), 2)
0.99
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: The columns of :func:`acoustic_indices`, in order.
INDICES: tuple[str, ...] = ("aci", "adi", "aei", "bi", "ndsi", "h")

#: Default bands: the anthrophony and biophony bands of the NDSI, the BI band (Hz).
ANTHROPHONY = (1000.0, 2000.0)
BIOPHONY = (2000.0, 11000.0)
BI_BAND = (2000.0, 8000.0)
#: Samples per spectrogram frame unless ``nperseg`` says otherwise.
NPERSEG = 512


def _maad() -> Any:
    try:
        from maad import features, sound
    except ImportError as exc:
        raise ImportError("acoustic indices need scikit-maad: "
                          "pip install 'rfcx-frames[maad]'") from exc
    return features, sound


def _band(band: Sequence[float], name: str, nyquist: float) -> tuple[float, float]:
    low, high = (float(v) for v in band)
    if not 0 <= low < high:
        raise ValueError(f"{name} must be (low, high) in Hz with 0 <= low < high; got {band!r}")
    return low, min(high, nyquist)


def _one(x: np.ndarray, rate: int, features: Any, sound: Any, nperseg: int,
         bands: dict[str, tuple[float, float]], wanted: Sequence[str]) -> list[float]:
    """The ``wanted`` indices of one window's samples."""
    if len(x) < nperseg or not np.any(x):
        return [np.nan] * len(wanted)  # silence or a gap: no spectrum to describe
    sxx, _, fn, _ = sound.spectrogram(x, rate, nperseg=nperseg, noverlap=nperseg // 2,
                                      mode="amplitude")
    fmax = rate / 2
    power = sxx ** 2
    compute = {
        "aci": lambda: features.acoustic_complexity_index(sxx)[2],
        "adi": lambda: features.acoustic_diversity_index(
            sxx, fn, fmin=0, fmax=fmax, bin_step=1000, dB_threshold=-50, index="shannon"),
        "aei": lambda: features.acoustic_eveness_index(
            sxx, fn, fmin=0, fmax=fmax, bin_step=1000, dB_threshold=-50),
        "bi": lambda: features.bioacoustics_index(sxx, fn, flim=bands["bi"]),
        "ndsi": lambda: features.soundscape_index(
            power, fn, flim_bioPh=bands["biophony"], flim_antroPh=bands["anthrophony"])[0],
        "h": lambda: features.temporal_entropy(x) * features.frequency_entropy(power)[0],
    }
    return [float(compute[name]()) for name in wanted]


def check_indices(indices: Sequence[str] | None) -> tuple[str, ...]:
    """The chosen index columns, in :data:`INDICES` order (``None``: all of them).

    Raises
    ------
    ValueError
        For an unknown name or an empty choice.

    Examples
    --------
    >>> check_indices(["h", "aci"])
    ('aci', 'h')
    """
    if indices is None:
        return INDICES
    chosen = [indices] if isinstance(indices, str) else list(indices)
    unknown = sorted(set(chosen) - set(INDICES))
    if unknown or not chosen:
        raise ValueError(f"indices must be a non-empty choice among {list(INDICES)}; "
                         f"got {chosen!r}")
    return tuple(name for name in INDICES if name in chosen)


def acoustic_indices(audio: np.ndarray, sample_rate: int,
                     n_samples: Sequence[int] | np.ndarray | None = None, *,
                     nperseg: int = NPERSEG, anthrophony: Sequence[float] = ANTHROPHONY,
                     biophony: Sequence[float] = BIOPHONY,
                     bi_band: Sequence[float] = BI_BAND,
                     indices: Sequence[str] | None = None) -> pd.DataFrame:
    """ACI, ADI, AEI, BI, NDSI and H of every window of a batch.

    Parameters
    ----------
    audio
        ``float32 [N, samples]`` (or one 1-D window).
    sample_rate
        The rate of ``audio`` in Hz.
    n_samples
        Real samples of each row (``meta["n_samples"]`` of a clip batch); default: all.
    nperseg
        Samples per spectrogram frame (half-overlapping Hann windows).
    anthrophony, biophony
        The NDSI's ``(low, high)`` bands in Hz (capped at the Nyquist frequency).
    bi_band
        The Bioacoustic Index's band in Hz.
    indices
        The indices to compute, among :data:`INDICES` (default: all); the others are
        not computed at all.

    Returns
    -------
    pandas.DataFrame
        One row per window, the chosen columns of :data:`INDICES` (float64, in that
        order). A window shorter than
        ``nperseg`` or all zeros (a recording gap) gets NaN.

    Raises
    ------
    ValueError
        For a non-positive rate, a band that is not ``(low, high)``, ``n_samples`` of
        another length than the batch, or an unknown index.
    ImportError
        When scikit-maad is missing (``pip install 'rfcx-frames[maad]'``).

    Examples
    --------
    >>> t = np.arange(16000) / 16000
    >>> tone = (0.5 * np.sin(2 * np.pi * 4000 * t)).astype("float32")
    >>> acoustic_indices(tone, 16000).columns.tolist()
    ['aci', 'adi', 'aei', 'bi', 'ndsi', 'h']
    """
    batch = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    if batch.ndim != 2:
        raise ValueError(f"audio must be [windows, samples]; got shape {np.shape(audio)}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer in Hz; got {sample_rate!r}")
    lengths = (np.full(len(batch), batch.shape[1]) if n_samples is None
               else np.asarray(n_samples, dtype=np.int64))
    if len(lengths) != len(batch):
        raise ValueError(f"n_samples has {len(lengths)} values for {len(batch)} windows")
    wanted = check_indices(indices)
    nyquist = sample_rate / 2
    bands = {"anthrophony": _band(anthrophony, "anthrophony", nyquist),
             "biophony": _band(biophony, "biophony", nyquist),
             "bi": _band(bi_band, "bi_band", nyquist)}
    features, sound = _maad()
    # NaN fill (gap="nan") counts as silence, as the zero fill does.
    rows = [_one(np.nan_to_num(row[: int(n)]), int(sample_rate), features, sound, nperseg, bands,
                 wanted) for row, n in zip(batch, lengths, strict=True)]
    return pd.DataFrame(rows, columns=list(wanted), dtype="float64")


def _rate(meta: pd.DataFrame) -> int:
    rates = meta["sample_rate"].unique()
    if len(rates) != 1:
        raise ValueError(f"a batch has several sample rates {sorted(rates)}; pass sample_rate=")
    return int(rates[0])


@dataclass(frozen=True)
class IndicesFn:
    """``fn(audio, meta)``: the acoustic indices of every window (see :func:`indices_fn`).

    Examples
    --------
    >>> IndicesFn({"nperseg": 256}).options
    {'nperseg': 256}
    """

    options: dict[str, Any] = field(default_factory=dict)

    def __call__(self, audio: np.ndarray, meta: pd.DataFrame) -> pd.DataFrame:
        lengths = meta["n_samples"].to_numpy() if "n_samples" in meta.columns else None
        values = acoustic_indices(audio, _rate(meta), lengths, **self.options)
        front = meta[["stream_id", "start", "end"]].reset_index(drop=True)
        return pd.concat([front, values.assign(coverage=meta["coverage"].to_numpy())
                          if "coverage" in meta.columns else values], axis=1)


def indices_fn(**options: Any) -> IndicesFn:
    """A ``map_windows`` fn computing ACI, ADI, AEI, BI, NDSI and H per window.

    Parameters
    ----------
    **options
        Keyword arguments of :func:`~rfcx_frames.audio.indices.acoustic_indices`
        (``nperseg``, ``anthrophony``, ``biophony``, ``bi_band``, ``indices``).

    Returns
    -------
    IndicesFn
        ``fn(audio, meta)`` returning ``stream_id``, ``start``, ``end``, the indices and
        ``coverage`` (the recorded share of the window).

    Examples
    --------
    >>> indices_fn(nperseg=1024)
    IndicesFn(options={'nperseg': 1024})
    """
    allowed = {"nperseg", "anthrophony", "biophony", "bi_band", "indices"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"indices_fn got unknown options {unknown}; allowed: {sorted(allowed)}")
    if "indices" in options:
        options["indices"] = check_indices(options["indices"])
    return IndicesFn(dict(options))
