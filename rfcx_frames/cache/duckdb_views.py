"""DuckDB over the cache: one view per cached entity, each row once, with its declared types.

:func:`duckdb` opens an in-memory DuckDB connection and registers, for every entity the
cache can hold (the time-ranged ``detections``, ``annotations``, ``segments`` and the
listings ``projects``, ``streams``, ``classifications``), a view over
:func:`~rfcx_frames.cache.dataset.dataset`: the rows every cached query left, one per
key, the latest fetch winning. Effort queries leave recorded runs: ``recordings`` lists
them and ``effort`` gives the recorded seconds of every period the cache knows whole
(:mod:`rfcx_frames.cache.recorded`), the rows ``effort_df`` returns. SQL then groups and
joins what was fetched before, without a request and without reading the same row twice.

Examples
--------
>>> import tempfile
>>> con = duckdb(tempfile.mkdtemp())
>>> con.sql("SELECT count(*) FROM detections").fetchall()
[(0,)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rfcx_frames.cache.dataset import RANGED, dataset
from rfcx_frames.cache.listing_rows import LISTINGS
from rfcx_frames.cache.recorded import effort_table, recordings_table
from rfcx_frames.config import RootArg
from rfcx_frames.ecology.effort import parse_freq

#: The views of what effort queries left (see :mod:`rfcx_frames.cache.recorded`).
EFFORT_VIEWS = ("recordings", "effort")
#: Every view :func:`duckdb` registers, in this order.
VIEWS: tuple[str, ...] = RANGED + LISTINGS + EFFORT_VIEWS


def duckdb(root: RootArg = None, *, platform: str | None = None,
           entities: Sequence[str] | None = None, connection: Any = None,
           effort_freq: str = "1h") -> Any:
    """A DuckDB connection with one view per cached entity.

    Parameters
    ----------
    root
        The cache folder or ``s3://`` prefix; default
        :func:`~rfcx_frames.config.cache_root`.
    platform
        Whose rows, as for :func:`~rfcx_frames.cache.dataset.dataset` (needed only when
        the cache holds rows of several platforms).
    entities
        The views to register (default :data:`VIEWS`: ``detections``, ``annotations``,
        ``segments``, ``projects``, ``streams``, ``classifications``, ``recordings``,
        ``effort``). An entity with nothing cached is an empty view with the entity's
        columns. ``recordings`` and ``effort`` are computed from the cached runs when
        the connection opens (about a second for 50 streams x a year of hours): leave
        them out when you do not need them.
    connection
        A DuckDB connection to register the views on (default: a new in-memory one).
    effort_freq
        The period of the ``effort`` view's rows, a pandas frequency (``"1h"``,
        ``"1D"``, ``"7D"``, ``"MS"``), UTC-aligned as in ``effort_df``. Sum hours into
        days in SQL, or ask for days here: a day the cache knows only in part has
        hourly rows but no daily one.

    Returns
    -------
    duckdb.DuckDBPyConnection
        Query it with ``con.sql("SELECT ... FROM detections")``; ``.df()`` gives pandas.

    Raises
    ------
    ImportError
        When duckdb is not installed (``pip install 'rfcx-frames[duckdb]'``).
    ValueError
        For an entity the cache does not hold, or an ``effort_freq`` pandas does not know.

    Examples
    --------
    >>> import tempfile
    >>> con = duckdb(tempfile.mkdtemp(), entities=["streams"])
    >>> [row[0] for row in con.sql("SHOW TABLES").fetchall()]
    ['streams']
    """
    try:
        import duckdb as engine
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("rfcx_frames.cache.duckdb needs duckdb: "
                          "pip install 'rfcx-frames[duckdb]'") from exc
    chosen = list(VIEWS if entities is None else entities)
    unknown = [name for name in chosen if name not in VIEWS]
    if unknown or isinstance(entities, str):
        raise ValueError(f"entities must be a list of {list(VIEWS)}; got {entities!r}")
    parse_freq(effort_freq, "effort_freq")
    tables = {"recordings": lambda: recordings_table(root, platform=platform),
              "effort": lambda: effort_table(root, freq=effort_freq, platform=platform)}
    con = connection if connection is not None else engine.connect(":memory:")
    for name in chosen:
        table = tables[name]() if name in tables else dataset(name, root, platform=platform)
        # register() keeps the Arrow table as it is: a view, not a copy into DuckDB.
        con.register(name, table)
    return con
