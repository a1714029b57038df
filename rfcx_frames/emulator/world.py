"""Deterministic synthetic worlds for the emulator: users, projects, streams, audio, labels.

:func:`build_world` fills an empty :class:`~rfcx_frames.emulator.store.Store` from a named
:class:`WorldSpec` and a seed. The same world, seed and scale give the same database
content (and the same audio, rendered lazily by :mod:`rfcx_frames.emulator.audio`): every
random draw comes from ``numpy.random.default_rng`` streams keyed by the seed, every id is
derived from them, and no wall-clock time enters the data.

The demo user (id 1) owns one project and administers another (six streams on five
continents, 8 to 48 kHz, FLAC and Opus); another user (id 2) has a public project (readable,
not listed by default) and a private one (403 for the demo user); user 3 is a system user.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..timeutil import from_epoch_ms, to_epoch_ms, to_utc
from . import auth, detection_pages
from .audio import CODEC_EXTENSIONS
from .ground_truth import Columns, concat, false_positives, place_calls, true_positives
from .reviews import seed_reviews
from .schedule import recording_segments, sample_counts
from .store import Store
from .taxonomy import CLASSIFIERS, TAXA, local_taxa, output_class_name
from .world_entities import (
    DEMO_USER,
    OTHER_USER,
    PROJECTS,
    SYSTEM_USER,
    USERS,
    ProjectSpec,
    StreamSpec,
    stream_plan,
)
from .world_jobs import seed_jobs

_TABLES = ("users", "tokens", "organizations", "projects", "project_roles", "streams",
           "stream_source_files", "segments", "classifications",
           "classification_alternative_names", "classifiers", "classifier_outputs", "calls",
           "detections", "annotations", "classifier_jobs")
_ALPHANUM = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
_NULL_REVIEW = 2


@dataclass(frozen=True)
class WorldSpec:
    """Size and density of a world (``streams``/``days`` can be overridden per build)."""

    name: str
    period_start: str  # ISO date, UTC midnight
    days: int
    streams: int  # streams in the demo user's projects (public/private extras come on top)
    calls_per_hour: float
    false_positives_per_hour: float
    annotations: int  # calls boxed by the demo user
    session_scale: float = 1.0  # lengthens every recording session


WORLDS: dict[str, WorldSpec] = {
    "demo": WorldSpec("demo", "2024-03-01", days=30, streams=6, calls_per_hour=36,
                      false_positives_per_hour=22, annotations=400),
    "large": WorldSpec("large", "2024-03-01", days=45, streams=24, calls_per_hour=110,
                       false_positives_per_hour=90, annotations=2000, session_scale=1.6),
}


def _rng(seed: int, *purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFF, *purpose])


def _short_ids(rng: np.random.Generator, n: int) -> list[str]:
    codes = _ALPHANUM[rng.integers(0, len(_ALPHANUM), (n, 12))]
    return [row.tobytes().decode("ascii") for row in codes]


def uuid4_strings(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` version-4 UUID strings drawn from ``rng`` (deterministic, vectorised).

    Examples
    --------
    >>> ids = uuid4_strings(np.random.default_rng(0), 2)
    >>> len(ids[0]), ids[0][14], ids == uuid4_strings(np.random.default_rng(0), 2)
    (36, '4', True)
    """
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    return [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
            for h in (text[i:i + 32] for i in range(0, 32 * n, 32))]


def _period(spec: WorldSpec) -> tuple[int, int]:
    start = to_epoch_ms(to_utc(spec.period_start))
    return start, start + spec.days * 86_400_000


def _secret(seed: int) -> str:
    return hashlib.sha256(f"rfcx-frames world secret {seed}".encode()).hexdigest()[:32]


def _insert(conn: sqlite3.Connection, table: str, columns: Iterable[str],
            rows: Iterable[tuple[Any, ...]]) -> None:
    cols = list(columns)
    quoted = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("?" for _ in cols)
    conn.executemany(f"INSERT INTO {table} ({quoted}) VALUES ({marks})", rows)


def _nullable(values: np.ndarray, null: int) -> list[int | None]:
    return [None if v == null else v for v in values.tolist()]


def world_summary(store: Store) -> dict[str, Any]:
    """Counts per table, period and tokens of the world stored in ``store``.

    Examples
    --------
    >>> import tempfile
    >>> world_summary(Store(tempfile.mkdtemp()))["world"] is None
    True
    """
    conn = store.connection()
    counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in _TABLES}
    start, end = store.meta("period_start"), store.meta("period_end")
    return {
        "world": store.meta("world"),
        "seed": int(store.meta("seed") or 0),
        "period_start": int(start) if start else None,
        "period_end": int(end) if end else None,
        "counts": counts,
        "tokens": {k: store.meta(f"token:{k}") for k in ("demo", "other", "system")},
    }


def build_world(store: Store, world: str = "demo", *, seed: int = 0, streams: int | None = None,
                days: int | None = None) -> dict[str, Any]:
    """Fill an empty store with a synthetic world; do nothing if it already holds one.

    Parameters
    ----------
    store
        Emulator storage; must be empty unless ``meta('world')`` is set.
    world
        A key of :data:`WORLDS`.
    seed
        Every random choice derives from it: same seed, same database and audio.
    streams, days
        Override the spec's number of demo-user streams and length of the period.

    Returns
    -------
    dict
        ``world``, ``seed``, ``period_start``/``period_end`` (epoch ms), ``counts`` per
        table and ``tokens`` (``demo``, ``other``, ``system`` bearer tokens).

    Examples
    --------
    >>> import tempfile
    >>> summary = build_world(Store(tempfile.mkdtemp()), "demo", days=1)
    >>> summary["counts"]["streams"] >= 6, summary["tokens"]["demo"].count(".")
    (True, 2)
    """
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}; expected one of {sorted(WORLDS)}")
    if store.meta("world") is not None:
        return world_summary(store)
    spec = WORLDS[world]
    if streams is not None or days is not None:
        base = spec
        spec = replace(spec, streams=spec.streams if streams is None else int(streams),
                       days=spec.days if days is None else int(days))
        # Annotators box a share of the calls, so a smaller world gets fewer boxes.
        share = (spec.days / base.days) * (spec.streams / base.streams)
        spec = replace(spec, annotations=max(1, round(base.annotations * share)))
    if spec.days < 1 or spec.streams < 1:
        raise ValueError("a world needs at least one day and one stream")
    conn = store.connection()
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: keep the big transaction in memory
    with conn:
        _build(store, conn, spec, seed)
        detection_pages.fill(conn)
    # Table statistics let SQLite walk the start index for wide detection pages instead
    # of sorting every row of the window (28 ms -> 3 ms a page on the demo world).
    conn.execute("ANALYZE")
    conn.execute("PRAGMA cache_size = -2000")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return world_summary(store)


def _build(store: Store, conn: sqlite3.Connection, spec: WorldSpec, seed: int) -> None:
    p0, p1 = _period(spec)
    made = p0 - 120 * 86_400_000  # fixed creation time of projects, streams, users' data
    plan = stream_plan(spec.streams, _rng(seed, 1))
    _meta(conn, spec, seed, p0, p1)
    _users(conn, store, seed, p0)
    project_ids = _projects(conn, seed, plan, made)
    stream_ids = _short_ids(_rng(seed, 3), len(plan))
    _taxonomy(conn, made)
    draws = [_draw_stream(seed, spec, i, st, p0, p1) for i, st in enumerate(plan)]
    calls, call_ids = _numbered_calls(draws)
    true_hits = _true_positives(seed, draws, calls, call_ids)
    _streams(conn, plan, stream_ids, project_ids, [d.bounds for d in draws], made)
    _segments(conn, seed, plan, stream_ids, [d.segments for d in draws])
    _calls(conn, calls, call_ids, stream_ids)
    _detections(conn, concat([d.false_positives for d in draws] + true_hits), plan, stream_ids)
    seed_reviews(conn)
    _annotations(conn, seed, spec, plan, calls, call_ids, stream_ids)
    seed_jobs(conn, project_ids, str(from_epoch_ms(p0).date()), str(from_epoch_ms(p1).date()),
              p1 + 86_400_000)
    _tokens(conn, store, seed, p0)


def _meta(conn: sqlite3.Connection, spec: WorldSpec, seed: int, p0: int, p1: int) -> None:
    meta = {"world": spec.name, "seed": str(seed), "period_start": str(p0),
            "period_end": str(p1), "streams": str(spec.streams), "days": str(spec.days),
            "jwt_secret": _secret(seed)}
    _insert(conn, "meta", ("key", "value"), sorted(meta.items()))


@dataclass(frozen=True)
class _StreamDraw:
    """One stream's random draws: its segments, their contiguous runs, calls, false hits."""

    segments: Columns
    runs: tuple[np.ndarray, np.ndarray]
    calls: Columns
    false_positives: Columns
    bounds: tuple[int | None, int | None]  # first segment start, last segment end


def _draw_stream(seed: int, spec: WorldSpec, i: int, st: StreamSpec, p0: int,
                 p1: int) -> _StreamDraw:
    # One generator per stream, drawn in a fixed order: the world depends on it.
    rng = _rng(seed, 10, i)
    schedule = st.schedule
    if spec.session_scale != 1.0:
        schedule = replace(schedule, sessions=tuple(
            (m, max(1, round(n * spec.session_scale))) for m, n in schedule.sessions))
    segs = recording_segments(rng, schedule, st.timezone, p0, p1)
    run_start, run_end = segs.runs
    taxa = local_taxa(st.region, 0.45 * st.sample_rate)
    weights = 1.0 / (1.0 + rng.permutation(len(taxa))) ** 0.8
    weights *= np.array([0.15 if t.type == "characteristic" else 1.0 for t in taxa])
    calls = place_calls(rng, taxa=taxa, weights=weights, run_start=run_start,
                        run_end=run_end, sample_rate=st.sample_rate,
                        calls_per_hour=spec.calls_per_hour)
    calls["stream"] = np.full(len(calls["start"]), i)
    fps = false_positives(rng, taxa=taxa, calls=calls, run_start=run_start,
                          run_end=run_end, per_hour=spec.false_positives_per_hour)
    return _StreamDraw(
        segments={"stream": np.full(len(segs.start), i), "start": segs.start, "end": segs.end},
        runs=(run_start, run_end), calls=calls,
        false_positives={**fps, "stream": np.full(len(fps["start"]), i)},
        bounds=(int(segs.start[0]) if len(segs.start) else None,
                int(segs.end[-1]) if len(segs.end) else None))


def _numbered_calls(draws: list[_StreamDraw]) -> tuple[Columns, np.ndarray]:
    """Every stream's calls in time order, and their ids (1, 2, ... in that order)."""
    calls = concat([d.calls for d in draws])
    order = np.lexsort((calls["stream"], calls["start"]))
    calls = {k: v[order] for k, v in calls.items()}
    return calls, np.arange(1, len(order) + 1, dtype=np.int64)


def _true_positives(seed: int, draws: list[_StreamDraw], calls: Columns,
                    call_ids: np.ndarray) -> list[Columns]:
    """Each stream's detections of its own calls (they reference the calls' ids)."""
    parts = []
    for i, draw in enumerate(draws):
        sel = np.flatnonzero(calls["stream"] == i)
        sub = {k: v[sel] for k, v in calls.items()}
        tps = true_positives(_rng(seed, 20, i), sub, call_ids[sel], *draw.runs)
        parts.append({**tps, "stream": np.full(len(tps["start"]), i)})
    return parts


def _tokens(conn: sqlite3.Connection, store: Store, seed: int, p0: int) -> None:
    for name, user_id in {"demo": DEMO_USER, "other": OTHER_USER, "system": SYSTEM_USER}.items():
        token = auth.issue_token(store, user_id, kind="id", nonce=f"world-{seed}-{name}",
                                 issued_at_s=p0 // 1000 - 86_400, conn=conn,
                                 secret=_secret(seed))
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"token:{name}", token))


def _users(conn: sqlite3.Connection, store: Store, seed: int, p0: int) -> None:
    guids = uuid4_strings(_rng(seed, 0), len(USERS))
    _insert(conn, "users", ("id", "guid", "email", "firstname", "lastname", "picture",
                            "is_super", "roles"),
            [(u.id, g, u.email, u.firstname, u.lastname, u.picture, 0, u.roles)
             for u, g in zip(USERS, guids, strict=True)])


def _projects(conn: sqlite3.Connection, seed: int, plan: list[StreamSpec],
              made: int) -> dict[str, str]:
    keys = [p.key for p in PROJECTS]
    ids = dict(zip(keys, _short_ids(_rng(seed, 2), len(keys)), strict=True))
    org_id = _short_ids(_rng(seed, 4), 1)[0]
    _insert(conn, "organizations", ("id", "name", "is_public"),
            [(org_id, "Open Soundscapes Collective", 1)])
    rows = []
    for p in PROJECTS:
        lat = [s.latitude for s in plan if s.project == p.key]
        lon = [s.longitude for s in plan if s.project == p.key]
        rows.append((ids[p.key], p.name, p.description, int(p.is_public), p.external_id,
                     p.created_by, org_id if p.is_public else None,
                     min(lat, default=None), min(lon, default=None), max(lat, default=None),
                     max(lon, default=None), "arb" if p.external_id else None, made, made))
    _insert(conn, "projects", ("id", "name", "description", "is_public", "external_id",
                               "created_by_id", "organization_id", "min_latitude",
                               "min_longitude", "max_latitude", "max_longitude",
                               "preferred_platform", "created_at", "updated_at"), rows)
    _insert(conn, "project_roles", ("user_id", "project_id", "role_id"),
            [(user, ids[p.key], role) for p in PROJECTS for user, role in p.roles])
    return ids


def _taxonomy(conn: sqlite3.Connection, made: int) -> None:
    ids = {t.value: i + 1 for i, t in enumerate(TAXA)}
    _insert(conn, "classifications", ("id", "value", "title", "type", "image", "description",
                                      "frequency_min", "frequency_max", "parent_id"),
            [(ids[t.value], t.value, t.title, t.type, None, None, t.frequency_min,
              t.frequency_max, ids[t.parent] if t.parent else None) for t in TAXA])
    names = [(ids[t.value], name, lang, rank) for t in TAXA
             for rank, (name, lang) in enumerate(t.names)]
    _insert(conn, "classification_alternative_names",
            ("id", "classification_id", "name", "language_id", "rank"),
            [(i + 1, *row) for i, row in enumerate(names)])
    _insert(conn, "classifiers", ("id", "name", "version", "external_id", "model_url",
                                  "model_runner", "parameters", "created_by_id",
                                  "last_executed_at", "created_at", "is_public"),
            [(c.id, c.name, c.version, None,
              f"s3://rfcx-ai-dev/classifiers/{c.name}-v{c.version}.tar.gz", "tf2",
              f"step={c.step_ms / 1000:g}", 3, None, made, 1) for c in CLASSIFIERS])
    _insert(conn, "classifier_outputs", ("classifier_id", "classification_id",
                                         "output_class_name", "ignore_threshold"),
            [(c.id, ids[v], output_class_name(v), c.threshold)
             for c in CLASSIFIERS for v in c.outputs])


def _streams(conn: sqlite3.Connection, plan: list[StreamSpec], stream_ids: list[str],
             project_ids: dict[str, str], bounds: list[tuple[int | None, int | None]],
             made: int) -> None:
    projects: dict[str, ProjectSpec] = {p.key: p for p in PROJECTS}
    rows = []
    for i, (st, sid) in enumerate(zip(plan, stream_ids, strict=True)):
        project = projects[st.project]
        rows.append((sid, st.name, st.description, project_ids[st.project],
                     int(project.is_public), 0, st.latitude, st.longitude, st.altitude,
                     st.timezone, 0, st.sample_rate, 4000 + i if project.external_id else None,
                     project.created_by, st.country_code, bounds[i][0], bounds[i][1],
                     st.codec, made, made))
    _insert(conn, "streams", ("id", "name", "description", "project_id", "is_public", "hidden",
                              "latitude", "longitude", "altitude", "timezone",
                              "timezone_locked", "max_sample_rate", "external_id",
                              "created_by_id", "country_code", "start", "end", "codec",
                              "created_at", "updated_at"), rows)


def _segments(conn: sqlite3.Connection, seed: int, plan: list[StreamSpec],
              stream_ids: list[str], parts: list[Columns]) -> None:
    for i, (st, sid) in enumerate(zip(plan, stream_ids, strict=True)):
        start, end = parts[i]["start"], parts[i]["end"]
        n = len(start)
        rng = _rng(seed, 30, i)
        seg_ids, file_ids = uuid4_strings(rng, n), uuid4_strings(rng, n)
        ext = CODEC_EXTENSIONS[st.codec]
        stamps = np.datetime_as_string(start.astype("datetime64[ms]"), unit="s")
        names = [f"{sid}_{s[:4]}{s[5:7]}{s[8:10]}T{s[11:13]}{s[14:16]}{s[17:19]}{ext}"
                 for s in stamps.tolist()]
        duration = (end - start).tolist()
        # ingested a few minutes after the recording ended
        created = (end + 300_000).tolist()
        _insert(conn, "stream_source_files", ("id", "stream_id", "filename", "duration",
                                              "sample_rate", "channels", "sha1",
                                              "created_at"),
                zip(file_ids, [sid] * n, names, duration, [st.sample_rate] * n, [1] * n,
                    [None] * n, created, strict=True))
        counts = sample_counts(start, end, st.sample_rate).tolist()
        _insert(conn, "segments", ("id", "stream_id", "start", "end", "sample_count",
                                   "stream_source_file_id", "file_extension", "availability",
                                   "synth", "created_at", "updated_at"),
                zip(seg_ids, [sid] * n, start.tolist(), end.tolist(), counts, file_ids,
                    [ext] * n, [1] * n, [1] * n, created, created, strict=True))


def _calls(conn: sqlite3.Connection, calls: Columns, call_ids: np.ndarray,
           stream_ids: list[str]) -> None:
    sids = np.array(stream_ids, dtype=object)[calls["stream"]].tolist()
    _insert(conn, "calls", ("id", "stream_id", "classification_id", "start", "end",
                            "frequency_min", "frequency_max", "amplitude"),
            zip(call_ids.tolist(), sids, calls["classification_id"].tolist(),
                calls["start"].tolist(), calls["end"].tolist(),
                calls["frequency_min"].tolist(), calls["frequency_max"].tolist(),
                calls["amplitude"].tolist(), strict=True))


def _detections(conn: sqlite3.Connection, det: Columns, plan: list[StreamSpec],
                stream_ids: list[str]) -> None:
    order = np.lexsort((det["classification_id"], det["classifier_id"], det["stream"],
                        det["start"]))
    det = {k: v[order] for k, v in det.items()}
    project_of = np.array([next(j for j, p in enumerate(PROJECTS) if p.key == st.project)
                           for st in plan], dtype=np.int64)
    # one classifier job per (classifier, project)
    job = det["classifier_id"] * 100 + project_of[det["stream"]] + 1
    sids = np.array(stream_ids, dtype=object)[det["stream"]].tolist()
    _insert(conn, "detections", ("id", "stream_id", "classifier_id", "classification_id",
                                 "classifier_job_id", "start", "end", "confidence",
                                 "review_status", "call_id"),
            zip(range(1, len(order) + 1), sids, det["classifier_id"].tolist(),
                det["classification_id"].tolist(), job.tolist(), det["start"].tolist(),
                det["end"].tolist(), det["confidence"].tolist(),
                _nullable(det["review_status"], _NULL_REVIEW), _nullable(det["call_id"], 0),
                strict=True))


def _annotations(conn: sqlite3.Connection, seed: int, spec: WorldSpec, plan: list[StreamSpec],
                 calls: Columns, call_ids: np.ndarray, stream_ids: list[str]) -> None:
    mine = np.array([any(u == DEMO_USER for u, _ in
                         next(p for p in PROJECTS if p.key == st.project).roles)
                     for st in plan], dtype=bool)
    eligible = np.flatnonzero(mine[calls["stream"]])
    rng = _rng(seed, 40)
    n = min(spec.annotations, len(eligible))
    pick = np.sort(rng.choice(eligible, size=n, replace=False)) if n else eligible[:0]
    ids = uuid4_strings(rng, n)
    created = (calls["end"][pick] + rng.integers(86_400_000, 20 * 86_400_000, n)).tolist()
    sids = np.array(stream_ids, dtype=object)[calls["stream"][pick]].tolist()
    _insert(conn, "annotations", ("id", "stream_id", "classification_id", "start", "end",
                                  "frequency_min", "frequency_max", "created_by_id",
                                  "created_at", "updated_at", "call_id"),
            zip(ids, sids, calls["classification_id"][pick].tolist(),
                calls["start"][pick].tolist(), calls["end"][pick].tolist(),
                calls["frequency_min"][pick].tolist(), calls["frequency_max"][pick].tolist(),
                [DEMO_USER] * n, created, created, call_ids[pick].tolist(), strict=True))


__all__ = ["WORLDS", "WorldSpec", "build_world", "uuid4_strings", "world_summary"]
