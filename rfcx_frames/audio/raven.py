"""Raven selection tables: annotations and detections per recording, and back with UTC times.

:func:`to_raven` writes one tab-separated selection table per recording (the segment file
holding each row's start), named after that file (:func:`~rfcx_frames.audio.naming.
raven_table_name`) so Raven Pro opens it with the audio a download wrote beside it. Times
are seconds from the recording's start, written as exact decimals of the row's integer
nanoseconds (never through a float), so :func:`read_raven` gives back the same instants.
:func:`read_raven` turns a table (or a folder of them) into annotation rows with absolute
UTC times, in the columns and dtypes of :meth:`Client.annotations_df`.

Examples
--------
>>> seconds_text(np.array([12_500_000_000, 1]))
['12.500', '0.000000001']
>>> text_ns(pd.Series(["12.5", "0.000000001"])).tolist()
[12500000000, 1]
"""

from __future__ import annotations

import os
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rfcx_frames.audio.events import class_values
from rfcx_frames.audio.naming import RAVEN_SUFFIX, check_id, parse_file_name, raven_table_name
from rfcx_frames.audio.sample_time import NS_PER_MS, NS_PER_S, ns_to_series, series_ns
from rfcx_frames.audio.segment_table import holding
from rfcx_frames.audio.sources import SegmentSource
from rfcx_frames.convert import entity_frame, sort_table, table_from_frame
from rfcx_frames.files import open_atomic
from rfcx_frames.schemas import ANNOTATION, arrow_schema
from rfcx_frames.timeutil import from_ns, to_utc

#: The columns Raven Pro reads in a selection table, in its order.
RAVEN_COLUMNS = ("Selection", "View", "Channel", "Begin Time (s)", "End Time (s)",
                 "Low Freq (Hz)", "High Freq (Hz)")
#: The column holding each selection's class (a classification value).
LABEL_COLUMN = "Annotation"
#: Frame columns written after the label under their own names, when the frame has them.
CARRIED = ("id", "classification_title", "classifier_id", "confidence", "review_status")
#: Columns of the index :func:`to_raven` returns.
INDEX_COLUMNS = ("path", "stream_id", "recording_start", "selections")


def seconds_text(ns: np.ndarray) -> list[str]:
    """Non-negative integer nanoseconds as exact decimal seconds (at least 3 decimals).

    Examples
    --------
    >>> seconds_text(np.array([0, 61_234_000_000]))
    ['0.000', '61.234']
    """
    out = []
    for value in np.asarray(ns, dtype="int64").tolist():
        whole, frac = divmod(int(value), NS_PER_S)
        digits = f"{frac:09d}".rstrip("0").ljust(3, "0")
        out.append(f"{whole}.{digits}")
    return out


def text_ns(values: pd.Series) -> np.ndarray:
    """Decimal seconds as written in a table to integer nanoseconds, rounded half-even.

    Examples
    --------
    >>> text_ns(pd.Series(["1", "0.0000000015"])).tolist()
    [1000000000, 2]
    """
    out = []
    for text in values.astype(str).tolist():
        try:
            out.append(int((Decimal(text.strip()) * NS_PER_S).to_integral_value(ROUND_HALF_EVEN)))
        except InvalidOperation:
            raise ValueError(f"{text!r} is not a number of seconds") from None
    return np.asarray(out, dtype="int64")


def _recording_starts(frame: pd.DataFrame, starts: np.ndarray, source: SegmentSource
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Start (ns) and sample rate (0: unknown) of the segment holding each row's start."""
    rec = np.zeros(len(frame), dtype="int64")
    rates = np.zeros(len(frame), dtype="int64")
    streams = frame["stream_id"].astype(str).to_numpy()
    for stream_id in sorted(set(streams)):
        rows = np.flatnonzero(streams == stream_id)
        lo, hi = int(starts[rows].min()), int(starts[rows].max())
        table = source.segments(check_id(stream_id, "stream_id"), from_ns(lo), from_ns(hi + 1))
        table = table.sort_values("start", kind="stable").reset_index(drop=True)
        pos = holding(table, starts[rows])
        if (pos < 0).any():
            first = from_ns(int(starts[rows][pos < 0][0])).isoformat()
            raise ValueError(f"{int((pos < 0).sum())} rows of stream {stream_id} start where it "
                             f"has no recording (first at {first}); a Raven table needs a file")
        rec[rows] = series_ns(table["start"])[pos]
        if "sample_rate" in table.columns:
            rates[rows] = pd.to_numeric(table["sample_rate"]).fillna(0).to_numpy("int64")[pos]
    return rec, rates


def _frequencies(frame: pd.DataFrame, rates: np.ndarray, max_freq: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Low and high Hz of each row: missing lows are 0, missing highs the Nyquist rate."""
    def column(name: str) -> np.ndarray:
        if name not in frame.columns:
            return np.full(len(frame), np.nan)
        return pd.to_numeric(frame[name]).astype("Float64").to_numpy(np.float64, na_value=np.nan)
    nyquist = np.where(rates > 0, rates / 2, max_freq)
    low, high = column("frequency_min"), column("frequency_max")
    return np.where(np.isnan(low), 0.0, low), np.where(np.isnan(high), nyquist, high)


def _number_text(values: np.ndarray) -> list[str]:
    return [f"{v:g}" if float(v).is_integer() else repr(float(v)) for v in values]


def selection_table(rows: pd.DataFrame, view: str = "Spectrogram 1") -> pd.DataFrame:
    """The selection table of one recording's rows (``begin_ns``/``end_ns`` from its start).

    Parameters
    ----------
    rows
        ``begin_ns``, ``end_ns``, ``low``, ``high``, ``label`` and any :data:`CARRIED`
        column, in the order selections are numbered.
    view
        The Raven view every selection is drawn in.

    Returns
    -------
    pandas.DataFrame
        Text cells: :data:`RAVEN_COLUMNS`, :data:`LABEL_COLUMN`, then the carried columns.

    Examples
    --------
    >>> rows = pd.DataFrame({"begin_ns": [500_000_000], "end_ns": [2_000_000_000],
    ...                      "low": [100.0], "high": [900.0], "label": ["frog"]})
    >>> selection_table(rows).iloc[0].tolist()
    ['1', 'Spectrogram 1', '1', '0.500', '2.000', '100', '900', 'frog']
    """
    table = pd.DataFrame({
        "Selection": [str(i) for i in range(1, len(rows) + 1)],
        "View": view,
        "Channel": "1",
        "Begin Time (s)": seconds_text(rows["begin_ns"].to_numpy()),
        "End Time (s)": seconds_text(rows["end_ns"].to_numpy()),
        "Low Freq (Hz)": _number_text(rows["low"].to_numpy()),
        "High Freq (Hz)": _number_text(rows["high"].to_numpy()),
        LABEL_COLUMN: rows["label"].astype(str).to_numpy(),
    })
    for name in CARRIED:
        if name in rows.columns:
            table[name] = rows[name].astype("string").fillna("").to_numpy(dtype=object)
    return table


def _rows(frame: pd.DataFrame, source: SegmentSource, max_freq: float) -> pd.DataFrame:
    """One row per selection: its recording, offsets, band, label and carried columns."""
    for column in ("stream_id", "start", "end"):
        if column not in frame.columns:
            raise ValueError(f"frame needs a {column!r} column (annotations or detections)")
    starts, ends = series_ns(frame["start"]), series_ns(frame["end"])
    if (ends < starts).any():
        raise ValueError("some rows of frame end before they start")
    rec, rates = _recording_starts(frame, starts, source)
    low, high = _frequencies(frame, rates, max_freq)
    rows = pd.DataFrame({"stream_id": frame["stream_id"].astype(str).to_numpy(),
                         "recording": rec, "begin_ns": starts - rec, "end_ns": ends - rec,
                         "low": low, "high": high,
                         "label": class_values(frame).to_numpy(dtype=object)})
    for name in CARRIED:
        if name in frame.columns:
            rows[name] = frame[name].to_numpy()
    return rows.sort_values(["stream_id", "recording", "begin_ns", "end_ns", "label"],
                            kind="stable").reset_index(drop=True)


def to_raven(frame: pd.DataFrame, source: SegmentSource, out_dir: str | os.PathLike[str], *,
             view: str = "Spectrogram 1", max_freq: float = 24_000.0) -> pd.DataFrame:
    """Write annotations or detections as one Raven selection table per recording.

    A row goes to the table of the segment holding its start (a selection may run past
    that file's end); selections are numbered from 1 in time order. Columns:
    :data:`RAVEN_COLUMNS`, ``Annotation`` (the classification value), then those of
    :data:`CARRIED` the frame has. A missing ``frequency_min`` is written as 0 and a
    missing ``frequency_max`` as the Nyquist frequency of the segment's rate when the
    source knows it, else ``max_freq``. Each table is written atomically.

    Parameters
    ----------
    frame
        Annotations or detections: ``stream_id``, ``start``, ``end``,
        ``classification_value``, optionally ``frequency_min``/``frequency_max``.
    source
        Where the recordings (segments) are listed.
    out_dir
        Folder to write into (created if missing).
    view
        Raven view of every selection.
    max_freq
        High frequency (Hz) of rows without one when the segment's rate is unknown.

    Returns
    -------
    pandas.DataFrame
        One row per table written: ``path``, ``stream_id``, ``recording_start``,
        ``selections``.

    Raises
    ------
    ValueError
        A column is missing, or a row starts where its stream has no recording.

    Examples
    --------
    >>> from rfcx_frames.audio.sources import TableSource
    >>> import tempfile
    >>> segs = pd.DataFrame({"stream_id": ["s"], "id": ["a"], "start": ["2020-01-01T00:00:00Z"],
    ...     "end": ["2020-01-01T00:01:00Z"], "file_extension": [".flac"], "path": ["-"],
    ...     "sample_rate": [16000], "sample_count": [960000]})
    >>> ann = pd.DataFrame({"stream_id": ["s"], "start": ["2020-01-01T00:00:01.5Z"],
    ...     "end": ["2020-01-01T00:00:02Z"], "classification_value": ["frog"]})
    >>> to_raven(ann, TableSource(segs), tempfile.mkdtemp())["selections"].tolist()
    [1]
    """
    rows = _rows(frame, source, float(max_freq))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for _, group in rows.groupby(["stream_id", "recording"], sort=True):
        stream_id, rec = str(group["stream_id"].iloc[0]), from_ns(int(group["recording"].iloc[0]))
        path = out / raven_table_name(stream_id, rec)
        with open_atomic(path, "w") as fh:
            selection_table(group, view).to_csv(fh, sep="\t", index=False, lineterminator="\n")
        written.append((str(path), stream_id, int(rec.value), len(group)))
    index = pd.DataFrame(written, columns=list(INDEX_COLUMNS)).astype(
        {"path": "string", "stream_id": "string", "recording_start": "int64",
         "selections": "int64"})
    index["recording_start"] = ns_to_series(index["recording_start"].to_numpy(), unit="ms")
    return index


def _read_table(path: Path) -> pd.DataFrame:
    """A selection table's text cells, one row per selection (its spectrogram view's)."""
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in ("Begin Time (s)", "End Time (s)") if c not in table.columns]
    if missing:
        raise ValueError(f"{path.name} is not a Raven selection table: no columns {missing}")
    if "View" in table.columns and "Selection" in table.columns:
        # Raven repeats a selection once per view; its spectrogram row holds the band.
        waveform = ~table["View"].str.startswith("Spectrogram")
        table = table.assign(_w=waveform).sort_values("_w", kind="stable")
        table = table.drop_duplicates("Selection").drop(columns="_w").sort_index()
    return table.reset_index(drop=True)


def _origin(path: Path, stream_id: str | None, recording_start: Any) -> tuple[str, int]:
    """The stream and start (ns) of a table: as given, else from its file name."""
    parsed = parse_file_name(path.name)
    if parsed is None and (stream_id is None or recording_start is None):
        raise ValueError(
            f"cannot tell the stream and start of {path.name}: pass stream_id= and "
            f"recording_start=, or name it <stream>_<YYYY-MM-DD_HH-MM-SS>{RAVEN_SUFFIX}")
    named_stream, named_start = parsed if parsed is not None else (None, None)
    stream = check_id(stream_id if stream_id is not None else named_stream, "stream_id")
    start = named_start if recording_start is None else to_utc(recording_start, "recording_start")
    assert start is not None  # one of the two was checked above
    return stream, int(start.value)


def _cells(table: pd.DataFrame, name: str) -> pd.Series:
    if name in table.columns:
        return table[name].replace("", pd.NA)
    return pd.Series(pd.NA, index=table.index, dtype="object")


def _annotation_rows(path: Path, stream_id: str | None, recording_start: Any,
                     label_column: str) -> pd.DataFrame:
    """One table's selections as annotation columns (times in whole milliseconds)."""
    table = _read_table(path)
    if label_column not in table.columns:
        raise ValueError(f"{path.name} has no label column {label_column!r}; pass "
                         f"label_column= one of {sorted(table.columns)}")
    stream, origin = _origin(path, stream_id, recording_start)
    # The annotation frame keeps milliseconds, as the platform stores them.
    def instants(column: str) -> pd.Series:
        ns = origin + text_ns(table[column])
        return pd.Series((ns + NS_PER_MS // 2) // NS_PER_MS * NS_PER_MS).astype(
            "datetime64[ns, UTC]").dt.as_unit("ms")
    def hertz(column: str) -> pd.Series:
        return pd.to_numeric(_cells(table, column)).round().astype("Int32")
    return pd.DataFrame({
        "id": _cells(table, "id"), "stream_id": stream,
        "start": instants("Begin Time (s)"), "end": instants("End Time (s)"),
        "frequency_min": hertz("Low Freq (Hz)"), "frequency_max": hertz("High Freq (Hz)"),
        "classification_value": _cells(table, label_column),
        "classification_title": _cells(table, "classification_title"),
        "classification_image": pd.NA,
    })


def read_raven(path: str | os.PathLike[str], stream_id: str | None = None,
               recording_start: Any = None, *, label_column: str = LABEL_COLUMN
               ) -> pd.DataFrame:
    """Read Raven selection tables back as annotation rows with absolute UTC times.

    Times become ``recording_start`` plus the table's seconds, rounded to the millisecond
    (the platform's resolution); a selection Raven lists once per view is read once (its
    spectrogram row).

    Parameters
    ----------
    path
        A selection table, or a folder whose ``*.selections.txt`` tables are all read.
    stream_id
        The stream the recording belongs to; default: read from the file name
        (``<stream>_<YYYY-MM-DD_HH-MM-SS>[-mmm].Table.1.selections.txt``, as
        :func:`to_raven` and Raven name them for downloaded segments).
    recording_start
        When the recording starts (UTC); default: read from the file name.
    label_column
        The column holding each selection's classification value.

    Returns
    -------
    pandas.DataFrame
        The columns and dtypes of :meth:`Client.annotations_df`, in its order; ``id`` is
        missing for selections made in Raven.

    Raises
    ------
    ValueError
        Not a selection table, no label column, or no way to tell stream and start.
    FileNotFoundError
        ``path`` does not exist, or a folder holds no selection table.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "rec.txt").write_text(
    ...     "Selection\\tBegin Time (s)\\tEnd Time (s)\\tAnnotation\\n1\\t1.5\\t2\\tfrog\\n")
    >>> rows = read_raven(folder / "rec.txt", "s1", "2020-01-01T00:00:00Z")
    >>> rows[["start", "classification_value"]].values.tolist()
    [[Timestamp('2020-01-01 00:00:01.500000+0000', tz='UTC'), 'frog']]
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no Raven selection table at {root}")
    files = sorted(root.glob("*.selections.txt")) if root.is_dir() else [root]
    if not files:
        raise FileNotFoundError(f"no *.selections.txt table in {root}")
    rows = pd.concat([_annotation_rows(f, stream_id, recording_start, label_column)
                      for f in files], ignore_index=True)
    # Not convert.ordered: it keeps one row per id, and Raven's own selections have none.
    table = sort_table(table_from_frame(rows, arrow_schema(ANNOTATION)), ANNOTATION.order_by)
    return entity_frame(ANNOTATION, table)
