"""Table output of ``rfcx-frames``: a terminal-wide table, or every row to Parquet or CSV.

Without ``--out`` a table command prints its first :data:`TABLE_ROWS` rows, a few useful
columns of the table (or the ``--columns`` chosen), UTC times as ``2024-03-01T04:30:25.302Z``,
cut to the terminal's width: columns that do not fit are left out from the right and named
on a line below. ``--out
FILE.parquet|.csv`` writes every row and every column (or the ``--columns`` chosen).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import open_atomic
from ..timeutil import to_wire
from .args import name_list, table_path

TABLE_ROWS = 40
TABLE_COLWIDTH = 40
#: The shortest a cut line gets: below this the table would say nothing.
MIN_WIDTH = 20


def add_table_output(parser: argparse.ArgumentParser) -> None:
    """Add ``--out FILE`` and ``--columns a,b,c`` to a table command.

    Parameters
    ----------
    parser
        The parser of a subcommand that returns a table.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_table_output(parser)
    >>> parser.parse_args(["--columns", "id,name"]).columns
    ['id', 'name']
    """
    parser.add_argument("--out", type=table_path, default=None, metavar="FILE",
                        help="write the table to FILE.parquet or FILE.csv instead of "
                             "printing it")
    parser.add_argument("--columns", type=name_list, default=None, metavar="A,B,...",
                        help="only these columns, in this order (default: a few useful "
                             "ones on the terminal, every column in a file)")


def check_columns(requested: Sequence[str] | None, allowed: Sequence[str]) -> list[str] | None:
    """``requested`` if every name is one of ``allowed``; ``None`` when none were requested.

    Parameters
    ----------
    requested
        The names given with ``--columns``, or ``None``.
    allowed
        The columns of the table.

    Raises
    ------
    ValueError
        Naming each unknown column and listing the allowed ones (exit code 2).

    Examples
    --------
    >>> check_columns(["name"], ["id", "name"])
    ['name']
    >>> check_columns(["nmae"], ["id", "name"])
    Traceback (most recent call last):
    ...
    ValueError: --columns: unknown column 'nmae'; allowed: id, name
    """
    if requested is None:
        return None
    unknown = [name for name in requested if name not in allowed]
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise ValueError(f"--columns: unknown column{'s' if len(unknown) > 1 else ''} "
                         f"{names}; allowed: {', '.join(allowed)}")
    return list(requested)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with nested cells (lists, arrays, dicts) as JSON text, for CSV.

    Without this a CSV cell would hold Python's or numpy's ``repr`` (which differs
    between a fresh and a cached frame, and spans lines for arrays); JSON reads back
    with ``json.loads`` in any language.

    Parameters
    ----------
    frame
        Any table.

    Examples
    --------
    >>> csv_ready(pd.DataFrame({"names": [[{"name": "Coqui"}], None]}))["names"].iloc[0]
    '[{"name": "Coqui"}]'
    """
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype != object:
            continue
        cells = out[column]
        if cells.map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray))).any():
            out[column] = cells.map(
                lambda v: json.dumps(_jsonable(v), ensure_ascii=False)
                if isinstance(v, (list, tuple, dict, np.ndarray)) else v)
    return out


def write_table(frame: pd.DataFrame, out: str) -> None:
    """Write ``frame`` to ``out`` (``.parquet`` or ``.csv``) and say so on stderr.

    The file appears whole or not at all (an error or Ctrl-C leaves an older one as it was).

    Parameters
    ----------
    frame
        The table, every row.
    out
        The file; its suffix picks the format.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_table(pd.DataFrame({"a": [1]}), f"{folder}/a.csv")  # "wrote 1 rows to ..."
    """
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        with open_atomic(path, "wb") as handle:
            frame.to_parquet(handle, index=False)
    elif suffix == ".csv":
        with open_atomic(path, "w") as handle:
            csv_ready(frame).to_csv(handle, index=False)
    else:
        raise ValueError(f"--out must end in .parquet or .csv, got {out!r}")
    print(f"wrote {len(frame)} rows to {path}", file=sys.stderr)


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for reading on a terminal: UTC times as the platform writes them.

    ``2024-03-01T04:30:25.302Z`` is shorter than pandas' ``2024-03-01 04:30:25.302+00:00``
    and is what ``--start`` accepts; a missing time shows as ``NaT``.

    Parameters
    ----------
    frame
        The rows and columns to show.

    Examples
    --------
    >>> t = pd.to_datetime(["2024-03-01T04:30:25.302Z", None], utc=True)
    >>> readable(pd.DataFrame({"start": t}))["start"].tolist()
    ['2024-03-01T04:30:25.302Z', 'NaT']
    """
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = [to_wire(t) if pd.notna(t) else "NaT" for t in out[column]]
    return out


def fit_width(frame: pd.DataFrame, width: int) -> tuple[list[str], list[str]]:
    """``frame`` as text lines no wider than ``width``, and the columns left out for it.

    Columns are dropped from the right until the rest fits; a single column still too
    wide is cut, ending in ``...``.

    Parameters
    ----------
    frame
        The rows and columns to show.
    width
        The terminal's width in characters.

    Examples
    --------
    >>> fit_width(pd.DataFrame({"a": [1], "b": ["x" * 30]}), 20)
    ([' a', ' 1'], ['b'])
    """
    shown = list(frame.columns)
    while True:
        lines = frame[shown].to_string(index=False, max_colwidth=TABLE_COLWIDTH).splitlines()
        if len(shown) == 1 or max(map(len, lines)) <= width:
            break
        shown.pop()
    hidden = [str(c) for c in frame.columns[len(shown):]]
    limit = max(width, MIN_WIDTH)
    return [line if len(line) <= limit else line[:limit - 3] + "..." for line in lines], hidden


def print_table(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Print the first rows of ``frame[columns]`` cut to the terminal's width.

    The width is :func:`shutil.get_terminal_size`'s: ``COLUMNS`` if set, else the
    terminal's, else 80 (stdout is not a terminal).

    Parameters
    ----------
    frame
        The whole table.
    columns
        The columns to show, in order.

    Examples
    --------
    >>> print_table(pd.DataFrame({"a": [1], "b": [2]}), ["b"])
     b
     2
    >>> print_table(pd.DataFrame({"a": []}), ["a"])
    (no rows; columns: a)
    """
    if frame.empty:
        print(f"(no rows; columns: {', '.join(map(str, columns))})")
        return
    lines, hidden = fit_width(readable(frame[list(columns)].head(TABLE_ROWS)),
                              shutil.get_terminal_size().columns)
    print("\n".join(lines))
    if hidden:
        print(f"(not shown, too wide for the terminal: {', '.join(hidden)}; "
              "choose with --columns)")
    if len(frame) > TABLE_ROWS:
        print(f"... {len(frame) - TABLE_ROWS} more rows ({len(frame)} in all); "
              "use --out FILE.parquet for everything")


def emit(frame: pd.DataFrame, out: str | None, *, columns: Sequence[str] | None = None,
         brief: Sequence[str] = ()) -> None:
    """Write ``frame`` to ``out`` or print it on the terminal.

    Parameters
    ----------
    frame
        The table, as the library returned it.
    out
        ``--out``: a ``.parquet`` or ``.csv`` path, or ``None`` to print.
    columns
        ``--columns`` (checked with :func:`check_columns`): only these, in this order.
    brief
        Without ``columns``, what the terminal shows (names absent from ``frame`` are
        skipped; empty: every column). A file always gets every column.

    Examples
    --------
    >>> emit(pd.DataFrame({"id": [7], "notes": ["long"]}), None, brief=["id", "start_local"])
     id
      7
    """
    if columns is not None:
        frame = frame[list(columns)]
    if out is not None:
        write_table(frame, out)
        return
    shown = [c for c in brief if c in frame.columns] if columns is None and brief else None
    print_table(frame, shown or list(frame.columns))
