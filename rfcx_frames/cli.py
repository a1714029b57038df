"""The ``rfcx-frames`` command line.

Every subcommand is one library call (see :mod:`rfcx_frames.commands`); ``rfcx-frames
COMMAND --help`` lists its options.

Exit codes scripts can rely on:

- **0** success.
- **1** a platform or data error: the platform refused or failed the request (401, 403,
  404, 5xx after every retry), ``--cache offline`` without the data, an upload that ended
  FAILED/DUPLICATE/CHECKSUM, a download that failed, a timeout, a local file that could
  not be written.
- **2** bad arguments or input: a missing or unknown option or subcommand, a date that is
  not ISO 8601, ``--out`` with a suffix other than ``.parquet``/``.csv``, a value out of
  range (``--min-confidence 2``), an input file that does not exist.
- **130** interrupted (Ctrl-C).

Errors print one line on stderr starting with ``error:`` and no traceback; ``--debug``
(before or after the subcommand) shows the traceback instead, and the process then exits
with Python's own code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from .audio.segment_check import AudioVerificationError
from .commands import add_commands
from .emulator import __main__ as emulator_main
from .exceptions import RFCxError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Command = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``error:`` line and exit code 2.

    Sub-parsers inherit the class, so every subcommand behaves the same.

    Examples
    --------
    >>> Parser(prog="x").parse_args([]).__class__.__name__
    'Namespace'
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {self.prog}: {message} (see '{self.prog} --help')\n")


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (multi-line messages are joined with ``; ``).

    Platform errors show their own message (status, URL, request id); other exceptions
    are prefixed with their class name, which often says more than the message
    (``FileNotFoundError``, ``TimeoutError``).

    Examples
    --------
    >>> one_line(ValueError("bad\\nworse"))
    'bad; worse'
    >>> one_line(TimeoutError("still UPLOADED"))
    'TimeoutError: still UPLOADED'
    """
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if isinstance(exc, (ValueError, TypeError, RFCxError)):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _add_emulator(sub: argparse._SubParsersAction[Parser]) -> None:
    parser = sub.add_parser("emulator", help="run a local RFCx platform emulator",
                            description="Run a local RFCx platform emulator until interrupted. "
                                        "Prints one JSON line with api_url, ingest_url, auth_url "
                                        "and token once it accepts connections.")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")
    emulator_main.add_arguments(parser)
    parser.set_defaults(command=emulator_main.serve)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand.

    Examples
    --------
    >>> build_parser().parse_args(["emulator", "--port", "0"]).port
    0
    """
    parser = Parser(prog="rfcx-frames",
                    description="Typed DataFrames and audio from RFCx/Arbimon.",
                    epilog="Exit codes: 0 ok, 1 platform or data error, 2 bad arguments, "
                           "130 interrupted.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND")
    sub.required = True
    _add_emulator(sub)
    add_commands(sub)
    return parser


def _quiet_broken_pipe() -> int:
    # `rfcx-frames detections ... | head`: the reader went away; that is not an error.
    # Point stdout at devnull so the interpreter's final flush does not complain.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rfcx-frames`` console script; returns the exit code.

    ``--help`` and usage errors return their code (0, 2) instead of raising ``SystemExit``.

    Examples
    --------
    >>> main(["cache", "clear", "--cache-dir", "/nonexistent/rfcx-cache"])
    {"entries": 0, "bytes": 0}
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # --help and usage errors: return the code, so in-process callers get it too.
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command: Command = args.command
    try:
        return command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except AudioVerificationError as exc:
        # A ValueError by type, but bad data from the platform, not a bad argument.
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except (ValueError, TypeError) as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
