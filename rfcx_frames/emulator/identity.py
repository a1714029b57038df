"""Which platform an emulator is: the stable id the client's cache is keyed by.

The real platform is known by its URL (``https://api.rfcx.org``); an emulator's URL
changes with its port at every start, so the cache asks it ``GET /_emulator/identity``
instead. The answer's ``id`` is

- **the world's content id** while the world is as it was built: a hash of the world
  name, seed, scale, period and row counts per table (and the package version, since
  the generator may change between versions). Two data directories built from the
  same name, seed and scale hold the same rows, so they share cache entries, and a
  world rebuilt in a fresh temporary folder for every session still finds its cache;
- **a random id** (``forked``) from the first successful write through the API on
  (an ingest upload, a classifier upload and its jobs): from then on the world's rows
  differ from its pristine twin's, so its answers must never be shared with it.

The id lives in the data directory's ``meta`` table, so a restart on the same
``--data-dir`` keeps it, forked or not. Every answer carries it in the
:data:`HEADER` header (a write's answer the forked one), so a client learns it from the
requests it makes anyway; the route is for a client that has made none yet.

Examples
--------
>>> import tempfile
>>> from rfcx_frames.emulator.store import Store
>>> from rfcx_frames.emulator.world import build_world
>>> store = Store(tempfile.mkdtemp())
>>> _ = build_world(store, "demo", days=1)
>>> platform_id(store).startswith("emulator:demo-0-")
True
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from ..cache.platforms import IDENTITY_HEADER
from ..version import __version__
from .store import Store
from .world import world_summary

#: The header of every answer that names the world (the client's cache reads it).
HEADER = IDENTITY_HEADER
PLATFORM_META = "platform_id"
FORKED_META = "platform_forked"


def content_id(store: Store) -> str:
    """The id of the world as built: name, seed, scale, period, row counts, version.

    Examples
    --------
    >>> import tempfile
    >>> from rfcx_frames.emulator.world import build_world
    >>> a, b = Store(tempfile.mkdtemp()), Store(tempfile.mkdtemp())
    >>> _ = build_world(a, "demo", days=1); _ = build_world(b, "demo", days=1)
    >>> content_id(a) == content_id(b)
    True
    """
    summary = world_summary(store)
    facts: dict[str, Any] = {
        "world": summary["world"], "seed": summary["seed"],
        "period": [summary["period_start"], summary["period_end"]],
        "streams": store.meta("streams"), "days": store.meta("days"),
        # Tokens are issued by logins, which do not change the data.
        "counts": {k: v for k, v in summary["counts"].items() if k != "tokens"},
        "version": __version__,
    }
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]
    return f"emulator:{summary['world']}-{summary['seed']}-{digest}"


def platform_id(store: Store) -> str:
    """The stored id, set to :func:`content_id` on first use.

    Examples
    --------
    >>> import tempfile
    >>> from rfcx_frames.emulator.world import build_world
    >>> store = Store(tempfile.mkdtemp()); _ = build_world(store, "demo", days=1)
    >>> platform_id(store) == platform_id(store)
    True
    """
    stored = store.meta(PLATFORM_META)
    if stored is None:
        stored = content_id(store)
        store.set_meta(PLATFORM_META, stored)
    return stored


def fork(store: Store) -> str:
    """Give a world that was just written to its own random id (once); returns the id.

    Examples
    --------
    >>> import tempfile
    >>> from rfcx_frames.emulator.world import build_world
    >>> store = Store(tempfile.mkdtemp()); _ = build_world(store, "demo", days=1)
    >>> pristine = platform_id(store)
    >>> fork(store) != pristine, fork(store) == fork(store)
    (True, True)
    """
    if store.meta(FORKED_META) is None:
        store.set_meta(PLATFORM_META, f"emulator:{store.meta('world')}-forked-{uuid.uuid4().hex}")
        store.set_meta(FORKED_META, "1")
    return platform_id(store)


def describe(store: Store) -> dict[str, Any]:
    """The body of ``GET /_emulator/identity``: ``id``, ``world``, ``seed``, ``forked``.

    Examples
    --------
    >>> import tempfile
    >>> from rfcx_frames.emulator.world import build_world
    >>> store = Store(tempfile.mkdtemp()); _ = build_world(store, "demo", days=1)
    >>> describe(store)["forked"]
    False
    """
    return {"id": platform_id(store), "world": store.meta("world"),
            "seed": int(store.meta("seed") or 0), "forked": store.meta(FORKED_META) is not None}
