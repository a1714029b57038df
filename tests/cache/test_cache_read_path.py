"""The read path of the time-ranged cache, layout v2, checked against real files.

Covers: ``assemble`` against a plain sort of the same rows, cached frames after many
incremental fills against a fresh fetch (rows tied on start), ``read_parts`` naming
exactly the unreadable files, shared manifests never stale nor modified, manifest
instants, folders of obsolete layouts, and generic hive readers of an entry.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from cache_world import CLASSES, DAY0, NOW, SCHEMA, STATUSES, STREAMS, fresh_frame, signature
from pandas.testing import assert_frame_equal
from test_cache_ranged import day, run

from rfcx_frames import cli
from rfcx_frames.cache import TimeRangedCache, clear, info
from rfcx_frames.cache.disk import LAYOUT
from rfcx_frames.cache.entry import Entry, Piece
from rfcx_frames.cache.frames import (
    assemble,
    file_schema,
    frame_from_table,
    sort_keys,
    sort_table,
    table_from_frame,
    to_file_table,
)
from rfcx_frames.cache.intervals import Interval
from rfcx_frames.cache.manage import obsolete_layouts
from rfcx_frames.cache.parquet import UnreadableFilesError, read_parts, write_parquet_atomic
from rfcx_frames.timeutil import to_ns

HOUR = pd.Timedelta(hours=1)
FILE_SCHEMA = file_schema(SCHEMA)

# ---------------------------------------------------------------------------- assemble

# Not in sorted order, and "s99" only ever has an empty piece.
PIECE_STREAMS = ("s10", "a9", "s01", "s02", "s99")
DICT_SCHEMA = pa.schema(
    [
        pa.field("stream_id", pa.dictionary(pa.int32(), pa.string())) if f.name == "stream_id" else f
        for f in SCHEMA
    ]
)
DICT_DTYPES: dict[str, Any] = {
    "stream_id": pd.CategoricalDtype(pd.Index([], dtype=str)),
    "classifier_id": pd.Int32Dtype(),
    "review_status": pd.CategoricalDtype(pd.Index(list(STATUSES), dtype=str)),
}
SCHEMAS = {"plain": (SCHEMA, None), "dictionary": (DICT_SCHEMA, DICT_DTYPES)}
KEYS = {
    "default": sort_keys(SCHEMA),  # (time, stream) first: one stable sort by time
    "time-stream-only": ["start", "stream_id"],  # ties left to each piece's own order
    "stream-first": ["stream_id", "start", "id"],  # fallback: full sort
    "nullable-first": ["classification_value", "start", "stream_id", "id"],  # fallback
}


def random_rows(rng: np.random.Generator, stream: str, n: int, first_id: int) -> pd.DataFrame:
    """Rows of one stream on 30 distinct minutes: many ties on start, within and across streams."""
    classes = rng.choice(np.array([*CLASSES, None], dtype=object), n)
    classifier = pd.array(rng.integers(1, 4, n), dtype="Int32")
    classifier[rng.random(n) < 0.1] = pd.NA
    start = DAY0 + pd.to_timedelta(rng.integers(0, 30, n) * 60, unit="s")
    return pd.DataFrame(
        {
            "id": np.arange(first_id, first_id + n, dtype="int64")[rng.permutation(n)],
            "stream_id": stream,
            "start": start.astype("datetime64[ms, UTC]"),
            "end": (start + pd.Timedelta(seconds=3)).astype("datetime64[ms, UTC]"),
            "confidence": (rng.integers(30, 101, n) / 100).astype("float32"),
            "classification_value": classes,
            "classifier_id": classifier,
            "review_status": rng.choice(np.array(STATUSES, dtype=object), n),
        }
    )


def random_pieces(
    schema: pa.Schema, keys: Sequence[str], seed: int = 20240101
) -> tuple[list[tuple[str, pa.Table]], pa.Table]:
    """Pieces under assemble's rules (each sorted by keys, disjoint windows per stream),
    in shuffled order and mixed forms, and the same rows as one table with the stream column."""
    rng = np.random.default_rng(seed)
    pieces: list[tuple[str, pa.Table]] = []
    tables: list[pa.Table] = []
    first_id = 1
    for stream in PIECE_STREAMS:
        if stream == "s99":
            pieces.append((stream, FILE_SCHEMA.empty_table()))
            continue
        n = int(rng.integers(40, 90))
        rows = table_from_frame(random_rows(rng, stream, n, first_id), schema)
        first_id += n
        tables.append(rows)
        minutes = rows["start"].cast(pa.int64()).to_numpy() // 60_000 - to_ns(DAY0) // 60_000_000_000
        cuts = sorted(int(c) for c in rng.choice(np.arange(1, 30), 2, replace=False))
        for lo, hi in zip([0, *cuts], [*cuts, 30], strict=True):
            piece = sort_table(rows.filter(pa.array((minutes >= lo) & (minutes < hi))), keys)
            pieces.append((stream, piece))
    shuffled = [pieces[i] for i in rng.permutation(len(pieces))]
    mixed: list[tuple[str, pa.Table]] = []
    for i, (stream, table) in enumerate(shuffled):
        if table.schema.equals(FILE_SCHEMA) or i % 3 == 0:
            mixed.append((stream, table))  # as a fetch gives it: full schema, dictionaries
        elif i % 3 == 1:
            mixed.append((stream, to_file_table(table, schema)))  # as a file holds it
        else:  # file form, columns in another order
            mixed.append((stream, to_file_table(table, schema).select(FILE_SCHEMA.names[::-1])))
    return mixed, pa.concat_tables(tables)


@pytest.mark.parametrize("keys_name", list(KEYS))
@pytest.mark.parametrize("schema_name", list(SCHEMAS))
def test_assemble_equals_sorting_all_rows_at_once(schema_name: str, keys_name: str) -> None:
    schema, dtypes = SCHEMAS[schema_name]
    keys = KEYS[keys_name]
    pieces, rows = random_pieces(schema, keys)
    # The data really has what makes ordering hard.
    starts = rows.select(["start", "stream_id"]).to_pandas()
    assert starts.duplicated().sum() > 50  # ties within a stream
    assert (starts.groupby("start", observed=True)["stream_id"].nunique() > 1).sum() > 10
    assert rows["classification_value"].null_count > 0
    got = assemble(pieces, schema, keys, dtypes)
    expected = frame_from_table(sort_table(rows, keys), schema, dtypes)
    assert_frame_equal(got, expected)
    assert len(got) == rows.num_rows
    assert list(got.columns) == schema.names
    assert isinstance(got.index, pd.RangeIndex)
    # Independently of sort_table: pandas agrees the rows are in key order.
    resorted = got.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)
    assert_frame_equal(got, resorted)


@pytest.mark.parametrize("schema_name", list(SCHEMAS))
def test_assemble_of_nothing_is_an_empty_frame_with_the_schema_dtypes(schema_name: str) -> None:
    schema, dtypes = SCHEMAS[schema_name]
    keys = sort_keys(schema)
    pieces, _ = random_pieces(schema, keys)
    full = assemble(pieces, schema, keys, dtypes)
    expected = frame_from_table(schema.empty_table(), schema, dtypes)
    for nothing in ([], [("s01", FILE_SCHEMA.empty_table()), ("s02", schema.empty_table())]):
        empty = assemble(nothing, schema, keys, dtypes)
        assert_frame_equal(empty, expected)
        assert len(empty) == 0 and list(empty.columns) == schema.names
        if dtypes is not None:
            # Same dtypes as a frame with rows (categories aside, which depend on the rows).
            # Without declared dtypes pyarrow's default conversion depends on the data
            # (an int32 column holding nulls becomes float64), so only the above holds.
            assert [str(d) for d in empty.dtypes] == [str(d) for d in full.dtypes]
    assert str(expected["start"].dtype) == "datetime64[ms, UTC]"
    assert isinstance(expected["classification_value"].dtype, pd.CategoricalDtype)


def test_categorical_dtype_without_categories_means_values_present() -> None:
    schema, _ = SCHEMAS["dictionary"]
    pieces, rows = random_pieces(schema, sort_keys(schema))
    got = assemble(pieces, schema, sort_keys(schema), {"stream_id": pd.CategoricalDtype()})
    assert list(got["stream_id"].cat.categories) == sorted(set(rows["stream_id"].to_pylist()))


# ------------------------------------------------------------- cached frame == fresh


@pytest.fixture(scope="module")
def tie_world(world: pd.DataFrame) -> pd.DataFrame:
    """The shared world with starts floored to half hours (many ties) and some null classes."""
    rng = np.random.default_rng(11)
    out = world.copy()
    out["start"] = out["start"].dt.floor("30min")
    out.loc[rng.random(len(out)) < 0.08, "classification_value"] = np.nan
    return out


def test_cached_query_after_many_fills_equals_fresh_with_ties(
    tmp_path: Path, tie_world: pd.DataFrame
) -> None:
    span = tie_world[(tie_world["start"] >= day(0)) & (tie_world["start"] < day(2))]
    assert span.duplicated(["stream_id", "start"]).sum() > 50
    assert (span.groupby("start")["stream_id"].nunique() > 1).sum() > 20
    assert span["classification_value"].isna().any()

    cache = TimeRangedCache(tmp_path, max_parts=4)  # the hourly fills get compacted
    loose, strict = signature(), signature(min_confidence=0.5)

    def at(hours: int) -> pd.Timestamp:
        return day(1) + hours * HOUR

    # Hours 0-11 of day 1 filled one by one in shuffled order; s01 skips every third
    # hour, so rows tied across streams come from different entries and files.
    for h in map(int, np.random.default_rng(2).permutation(12)):
        run(cache, tie_world, strict, at(h), at(h + 1), streams=STREAMS if h % 3 else ["s02", "s03"])
    _, calls = run(cache, tie_world, strict, at(10), at(16))  # partial overlap
    assert sorted(calls) == [(s, at(12), at(16)) for s in STREAMS]
    run(cache, tie_world, loose, day(0), at(6))
    run(cache, tie_world, loose, at(20), day(2))

    # Own hourly entry + the looser entry filtered locally + new fetches, stitched.
    start, end = day(0) + 12 * HOUR, day(2)
    expected = fresh_frame(tie_world, strict, STREAMS, start, end)
    assert (expected.groupby("start")["stream_id"].nunique() > 1).sum() > 10
    frame, calls = run(cache, tie_world, strict, start, end)
    fetched = [("s01", at(6), at(7)), ("s01", at(9), at(10))]
    assert sorted(calls) == sorted(fetched + [(s, at(16), at(20)) for s in STREAMS])
    assert_frame_equal(frame, expected)
    warm, calls = run(cache, tie_world, strict, start, end)
    assert calls == []
    assert_frame_equal(warm, expected)
    loose_frame, calls = run(cache, tie_world, loose, day(0), at(6))
    assert calls == []
    assert_frame_equal(loose_frame, fresh_frame(tie_world, loose, STREAMS, day(0), at(6)))


def test_cached_rows_follow_the_query_order_by_not_the_writers(
    tmp_path: Path, tie_world: pd.DataFrame
) -> None:
    cache = TimeRangedCache(tmp_path)
    sig = signature()
    run(cache, tie_world, sig, day(0), day(1))  # stored sorted by the default keys
    keys = ["start", "stream_id", "id"]
    cached, calls = run(cache, tie_world, sig, day(0), day(1), order_by=keys)
    assert calls == []
    uncached, _ = run(cache, tie_world, sig, day(0), day(1), order_by=keys, mode="off")
    assert_frame_equal(cached, uncached)


# -------------------------------------------------------------------------- read_parts


def part_table(tag: int) -> pa.Table:
    """A file-form table of ``tag % 7`` rows whose ids start at ``tag * 1000``."""
    n = tag % 7
    start = DAY0 + pd.to_timedelta(np.arange(n), unit="s")
    frame = pd.DataFrame(
        {
            "id": np.arange(n, dtype="int64") + tag * 1000,
            "stream_id": "s01",
            "start": start.astype("datetime64[ms, UTC]"),
            "end": start.astype("datetime64[ms, UTC]"),
            "confidence": np.full(n, 0.5, dtype="float32"),
            "classification_value": np.array([CLASSES[tag % len(CLASSES)]] * n, dtype=object),
            "classifier_id": np.full(n, tag, dtype="int32"),
            "review_status": np.array([STATUSES[tag % len(STATUSES)]] * n, dtype=object),
        }
    )
    return to_file_table(table_from_frame(frame, SCHEMA), SCHEMA)


def write_parts(folder: Path, count: int) -> list[Path]:
    paths = [folder / f"part-{tag:03d}.parquet" for tag in range(count)]
    for tag, path in enumerate(paths):
        write_parquet_atomic(path, part_table(tag))
    return paths


def test_read_parts_names_exactly_the_unreadable_files(tmp_path: Path) -> None:
    paths = write_parts(tmp_path, 5)
    truncated, garbage = paths[1], paths[3]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    garbage.write_bytes(b"PAR1 this is not a parquet file PAR1")
    with pytest.raises(UnreadableFilesError) as caught:
        read_parts(paths, FILE_SCHEMA)
    assert sorted(caught.value.paths) == sorted([truncated, garbage])
    good = [paths[0], paths[2], paths[4]]
    assert [t["id"].to_pylist() for t in read_parts(good, FILE_SCHEMA)] == [
        part_table(tag)["id"].to_pylist() for tag in (0, 2, 4)
    ]


def test_read_parts_missing_column_or_file_is_unreadable_extra_column_is_not(tmp_path: Path) -> None:
    paths = write_parts(tmp_path, 3)
    lacking = tmp_path / "part-lacking.parquet"
    write_parquet_atomic(lacking, part_table(5).drop_columns(["confidence"]))
    gone = tmp_path / "part-gone.parquet"
    with pytest.raises(UnreadableFilesError) as caught:
        read_parts([paths[0], lacking, paths[1], gone, paths[2]], FILE_SCHEMA)
    assert sorted(caught.value.paths) == sorted([lacking, gone])
    # Other column order and an extra column: read back as exactly the schema.
    shuffled = tmp_path / "part-shuffled.parquet"
    table = part_table(4)
    write_parquet_atomic(
        shuffled,
        table.select(FILE_SCHEMA.names[::-1]).append_column("extra", pa.array(["x"] * 4)),
    )
    (back,) = read_parts([shuffled], FILE_SCHEMA)
    assert back.schema == FILE_SCHEMA
    assert back.equals(table)


def test_read_parts_keeps_path_order_whatever_the_threads(tmp_path: Path) -> None:
    # 64 files: enough for four runs of 16 (fewer files are read in one thread).
    paths = write_parts(tmp_path, 64)
    order = np.random.default_rng(3).permutation(len(paths))
    shuffled = [paths[i] for i in order]
    one = read_parts(shuffled, FILE_SCHEMA, threads=1)
    four = read_parts(shuffled, FILE_SCHEMA, threads=4)
    default = read_parts(shuffled, FILE_SCHEMA)
    assert len(one) == len(four) == len(default) == len(paths)
    for i, a, b, c in zip(order, one, four, default, strict=True):
        assert a.equals(b) and a.equals(c)
        assert a.equals(pq.read_table(paths[i]))  # an independent reader agrees
        assert a.equals(part_table(int(i)))
    # Bad files in different runs are all named, whichever thread met them.
    bad = [shuffled[2], shuffled[61]]
    for path in bad:
        path.write_bytes(b"garbage")
    for threads in (1, 4):
        with pytest.raises(UnreadableFilesError) as caught:
            read_parts(shuffled, FILE_SCHEMA, threads=threads)
        assert sorted(caught.value.paths) == sorted(bad)


# --------------------------------------------------------------------- shared manifests


def test_shared_manifest_is_reused_refreshed_and_never_modified(
    tmp_path: Path, world: pd.DataFrame
) -> None:
    sig = signature()
    reader = TimeRangedCache(tmp_path)
    run(reader, world, sig, day(0), day(1), streams=["s01"])
    entry = Entry(tmp_path, "detections", sig.key)
    first = entry.load(shared=True)
    assert first is not None
    assert entry.load(shared=True) is first
    assert Entry(tmp_path, "detections", sig.key).load(shared=True) is first
    private = entry.load()
    assert private is not first and private == first
    snapshot = copy.deepcopy(first)
    files_before = reader.files("detections")

    # Another cache instance on the same root stores more windows and a new stream.
    writer = TimeRangedCache(tmp_path)
    run(writer, world, sig, day(1), day(2), streams=["s01", "s02"])
    assert first == snapshot  # the writer loaded its own copy
    assert first.streams["s01"].complete == [(to_ns(day(0)), to_ns(day(1)))]
    fresh = entry.load(shared=True)
    assert fresh is not None and fresh is not first
    assert fresh.streams["s01"].complete == [(to_ns(day(0)), to_ns(day(2)))]
    assert fresh.streams["s02"].complete == [(to_ns(day(1)), to_ns(day(2)))]
    # The first instance sees the new windows and files at once.
    assert reader.missing_windows("detections", sig, ["s01", "s02"], day(0), day(2), SCHEMA) == [
        ("s02", day(0), day(1))
    ]
    assert set(files_before) < set(reader.files("detections"))

    # Entry.store directly: the shared object handed out before stays as it was.
    kept = copy.deepcopy(fresh)
    Entry(tmp_path, "detections", sig.key).store(
        [Piece("s01", [(to_ns(day(3)), to_ns(day(4)))], SCHEMA.empty_table())],
        signature=sig.to_dict(), schema=SCHEMA, fingerprint=fresh.schema,
        keys=sort_keys(SCHEMA), time_column="start",
    )
    assert fresh == kept
    latest = entry.load(shared=True)
    assert latest is not None
    assert latest.streams["s01"].complete == [
        (to_ns(day(0)), to_ns(day(2))), (to_ns(day(3)), to_ns(day(4)))
    ]
    clear(tmp_path)
    assert entry.load(shared=True) is None


# --------------------------------------------------------------------- manifest instants


def test_manifest_windows_keep_nanoseconds_and_pre_1970_instants(tmp_path: Path) -> None:
    day_ns = 86_400 * 10**9
    windows: list[Interval] = [(-day_ns - 1, -5), (1, 1_001), (day_ns - 1, day_ns + 1_500)]
    entry = Entry(tmp_path, "detections", "k")
    entry.store(
        [Piece("s01", windows, SCHEMA.empty_table())], signature={}, schema=SCHEMA,
        fingerprint="f", keys=sort_keys(SCHEMA), time_column="start",
    )
    for shared in (False, True):
        manifest = entry.load(shared=shared)
        assert manifest is not None and manifest.streams["s01"].complete == windows


def test_manifest_bytes_stay_those_of_the_v2_layout(tmp_path: Path, world: pd.DataFrame) -> None:
    # An existing cache folder must keep working: the manifest's bytes are pinned.
    rows = world[(world["stream_id"] == "s01") & (world["start"] < DAY0 + pd.Timedelta(hours=1))]
    table = pa.Table.from_pandas(rows.head(2), schema=SCHEMA, preserve_index=False)
    entry = Entry(tmp_path, "detections", "k")
    window = (to_ns(DAY0), to_ns(DAY0 + pd.Timedelta(hours=1)))
    entry.store([Piece("s01", [window], table)], signature={"entity": "detections"},
                schema=SCHEMA, fingerprint="f", keys=["start", "id"], time_column="start",
                now=NOW)
    (part,) = entry.load().streams["s01"].files  # type: ignore[union-attr]
    assert part.path.startswith("stream_id=s01/date=2024-01-01/part-")
    text = (entry.folder / "_manifest.json").read_text().replace(part.path, "PART")
    day0, hour1, now = "2024-01-01T00:00:00+00:00", "2024-01-01T01:00:00+00:00", NOW.isoformat()
    expected = {
        "created": now, "entity": "detections", "format": 1, "key": "k", "order": ["start", "id"],
        "rows": 2, "schema": "f", "signature": {"entity": "detections"}, "updated": now,
        "streams": {"s01": {
            "complete": [[day0, hour1]], "fetched": [[day0, hour1, now]], "rows": 2,
            "files": [{"bytes": part.bytes, "coverage": [[day0, hour1]], "date": "2024-01-01",
                       "path": "PART", "rows": 2, "written": now}],
        }},
    }
    assert text == json.dumps(expected, indent=2, sort_keys=True)
    assert json.loads((entry.folder / "_signature.json").read_text()) == {"entity": "detections"}


# ---------------------------------------------------------------------- obsolete layouts


def plant_old_layout(root: Path) -> int:
    old = root / "v1" / "detections" / "x" / "part.parquet"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"PAR1" * 8)
    return old.stat().st_size


def test_obsolete_layout_is_reported_and_cleared(
    tmp_path: Path, world: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = TimeRangedCache(tmp_path)
    run(cache, world, signature(), day(0), day(1), streams=["s01"])
    old_bytes = plant_old_layout(tmp_path)
    (tmp_path / "notes").mkdir()  # not a layout folder: never touched
    assert obsolete_layouts(tmp_path) == [tmp_path / "v1"]
    report = info(tmp_path)
    assert report["obsolete_bytes"] == old_bytes > 0
    assert report["entries"] == 1  # old layouts are not entries of this version

    # Clearing one entity leaves other layouts alone.
    result = clear(tmp_path, entity="detections")
    assert result["entries"] == 1 and result["bytes"] > 0
    assert (tmp_path / "v1").is_dir() and info(tmp_path)["obsolete_bytes"] == old_bytes

    run(cache, world, signature(), day(0), day(1), streams=["s01"])
    (ranged,) = info(tmp_path)["ranged"]
    assert clear(tmp_path) == {"entries": 2, "bytes": ranged["size_bytes"] + old_bytes}
    assert not (tmp_path / "v1").exists()
    assert (tmp_path / "notes").is_dir() and (tmp_path / LAYOUT).is_dir()
    assert info(tmp_path)["obsolete_bytes"] == 0 and obsolete_layouts(tmp_path) == []

    # The command line does the same.
    plant_old_layout(tmp_path)
    capsys.readouterr()
    assert cli.main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["obsolete_bytes"] == old_bytes
    assert cli.main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"entries": 1, "bytes": old_bytes}
    assert not (tmp_path / "v1").exists() and (tmp_path / "notes").is_dir()


# --------------------------------------------------------------------------- hive readers


def frame_of(table: pa.Table) -> pd.DataFrame:
    """A table read by a generic reader, as the cache's frame of the same rows."""
    rows = table.select(SCHEMA.names).cast(SCHEMA)
    return frame_from_table(sort_table(rows, sort_keys(SCHEMA)), SCHEMA)


def test_generic_hive_readers_get_every_row_its_stream_id(tmp_path: Path, world: pd.DataFrame) -> None:
    root = tmp_path / "run=7"  # an "=" above the entry must not become a column
    cache = TimeRangedCache(root)
    sig, strict = signature(), signature(min_confidence=0.9)
    run(cache, world, strict, day(0), day(2))  # a second entry next to the one read
    frame, _ = run(cache, world, sig, day(0), day(2))
    entry = root / LAYOUT / "detections" / sig.key
    assert len(list((root / LAYOUT / "detections").iterdir())) == 2

    whole = ds.dataset(entry, format="parquet", partitioning="hive").to_table()
    assert whole.column_names == [*FILE_SCHEMA.names, "stream_id", "date"]
    assert_frame_equal(frame_of(whole), frame)
    days = pd.Series(whole["start"].to_pandas()).dt.strftime("%Y-%m-%d")
    assert days.tolist() == [str(d) for d in whole["date"].to_pylist()]

    # Exactly the files the manifest names, with the entry as partition base.
    files = [str(f) for f in cache.files("detections", sig)]
    for partitioning in (ds.HivePartitioning.discover(), "hive"):
        named = ds.dataset(
            files, format="parquet", partitioning=partitioning, partition_base_dir=str(entry)
        ).to_table()
        assert named.column_names == [*FILE_SCHEMA.names, "stream_id", "date"]
        assert_frame_equal(frame_of(named), frame)


def test_hive_reader_decodes_percent_encoded_stream_ids(tmp_path: Path, world: pd.DataFrame) -> None:
    entry = Entry(tmp_path, "detections", "k")
    rows = world[world["stream_id"] == "s01"].head(6)
    odd = ("site 1/a", "b%c=d")
    for stream in odd:
        table = table_from_frame(rows.assign(stream_id=stream), SCHEMA)
        entry.store(
            [Piece(stream, [(to_ns(day(0)), to_ns(day(10)))], table)], signature={}, schema=SCHEMA,
            fingerprint="f", keys=sort_keys(SCHEMA), time_column="start",
        )
    read = ds.dataset(entry.folder, format="parquet", partitioning="hive").to_table()
    counts: Mapping[str, int] = pd.Series(read["stream_id"].to_pylist()).value_counts().to_dict()
    assert counts == dict.fromkeys(odd, len(rows))
