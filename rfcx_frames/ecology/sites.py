"""Site context for any frame with ``stream_id``: metadata, local time, the sun.

Each function takes the frame and a streams frame (``streams_df()``), and returns a copy
with new columns. A stream the streams frame does not know is an error, never a row of
NaN: a silent gap in the coordinates would end up on a map.

Examples
--------
>>> import pandas as pd
>>> streams = pd.DataFrame({"id": ["s1"], "name": ["Ridge"], "latitude": [-23.34],
...                         "longitude": [-44.83], "timezone": ["America/Sao_Paulo"]})
>>> det = pd.DataFrame({"stream_id": ["s1"], "start": [pd.Timestamp("2024-03-01 09:30", tz="UTC")]})
>>> with_sites(det, streams, ["name", "latitude"])[["stream_name", "latitude"]].to_dict("records")
[{'stream_name': 'Ridge', 'latitude': -23.34}]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from rfcx_frames.ecology.columns import require_columns
from rfcx_frames.frames import add_local_time

#: Stream columns :func:`with_sites` adds (``name`` arrives as ``stream_name``).
SITE_COLUMNS = ("name", "latitude", "longitude", "altitude", "timezone", "project_id",
                "project_name")


def streams_by_id(streams: pd.DataFrame, columns: Sequence[str] = (),
                  name: str = "streams") -> pd.DataFrame:
    """``streams`` indexed by stream id (as text), one row per stream.

    Parameters
    ----------
    streams
        A streams frame (``streams_df()``) with ``id``.
    columns
        Columns it must also hold.
    name
        The argument's name, quoted in errors.

    Returns
    -------
    pandas.DataFrame
        The first row of each id, indexed by ``id``.

    Raises
    ------
    TypeError, ValueError
        For a non-frame, or one without ``id`` or ``columns``.

    Examples
    --------
    >>> streams_by_id(pd.DataFrame({"id": [7, 7], "name": ["a", "b"]})).to_dict("index")
    {'7': {'name': 'a'}}
    """
    require_columns(streams, ["id", *columns], name, "streams_df()")
    return streams.assign(id=streams["id"].astype(str)).drop_duplicates("id").set_index("id")


def _lookup(frame: pd.DataFrame, streams: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of ``streams`` for each row of ``frame``, in its order and index."""
    if "stream_id" not in frame.columns:
        raise ValueError("frame needs a 'stream_id' column")
    table = streams_by_id(streams, columns)
    ids = frame["stream_id"].astype(str)
    unknown = sorted(set(ids) - set(table.index))
    if unknown:
        raise ValueError(f"streams does not describe the stream(s) {unknown[:10]}; pass a "
                         f"streams frame that lists them (streams_df(include_public=True)?)")
    return table.loc[ids.to_numpy(), list(columns)].set_axis(frame.index)


def with_sites(frame: pd.DataFrame, streams: pd.DataFrame,
               columns: Sequence[str] = SITE_COLUMNS) -> pd.DataFrame:
    """Add each row's stream metadata: name, coordinates, timezone, project.

    Parameters
    ----------
    frame
        Any frame with ``stream_id`` (detections, annotations, segments, effort, rates).
    streams
        ``streams_df()`` (or any frame with ``id`` and the wanted columns).
    columns
        Which stream columns to add; ``name`` is added as ``stream_name``. Columns the
        frame already has are left as they are.

    Returns
    -------
    pandas.DataFrame
        A copy with the columns added.

    Raises
    ------
    ValueError
        For a stream of ``frame`` that ``streams`` does not list, or missing columns.

    Examples
    --------
    >>> with_sites(client.detections_df(...), client.streams_df())  # doctest: +SKIP
    """
    looked = _lookup(frame, streams, columns).rename(columns={"name": "stream_name"})
    out = frame.copy()
    for column in looked.columns:
        if column not in out.columns:
            out[column] = looked[column]
    return out


def with_local_time(frame: pd.DataFrame, streams: pd.DataFrame) -> pd.DataFrame:
    """Add ``start_local`` (the stream's wall time), ``local_date`` and ``local_hour``.

    Parameters
    ----------
    frame
        A frame with ``stream_id`` and a UTC ``start``.
    streams
        ``streams_df()``: its ``timezone`` column places each stream.

    Returns
    -------
    pandas.DataFrame
        A copy with the three columns (naive wall times, since one column cannot hold
        several timezones).

    Examples
    --------
    >>> streams = pd.DataFrame({"id": ["s"], "timezone": ["Asia/Jakarta"]})
    >>> det = pd.DataFrame({"stream_id": ["s"], "start": [pd.Timestamp("2024-03-01 20:00", tz="UTC")]})
    >>> with_local_time(det, streams)[["local_date", "local_hour"]].astype(str).to_dict("records")
    [{'local_date': '2024-03-02', 'local_hour': '3'}]
    """
    zones = _lookup(frame, streams, ["timezone"])["timezone"]
    mapping = dict(zip(frame["stream_id"].astype(str), zones.astype(object), strict=True))
    out = add_local_time(frame, mapping)
    out["local_date"] = out["start_local"].dt.normalize()
    out["local_hour"] = out["start_local"].dt.hour.astype("int8")
    return out


def with_sun(frame: pd.DataFrame, streams: pd.DataFrame) -> pd.DataFrame:
    """Add sunrise and sunset of each row's local day, and the minutes from each.

    Uses the ``astral`` package (``pip install 'rfcx_frames[ecology]'``) at each stream's
    latitude and longitude. Where the sun does not rise or set that day (polar day or
    night) the times are NaT and the minutes NaN.

    Parameters
    ----------
    frame
        A frame with ``stream_id`` and a UTC ``start``.
    streams
        ``streams_df()``: coordinates and timezone of each stream.

    Returns
    -------
    pandas.DataFrame
        A copy with ``sunrise`` and ``sunset`` (UTC), ``minutes_from_sunrise`` and
        ``minutes_from_sunset`` (negative before the event), e.g. for dawn-chorus windows.

    Examples
    --------
    >>> streams = pd.DataFrame({"id": ["s"], "latitude": [0.0], "longitude": [0.0],
    ...                         "timezone": ["UTC"]})
    >>> det = pd.DataFrame({"stream_id": ["s"], "start": [pd.Timestamp("2024-03-20 07:00", tz="UTC")]})
    >>> round(float(with_sun(det, streams)["minutes_from_sunrise"].iloc[0]))
    56
    """
    try:
        from astral import Observer
        from astral.sun import sunrise, sunset
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("with_sun needs astral: pip install 'rfcx_frames[ecology]'") from exc
    places = _lookup(frame, streams, ["latitude", "longitude", "timezone"])
    local = with_local_time(frame, streams)["local_date"]
    keys = pd.DataFrame({"stream_id": frame["stream_id"].astype(str).to_numpy(),
                         "local_date": local.to_numpy()}, index=frame.index)
    events: dict[tuple[str, pd.Timestamp], tuple[pd.Timestamp | None, pd.Timestamp | None]] = {}
    for (stream, day), rows in keys.groupby(["stream_id", "local_date"], sort=False).groups.items():
        place = places.loc[rows[0]]
        if pd.isna(place["latitude"]) or pd.isna(place["longitude"]):
            raise ValueError(f"stream {stream!r} has no coordinates; the sun needs them")
        observer = Observer(float(place["latitude"]), float(place["longitude"]))
        zone = _zone(place["timezone"])
        events[(stream, day)] = (_event(sunrise, observer, day, zone),
                                 _event(sunset, observer, day, zone))
    pairs = [events[(s, d)] for s, d in zip(keys["stream_id"], keys["local_date"], strict=True)]
    out = frame.copy()
    for i, column in enumerate(("sunrise", "sunset")):
        out[column] = pd.Series([p[i] for p in pairs], index=frame.index,
                                dtype="datetime64[ms, UTC]")
    start = pd.to_datetime(frame["start"], utc=True)
    out["minutes_from_sunrise"] = ((start - out["sunrise"]).dt.total_seconds() / 60).to_numpy()
    out["minutes_from_sunset"] = ((start - out["sunset"]).dt.total_seconds() / 60).to_numpy()
    return out


def _zone(name: object) -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(str(name)) if isinstance(name, str) and name else dt.timezone.utc


def _event(fn: object, observer: object, day: pd.Timestamp,
           zone: dt.tzinfo) -> pd.Timestamp | None:
    try:
        moment = fn(observer, date=day.date(), tzinfo=zone)  # type: ignore[operator]
    except ValueError:  # the sun does not rise or set on that day there
        return None
    return pd.Timestamp(moment).tz_convert("UTC")

