"""The results of ``map_windows`` on disk: one Parquet file and one success marker per part.

Layout, hive-style so any engine can read it::

    <out>/stream_id=<id>/date=<YYYY-MM-DD>/part.parquet
    <out>/stream_id=<id>/date=<YYYY-MM-DD>/_SUCCESS.json

The Parquet file is written atomically, then the marker (rows, a hash of the windows
planned): a partition without its marker is unfinished and is neither read nor
skipped, and a re-run writes it again. :func:`read_results` reads only marked
partitions, and checks each file against the marker's row count.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp())
>>> windows = pd.DataFrame({"stream_id": ["s1"], "start": [pd.Timestamp("2024-03-01", tz="UTC")],
...                         "end": [pd.Timestamp("2024-03-01 00:01", tz="UTC")]})
>>> write_partition(out, "stream_id=s1/date=2024-03-01", windows.assign(x=1.0), windows)
>>> done(out, "stream_id=s1/date=2024-03-01", windows), len(read_results(out))
(True, 1)
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rfcx_frames.cache.parquet import read_parts, write_parquet_atomic
from rfcx_frames.cache.signature import stable_hash
from rfcx_frames.files import read_json, write_json

DATA = "part.parquet"
MARKER = "_SUCCESS.json"


def windows_hash(windows: pd.DataFrame) -> str:
    """A stable hash of a partition's planned windows (stream, start and end in ns).

    Examples
    --------
    >>> w = pd.DataFrame({"stream_id": ["s"], "start": [pd.Timestamp(0, tz="UTC")],
    ...                   "end": [pd.Timestamp(10**9, tz="UTC")]})
    >>> windows_hash(w) == windows_hash(w.copy())
    True
    """
    spans = [[str(s), int(a.value), int(b.value)] for s, a, b in zip(
        windows["stream_id"], windows["start"], windows["end"], strict=True)]
    return stable_hash(spans)


def done(out: Path, name: str, windows: pd.DataFrame) -> bool:
    """Whether partition ``name`` was written, whole, for exactly these windows.

    Examples
    --------
    >>> done(Path("/nonexistent"), "stream_id=s/date=2024-01-01", pd.DataFrame())
    False
    """
    marker = read_json(out / name / MARKER)
    return (isinstance(marker, dict) and marker.get("windows") == windows_hash(windows)
            and (out / name / DATA).is_file())


def write_partition(out: Path, name: str, frame: pd.DataFrame, windows: pd.DataFrame) -> None:
    """Write one partition's result frame, then its success marker.

    Examples
    --------
    >>> import tempfile
    >>> w = pd.DataFrame({"stream_id": ["s"], "start": [pd.Timestamp(0, tz="UTC")],
    ...                   "end": [pd.Timestamp(10**9, tz="UTC")]})
    >>> write_partition(Path(tempfile.mkdtemp()), "stream_id=s/date=1970-01-01", w, w)
    """
    folder = out / name
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_parquet_atomic(folder / DATA, table)
    write_json(folder / MARKER, {"rows": table.num_rows, "windows": windows_hash(windows),
                                 "file": DATA})


def written(out: str | os.PathLike[str]) -> list[str]:
    """The names of the partitions under ``out`` that carry a success marker, sorted.

    Examples
    --------
    >>> written("/nonexistent")
    []
    """
    root = Path(out)
    if not root.is_dir():
        return []
    return sorted(str(p.parent.relative_to(root)) for p in root.glob(f"stream_id=*/date=*/{MARKER}"))


def read_results(out: str | os.PathLike[str]) -> pd.DataFrame:
    """Every finished partition's rows, by partition name (stream, then day).

    Parameters
    ----------
    out
        The folder ``map_windows`` wrote to.

    Returns
    -------
    pandas.DataFrame
        The concatenated result frames; partitions without a success marker are left
        out (unfinished, or being written).

    Raises
    ------
    rfcx_frames.cache.parquet.UnreadableFilesError
        When a marked file is damaged (its checksum or row count does not match).

    Examples
    --------
    >>> len(read_results("/nonexistent"))
    0
    """
    root = Path(out)
    names = written(root)
    frames = []
    for name in names:
        marker = read_json(root / name / MARKER)
        path = root / name / DATA
        schema = pq.read_schema(path)
        (table,) = read_parts([path], schema, rows=[int(marker["rows"])])
        frames.append(table.to_pandas())
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
