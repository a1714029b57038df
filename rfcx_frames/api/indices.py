"""Acoustic indices as a frame: ``indices_df``, one row per window of a plan, cached.

The windows are cut from the client's audio store (each segment downloaded once) exactly
as :meth:`~rfcx_frames.Client.clips` cuts them, and ACI, ADI, AEI, BI, NDSI and H computed
per window with scikit-maad (:mod:`rfcx_frames.audio.indices`).

Results are kept in the time-ranged Parquet cache like frames (entity
:data:`~rfcx_frames.schemas.indices.INDICES`): rows by stream and window start, one entry
per set of options (indices chosen, window length, sample rate, gap and channel
handling, spectrogram frame and bands; the signature's ``options``), so different
options never share rows. A query's span per stream and window length is
``[first start, last start + 1 ms)``; what the cache lacks of it is computed and stored,
so a repeated call computes nothing and makes no request, and an overlapping plan
computes only its new windows. A plan window that falls inside a span the cache holds
but was not in the plan that filled it (another grid step) is computed and the span
stored again with it. Windows within the client's ``cache_horizon`` of now are computed
every time (their audio may still be uploading), and windows whose times are not whole
milliseconds are never cached (the cache keeps milliseconds).

Examples
--------
>>> indices_df(client, client.segments_df("abc123abc123", "2024-03-01", "2024-03-02"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import cache as cache_mod
from ..audio.indices import ANTHROPHONY, BI_BAND, BIOPHONY, NPERSEG, IndicesFn, indices_fn
from ..audio.indices import INDICES as INDEX_NAMES
from ..audio.sample_time import series_ns
from ..audio.window_apply import PLAN_COLUMNS, apply_windows
from ..exceptions import NotCachedError
from ..schemas import arrow_schema, pandas_dtypes
from ..schemas.indices import INDICES
from ..timeutil import from_ns, to_ns
from .audio import audio_source
from .context import Context

_MS = 1_000_000
Compute = Callable[[pd.DataFrame], pd.DataFrame]


def indices_df(ctx: Context, plan: pd.DataFrame, *, indices: Sequence[str] | None = None,
               sample_rate: int | None = None, gap: str = "zero", channel: Any = "mix",
               batch_size: int = 64, cache: Any = None, **options: Any) -> pd.DataFrame:
    """ACI, ADI, AEI, BI, NDSI and H of every window of ``plan``, cached like frames.

    Parameters
    ----------
    plan
        ``stream_id``, ``start``, ``end`` of each window: per segment, the rows of
        ``segments_df(...)``; per regular window,
        ``rfcx_frames.distributed.window_grid(segments, 60)``; per event, a detections
        or annotations frame.
    indices
        The indices to compute, among ``"aci"``, ``"adi"``, ``"aei"``, ``"bi"``,
        ``"ndsi"``, ``"h"`` (default: all).
    sample_rate
        Rate to compute at (soxr); ``None``: the native rate (all windows must share it).
    gap
        Recording gaps: ``"zero"`` (a window with no audio gets NaN indices), ``"nan"``
        or ``"raise"``.
    channel
        ``"mix"`` or a channel index.
    batch_size
        Windows decoded at once (bounds memory).
    cache
        ``"use"`` (default: computed windows are kept and reused), ``"refresh"``
        (compute the plan's spans again and replace them), ``"offline"`` (compute
        nothing, download nothing: :class:`~rfcx_frames.exceptions.NotCachedError`
        when a window is not cached) or ``False`` (compute, keep nothing). Default: the
        client's ``cache``.
    **options
        ``nperseg``, ``anthrophony``, ``biophony``, ``bi_band`` of
        :func:`rfcx_frames.audio.indices.acoustic_indices`.

    Returns
    -------
    pandas.DataFrame
        ``stream_id``, ``start``, ``end`` (as the plan has them), the chosen indices and
        ``coverage`` (the recorded share of the window), one row per plan row, in plan
        order. ``attrs["cache"]["from_cache"]`` says whether nothing was computed.

    Raises
    ------
    ValueError
        A plan without windows or without ``stream_id``, ``start``, ``end``; an
        unknown index; a bad option.
    TypeError
        An unknown option.
    rfcx_frames.exceptions.NotCachedError
        ``cache="offline"`` and a window is not cached.

    Examples
    --------
    >>> segments = client.segments_df("abc123abc123", "2024-03-01", "2024-03-02")  # doctest: +SKIP
    >>> client.indices_df(segments, indices=["aci", "ndsi"])  # doctest: +SKIP
    """
    fn = indices_fn(**options, **({} if indices is None else {"indices": indices}))
    keys = _plan_keys(plan)
    mode = ctx.cache_mode(cache)

    def compute(rows: pd.DataFrame) -> pd.DataFrame:
        return apply_windows(audio_source(ctx), rows, fn, sample_rate=sample_rate, gap=gap,
                             channel=channel, batch_size=batch_size)

    if mode == "off" or not _whole_ms(keys):
        frame = compute(plan)
        frame.attrs["cache"] = {"from_cache": False}
        return frame
    settings = _settings(fn, sample_rate, gap, channel)
    values, hit = [], True
    for length, group in keys.drop_duplicates().groupby(keys["end_ns"] - keys["start_ns"]):
        signature = cache_mod.FilterSignature.build(
            INDICES.name, ctx.platform(mode), ctx.identity(),
            options={**settings, "window_ms": int(length) // _MS})
        rows, cached = _group(ctx, signature, group, compute, mode)
        values.append(rows)
        hit = hit and cached
    return _in_plan_order(plan, keys, pd.concat(values, ignore_index=True), fn, hit)


def _plan_keys(plan: pd.DataFrame) -> pd.DataFrame:
    """``stream_id`` (text), ``start_ns``, ``end_ns`` of every plan row, in plan order."""
    if not isinstance(plan, pd.DataFrame):
        raise TypeError(f"plan must be a DataFrame of windows, not {type(plan).__name__}")
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise ValueError(f"plan must have columns {list(PLAN_COLUMNS)}; it lacks {missing}")
    if len(plan) == 0:
        raise ValueError("plan has no windows")
    return pd.DataFrame({"stream_id": plan["stream_id"].astype(str).to_numpy(),
                         "start_ns": series_ns(plan["start"]),
                         "end_ns": series_ns(plan["end"])})


def _whole_ms(keys: pd.DataFrame) -> bool:
    return bool(((keys["start_ns"] % _MS == 0) & (keys["end_ns"] % _MS == 0)).all())


def _settings(fn: IndicesFn, sample_rate: int | None, gap: str, channel: Any) -> dict[str, Any]:
    """Every setting a row's values depend on, defaults spelled out (the cache's key)."""
    chosen = fn.options.get("indices", INDEX_NAMES)
    return {"indices": list(chosen), "nperseg": int(fn.options.get("nperseg", NPERSEG)),
            "anthrophony": [float(v) for v in fn.options.get("anthrophony", ANTHROPHONY)],
            "biophony": [float(v) for v in fn.options.get("biophony", BIOPHONY)],
            "bi_band": [float(v) for v in fn.options.get("bi_band", BI_BAND)],
            "sample_rate": sample_rate, "gap": gap, "channel": channel}


def _group(ctx: Context, signature: cache_mod.FilterSignature, group: pd.DataFrame,
           compute: Compute, mode: str) -> tuple[pd.DataFrame, bool]:
    """The cached rows of one window length's windows, computing what the cache lacks."""
    store = cache_mod.TimeRangedCache(ctx.cache_root)

    def query(rows: pd.DataFrame, query_mode: str, known: pd.DataFrame | None) -> pd.DataFrame:
        lo, hi = int(rows["start_ns"].min()), int(rows["start_ns"].max()) + _MS
        return store.query(
            INDICES.name, signature, sorted(set(rows["stream_id"])), from_ns(lo), from_ns(hi),
            None, arrow_schema(INDICES), mode=query_mode, dtypes=pandas_dtypes(INDICES),
            order_by=INDICES.order_by, horizon=ctx.cache_horizon, now=ctx.now(),
            fetch_many=lambda windows: _fill(windows, rows, compute, known))

    answer = query(group, mode, None)
    hit = bool(answer.attrs["cache"]["from_cache"])
    absent = _absent(group, answer)
    if len(absent) == 0:
        return answer, hit
    if mode == "offline":
        shown = [(s, from_ns(int(a)), from_ns(int(b))) for s, a, b in absent.itertuples(
            index=False)]
        raise NotCachedError(f"cache='offline' but the cache lacks {len(shown)} window(s) of "
                             f"indices, e.g. {shown[0][0]} at {shown[0][1].isoformat()}",
                             missing=list(shown))
    # Inside a span the cache holds, but not among the rows of the plan that filled it:
    # computed, and the span stored again with every row it had.
    again = query(absent, "refresh", answer)
    return pd.concat([answer, again], ignore_index=True), False


def _absent(group: pd.DataFrame, answer: pd.DataFrame) -> pd.DataFrame:
    """The windows of ``group`` that ``answer`` has no row for."""
    have = set(zip(answer["stream_id"].astype(str), series_ns(answer["start"]),
                   series_ns(answer["end"]), strict=True))
    found = [key in have for key in zip(group["stream_id"], group["start_ns"], group["end_ns"],
                                        strict=True)]
    return group[~np.asarray(found, dtype=bool)]


def _fill(windows: Sequence[tuple[str, pd.Timestamp, pd.Timestamp]], todo: pd.DataFrame,
          compute: Compute, known: pd.DataFrame | None) -> list[pd.DataFrame]:
    """Per cache window: the computed rows of ``todo`` in it, plus ``known`` rows there."""
    spans = [(s, to_ns(a), to_ns(b)) for s, a, b in windows]
    inside = [(todo["stream_id"] == s) & (todo["start_ns"] >= a) & (todo["start_ns"] < b)
              for s, a, b in spans]
    wanted = todo[np.logical_or.reduce(inside)] if inside else todo.iloc[:0]
    computed = _as_rows(compute(_as_plan(wanted))) if len(wanted) else _empty()
    parts = [computed] + ([known] if known is not None else [])
    pool = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(
        len(p) for p in parts) else _empty()
    pool_ns = series_ns(pool["start"]) if len(pool) else np.zeros(0, dtype="int64")
    out = []
    for s, a, b in spans:
        mine = pool[(pool["stream_id"].astype(str) == s) & (pool_ns >= a) & (pool_ns < b)]
        out.append(mine.drop_duplicates(["stream_id", "start", "end"]).sort_values(
            "start", kind="stable").reset_index(drop=True))
    return out


def _as_plan(keys: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"stream_id": keys["stream_id"].to_numpy(),
                         "start": pd.to_datetime(keys["start_ns"].to_numpy(), utc=True),
                         "end": pd.to_datetime(keys["end_ns"].to_numpy(), utc=True)})


def _as_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Computed rows with every column of the entity (indices not chosen are NaN)."""
    rows = frame.assign(**{c: np.nan for c in INDICES.names if c not in frame.columns})
    rows["stream_id"] = rows["stream_id"].astype(str)
    return rows[list(INDICES.names)]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object if c == "stream_id" else (
        "datetime64[ns, UTC]" if c in ("start", "end") else "float64"))
        for c in INDICES.names})


def _in_plan_order(plan: pd.DataFrame, keys: pd.DataFrame, values: pd.DataFrame,
                   fn: IndicesFn, hit: bool) -> pd.DataFrame:
    """One row per plan row: the plan's window columns, then the chosen values."""
    chosen = [*fn.options.get("indices", INDEX_NAMES), "coverage"]
    found = pd.DataFrame({"stream_id": values["stream_id"].astype(str).to_numpy(),
                          "start_ns": series_ns(values["start"]),
                          "end_ns": series_ns(values["end"])})
    for column in chosen:
        found[column] = values[column].to_numpy(dtype="float64")
    found = found.drop_duplicates(["stream_id", "start_ns", "end_ns"])
    joined = keys.merge(found, on=["stream_id", "start_ns", "end_ns"], how="left",
                        validate="many_to_one")
    frame = plan[list(PLAN_COLUMNS)].reset_index(drop=True)
    for column in chosen:
        frame[column] = joined[column].to_numpy()
    frame.attrs["cache"] = {"from_cache": hit}
    return frame
