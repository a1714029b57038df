"""Parsers of ``rfcx-frames``: one-line usage errors, one sub-parser per subcommand, shared options.

Examples
--------
>>> parser = Parser(prog="rfcx-frames")
>>> sub = parser.add_subparsers()
>>> _ = add_subcommand(sub, "hello", "say hello", lambda args: 0, connection=False)
>>> parser.parse_args(["hello"]).command(None)
0
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from .args import time_text
from .connection import add_connection
from .exits import EXIT_USAGE, Command


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


def _add_debug(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: an absent --debug here must not overwrite one given before COMMAND.
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")


def add_subcommand(sub: Any, name: str, help_text: str, handler: Command, *,
                   connection: bool = True, description: str | None = None
                   ) -> argparse.ArgumentParser:
    """Register subcommand ``name`` on ``sub`` (argparse sub-parsers) and return its parser.

    Every subcommand takes ``--debug``; those that talk to the platform take the
    connection options (:func:`~rfcx_frames.cli.connection.add_connection`).

    Parameters
    ----------
    sub
        The sub-parsers action of the top-level parser.
    name, help_text
        The subcommand and its one-line help (lower case, no full stop).
    handler
        Called with the parsed arguments; returns the exit code.
    connection
        Add the connection options.
    description
        The ``--help`` text; default: ``help_text`` as a sentence.

    Examples
    --------
    >>> sub = argparse.ArgumentParser().add_subparsers()
    >>> add_subcommand(sub, "ping", "check the platform", lambda args: 0).description
    'Check the platform.'
    """
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text,
        description=description or f"{help_text[0].upper()}{help_text[1:]}.")
    _add_debug(parser)
    if connection:
        add_connection(parser)
    parser.set_defaults(command=handler)
    return parser


def add_window(parser: argparse.ArgumentParser) -> None:
    """Add the required ``--start`` and ``--end`` of a ``[start, end)`` window.

    Parameters
    ----------
    parser
        The parser of a subcommand that reads a time window.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_window(parser)
    >>> parser.parse_args(["--start", "2024-03-01", "--end", "2024-03-02"]).end
    '2024-03-02'
    """
    parser.add_argument("--start", required=True, type=time_text,
                        help="window start, ISO 8601 (2024-03-01, 2024-03-01T06:00:00Z; "
                             "naive = UTC)")
    parser.add_argument("--end", required=True, type=time_text,
                        help="window end, exclusive, ISO 8601")
