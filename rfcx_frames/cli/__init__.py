"""The ``rfcx-frames`` command line: ``main()`` and the parser of every subcommand.

Every subcommand is one library call; ``rfcx-frames COMMAND --help`` lists its options.
Each group of subcommands lives in its own module, options beside the handler:
:mod:`.tables` (the ``*_df`` tables), :mod:`.analysis` (counts, effort, classifier
jobs), :mod:`.audio` (download, clips, training-set),
:mod:`.platform` (login, ingest), :mod:`.cache` and :mod:`.local` (emulator, demo).

Exit codes scripts can rely on:

- **0** success.
- **1** a platform or data error: the platform refused or failed the request (401, 403,
  404, 5xx after every retry), ``--cache offline`` without the data, an upload that ended
  FAILED/DUPLICATE/CHECKSUM, a download that failed, a timeout, a local file that could
  not be written.
- **2** bad arguments or input: a missing or unknown option or subcommand, a date that is
  not ISO 8601, ``--out`` with a suffix other than ``.parquet``/``.csv``, an unknown
  ``--columns`` name, a value out of range (``--min-confidence 2``), an input file that
  does not exist.
- **130** interrupted (Ctrl-C).

Errors print one line on stderr starting with ``error:`` and no traceback; ``--debug``
(before or after the subcommand) shows the traceback instead, and the process then exits
with Python's own code 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import analysis, audio, cache, local, platform, tables
from .exits import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Command, one_line, run
from .parsers import Parser

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main",
           "one_line"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand, in ``--help`` order.

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
    for group in (platform, tables, analysis, audio, cache, local):
        for register in group.SUBCOMMANDS:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rfcx-frames`` console script; returns the exit code.

    ``--help`` and usage errors return their code (0, 2) instead of raising ``SystemExit``.

    Parameters
    ----------
    argv
        The arguments after the program name; default: ``sys.argv[1:]``.

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
    return run(command, args)
