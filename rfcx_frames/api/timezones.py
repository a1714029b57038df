"""Stream timezones for local times: from the (cached) stream listings, else one GET each.

Examples
--------
>>> stream_timezones(client, ["abc123abc123"])  # doctest: +SKIP
{'abc123abc123': 'America/Sao_Paulo'}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import ids, paginate
from ..exceptions import NotCachedError, RFCxError
from . import listings
from .context import Context


def stream_timezones(ctx: Context, streams: Sequence[str], mode: str = "use",
                     asked: list[bool] | None = None) -> dict[str, str | None]:
    """Timezones of ``streams`` (and of every stream already known), by stream id.

    Your (cached) stream listing answers most streams without a request per stream;
    only streams it lacks read the listing of public streams, and one neither holds
    costs ``GET /streams/{id}``. Answers are remembered for the client's lifetime.

    Parameters
    ----------
    ctx
        The client's shared state.
    streams
        Stream ids.
    mode
        The cache mode (``"offline"`` never requests, ``False``/``"off"`` keeps off the
        cache folder).
    asked
        If given, gets ``True`` appended when anything was fetched (for provenance).

    Returns
    -------
    dict
        ``stream_id -> IANA zone`` (``None`` when the platform has none).

    Raises
    ------
    NotCachedError
        Offline, for a stream whose timezone is not cached.
    """
    asked = asked if asked is not None else []
    read = ctx.known_ids.setdefault("timezone listings", set())
    for which in ("own", "public"):
        # The public listing is read only for streams your own does not hold: on the
        # platform it is every public stream, many pages for what is usually nothing.
        if which not in read and _wanted(ctx, streams):
            if mode != "offline":  # offline reads prove nothing for a later online call
                read.add(which)
            _from_listing(ctx, which == "public", mode, asked)
    wanted = _wanted(ctx, streams)
    if wanted and mode == "offline":
        raise NotCachedError(
            f"cache='offline' but the timezone of {len(wanted)} stream(s) is not cached "
            f"(local_time=True needs it): {', '.join(wanted[:5])}", missing=[])

    def one(stream: str, stop: Any) -> str | None:
        body = ctx.get_json(f"/streams/{ids.path_part(stream)}")
        return body.get("timezone") if isinstance(body, dict) else None

    asked.append(bool(wanted))
    zones = paginate.run_parallel(one, wanted, max_workers=ctx.max_workers)
    ctx.timezones.update(zip(wanted, zones, strict=True))
    return dict(ctx.timezones)


def _wanted(ctx: Context, streams: Sequence[str]) -> list[str]:
    return [s for s in dict.fromkeys(str(s) for s in streams) if s not in ctx.timezones]


def _from_listing(ctx: Context, include_public: bool, mode: str, asked: list[bool]) -> None:
    # cache=False keeps off the cache folder here too.
    listing_mode = mode if mode in ("offline", "refresh", "off") else None
    try:
        listed = listings.streams_df(ctx, include_public=include_public, progress=False,
                                     cache=listing_mode)
    except RFCxError:  # the per-stream lookup still runs and raises
        return
    asked.append(not listed.attrs.get("query", {}).get("from_cache", False))
    ctx.timezones.update(zip(listed["id"].astype(str), listed["timezone"].astype(object),
                             strict=True))
