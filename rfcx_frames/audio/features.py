"""Log-mel spectrograms in numpy: the input most audio classifiers expect.

:func:`log_mel` frames the signal (Hann window, centred frames with zero padding),
takes the power spectrum, maps it onto ``n_mels`` triangular bands evenly spaced on the
HTK mel scale (``2595 * log10(1 + f / 700)``, peak 1 at each centre) and returns
``10 * log10(max(power, amin))`` in dB. :func:`mel_frequencies` gives the band centres.
A :class:`~rfcx_frames.audio.training_set.TrainingSet` (or its lazy audio) is processed
``batch_size`` clips at a time, so memory holds the features, not the audio.

Examples
--------
>>> mel_frequencies(3, 0.0, 8000.0).round().tolist()
[614.0, 1768.0, 3934.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rfcx_frames.validate import check_positive_int, check_sample_rate


def _hz_to_mel(hz: Any) -> Any:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=float) / 700.0)


def _mel_to_hz(mel: Any) -> Any:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=float) / 2595.0) - 1.0)


def mel_frequencies(n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """Centre frequencies (Hz) of ``n_mels`` bands between ``f_min`` and ``f_max``.

    Examples
    --------
    >>> len(mel_frequencies(64, 0, 16000))
    64
    """
    edges = np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), int(n_mels) + 2)
    return np.asarray(_mel_to_hz(edges[1:-1]))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float,
                   f_max: float) -> np.ndarray:
    """Triangular mel filters, ``[n_mels, n_fft // 2 + 1]``.

    Examples
    --------
    >>> mel_filterbank(16000, 512, 40, 0, 8000).shape
    (40, 257)
    """
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = np.asarray(_mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max),
                                              n_mels + 2)))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - bins[None, :]) / np.maximum(upper - centre, 1e-9)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def _frames(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """``[clips, frames, n_fft]`` centred frames (zero padding of ``n_fft // 2``)."""
    padded = np.pad(audio, ((0, 0), (n_fft // 2, n_fft // 2)))
    if padded.shape[1] < n_fft:
        padded = np.pad(padded, ((0, 0), (0, n_fft - padded.shape[1])))
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=1)
    return windows[:, ::hop]


def _batches(audio: Any, batch_size: int) -> Any:
    source = getattr(audio, "audio", audio)  # a TrainingSet: its lazy audio
    if hasattr(source, "iter_batches"):
        return source.iter_batches(batch_size), False
    array = np.asarray(source, dtype=np.float32)
    if array.ndim not in (1, 2):
        raise ValueError(f"audio must be 1-D or 2-D [clips, samples], not {array.ndim}-D")
    single = array.ndim == 1
    array = array[None, :] if single else array
    return (array[i : i + batch_size] for i in range(0, len(array), batch_size)), single


def log_mel(
    audio: Any,
    sample_rate: int | None = None,
    n_mels: int = 64,
    n_fft: int = 1024,
    hop_length: int | None = None,
    f_min: float = 0.0,
    f_max: float | None = None,
    amin: float = 1e-10,
    batch_size: int = 256,
) -> np.ndarray:
    """Log-mel spectrograms in dB: ``float32 [clips, n_mels, frames]``.

    Parameters
    ----------
    audio
        A :class:`~rfcx_frames.audio.training_set.TrainingSet`, its ``audio``, an array
        ``[clips, samples]`` or one signal ``[samples]`` (then the result is
        ``[n_mels, frames]``).
    sample_rate
        Hz; default: the training set's own.
    n_mels
        Number of mel bands.
    n_fft
        FFT (and Hann window) length in samples.
    hop_length
        Samples between frames (default ``n_fft // 4``); ``frames = samples // hop + 1``.
    f_min, f_max
        Band limits in Hz (default 0 and Nyquist).
    amin
        Power floor before the logarithm (``10 * log10(amin)`` dB is the lowest value).
    batch_size
        Clips transformed at a time.

    Returns
    -------
    numpy.ndarray
        ``float32``.

    Examples
    --------
    >>> t = np.arange(16000) / 16000
    >>> spec = log_mel(np.sin(2 * np.pi * 1000 * t), 16000, n_mels=40)
    >>> spec.shape, int(spec.mean(axis=1).argmax())
    ((40, 63), 13)
    """
    rate = check_sample_rate(sample_rate if sample_rate is not None
                             else getattr(audio, "sample_rate", None))
    if rate is None:
        raise ValueError("sample_rate is needed (only a TrainingSet knows its own)")
    n_mels, n_fft = check_positive_int(n_mels, "n_mels"), check_positive_int(n_fft, "n_fft")
    hop = check_positive_int(hop_length if hop_length is not None else max(1, n_fft // 4),
                             "hop_length")
    top = rate / 2 if f_max is None else float(f_max)
    if not 0 <= f_min < top <= rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2 = {rate / 2:g} Hz, got "
                         f"f_min={f_min!r}, f_max={f_max!r}")
    bank = mel_filterbank(rate, n_fft, n_mels, f_min, top).astype(np.float32)
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    batches, single = _batches(audio, max(1, int(batch_size)))
    out: list[np.ndarray] = []
    for batch in batches:
        frames = _frames(np.asarray(batch, dtype=np.float32), n_fft, hop) * window
        power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2
        mel = np.einsum("cfk,mk->cmf", power.astype(np.float32), bank)
        out.append((10.0 * np.log10(np.maximum(mel, amin))).astype(np.float32))
    if not out:
        return np.zeros((0, n_mels, 0), dtype=np.float32)
    result = np.concatenate(out, axis=0)
    return result[0] if single else result


__all__ = ["log_mel", "mel_filterbank", "mel_frequencies"]
