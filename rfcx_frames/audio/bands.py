"""Frequency bands of clips: a zero-phase band-pass filter and the energy inside a band.

Both take one band per row (or one for all rows), so a batch of clips can be filtered or
measured against each row's ``frequency_min``/``frequency_max`` at once.

Examples
--------
>>> import numpy as np
>>> band_pass_filter(np.zeros(8, dtype="float32"), 8000, 100, 200).shape
(8,)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Width (Hz) of the raised-cosine edges of the band-pass mask when none is given.
DEFAULT_TRANSITION_HZ = 100.0


def band_pass_filter(
    audio: np.ndarray,
    sample_rate: int,
    low: Any = None,
    high: Any = None,
    transition: float = DEFAULT_TRANSITION_HZ,
) -> np.ndarray:
    """Zero-phase band-pass by an FFT mask with raised-cosine edges.

    Parameters
    ----------
    audio
        ``[samples]`` or ``[N, samples]``; NaNs are treated as zeros and kept as NaN.
    sample_rate
        Rate of ``audio``.
    low, high
        Band edges in Hz: scalars, or one per row. ``None``/NaN means no cut on that side.
    transition
        Width of each soft edge in Hz; the mask is 1 inside ``[low, high]`` and falls to 0
        at ``low - transition`` and ``high + transition``.

    Returns
    -------
    numpy.ndarray
        The filtered audio, float32, shaped like ``audio``.

    Examples
    --------
    >>> t = np.arange(8000) / 8000
    >>> x = (np.sin(2 * np.pi * 200 * t) + np.sin(2 * np.pi * 2000 * t)).astype("float32")
    >>> y = band_pass_filter(x, 8000, 1500, 2500)
    >>> float(np.abs(y - np.sin(2 * np.pi * 2000 * t)).max()) < 1e-3
    True
    """
    x = np.asarray(audio, dtype=np.float32)
    one = x.ndim == 1
    x2 = x[None, :] if one else x
    n = x2.shape[1]
    nyquist = sample_rate / 2.0
    lows = _per_row(low, len(x2), 0.0)
    highs = _per_row(high, len(x2), nyquist)
    nan = np.isnan(x2)
    spectrum = np.fft.rfft(np.where(nan, 0.0, x2), axis=1)
    freqs = np.fft.rfftfreq(n, d=1.0 / sample_rate)
    mask = _band_mask(freqs[None, :], lows[:, None], highs[:, None], transition)
    y = np.fft.irfft(spectrum * mask, n=n, axis=1).astype(np.float32)
    y[nan] = np.nan
    return y[0] if one else y


def _per_row(value: Any, rows: int, default: float) -> np.ndarray:
    """One float per row from a scalar or a column; missing values (None, NA) -> default."""
    if value is None:
        return np.full(rows, default)
    if np.ndim(value) == 0:
        values = pd.Series([value] * rows, dtype=object)
    else:
        values = pd.Series(list(value), dtype=object)
        if len(values) != rows:
            raise ValueError(f"{len(values)} band edges for {rows} rows")
    arr = pd.to_numeric(values).astype("Float64").to_numpy(np.float64, na_value=np.nan)
    return np.where(np.isnan(arr), default, arr)


def _band_mask(
    freqs: np.ndarray, low: np.ndarray, high: np.ndarray, transition: float
) -> np.ndarray:
    tw = max(float(transition), 1e-9)
    below = np.clip((freqs - (low - tw)) / tw, 0.0, 1.0)
    above = np.clip(((high + tw) - freqs) / tw, 0.0, 1.0)
    # Raised cosine from 0 to 1 over the transition; flat 1 inside the band.
    rise = 0.5 - 0.5 * np.cos(np.pi * below)
    fall = 0.5 - 0.5 * np.cos(np.pi * above)
    mask = rise * fall
    # No low cut means DC passes too.
    mask = np.where(low <= 0, fall, mask)
    return mask


def band_energy(audio: np.ndarray, sample_rate: int, low: Any = None, high: Any = None) -> np.ndarray:
    """Mean power inside ``[low, high]`` Hz of each row (one band per row, or one for all).

    Useful to check clips against their annotations' frequency boxes.

    Parameters
    ----------
    audio
        ``[samples]`` or ``[N, samples]``.
    sample_rate
        Rate of ``audio``.
    low, high
        Band edges in Hz: scalars, or one per row; ``None`` means 0 / Nyquist.

    Returns
    -------
    numpy.ndarray
        One power value per row.

    Examples
    --------
    >>> t = np.arange(8000) / 8000
    >>> x = np.sin(2 * np.pi * 1000 * t)[None, :]
    >>> bool(band_energy(x, 8000, 900, 1100)[0] > 1000 * band_energy(x, 8000, 2000, 3000)[0])
    True
    """
    x = np.asarray(audio, dtype=np.float64)
    x2 = x[None, :] if x.ndim == 1 else x
    n = x2.shape[1]
    spectrum = np.abs(np.fft.rfft(np.nan_to_num(x2), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, d=1.0 / sample_rate)
    lows = _per_row(low, len(x2), 0.0)
    highs = _per_row(high, len(x2), sample_rate / 2.0)
    inside = (freqs[None, :] >= lows[:, None]) & (freqs[None, :] <= highs[:, None])
    return np.asarray((spectrum * inside).sum(axis=1) / max(n, 1) ** 2)
