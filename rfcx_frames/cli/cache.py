"""``rfcx-frames cache``: show the local cache (``info``, ``path``) or ``clear`` it."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from .. import cache as cache_mod
from .parsers import add_subcommand


def _check_clear_options(args: argparse.Namespace) -> None:
    if args.older_than is not None and args.action != "clear":
        raise ValueError("--older-than only applies to 'cache clear'")
    if args.orphans and args.action != "clear":
        raise ValueError("--orphans only applies to 'cache clear'")
    if args.orphans and args.older_than is not None:
        raise ValueError("--orphans and --older-than cannot be combined")


def _cmd_cache(args: argparse.Namespace) -> int:
    """``rfcx-frames cache info|path|clear [--orphans]``: inspect or clear the local cache.

    Parameters
    ----------
    args
        Parsed arguments: ``action``, ``cache_dir``, ``older_than``, ``orphans``.

    Examples
    --------
    >>> _cmd_cache(argparse.Namespace(action="path", cache_dir="/tmp/rfcx-cache",
    ...                              older_than=None, orphans=False))
    /tmp/rfcx-cache
    0
    """
    _check_clear_options(args)
    root = cache_mod.cache_root(args.cache_dir)
    if args.action == "path":
        print(root)
    elif args.action == "info":
        print(json.dumps(cache_mod.info(root), indent=2, default=str))
    elif args.orphans:
        print(json.dumps(cache_mod.clear_orphans(root)))
    else:
        older = cache_mod.parse_duration(args.older_than) if args.older_than else None
        removed = cache_mod.clear(root, older_than=older)
        print(json.dumps(removed, default=str))
    return 0


def _add_cache(sub: Any) -> None:
    p = add_subcommand(sub, "cache", "inspect or clear the local cache", _cmd_cache,
                       connection=False)
    p.add_argument("action", choices=["info", "path", "clear"],
                   help="info: entries as JSON; path: the folder; clear: delete entries")
    p.add_argument("--cache-dir", default=None,
                   help="cache folder or s3://bucket/prefix (default: RFCX_FRAMES_CACHE or "
                        "the user cache)")
    p.add_argument("--older-than", default=None,
                   help="with clear: only entries written longer ago, e.g. 7d, 12h, 30m")
    p.add_argument("--orphans", action="store_true",
                   help="with clear: delete only crash leftovers (unnamed data files, "
                        "temporaries, .part downloads) and keep every entry")


#: Its subcommands, in ``--help`` order: each adds itself to argparse sub-parsers.
SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (_add_cache,)
