"""``tie_order="random"``: every listing returns rows tied on its sort key in a new,
seeded order per query; the default keeps them in id order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from rfcx_frames.emulator import Emulator, running

T = 1_709_300_000_000  # inside the one-day world
LISTINGS = [  # path, params, the key of an item
    ("/projects", {}, "id"),
    ("/streams", {}, "id"),
    ("/classifications", {"keyword": "Tied"}, "value"),
    ("/classifiers", {}, "id"),
    ("/annotations", {"start": "2024-03-01T00:00:00Z", "end": "2024-03-02T00:00:00Z"}, "id"),
]


def _tied_world(emu: Emulator) -> None:
    store = emu.store
    stream = store.query("SELECT id FROM streams WHERE created_by_id = 1 ORDER BY id")[0]["id"]
    first_class = int(store.query("SELECT max(id) AS n FROM classifications")[0]["n"]) + 1
    with store.connect() as conn:
        conn.executemany("INSERT INTO projects (id, name, created_by_id, created_at, updated_at)"
                         " VALUES (?, ?, 1, ?, ?)", [(f"tp{i:010d}", f"P{i}", T, T)
                                                     for i in range(40)])
        conn.executemany("INSERT INTO streams (id, name, created_by_id, created_at, updated_at)"
                         " VALUES (?, ?, 1, ?, ?)", [(f"ts{i:010d}", f"S{i}", T, T)
                                                     for i in range(40)])
        conn.executemany("INSERT INTO classifications (id, value, title, type) VALUES "
                         "(?, ?, 'Tied', 'species')", [(first_class + i, f"tied_{i}")
                                                       for i in range(40)])
        conn.executemany("INSERT INTO classifiers (name, version, created_by_id, created_at) "
                         "VALUES ('tied', 1, 1, ?)", [(T,)] * 40)
        conn.executemany('INSERT INTO annotations (id, stream_id, classification_id, start, '
                         '"end", created_by_id, created_at, updated_at) '
                         "VALUES (?, ?, 1, ?, ?, 1, ?, ?)",
                         [(f"tie-{i:03d}", stream, T, T + 1000, T, T) for i in range(40)])


def _world(folder: Path, tie_order: str, seed: int) -> Iterator[Emulator]:
    with running(world="demo", days=1, tie_order=tie_order, seed=seed, data_dir=folder) as emu:
        _tied_world(emu)
        yield emu


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _world(tmp_path_factory.mktemp("shuffled"), "random", 3)


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _world(tmp_path_factory.mktemp("twin"), "random", 3)


@pytest.fixture(scope="module")
def ordered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _world(tmp_path_factory.mktemp("ordered"), "id", 3)


def _keys(emu: Emulator, path: str, params: dict[str, str], key: str) -> list[str]:
    resp = requests.get(f"{emu.api_url}{path}", params={"limit": 1000, **params}, timeout=30,
                        headers={"Authorization": f"Bearer {emu.token}"})
    assert resp.status_code == 200, resp.text
    return [str(item[key]) for item in resp.json()]


@pytest.mark.parametrize("path, params, key", LISTINGS)
def test_ties_come_in_a_new_seeded_order_per_query(shuffled: Emulator, twin: Emulator,
                                                   path: str, params: dict[str, str],
                                                   key: str) -> None:
    first = [_keys(shuffled, path, params, key) for _ in range(3)]
    assert sorted(first[0]) == sorted(first[1]) == sorted(first[2])
    assert len({tuple(k) for k in first}) > 1  # the order of the ties changed
    # Same seed, same queries: the same orders, so a failing test can be replayed.
    assert [_keys(twin, path, params, key) for _ in range(3)] == first


@pytest.mark.parametrize("path, params, key", LISTINGS)
def test_by_default_ties_come_in_id_order(ordered: Emulator, path: str,
                                          params: dict[str, str], key: str) -> None:
    assert _keys(ordered, path, params, key) == _keys(ordered, path, params, key)


def test_a_unique_sort_is_stable_under_shuffled_ties(shuffled: Emulator) -> None:
    for path in ("/projects", "/streams"):
        orders = [_keys(shuffled, path, {"sort": "id"}, "id") for _ in range(3)]
        assert orders[0] == orders[1] == orders[2] == sorted(orders[0])
