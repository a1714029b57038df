"""Subcommands that act on the platform account: ``login`` (saved credentials) and ``ingest`` (uploads)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from .. import config
from ..client import Client
from .args import existing_file, positive_float, time_text
from .connection import client_from
from .exits import EXIT_ERROR, EXIT_OK
from .parsers import add_subcommand

#: ``check_ingest`` statuses from here up are failures (FAILED, DUPLICATE, CHECKSUM).
FAILED_STATUS = 30


def _cmd_login(args: argparse.Namespace) -> int:
    """``rfcx-frames login``: device-code (or client-credentials) login, saved 0600."""
    client = Client(api_url=args.api_url, ingest_url=args.ingest_url, auth_url=args.auth_url)
    client.authenticate(persist=True, persisted_credentials_path=args.credentials,
                        open_browser=not args.no_browser)
    if config.env(config.ENV_CLIENT_SECRET):
        print("logged in with the client credentials (AUTH0_CLIENT_SECRET); "
              "nothing saved", file=sys.stderr)
    else:
        print(f"logged in; credentials saved to {args.credentials}", file=sys.stderr)
    return EXIT_OK


def _add_login(sub: Any) -> None:
    p = add_subcommand(
        sub, "login", "log in with the device-code flow and save the credentials", _cmd_login,
        description="Log in: print a URL and a code to approve in a browser, then save "
                    "the tokens (official client's .rfcx_credentials format, mode 0600). "
                    "With AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET set, log in as that "
                    "machine client instead (nothing saved).")
    p.add_argument("--no-browser", action="store_true",
                   help="only print the URL; do not open a browser")


def _cmd_ingest(args: argparse.Namespace) -> int:
    """``rfcx-frames ingest``: upload a recording; with ``--wait``, exit 1 if it fails."""
    client = client_from(args)
    upload_id = client.ingest_file(args.stream, args.file, args.timestamp)
    status, name, message = client.check_ingest(upload_id, wait_for_completion=args.wait,
                                                timeout=args.timeout,
                                                poll_interval=args.poll_interval)
    print(json.dumps({"upload_id": upload_id, "status": status, "status_name": name,
                      "failure_message": message}))
    if status >= FAILED_STATUS:
        print(f"error: upload {upload_id} ended {name} (status {status})"
              + (f": {message}" if message else ""), file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _add_ingest(sub: Any) -> None:
    p = add_subcommand(
        sub, "ingest", "upload a recording", _cmd_ingest,
        description="Upload one recording to a stream and print its upload status as "
                    "one JSON line. Exit code 1 when the upload ends FAILED, DUPLICATE "
                    "or CHECKSUM.")
    p.add_argument("--stream", required=True, help="stream id")
    p.add_argument("--file", required=True, type=existing_file,
                   help="audio file (wav, flac, opus, ...)")
    p.add_argument("--timestamp", required=True, type=time_text,
                   help="recording start, ISO 8601 (naive = UTC)")
    p.add_argument("--wait", action="store_true",
                   help="wait until the platform has processed the upload")
    p.add_argument("--timeout", type=positive_float, default=config.CHECK_INGEST_TIMEOUT_S,
                   help="with --wait: give up after this many seconds (default: %(default)s)")
    p.add_argument("--poll-interval", type=positive_float, default=config.CHECK_INGEST_POLL_S,
                   help="with --wait: seconds between status checks (default: %(default)s)")


#: Its subcommands, in ``--help`` order: each adds itself to argparse sub-parsers.
SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_login, _add_ingest)
