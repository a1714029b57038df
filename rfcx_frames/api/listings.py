"""Whole listings as frames: ``projects_df``, ``streams_df``, ``classifications_df``.

Each reads every row once, complete even where the platform's order has ties
(:mod:`rfcx_frames.api.pages`), keeps the entity's order, in Arrow, and is cached whole with an expiry
(:func:`rfcx_frames.api.cached.whole`).

Examples
--------
>>> projects_df(client)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import convert, validate
from ..progress import Progress
from ..schemas import CLASSIFICATION, PROJECT, STREAM, Entity
from . import cached, taxonomy
from .context import Context
from .pages import counted_listing, single_query_listing


def _fetcher(ctx: Context, entity: Entity, queries: list[dict[str, Any]],
             progress: bool | None,
             finish: Callable[[pa.Table], pa.Table] | None = None) -> Callable[[], pa.Table]:
    def fetch() -> pa.Table:
        tables: list[pa.Table] = []
        with Progress(entity.name, enabled=ctx.show_progress(progress)) as bar:
            for params in queries:
                if entity is CLASSIFICATION:
                    tables.append(single_query_listing(ctx, entity, entity.endpoint, params,
                                                       bar))
                else:
                    # The default sort (-updated_at) has ties, and an edit moves a row
                    # between pages; the primary key has neither.
                    tables.append(counted_listing(ctx, entity, entity.endpoint,
                                                  {**params, "sort": "id"}, bar))
        table = merge_split_items(entity, pa.concat_tables(tables))
        return convert.ordered(entity, finish(table) if finish is not None else table)

    return fetch


def _listing(ctx: Context, entity: Entity, queries: list[dict[str, Any]],
             shown: Mapping[str, Any], progress: bool | None, cache: Any, max_age: Any,
             finish: Callable[[pa.Table], pa.Table] | None = None) -> pd.DataFrame:
    fetch = _fetcher(ctx, entity, queries, progress, finish)
    frame = cached.whole(ctx, entity, shown, cache, fetch, max_age)
    return ctx.attach_query(frame, entity.endpoint, shown)


def own_listing(ctx: Context, entity: Entity, cache: Any) -> tuple[pa.Table, bool]:
    """Your streams or projects (``streams_df()`` / ``projects_df()``) as an Arrow table.

    Same request and cache entry as the frame call without arguments, without building
    a pandas frame: the id check reads two columns of it, a query without ``streams``
    one.

    Parameters
    ----------
    ctx
        The client's shared state.
    entity
        :data:`~rfcx_frames.schemas.STREAM` or :data:`~rfcx_frames.schemas.PROJECT`.
    cache
        The cache mode, as for :func:`streams_df`.

    Returns
    -------
    (pyarrow.Table, bool)
        The listing, of the entity's schema in its order, and whether it came from the
        cache (no request).

    Examples
    --------
    >>> table, from_cache = own_listing(client, STREAM, "use")  # doctest: +SKIP
    """
    if entity is STREAM:
        queries, shown = _stream_request(None, None, None, None, None, False, False)
    else:
        params = project_params(None, None, None, None)
        queries, shown = [params], params
    fetch = _fetcher(ctx, entity, queries, progress=False)
    table, _, from_cache = cached.whole_table(ctx, entity, shown, cache, fetch)
    return table, from_cache


def projects_df(ctx: Context, keyword: str | None = None, created_by: str | None = None,
                only_public: bool | None = None, only_deleted: bool | None = None, *,
                progress: bool | None = None, cache: Any = None,
                max_age: Any = None) -> pd.DataFrame:
    """Every project matching the filters (all pages, checked against ``Total-Items``).

    Parameters
    ----------
    keyword
        Text in the project name.
    created_by
        ``"me"``, ``"collaborators"``, or a user.
    only_public, only_deleted
        Only public / only deleted projects.
    progress
        Show a progress bar (default: the client's setting).
    cache
        ``"use"`` (default), ``"refresh"``, ``"offline"`` or ``False``, as for
        :meth:`~rfcx_frames.Client.segments_df`; a listing is cached whole and expires
        after an hour.
    max_age
        A cached listing fetched longer ago than this is fetched again.

    Returns
    -------
    pandas.DataFrame
        ``id, name, is_public, external_id``, ordered by name.

    Examples
    --------
    >>> df = client.projects_df()  # doctest: +SKIP
    """
    params = project_params(keyword, created_by, only_public, only_deleted)
    return _listing(ctx, PROJECT, [params], params, progress, cache, max_age)


def streams_df(ctx: Context, organizations: Any = None, projects: Any = None,
               created_by: str | None = None, name: str | None = None,
               keyword: str | None = None, include_public: bool = False,
               include_deleted: bool = False, *, progress: bool | None = None,
               cache: Any = None, max_age: Any = None) -> pd.DataFrame:
    """Every stream (site) matching the filters, with its timezone and project.

    ``include_public=True`` adds the public streams of other users to yours (two
    queries merged); ``include_deleted=True`` adds your deleted streams likewise.

    Parameters
    ----------
    organizations, projects
        Organization / project id(s).
    created_by, name, keyword
        Filters as the platform takes them.
    include_public, include_deleted
        Add other users' public streams / your deleted streams.
    progress, cache, max_age
        As for :meth:`~rfcx_frames.Client.projects_df`.

    Returns
    -------
    pandas.DataFrame
        See :data:`rfcx_frames.schemas.STREAM`, ordered by name.

    Examples
    --------
    >>> df = client.streams_df(include_public=True)  # doctest: +SKIP
    """
    queries, shown = _stream_request(organizations, projects, created_by, name, keyword,
                                     include_public, include_deleted)
    return _listing(ctx, STREAM, queries, shown, progress, cache, max_age)


def _stream_request(organizations: Any, projects: Any, created_by: str | None,
                    name: str | None, keyword: str | None, include_public: bool,
                    include_deleted: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The stream listing's queries and the parameters that key its cache entry."""
    queries = stream_queries(organizations, projects, created_by, name, keyword,
                             validate.check_bool(include_public, "include_public"),
                             validate.check_bool(include_deleted, "include_deleted"))
    shown = {**queries[0], "include_public": include_public, "include_deleted": include_deleted}
    return queries, shown


def classifications_df(ctx: Context, keyword: str | None = None, levels: Any = None, *,
                       classifiers: Any = None, details: bool = False,
                       progress: bool | None = None, cache: Any = None,
                       max_age: Any = None) -> pd.DataFrame:
    """Every classification matching ``keyword`` (title or alternative name).

    The platform counts its page limit in (classification x alternative name) rows and
    orders rows sharing a title anew in every query, so the listing is read in one query
    (see :func:`rfcx_frames.api.pages.single_query_listing`) and split entries are merged.
    ``type`` is the taxonomic level; ``common_name`` is the first English alternative name.
    The platform serves no class's parent.

    Parameters
    ----------
    keyword
        Text matched against titles and alternative names (``None``: every one).
    levels
        Classification type(s): ``species``, ``genus``, ``family`` ... ``characteristic``.
    classifiers
        Classifier id(s), or ``"*"``: only the classes those classifiers output.
    details
        Also fill ``frequency_min``, ``frequency_max`` (the class's band, Hz) and
        ``description``: one more request per classification (narrow the listing first).
    progress, cache
        As for :meth:`~rfcx_frames.Client.projects_df`.
    max_age
        A cached listing fetched longer ago than this is fetched again (instead of
        after its one-hour expiry).

    Returns
    -------
    pandas.DataFrame
        ``value, title, image, type, alternative_names, common_name, frequency_min,
        frequency_max, description``, ordered by title (the last three empty without
        ``details``).

    Examples
    --------
    >>> df = client.classifications_df("sciurus", levels="species")  # doctest: +SKIP
    >>> bands = client.classifications_df("amazona", details=True)  # doctest: +SKIP
    """
    params: dict[str, Any] = {"levels[]": validate.as_str_list(levels, "levels")}
    if classifiers is not None:
        # The platform takes classifier ids, or "*" for the outputs of any classifier.
        params["classifiers[]"] = (["*"] if classifiers == "*" else
                                   validate.as_int_list(classifiers, "classifiers"))
    if keyword is not None:
        params["keyword"] = keyword
    params = {k: v for k, v in params.items() if v is not None}
    if not validate.check_bool(details, "details"):
        return _listing(ctx, CLASSIFICATION, [params], params, progress, cache, max_age,
                        finish=taxonomy.with_common_names)
    return _listing(ctx, CLASSIFICATION, [params], {**params, "details": True}, progress, cache,
                    max_age,
                    finish=lambda t: taxonomy.with_details(ctx, taxonomy.with_common_names(t)))


def project_params(keyword: str | None, created_by: str | None, only_public: bool | None,
                   only_deleted: bool | None) -> dict[str, Any]:
    """Query parameters of ``GET /projects`` as the official client sends them.

    Parameters
    ----------
    keyword, created_by, only_public, only_deleted
        As for :func:`projects_df`.

    Returns
    -------
    dict

    Examples
    --------
    >>> project_params("bird", None, True, None)
    {'keyword': 'bird', 'only_public': 'true'}
    """
    params: dict[str, Any] = {}
    if keyword:
        params["keyword"] = keyword
    if created_by:
        params["created_by"] = created_by
    for key, value in (("only_public", only_public), ("only_deleted", only_deleted)):
        if value is not None:
            params[key] = "true" if validate.check_bool(value, key) else "false"
    return params


def stream_queries(organizations: Any, projects: Any, created_by: str | None, name: str | None,
                   keyword: str | None, include_public: bool,
                   include_deleted: bool) -> list[dict[str, Any]]:
    """The ``GET /streams`` queries whose union is the requested list.

    The platform's ``only_public``/``only_deleted`` return *only* public/deleted streams,
    so "include" means one more query each.

    Parameters
    ----------
    organizations, projects, created_by, name, keyword, include_public, include_deleted
        As for :func:`streams_df`.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> [q.get("only_public") for q in stream_queries(None, None, None, None, None, True, False)]
    [None, 'true']
    """
    base: dict[str, Any] = {}
    orgs = validate.as_str_list(organizations, "organizations")
    projs = validate.as_str_list(projects, "projects")
    if orgs:
        base["organizations[]"] = orgs
    if projs:
        base["projects[]"] = projs
    for key, value in (("created_by", created_by), ("name", name), ("keyword", keyword)):
        if value:
            base[key] = value
    queries = [base]
    if include_public:
        queries.append({**base, "only_public": "true"})
    if include_deleted:
        queries.append({**base, "only_deleted": "true"})
    return queries


def merge_split_items(entity: Entity, table: pa.Table) -> pa.Table:
    """Merge items the platform split across pages: one row per key, lists concatenated.

    The platform pages classifications by (classification x alternative name) rows, so
    an item can arrive in two pages with part of its names in each. Entities without
    list columns are returned as they are.

    Parameters
    ----------
    entity
        The listing's entity; its ``object`` (list) columns are merged.
    table
        Its rows, a key possibly repeated.

    Returns
    -------
    pyarrow.Table
        Each key once (its first row), with every distinct list item.

    Examples
    --------
    >>> names = CLASSIFICATION.column("alternative_names").arrow_type
    >>> t = pa.table({"value": ["a", "a"],
    ...               "alternative_names": pa.array([[{"name": "x"}], [{"name": "y"}]], names)})
    >>> merged = merge_split_items(CLASSIFICATION, t)
    >>> [n["name"] for n in merged["alternative_names"][0].as_py()]
    ['x', 'y']
    """
    lists = [c.name for c in entity.columns if c.kind == "object" and c.name in table.column_names]
    key = entity.key
    if not lists or table.num_rows < 2 or pc.count_distinct(table[key]).as_py() == table.num_rows:
        return table
    rows: dict[Any, dict[str, Any]] = {}
    for row in table.to_pylist():  # a listing: small, and rarely split
        first = rows.setdefault(row[key], {**row, **{name: [] for name in lists}})
        for name in lists:
            first[name] += [item for item in row[name] or [] if item not in first[name]]
    return pa.Table.from_pylist(list(rows.values()), schema=table.schema)
