"""Every listing is complete, each row once, when rows tied on the platform's sort key come
back in a new order in every query (``tie_order="random"``), as Postgres may return them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import requests

from rfcx_frames.emulator import Emulator, running
from rfcx_frames.exceptions import RFCxError

T = 1_709_300_000_000  # 2024-03-01T13:33:20Z: inside the one-day world
TIED = 1_300  # more than one page (1,000 rows), so a page boundary falls among the ties
STARTS = [T + 1000 * i for i in range(3)]  # three instants, 500 annotations at each


def _seed_ties(emu: Emulator) -> None:
    """Projects and streams sharing one ``updated_at``, classifications sharing a title."""
    store = emu.store
    stream = store.query("SELECT id FROM streams WHERE created_by_id = 1 ORDER BY id")[0]["id"]
    project = store.query("SELECT id FROM projects WHERE created_by_id = 1 ORDER BY id")[0]["id"]
    first_class = int(store.query("SELECT max(id) AS n FROM classifications")[0]["n"]) + 1
    with store.connect() as conn:
        conn.executemany("INSERT INTO projects (id, name, created_by_id, created_at, updated_at)"
                         " VALUES (?, ?, 1, ?, ?)",
                         [(f"tp{i:010d}", f"Tied project {i}", T, T) for i in range(TIED)])
        conn.executemany("INSERT INTO streams (id, name, project_id, created_by_id, created_at,"
                         " updated_at) VALUES (?, ?, ?, 1, ?, ?)",
                         [(f"ts{i:010d}", f"Tied stream {i}", project, T, T)
                          for i in range(TIED)])
        # Two names of rank 0 each: 2 x 700 joined rows, all tied on (title, rank).
        conn.executemany("INSERT INTO classifications (id, value, title, type) "
                         "VALUES (?, ?, 'Tied', 'species')",
                         [(first_class + i, f"tied_{i}") for i in range(700)])
        conn.executemany("INSERT INTO classification_alternative_names (classification_id, "
                         "name, language_id, rank) VALUES (?, ?, 'en', 0)",
                         [(first_class + i, f"tied name {i} {k}") for i in range(700)
                          for k in range(2)])
        conn.executemany('INSERT INTO annotations (id, stream_id, classification_id, start, '
                         '"end", created_by_id, created_at, updated_at) '
                         "VALUES (?, ?, 1, ?, ?, 1, ?, ?)",
                         [(f"tie-{s}-{i}", stream, s, s + 2000, T, T)
                          for s in STARTS for i in range(500)])


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with running(world="demo", days=1, tie_order="random", seed=7,
                 data_dir=tmp_path_factory.mktemp("tie-order")) as emu:
        _seed_ties(emu)
        yield emu


def _total(emu: Emulator, path: str, **params: str) -> int:
    """The listing's ``Total-Items``, asked once outside the client."""
    resp = requests.get(f"{emu.api_url}{path}", params={"limit": 1, **params},
                        headers={"Authorization": f"Bearer {emu.token}"}, timeout=30)
    return int(resp.headers["Total-Items"])


def test_offset_pages_of_the_default_sort_do_lose_rows(shuffled: Emulator) -> None:
    # The hazard the client avoids: two offset pages of the platform's default sort.
    headers = {"Authorization": f"Bearer {shuffled.token}"}
    ids: list[str] = []
    for offset in (0, 1000):
        resp = requests.get(f"{shuffled.api_url}/projects", headers=headers, timeout=30,
                            params={"limit": 1000, "offset": offset})
        ids += [p["id"] for p in resp.json()]
    assert len(set(ids)) < _total(shuffled, "/projects")


def test_projects_df_is_complete_under_shuffled_ties(shuffled: Emulator) -> None:
    expected = _total(shuffled, "/projects")
    with shuffled.client(progress=False, cache=False) as client:
        for _ in range(3):  # every query shuffles the ties again
            frame = client.projects_df()
            assert frame["id"].is_unique and len(frame) == expected
            assert {f"tp{i:010d}" for i in range(TIED)} <= set(frame["id"])


@pytest.mark.parametrize("include_public", [False, True])
def test_streams_df_is_complete_under_shuffled_ties(shuffled: Emulator,
                                                    include_public: bool) -> None:
    mine = _total(shuffled, "/streams")
    public = _total(shuffled, "/streams", only_public="true") if include_public else 0
    with shuffled.client(progress=False, cache=False) as client:
        for _ in range(2):
            frame = client.streams_df(include_public=include_public)
            assert frame["id"].is_unique
            assert mine <= len(frame) <= mine + public
            assert {f"ts{i:010d}" for i in range(TIED)} <= set(frame["id"])


def test_classifications_df_is_complete_under_shuffled_ties(shuffled: Emulator) -> None:
    values = {r["value"] for r in shuffled.store.query("SELECT value FROM classifications")}
    with shuffled.client(progress=False, cache=False) as client:
        for _ in range(2):
            frame = client.classifications_df()
            assert frame["value"].is_unique and set(frame["value"]) == values
            tied = frame[frame["value"].str.startswith("tied_")]
            assert tied["alternative_names"].map(len).eq(2).all()


def test_annotations_and_segments_are_complete_under_shuffled_ties(
        shuffled: Emulator) -> None:
    lo, hi = T - 3_600_000, T + 3_600_000
    stream = shuffled.store.query("SELECT id FROM streams WHERE created_by_id = 1 "
                                  "ORDER BY id")[0]["id"]

    def ids(table: str) -> set[str]:
        return {str(r["id"]) for r in shuffled.store.query(
            f"SELECT id FROM {table} WHERE stream_id = ? AND start >= ? AND start < ?",
            (stream, lo, hi))}

    start, end = pd.Timestamp(lo, unit="ms", tz="UTC"), pd.Timestamp(hi, unit="ms", tz="UTC")
    with shuffled.client(progress=False, cache=False) as client:
        for _ in range(2):
            frame = client.annotations_df(start, end, streams=[stream])
            assert frame["id"].is_unique and set(frame["id"]) == ids("annotations")
            assert len(frame) >= len(STARTS) * 500
            seg = client.segments_df(stream, start, end)
            assert seg["id"].is_unique and set(seg["id"]) == ids("segments")


def _writer(emu: Emulator, every_read: bool, tag: str) -> Callable[..., None]:
    """A response hook standing for another user adding a project while pages are read."""
    added: list[str] = []

    def hook(response: requests.Response, *args: object, **kwargs: object) -> None:
        query = parse_qs(urlsplit(response.url).query)
        if urlsplit(response.url).path != "/projects" or query.get("offset") != ["0"]:
            return
        if added and not every_read:
            return
        # An id sorting first: every later page starts one row earlier than planned.
        new = f"tp0{len(added):08d}{tag}"
        added.append(new)
        with emu.store.connect() as conn:
            conn.execute("INSERT INTO projects (id, name, created_by_id, created_at, "
                         "updated_at) VALUES (?, ?, 1, ?, ?)", (new, f"Added {new}", T, T))

    return hook


def test_a_listing_changed_while_read_is_read_again(shuffled: Emulator) -> None:
    with shuffled.client(progress=False, cache=False) as client:
        client.session.http.hooks["response"].append(_writer(shuffled, every_read=False, tag="a"))
        shuffled.reset_stats()
        frame = client.projects_df()
    assert frame["id"].is_unique and len(frame) == _total(shuffled, "/projects")
    assert "tp000000000a" in set(frame["id"])
    # Two reads of two pages, and the Total-Items asked just above.
    assert shuffled.stats()["requests"]["GET /projects"] == 4 + 1


def test_a_listing_that_keeps_changing_fails_instead_of_returning_short(
        shuffled: Emulator) -> None:
    with shuffled.client(progress=False, cache=False) as client:
        client.session.http.hooks["response"].append(_writer(shuffled, every_read=True, tag="b"))
        with pytest.raises(RFCxError, match="changed while it was read"):
            client.projects_df()
