"""A local RFCx platform: a real HTTP server on 127.0.0.1 with a synthetic world.

Start it from Python::

    from rfcx_frames.emulator import running
    with running(world="demo") as emu:
        client = emu.client()
        client.streams_df()

or from a shell with ``rfcx-frames emulator --world demo --port 0`` (or
``python -m rfcx_frames.emulator``), which prints one JSON line with ``api_url``,
``ingest_url``, ``auth_url`` and ``token`` once it accepts connections.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..client import Client
from ..timeutil import to_epoch_ms, to_utc
from . import assets, detection_pages, identity, ingest, oauth, routes
from .auth import Auth0, world_secret
from .classifier_jobs import JobRunner
from .faults import FaultConfig, Faults
from .server import App, EmulatorHTTPServer
from .store import Store
from .world import WORLDS, build_world

__all__ = ["WORLDS", "Emulator", "running"]


class Emulator:
    """A running emulator: its URLs, tokens, data directory and controls.

    Parameters
    ----------
    world
        Name of the world to build into an empty data directory (``"demo"``, ``"large"``).
    data_dir
        Folder of the SQLite database and audio blobs. ``None`` makes a fresh temporary
        folder that is removed on :meth:`stop`. An existing folder is reused as it is
        (world, ingested files and all).
    host, port
        Where to listen; port 0 picks a free port.
    seed, streams, days
        World seed and scale knobs (see :func:`rfcx_frames.emulator.world.build_world`).
    fault_rate, reset_rate, latency_ms
        Fault injection: share of requests answered 500/502/503, share of connections
        reset or cut short, and added latency.
    rate_limit, rate_burst
        The ingress's rate limit per client address, as nginx's ``limit_req rate=N r/m
        burst=B nodelay``: ``burst + 1`` requests pass at once, then one each
        ``60 / rate_limit`` seconds; the excess gets the ingress's 503.
        ``rate_burst=None`` is 5x the rate (ingress-nginx's default); the platform runs
        ``rate_limit=300`` (burst 1500). ``None``: no limit.
    rate_clock
        Seconds on a monotonic clock for the rate limit's bucket (default
        ``time.monotonic``); tests pass their own to step time.
    tie_order
        ``"id"`` (default): rows of any listing that share its sort key (a start, an
        ``updated_at``, a title) come in id order, so offset pages are stable.
        ``"random"``: a new order of those rows for every query, as the platform's
        database may do, drawn from ``seed``; a client that pages by offset can then skip
        or repeat rows.
    clock
        Returns the platform's current time (a ``pandas.Timestamp`` or anything
        :func:`rfcx_frames.timeutil.to_utc` reads) for the times it writes, such as a
        classifier job's ``created_at``; default: the wall clock.
    jobs
        ``"auto"`` (default): a created classifier job runs at once in the background.
        ``"manual"``: it waits until :meth:`advance_jobs`, so each state can be seen.

    Examples
    --------
    >>> emu = Emulator(world="demo", days=1).start()
    >>> emu.api_url.startswith("http://127.0.0.1:")
    True
    >>> emu.stop()
    """

    def __init__(self, world: str = "demo", *, data_dir: str | Path | None = None,
                 host: str = "127.0.0.1", port: int = 0, seed: int = 0,
                 streams: int | None = None, days: int | None = None,
                 fault_rate: float = 0.0, reset_rate: float = 0.0, latency_ms: int = 0,
                 rate_limit: int | None = None, rate_burst: int | None = None,
                 rate_clock: Callable[[], float] = time.monotonic,
                 tie_order: str = "id", clock: Callable[[], Any] | None = None,
                 jobs: str = "auto") -> None:
        if world not in WORLDS:
            raise ValueError(f"world must be one of {sorted(WORLDS)}, got {world!r}")
        # Validate every option before anything is written to disk.
        if tie_order not in ("id", "random"):
            raise ValueError(f"tie_order must be 'id' or 'random', got {tie_order!r}")
        if jobs not in ("auto", "manual"):
            raise ValueError(f"jobs must be 'auto' or 'manual', got {jobs!r}")
        self._jobs_auto = jobs == "auto"
        fault_config = FaultConfig(fault_rate=fault_rate, reset_rate=reset_rate,
                                   latency_ms=latency_ms, rate_limit=rate_limit,
                                   rate_burst=rate_burst)
        self._owns_dir = data_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="rfcx-emulator-") if data_dir is None
                             else data_dir)
        self.world = world
        self.store = Store(self.data_dir)
        build_world(self.store, world, seed=seed, streams=streams, days=days)
        with self.store.connect() as conn:
            detection_pages.fill_if_missing(conn)  # a data directory of an older version
        identity.platform_id(self.store)  # fixed now, before any write can fork the world
        self.faults = Faults(fault_config, seed=seed, clock=rate_clock)
        self.app = App(store=self.store, faults=self.faults, auth0=Auth0(self.store),
                       secret=world_secret(self.store), tie_order=tie_order, tie_seed=seed)
        if clock is not None:
            self.app.clock = lambda: to_epoch_ms(to_utc(clock(), "clock()"))
        if self.store.meta(oauth.CLIENT_SECRET_META) is None:
            self.store.set_meta(oauth.CLIENT_SECRET_META, "emulator-client-secret")
        routes.register(self.app)
        assets.register(self.app)
        oauth.register(self.app)
        self._host, self._port = host, port
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind, start serving in a background thread, and return self."""
        ingest.register(self.app)
        self.app.jobs = JobRunner(self.store, self.app.clock, auto=self._jobs_auto)
        self.app.workers.append(self.app.jobs)
        self._server = EmulatorHTTPServer((self._host, self._port), self.app)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="rfcx-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, stop the ingest worker, close the database."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for worker in self.app.workers:
            worker.stop()
        self.app.workers.clear()
        self.store.close()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and identities ----------------------------------------------------
    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start()")
        return int(self._server.server_address[1])

    @property
    def api_url(self) -> str:
        """Base URL of the core API (like ``https://api.rfcx.org``)."""
        return f"http://{self._host}:{self.port}"

    @property
    def ingest_url(self) -> str:
        """The uploads endpoint (like ``RFCX_INGEST_URL``, ``https://ingest.rfcx.org/uploads``)."""
        return f"{self.api_url}/ingest/uploads"

    @property
    def auth_url(self) -> str:
        """Base URL of the emulated Auth0 tenant (like ``https://auth.rfcx.org``)."""
        return f"{self.api_url}/auth"

    @property
    def tokens(self) -> dict[str, str]:
        """Bearer tokens of the world's users: ``demo``, ``other`` and ``system``."""
        return {name: self.store.meta(f"token:{name}") or ""
                for name in ("demo", "other", "system")}

    @property
    def token(self) -> str:
        """Bearer token of the demo user."""
        return self.tokens["demo"]

    @property
    def client_secret(self) -> str:
        """Secret accepted by the client-credentials grant (with any client id)."""
        return self.store.meta(oauth.CLIENT_SECRET_META) or ""

    def info(self) -> dict[str, str]:
        """The JSON line printed by the command line: URLs, token and data directory."""
        return {"api_url": self.api_url, "ingest_url": self.ingest_url,
                "auth_url": self.auth_url, "token": self.token, "data_dir": str(self.data_dir),
                "world": self.world}

    # -- statistics and faults ---------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Request and fault counters, read over HTTP from ``/_emulator/stats``."""
        with urllib.request.urlopen(f"{self.api_url}/_emulator/stats", timeout=10) as resp:
            data: dict[str, Any] = json.load(resp)
        return data

    @property
    def platform_id(self) -> str:
        """The id the client's cache knows this world by (``GET /_emulator/identity``)."""
        return identity.platform_id(self.store)

    def reset_stats(self) -> None:
        """Zero the request and fault counters."""
        self.faults.reset_counts()

    def set_faults(self, **changes: Any) -> None:
        """Change fault injection while running (``fault_rate``, ``reset_rate``, ...)."""
        self.faults.configure(**changes)

    def wait_for_jobs(self, timeout: float = 60.0) -> bool:
        """Wait until every queued classifier job has run; ``False`` on timeout."""
        return self.app.jobs is None or self.app.jobs.idle.wait(timeout)

    def advance_jobs(self, segments: int | None = None) -> None:
        """Run created classifier jobs (``jobs="manual"``) for ``segments`` segments, or all.

        Examples
        --------
        >>> with running(days=1, jobs="manual") as emu:
        ...     emu.advance_jobs()  # no job was created: nothing to do
        """
        if self.app.jobs is not None:
            self.app.jobs.advance(segments)

    def client(self, **kwargs: Any) -> Client:
        """A :class:`rfcx_frames.Client` wired to this emulator as the demo user."""
        options: dict[str, Any] = {"api_url": self.api_url, "ingest_url": self.ingest_url,
                                   "auth_url": self.auth_url, "token": self.token}
        options.update(kwargs)
        return Client(**options)


@contextmanager
def running(world: str = "demo", **options: Any) -> Iterator[Emulator]:
    """Run an emulator for the duration of a ``with`` block.

    Takes the same arguments as :class:`Emulator`.

    Examples
    --------
    >>> with running(world="demo", days=1) as emu:
    ...     emu.stats()["total_requests"]
    0
    """
    emu = Emulator(world, **options).start()
    try:
        yield emu
    finally:
        emu.stop()
