"""Connection options of the ``rfcx-frames`` subcommands, the token they read, the Client they build.

Settings come from ``--api-url`` and the same environment variables as the library
(``RFCX_API_URL``, ``RFCX_TOKEN``, ...); a token is read from ``RFCX_TOKEN``,
``--token-file PATH`` (``-``: standard input) or the saved login, so it never has to be on
the command line where ``ps`` shows it (``--token`` remains as a last resort).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .. import config
from ..client import Client
from ..exceptions import AuthenticationError


def add_connection(parser: argparse.ArgumentParser) -> None:
    """Add the ``connection`` option group (URLs, token, credentials, cache folder).

    Parameters
    ----------
    parser
        The parser of a subcommand that talks to the platform.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_connection(parser)
    >>> parser.parse_args(["--no-progress"]).no_progress
    True
    """
    group = parser.add_argument_group("connection")
    group.add_argument("--api-url", default=None, help="core API (default: RFCX_API_URL or "
                                                       "https://api.rfcx.org)")
    group.add_argument("--ingest-url", default=None,
                       help="ingest uploads endpoint (default: RFCX_INGEST_URL or "
                            "https://ingest.rfcx.org/uploads)")
    group.add_argument("--auth-url", default=None,
                       help="Auth0 tenant (default: RFCX_AUTH_URL or https://auth.rfcx.org)")
    add_token_options(group)
    group.add_argument("--credentials", default=config.CREDENTIALS_FILE,
                       help="saved login file (default: %(default)s)")
    group.add_argument("--cache-dir", default=None,
                       help="cache folder (default: RFCX_FRAMES_CACHE or the user cache)")
    group.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_token_options(group: Any) -> None:
    """Add ``--token-file`` and ``--token`` (mutually exclusive) to a parser or group.

    Parameters
    ----------
    group
        An ``argparse`` parser or argument group.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_token_options(parser)
    >>> parser.parse_args(["--token-file", "-"]).token_file
    '-'
    """
    tokens = group.add_mutually_exclusive_group()
    tokens.add_argument("--token-file", default=None, metavar="PATH",
                        help="read the bearer token from this file ('-': standard input); "
                             "default: RFCX_TOKEN, else the saved login")
    tokens.add_argument("--token", default=None,
                        help="bearer token; last resort only: any user of this machine sees "
                             "it in 'ps' and it stays in the shell history (prefer RFCX_TOKEN "
                             "or --token-file)")


def read_token(args: argparse.Namespace) -> str | None:
    """The token given on the command line: ``--token-file`` (``-``: stdin) or ``--token``.

    Surrounding whitespace (a trailing newline) is dropped; an empty or missing file is a
    usage error naming the option.

    Parameters
    ----------
    args
        Parsed arguments with ``token_file`` and ``token``.

    Examples
    --------
    >>> read_token(argparse.Namespace(token=None, token_file=None)) is None
    True
    """
    path = getattr(args, "token_file", None)
    if path is None:
        token: str | None = getattr(args, "token", None)
        return token
    where = "standard input" if path == "-" else repr(path)
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--token-file: cannot read {where}: {exc.strerror or exc}") from None
    token = text.strip()
    if not token or any(c.isspace() for c in token):
        # Say nothing of the content: it may be a token with a stray character.
        raise ValueError(f"--token-file: {where} must hold exactly one token "
                         f"({'nothing' if not token else 'whitespace inside'} found)")
    return token


def client_from(args: argparse.Namespace) -> Client:
    """A logged-in :class:`~rfcx_frames.Client` from the connection options.

    The token comes from the command line or ``RFCX_TOKEN``; without one, the machine
    client (``AUTH0_CLIENT_SECRET``) or the saved login logs in. With none of them it fails
    before the first request, with advice that fits a shell user.

    Parameters
    ----------
    args
        Parsed arguments of :func:`add_connection`.

    Examples
    --------
    >>> client = client_from(parser.parse_args([...]))  # doctest: +SKIP
    """
    client = Client(api_url=args.api_url, ingest_url=args.ingest_url, auth_url=args.auth_url,
                    token=read_token(args), cache_dir=args.cache_dir,
                    progress=not args.no_progress)
    if client.authenticated:
        return client
    if config.env(config.ENV_CLIENT_SECRET):
        client.authenticate(persist=False)
    elif Path(args.credentials).exists():
        client.authenticate(persisted_credentials_path=args.credentials)
    elif not Path(config.CREDENTIALS_FILE).exists():
        raise AuthenticationError("not logged in: set RFCX_TOKEN, pass --token-file PATH "
                                  "('-' reads standard input), or run 'rfcx-frames login' "
                                  "first")
    return client
