"""Detection pieces planned from the platform's counts, so that every piece is full pages.

After a full probe page, the rest of a detections query is counted by
``/clustered-detections`` (one request, in buckets fine enough to cut well) and cut at
bucket edges where a piece's rows fill its pages nearly whole
(:func:`rfcx_frames.paginate.plan_full_pages`). Queries the counting route cannot filter
(classifiers, review statuses, projects) and small rests keep the time-split plan.

Examples
--------
>>> pieces = plan(client, DETECTION, {}, None, page, start, cursor, end, 8, bar)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .. import config, paginate
from ..exceptions import NotFoundError, ValidationError
from ..paginate import Piece
from ..progress import Progress
from ..schemas import DETECTION, Entity
from .clustered import bucket_totals
from .context import Context

#: Filters ``/clustered-detections`` takes as ``/detections`` does.
COUNTABLE = ("classifications[]", "min_confidence", "fields[]")
#: Below this many pages expected after the probe, one sequential piece is cheapest.
SEQUENTIAL_PAGES = 4


def bucket_width(span_ms: int, rows: float, classes: int, budget: int) -> int:
    """The finest planning bucket whose counts fit in ``budget`` answer rows.

    The platform answers a row per bucket and classification: about
    ``buckets * min(classes, rows per bucket)`` rows.

    Parameters
    ----------
    span_ms
        The window counted.
    rows
        Rows expected in it.
    classes
        Classifications expected per bucket at most.
    budget
        Answer rows allowed.

    Examples
    --------
    >>> bucket_width(7 * 86_400_000, 44_000, classes=30, budget=8000)  # hours: 168 x 30
    3600000
    """
    for width in config.PLAN_INTERVALS_MS:
        buckets = math.ceil(span_ms / width)
        per_bucket = max(1.0, rows * width / max(span_ms, 1))
        if buckets * min(classes, per_bucket) <= budget:
            return width
    return config.PLAN_INTERVALS_MS[-1]


def plan(ctx: Context, entity: Entity, base: Mapping[str, Any],
         group: str | tuple[str, ...] | None, first: pa.StructArray, start_ms: int,
         cursor: int, end_ms: int, max_workers: int, bar: Progress) -> list[Piece]:
    """The pieces of ``[cursor, end_ms)`` after a full probe page ``first``.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        The entity fetched (counts exist for detections only).
    base
        The query's filters.
    group
        The stream(s) of the probe, or ``None`` for every readable stream.
    first
        The probe page (full), which began at ``start_ms``.
    start_ms, end_ms
        The query's window.
    cursor
        The probe page's last start: where the rest begins.
    max_workers
        Workers this group may use.
    bar
        Progress bar.

    Returns
    -------
    list of Piece
        Contiguous windows from the probe's last start to ``end_ms``.
    """
    streams = [group] if group is not None else None
    countable = entity is DETECTION and all(v is None or k in COUNTABLE for k, v in base.items())
    # Rows per ms of the probe page foretell the rest (its own start included).
    expected = len(first) * (end_ms - cursor) / max(cursor - start_ms, 1)
    if not countable or expected < SEQUENTIAL_PAGES * config.PAGE_LIMIT_MAX:
        if countable:
            return [Piece(group, cursor, end_ms)]
        return paginate.plan_pieces(streams, cursor, end_ms, max_workers=max_workers)
    classes = len(pc.unique(first.field("classification").field("value")))
    pages = expected / config.PAGE_LIMIT_MAX
    budget = config.COUNTS_LIMIT * max(1, int(pages // 100))
    width = bucket_width(end_ms - cursor, expected, classes, int(budget * 0.8))
    query: dict[str, Any] = {k: base[k] for k in ("classifications[]", "min_confidence")
                             if base.get(k) is not None}
    if group is not None:
        query["streams[]"] = list(group) if isinstance(group, tuple) else [group]
    try:
        totals = bucket_totals(ctx, query, cursor, end_ms, width, bar)
    except (NotFoundError, ValidationError):
        # A deployment without the counting route still pages, only less tightly.
        return paginate.plan_pieces(streams, cursor, end_ms, max_workers=max_workers)
    windows = paginate.plan_full_pages(totals, cursor, end_ms, width, max_pieces=max_workers)
    return [Piece(group, a, b) for a, b in windows]

