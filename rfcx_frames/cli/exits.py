"""Exit codes and error lines: how a subcommand's outcome becomes one ``error:`` line and a code.

Examples
--------
>>> EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED
(0, 1, 2, 130)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from ..audio.segment_check import AudioVerificationError
from ..exceptions import RFCxError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: A subcommand's handler: parsed arguments in, exit code out.
Command = Callable[[argparse.Namespace], int]


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (multi-line messages are joined with ``; ``).

    Platform errors show their own message (status, URL, request id); other exceptions
    are prefixed with their class name, which often says more than the message
    (``FileNotFoundError``, ``TimeoutError``).

    Parameters
    ----------
    exc
        The exception to report.

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


def exit_code(exc: Exception) -> int:
    """The exit code of a handler that raised ``exc``: 2 for bad input, else 1.

    Parameters
    ----------
    exc
        What the handler raised.

    Examples
    --------
    >>> exit_code(ValueError("bad --pad")), exit_code(OSError("disk full"))
    (2, 1)
    """
    # A ValueError by type, but bad data from the platform, not a bad argument.
    if isinstance(exc, AudioVerificationError):
        return EXIT_ERROR
    return EXIT_USAGE if isinstance(exc, (ValueError, TypeError)) else EXIT_ERROR


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


def run(command: Command, args: argparse.Namespace) -> int:
    """Run ``command(args)``; an error becomes one ``error:`` line on stderr and its code.

    With ``args.debug`` an error is raised as it is (the traceback shows and Python
    exits with 1).

    Parameters
    ----------
    command
        The subcommand's handler.
    args
        Its parsed arguments (``debug`` included).

    Examples
    --------
    >>> def refuse(args: argparse.Namespace) -> int:
    ...     raise ValueError("--pad must be >= 0")
    >>> run(refuse, argparse.Namespace(debug=False))
    2
    """
    try:
        return command(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return exit_code(exc)
