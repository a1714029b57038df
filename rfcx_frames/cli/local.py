"""Subcommands that run on this machine: the platform ``emulator`` and the end-to-end ``demo``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from .. import demo
from ..emulator import __main__ as emulator_main
from .args import time_text, unit_float
from .connection import add_token_options, read_token
from .parsers import add_subcommand


def _add_emulator(sub: Any) -> None:
    parser = add_subcommand(
        sub, "emulator", "run a local RFCx platform emulator", emulator_main.serve,
        connection=False,
        description="Run a local RFCx platform emulator until interrupted. Prints one JSON "
                    "line with api_url, ingest_url, auth_url and token once it accepts "
                    "connections.")
    emulator_main.add_arguments(parser)


def _cmd_demo(args: argparse.Namespace) -> int:
    """``rfcx-frames demo``: the whole product end to end (see :mod:`rfcx_frames.demo`)."""
    args.token = read_token(args)
    return demo.main(args)


def _add_demo(sub: Any) -> None:
    p = add_subcommand(
        sub, "demo", "run the whole product on the embedded emulator", _cmd_demo,
        connection=False,
        description="Run the whole product end to end (streams, detections, summary "
                    "and plot, cache, annotations, clips, training set) on the embedded "
                    "emulator, or on a platform given with --api-url.")
    p.add_argument("--api-url", default=None,
                   help="run against this platform instead of the emulator")
    add_token_options(p)
    p.add_argument("--out", default="demo-output",
                   help="output folder: new, empty, or an earlier demo's output "
                        "(default: %(default)s)")
    p.add_argument("--start", type=time_text, default="2024-03-01",
                   help="start of the month analysed (default: %(default)s, the demo world)")
    p.add_argument("--end", type=time_text, default="2024-04-01",
                   help="end of the window, exclusive (default: %(default)s)")
    p.add_argument("--min-confidence", type=unit_float, default=0.5,
                   help="detection confidence threshold (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


#: Its subcommands, in ``--help`` order: each adds itself to argparse sub-parsers.
SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_emulator, _add_demo)
