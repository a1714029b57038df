"""``python -m rfcx_frames.emulator``: run the emulator until interrupted.

Prints one JSON line (``api_url``, ``ingest_url``, ``auth_url``, ``token``, ``data_dir``)
as soon as the server accepts connections, so scripts can read it and start work.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from . import WORLDS, Emulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser`` (shared with ``rfcx-frames emulator``)."""
    parser.add_argument("--world", default="demo", choices=sorted(WORLDS),
                        help="synthetic world to build into an empty data directory")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--data-dir", default=None,
                        help="folder of the database and audio (default: a fresh temporary one)")
    parser.add_argument("--seed", type=int, default=0, help="world seed")
    parser.add_argument("--streams", type=int, default=None, help="number of streams (scale)")
    parser.add_argument("--days", type=int, default=None, help="number of days (scale)")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="share of requests answered 500/502/503")
    parser.add_argument("--reset-rate", type=float, default=0.0,
                        help="share of connections reset or cut short")
    parser.add_argument("--latency-ms", type=int, default=0, help="added latency per request")
    parser.add_argument("--rate-limit", type=int, default=None,
                        help="nginx limit_req rate: requests per minute per client address, "
                             "the excess answered 503 (platform: 300)")
    parser.add_argument("--rate-burst", type=int, default=None,
                        help="nginx limit_req burst: requests beyond the first that pass at "
                             "once (default: 5x --rate-limit, ingress-nginx's multiplier)")
    parser.add_argument("--tie-order", default="id", choices=["id", "random"],
                        help="order of listing rows sharing a sort key: by id (stable) or "
                             "a new one per query, seeded (like the platform's database)")


def serve(args: argparse.Namespace) -> int:
    """Start an emulator from parsed arguments and serve until SIGINT/SIGTERM."""
    emu = Emulator(args.world, data_dir=args.data_dir, host=args.host, port=args.port,
                   seed=args.seed, streams=args.streams, days=args.days,
                   fault_rate=args.fault_rate, reset_rate=args.reset_rate,
                   latency_ms=args.latency_ms, rate_limit=args.rate_limit,
                   rate_burst=args.rate_burst, tie_order=args.tie_order).start()
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(json.dumps(emu.info()), flush=True)
    try:
        stop.wait()
    finally:
        emu.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m rfcx_frames.emulator``."""
    parser = argparse.ArgumentParser(prog="python -m rfcx_frames.emulator",
                                     description="Run a local RFCx platform emulator.")
    add_arguments(parser)
    try:
        return serve(parser.parse_args(argv))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
