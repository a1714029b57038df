"""Operations on finished frames: concatenating the results of separate calls, local times.

Examples
--------
>>> a = pd.DataFrame({"stream_id": pd.Categorical(["s1"])})
>>> b = pd.DataFrame({"stream_id": pd.Categorical(["s2"])})
>>> list(concat([a, b])["stream_id"].cat.categories)
['s1', 's2']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd


def add_local_time(frame: pd.DataFrame, timezones: Mapping[str, str | None]) -> pd.DataFrame:
    """Add ``start_local``: naive wall-clock start in each row's stream timezone.

    Streams without a known timezone use UTC. The column is ``datetime64[ms]`` (naive),
    because one column cannot hold several timezones.

    Examples
    --------
    >>> df = pd.DataFrame({"stream_id": pd.Categorical(["s"]),
    ...                    "start": pd.to_datetime(["2024-03-01T12:00Z"]).as_unit("ms")})
    >>> str(add_local_time(df, {"s": "America/Sao_Paulo"})["start_local"][0])
    '2024-03-01 09:00:00'
    """
    out = frame.copy()
    local = np.full(len(out), np.datetime64("NaT", "ms"), dtype="datetime64[ms]")
    streams = out["stream_id"].astype(object).to_numpy()
    starts = out["start"]
    for stream in pd.unique(streams):
        mask = streams == stream
        tz = timezones.get(str(stream)) or "UTC"
        wall = starts[mask].dt.tz_convert(tz).dt.tz_localize(None)
        local[mask] = wall.to_numpy(dtype="datetime64[ms]")
    out["start_local"] = pd.Series(local, index=out.index, dtype="datetime64[ms]")
    return out


def concat(frames: Iterable[pd.DataFrame], *, ignore_index: bool = True) -> pd.DataFrame:
    """Concatenate frames of one entity from separate calls, keeping categorical columns.

    ``pd.concat`` turns a categorical column into ``object`` when the frames' categories
    differ (two queries rarely see the same set of streams or classes); here categories are
    unioned first, so the result keeps the schema's dtypes.

    Parameters
    ----------
    frames
        DataFrames with the same columns (e.g. ``detections_df`` of two windows).
    ignore_index
        Renumber the rows (default), as ``pd.concat(ignore_index=True)``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        For no frames, or frames whose columns differ.

    Examples
    --------
    >>> a = pd.DataFrame({"stream_id": pd.Categorical(["s1"])})
    >>> b = pd.DataFrame({"stream_id": pd.Categorical(["s2"])})
    >>> list(concat([a, b])["stream_id"].cat.categories)
    ['s1', 's2']
    """
    items = list(frames)
    if not items:
        raise ValueError("frames is empty: pass at least one DataFrame")
    columns = list(items[0].columns)
    for frame in items[1:]:
        if list(frame.columns) != columns:
            raise ValueError(f"frames have different columns: {columns} and {list(frame.columns)}")
    unified = [frame.copy(deep=False) for frame in items]
    for name in columns:
        dtypes = [frame[name].dtype for frame in items]
        if all(isinstance(d, pd.CategoricalDtype) for d in dtypes):
            categories = pd.api.types.union_categoricals(
                [frame[name].array for frame in items], ignore_order=True).categories
            for frame in unified:
                frame[name] = frame[name].cat.set_categories(categories)
    return pd.concat(unified, ignore_index=ignore_index)
