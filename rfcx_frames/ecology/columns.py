"""Column checks for the frames the ecology functions take, naming what to pass instead."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def require_columns(frame: object, columns: Iterable[str], name: str, hint: str) -> pd.DataFrame:
    """``frame`` itself when it is a DataFrame holding ``columns``; else a clear refusal.

    Parameters
    ----------
    frame
        The argument to check.
    columns
        The columns it needs.
    name
        The argument's name, quoted in errors.
    hint
        What to pass instead (``"segments_df(...)"``), quoted in errors.

    Returns
    -------
    pandas.DataFrame
        ``frame``, unchanged.

    Raises
    ------
    TypeError
        When ``frame`` is not a DataFrame.
    ValueError
        When columns are missing; the message lists them, sorted.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a", "c", "b"], "effort", "effort_df(...)")
    Traceback (most recent call last):
    ...
    ValueError: effort lacks the columns ['b', 'c']; pass effort_df(...)
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame ({hint}), not {type(frame).__name__}")
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}; pass {hint}")
    return frame
