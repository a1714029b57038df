"""Plots that tell "no audio" apart from "nothing heard" (matplotlib, ``[plot]`` extra).

Both plots divide detections by recording effort, so a period without audio is drawn as
a gap (hatched), never as a zero.

Examples
--------
>>> import rfcx_frames as rf
>>> ax = rf.plot.daily(detections, effort)  # doctest: +SKIP
>>> ax.figure.savefig("daily.png")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from rfcx_frames.ecology.rates import detection_rates

#: How many species a plot shows when none are named: the most detected ones.
DEFAULT_SPECIES = 6


def activity(detections: pd.DataFrame, effort: pd.DataFrame, by: str = "local_hour", *,
             species: Iterable[str] | None = None, ax: Any = None,
             min_confidence: float | None = None,
             review_statuses: Iterable[str] | None = None) -> Any:
    """Detections per recorded hour by hour of day: the daily activity pattern.

    Parameters
    ----------
    detections
        ``detections_df(...)`` (or annotations) with ``classification_value``.
    effort
        Hourly effort of the same window: ``effort_df(..., freq="1h", local_time=True)``.
    by
        ``"local_hour"`` (each site's own clock) or ``"utc_hour"``.
    species
        Classification values to draw (default: the most detected, up to 6).
    ax
        A matplotlib ``Axes`` to draw on (default: a new figure).
    min_confidence, review_statuses
        What counts as a detection, as in :func:`~rfcx_frames.detection_rates`.

    Returns
    -------
    matplotlib.axes.Axes
        Hours of day without any recorded audio are left out of the lines and hatched.

    Examples
    --------
    >>> ax = activity(detections, client.effort_df(start, end, freq="1h", local_time=True))  # doctest: +SKIP
    """
    if by not in ("local_hour", "utc_hour"):
        raise ValueError(f"by must be 'local_hour' or 'utc_hour', got {by!r}")
    ax, chosen = _rate_plot(detections, effort, by, species, ax, min_confidence, review_statuses)
    clock = "local" if by == "local_hour" else "UTC"
    ax.set_xlabel(f"hour of day ({clock} time)")
    ax.set_title("Activity by hour of day")
    ax.set_xticks(range(0, 24, 3))
    return _finish(ax, chosen)


def daily(detections: pd.DataFrame, effort: pd.DataFrame, *,
          species: Iterable[str] | None = None, ax: Any = None,
          min_confidence: float | None = None,
          review_statuses: Iterable[str] | None = None) -> Any:
    """Detections per recorded hour per day, all streams together, gaps where no audio.

    Parameters
    ----------
    detections
        ``detections_df(...)`` with ``classification_value``.
    effort
        Daily effort of the same window: ``effort_df(..., freq="1D", local_time=True)``
        gives local days.
    species, ax, min_confidence, review_statuses
        As for :func:`activity`: the classification values to draw (default: the 6 most
        detected), the matplotlib ``Axes`` to draw on, and what counts as a detection.

    Returns
    -------
    matplotlib.axes.Axes
        Days with no recorded audio at any stream are hatched and break the lines.

    Examples
    --------
    >>> ax = daily(detections, client.effort_df(start, end, freq="1D", local_time=True))  # doctest: +SKIP
    """
    ax, chosen = _rate_plot(detections, effort, "local_date", species, ax, min_confidence,
                            review_statuses)
    local = (effort["timezone"] != "UTC").any() if "timezone" in effort.columns else False
    ax.set_xlabel("day (each site's local date)" if local else "day (UTC)")
    ax.set_title("Daily detection rate (hatched: no audio recorded)")
    ax.figure.autofmt_xdate()
    return _finish(ax, chosen)


def _rate_plot(detections: pd.DataFrame, effort: pd.DataFrame, key: str,
               species: Iterable[str] | None, ax: Any, min_confidence: float | None,
               review_statuses: Iterable[str] | None) -> tuple[Any, list[str]]:
    """The rate lines of the chosen species along ``key`` (an hour of day or a date)."""
    rates = detection_rates(detections, effort, by=[key, "classification_value"],
                            min_confidence=min_confidence, review_statuses=review_statuses)
    chosen = _top_species(detections, species)
    if key.endswith("_hour"):
        positions, width = pd.Index(range(24)), 1.0
    else:
        positions, width = pd.DatetimeIndex(sorted(rates[key].unique())), pd.Timedelta(days=1)
    ax = _draw_rates(_axes(ax), rates, key, positions, chosen, width=width)
    ax.set_ylabel("detections per recorded hour")
    return ax, chosen


def _draw_rates(ax: Any, rates: pd.DataFrame, key: str, positions: pd.Index,
                chosen: list[str], width: Any) -> Any:
    """One line of ``rate_per_hour`` per species along ``key``; periods without audio hatched."""
    table = rates.pivot_table(index=key, columns="classification_value", values="rate_per_hour",
                              dropna=False, observed=True).reindex(positions)
    hours = rates.groupby(key)["recorded_hours"].first().reindex(positions).fillna(0)
    for value in chosen:
        series = table[value] if value in table.columns else pd.Series(np.nan, index=positions)
        ax.plot(positions, series.to_numpy(), marker="o", markersize=3, label=value)
    _hatch_gaps(ax, positions, hours.to_numpy() == 0, width=width)
    return ax


def _top_species(detections: pd.DataFrame, species: Iterable[str] | None) -> list[str]:
    if species is not None:
        return [str(s) for s in ([species] if isinstance(species, str) else species)]
    counts = detections["classification_value"].astype(str).value_counts()
    return list(counts.index[:DEFAULT_SPECIES])


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("plots need matplotlib: pip install 'rfcx_frames[plot]'") from exc
    _, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    return ax


def _hatch_gaps(ax: Any, positions: Any, empty: np.ndarray, width: Any) -> None:
    labelled = False
    for position, gap in zip(positions, empty, strict=True):
        if gap:
            ax.axvspan(position - width / 2, position + width / 2, facecolor="none",
                       edgecolor="0.6", hatch="///", linewidth=0,
                       label=None if labelled else "no audio recorded")
            labelled = True


def _finish(ax: Any, chosen: list[str]) -> Any:
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if chosen:
        ax.legend(fontsize=8, ncol=2)
    ax.figure.tight_layout()
    return ax
