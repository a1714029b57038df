"""Sample arithmetic in integer nanoseconds: time columns as int64 ns, samples between instants.

The audio modules keep every instant as integer nanoseconds so nothing accumulates float
durations. Scalar instants go through :mod:`rfcx_frames.timeutil` (``to_ns``/``from_ns``);
this module holds the column conversions and the sample counts built on them.

Examples
--------
>>> import pandas as pd
>>> series_ns(pd.Series(["2020-05-24T09:21:00.5Z"])).tolist()
[1590312060500000000]
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


def series_ns(values: pd.Series | pd.Index | np.ndarray | list[Any]) -> np.ndarray:
    """Integer nanoseconds (int64 array) of a column of instants; naive values are UTC.

    Parameters
    ----------
    values
        Timestamps, ISO 8601 strings or datetimes.

    Returns
    -------
    numpy.ndarray
        One int64 per value.

    Examples
    --------
    >>> series_ns(pd.Series(["1970-01-01T00:00:01Z"])).tolist()
    [1000000000]
    """
    parsed = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601")
    return parsed.dt.as_unit("ns").astype("int64").to_numpy()


def ns_to_series(
    values: np.ndarray | list[int], unit: Literal["s", "ms", "us", "ns"] = "ns"
) -> pd.Series:
    """A ``datetime64[<unit>, UTC]`` Series from integer nanoseconds.

    Parameters
    ----------
    values
        Nanoseconds since the epoch.
    unit
        Resolution of the result.

    Returns
    -------
    pandas.Series
        UTC times.

    Examples
    --------
    >>> str(ns_to_series([0], unit="ms").dtype)
    'datetime64[ms, UTC]'
    """
    arr = np.asarray(values, dtype="int64")
    index = pd.to_datetime(arr, unit="ns", utc=True).as_unit(unit)
    return pd.Series(index)


def seconds_to_ns(seconds: float) -> int:
    """Round a duration in seconds to integer nanoseconds.

    Parameters
    ----------
    seconds
        The duration.

    Returns
    -------
    int
        Nanoseconds, rounded to the nearest.

    Examples
    --------
    >>> seconds_to_ns(0.5)
    500000000
    """
    return round(seconds * NS_PER_S)


def samples_between(start_ns: int, end_ns: int, sample_rate: int) -> int:
    """Samples between two instants at a rate: ``round((end-start) * rate)`` in integers.

    Rounds half up, also for negative spans, so offsets of different segments measured from
    the same origin never disagree by a sample.

    Parameters
    ----------
    start_ns, end_ns
        The instants, in nanoseconds.
    sample_rate
        Samples per second.

    Returns
    -------
    int
        The sample count (negative when ``end_ns`` is before ``start_ns``).

    Examples
    --------
    >>> samples_between(0, 1_000_000, 22050)  # 1 ms at 22050 Hz = 22.05 samples
    22
    >>> samples_between(0, -1_000_000, 22050)
    -22
    """
    return ((end_ns - start_ns) * sample_rate + NS_PER_S // 2) // NS_PER_S


def audio_end_ns(start_ns: Any, frames: Any, sample_rate: Any) -> Any:
    """Where ``frames`` samples at ``sample_rate`` from ``start_ns`` end, ceil'd to a ns.

    Works on ints and on int64 arrays alike.

    Parameters
    ----------
    start_ns
        Start of the audio, in nanoseconds.
    frames
        Number of samples.
    sample_rate
        Samples per second (must be > 0).

    Returns
    -------
    int or numpy.ndarray
        The end instant in nanoseconds.

    Examples
    --------
    >>> audio_end_ns(0, 3, 2)
    1500000000
    """
    return start_ns + -(-(frames * NS_PER_S) // sample_rate)
