"""Detections counted by the platform: ``detection_counts`` from ``/clustered-detections``.

The platform groups detections by a time bucket of their start and by classification, so a
month of counts costs a few requests where paging every detection costs one per thousand
rows. Buckets are TimescaleDB ``time_bucket`` s of the UTC start, aligned on
2000-01-03T00:00Z (a Monday): ``"1d"`` buckets are UTC days, never a stream's local days.
Filters the counting route lacks (``classifiers``, ``review_statuses``) are answered by
``/detections/summary``, one request per non-empty bucket and classification.

Examples
--------
>>> counts = detection_counts(client, "2024-03-01", "2024-04-01")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from .. import convert, paginate, timeutil, validate, wire
from ..progress import Progress
from ..schemas import DETECTION_COUNT, STREAM
from ..timeutil import TimeLike
from . import idcheck, listings
from .clustered import clustered_rows, parse_interval
from .context import Context

AGGREGATES = ("count", "avg", "sum", "min", "max")
#: Fields an aggregate other than ``count`` may apply to.
FIELDS = ("confidence",)


def _narrowed(ctx: Context, table: pa.Table, query: Mapping[str, Any], start_ms: int,
              end_ms: int, width: int) -> pa.Table:
    """Counts of the cells of ``table`` under filters only ``/detections/summary`` takes."""
    buckets = table["time_bucket"].cast(pa.int64()).to_pylist()
    cells = list(zip(buckets, table["classification_value"].cast(pa.string()).to_pylist(),
                     strict=True))

    def count(cell: tuple[int, str], stop: Any) -> int:
        bucket, value = cell
        window = {"start": timeutil.to_wire(timeutil.from_epoch_ms(max(bucket, start_ms))),
                  "end": timeutil.to_wire(timeutil.from_epoch_ms(min(bucket + width, end_ms)))}
        summary = ctx.get_json("/detections/summary",
                               {**query, **window, "classifications[]": [value]})
        return sum(int(n) for n in summary.values())

    counts = paginate.run_parallel(count, cells, max_workers=ctx.max_workers)
    table = table.set_column(table.schema.get_field_index("aggregated_value"),
                             "aggregated_value", pa.array(counts, pa.float64()))
    return table.filter(pa.array([n > 0 for n in counts]))


def _check_aggregate(aggregate: Any, field: Any, narrowing: bool) -> str | None:
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}; got {aggregate!r}")
    if aggregate == "count":
        if field is not None:
            raise ValueError(f"field is not used by aggregate='count'; got {field!r}")
        return None
    if narrowing:
        raise ValueError(f"aggregate must be 'count' when classifiers= or review_statuses= is "
                         f"given (the platform counts those filters only); got {aggregate!r}")
    field = "confidence" if field is None else field
    if field not in FIELDS:
        raise ValueError(f"field must be one of {', '.join(FIELDS)}; got {field!r}")
    return str(field)


def _groups(ctx: Context, streams: list[str] | None, by_stream: bool,
            mode: str) -> list[list[str] | None]:
    if not by_stream:
        return [streams]
    if streams is None:
        listed = listings.own_listing(ctx, STREAM, None if mode != "off" else False)[0]
        streams = [str(s) for s in listed.column("id").to_pylist()]
    return [[s] for s in streams]


def _frame(tables: Sequence[pa.Table], groups: Sequence[list[str] | None], by_stream: bool,
           value_name: str, aggregate: str) -> pd.DataFrame:
    frame = convert.entity_frame(DETECTION_COUNT, pa.concat_tables(tables))
    frame = frame.drop(columns=["first_start", "last_start"])
    if by_stream:
        ids = [g[0] for g, t in zip(groups, tables, strict=True) if g for _ in range(t.num_rows)]
        frame.insert(1, "stream_id", pd.Categorical(ids, categories=sorted(set(ids))))
    values = frame.pop("aggregated_value")
    # detections_df's confidence is float32, and so is a groupby's aggregate of it.
    frame[value_name] = values.astype("int64" if aggregate == "count" else "float32")
    keys = ["time_bucket", "stream_id", "classification_value"] if by_stream else [
        "time_bucket", "classification_value"]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def detection_counts(ctx: Context, start: TimeLike, end: TimeLike, streams: Any = None,
                     classifications: Any = None, classifiers: Any = None,
                     min_confidence: float | None = None, *, review_statuses: Any = None,
                     interval: Any = "1d", aggregate: str = "count", field: str | None = None,
                     by_stream: bool = False, progress: bool | None = None) -> pd.DataFrame:
    """Detections counted (or averaged...) by the platform per time bucket and classification.

    The frame equals this groupby of :meth:`~rfcx_frames.Client.detections_df` with the
    same filters, at a few requests instead of one per thousand detections::

        df = client.detections_df(start, end, classifications, classifiers, streams,
                                  min_confidence, review_statuses=review_statuses)
        origin = pd.Timestamp("2000-01-03", tz="UTC").as_unit("ms")
        step = pd.Timedelta(days=1).as_unit("ms")  # interval="1d"
        df["time_bucket"] = origin + (df["start"] - origin) // step * step
        keys = ["time_bucket", "classification_value"]  # by_stream: "stream_id" in between
        counts = df.groupby(keys, observed=True).size().rename("count").reset_index()
        # aggregate="avg": .agg(confidence_avg=("confidence", "mean")), likewise sum/min/max

    Parameters
    ----------
    start, end
        The window (detection starts in ``[start, end)``); naive times are UTC.
    streams, classifications, classifiers, min_confidence, review_statuses
        As for :meth:`~rfcx_frames.Client.detections_df`. ``classifiers`` and
        ``review_statuses`` cost one ``/detections/summary`` request per non-empty bucket
        and classification, and allow only ``aggregate="count"``.
    interval
        Bucket width: ``"1d"``, ``"6h"``, ``"15m"``, ``"30s"`` or a Timedelta. Buckets
        are UTC and aligned on 2000-01-03T00:00Z (so ``"7d"`` weeks start on Mondays).
    aggregate
        ``"count"`` (column ``count``), or ``"avg"``, ``"sum"``, ``"min"``, ``"max"`` of
        ``field`` (column ``<field>_<aggregate>``, float32 like the field).
    field
        The field of a non-count aggregate: ``"confidence"`` (default).
    by_stream
        One count per stream too (one request per stream; adds ``stream_id``).
    progress
        Show a progress bar (default: the client's setting).

    Returns
    -------
    pandas.DataFrame
        ``time_bucket`` (``datetime64[ms, UTC]``), ``stream_id`` (with ``by_stream``),
        ``classification_value`` (category), then ``count`` (int64) or the aggregate
        (float32); one row per non-empty bucket, ordered by the keys.

    Raises
    ------
    ValueError, TypeError
        A bad argument (before any request), naming it and what is allowed.
    rfcx_frames.exceptions.UnknownIdError
        Unknown streams, classifications or classifiers.

    Examples
    --------
    >>> daily = client.detection_counts("2024-03-01", "2024-04-01", interval="1d")  # doctest: +SKIP
    """
    begin, finish = timeutil.window(start, end)
    width, text = parse_interval(interval)
    stream_ids = validate.as_str_list(streams, "streams")
    filters: dict[str, Any] = {
        "classifications[]": validate.as_str_list(classifications, "classifications"),
        "min_confidence": validate.check_confidence(min_confidence)}
    narrowing = {k: v for k, v in {
        "classifiers[]": validate.as_int_list(classifiers, "classifiers"),
        "review_statuses[]": validate.review_statuses(review_statuses)}.items() if v is not None}
    field_name = _check_aggregate(aggregate, field, bool(narrowing))
    by_stream = validate.check_bool(by_stream, "by_stream")
    mode = "off" if ctx.cache_mode(None) == "off" else "use"
    if stream_ids is not None:
        idcheck.check_listed(ctx, "stream", stream_ids, "streams", mode)
    groups = _groups(ctx, stream_ids, by_stream, mode)
    start_ms, end_ms = timeutil.ceil_epoch_ms(begin), timeutil.ceil_epoch_ms(finish)
    sent = {k: v for k, v in filters.items() if v is not None}
    query = {**sent, "interval": text, "aggregate": aggregate, "field": field_name or "start"}

    with Progress("detection counts", enabled=ctx.show_progress(progress)) as bar:
        def run(group: list[str] | None, stop: Any) -> pa.Table:
            scope = {"streams[]": group} if group is not None else {}
            table = wire.to_table(DETECTION_COUNT, clustered_rows(
                ctx, {**query, **scope}, start_ms, end_ms, width, bar))
            if narrowing:
                table = _narrowed(ctx, table, {**sent, **scope, **narrowing}, start_ms, end_ms,
                                  width)
            return table

        tables = paginate.run_parallel(run, groups, max_workers=ctx.max_workers)
    value_name = "count" if field_name is None else f"{field_name}_{aggregate}"
    frame = _frame(tables or [wire.to_table(DETECTION_COUNT, [])], groups, by_stream, value_name, aggregate)
    idcheck.check_present(ctx, "classification", filters["classifications[]"],
                          frame["classification_value"], "classifications", mode)
    idcheck.check_present(ctx, "classifier", narrowing.get("classifiers[]"),
                          pd.Series([], dtype="Int64"), "classifiers", mode)
    shown = {**sent, **narrowing, "interval": text, "aggregate": aggregate, "field": field_name}
    if stream_ids is not None:
        shown["streams"] = stream_ids
    return ctx.attach_query(frame, DETECTION_COUNT.endpoint, shown, begin, finish)

