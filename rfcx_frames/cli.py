"""The ``rfcx-frames`` command line.

Exit codes scripts can rely on: 0 success, 1 a platform or data error (one line on stderr,
no traceback unless ``--debug``), 2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .commands import add_commands
from .emulator import __main__ as emulator_main

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Command = Callable[[argparse.Namespace], int]


def _add_emulator(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("emulator", help="run a local RFCx platform emulator",
                            description="Run a local RFCx platform emulator until interrupted. "
                                        "Prints one JSON line with api_url, ingest_url, auth_url "
                                        "and token once it accepts connections.")
    emulator_main.add_arguments(parser)
    parser.set_defaults(command=emulator_main.serve)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand.

    Examples
    --------
    >>> build_parser().parse_args(["emulator", "--port", "0"]).port
    0
    """
    parser = argparse.ArgumentParser(prog="rfcx-frames",
                                     description="Typed DataFrames and audio from RFCx/Arbimon.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    sub.required = True
    _add_emulator(sub)
    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rfcx-frames`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.command
    try:
        return command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError) as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
