"""Iceberg data files of rows that share one partition are written as they are (no
per-partition copy); rows of several partitions still go through pyiceberg's split. The
partition values, files and rows read back are the same either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyiceberg.io.pyarrow as pyiceberg_arrow
import pytest
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    YearTransform,
)

from lakesmith.config import load_settings
from lakesmith.core.columns import Column
from lakesmith.stores.lake import iceberg_write
from lakesmith.stores.lake.iceberg import IcebergTable
from lakesmith.stores.lake.iceberg_write import data_files, single_partition

DAY = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _table(tmp_path: Path) -> IcebergTable:
    table = IcebergTable(load_settings(state_dir=tmp_path), "bronze", "t")
    table.ensure([Column("ts", "timestamp"), Column("v", "string")], [("ts", "day")])
    return table


def _rows(times: list[datetime | None]) -> pa.Table:
    return pa.table(
        {"ts": pa.array(times, TS), "v": pa.array([f"v{i}" for i in range(len(times))])}
    )


def _split_keys(table: IcebergTable, rows: pa.Table) -> list[Any]:
    t = table.table
    return [
        p.partition_key.partition
        for p in pyiceberg_arrow._determine_partitions(t.spec(), t.schema(), rows)
    ]


def test_rows_of_one_day_are_written_without_pyiceberg_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _table(tmp_path)
    rows = _rows([DAY + timedelta(minutes=i) for i in range(50)])
    key = single_partition(table.table.spec(), table.table.schema(), rows)
    assert key is not None
    assert [key.partition] == _split_keys(table, rows)  # the value pyiceberg would give

    def no_split(*args: object, **kwargs: object) -> None:
        raise AssertionError("rows of one partition must not be split (copied) again")

    monkeypatch.setattr(pyiceberg_arrow, "_determine_partitions", no_split)
    files = data_files(table.table, rows)
    assert len(files) == 1
    assert files[0].partition == key.partition
    assert files[0].record_count == 50


def test_rows_of_several_days_and_nulls(tmp_path: Path) -> None:
    table = _table(tmp_path)
    spec, schema = table.table.spec(), table.table.schema()
    two_days = _rows([DAY, DAY, DAY + timedelta(days=1)])
    assert single_partition(spec, schema, two_days) is None
    files = data_files(table.table, two_days)
    assert sorted(f.record_count for f in files) == [1, 2]
    assert {f.partition for f in files} == set(_split_keys(table, two_days))
    some_null = _rows([DAY, None])
    assert single_partition(spec, schema, some_null) is None
    all_null = _rows([None, None])
    key = single_partition(spec, schema, all_null)
    assert key is not None
    assert [key.partition] == _split_keys(table, all_null)
    assert data_files(table.table, _rows([])) == []


def test_appended_rows_read_back(tmp_path: Path) -> None:
    table = _table(tmp_path)
    table.append(_rows([DAY + timedelta(seconds=i) for i in range(10)]), {})
    table.append(_rows([DAY, DAY + timedelta(days=2), None]), {})
    got = table.scan().sort("v")
    assert got.height == 13
    parts = table.table.inspect.partitions().to_pylist()
    assert sorted(int(p["record_count"]) for p in parts) == [1, 1, 11]


TRANSFORMS = {
    "year": YearTransform(),
    "month": MonthTransform(),
    "day": DayTransform(),
    "hour": HourTransform(),
    "identity": IdentityTransform(),
    "bucket": BucketTransform(4),  # not monotonic: every value is transformed
}


@pytest.mark.parametrize(
    ("column", "transform"),
    [("ts", "year"), ("ts", "month"), ("ts", "day"), ("ts", "hour"), ("ts", "identity"),
     ("v", "identity"), ("v", "bucket")],
)  # fmt: skip
def test_partition_keys_match_pyiceberg_split(tmp_path: Path, column: str, transform: str) -> None:
    """Only the smallest and largest values are transformed (the time transforms and
    identity never decrease): the key found must be the one pyiceberg's split finds."""
    table = IcebergTable(load_settings(state_dir=tmp_path), "silver", "t")
    table.ensure([Column("ts", "timestamp"), Column("v", "string")])
    schema = table.table.schema()
    field = PartitionField(schema.find_field(column).field_id, 1000, TRANSFORMS[transform], "p")
    spec = PartitionSpec(field)
    for times, texts in [
        ([DAY, DAY + timedelta(minutes=5)], ["a", "a"]),  # one hour/day/month/year, two ts
        ([DAY, DAY + timedelta(hours=2)], ["a", "b"]),
        ([DAY, DAY + timedelta(days=3)], ["b", "a"]),
        ([DAY, DAY + timedelta(days=40)], ["a", "c"]),
        ([DAY + timedelta(days=400), DAY], ["c", "c"]),
        ([DAY, DAY], ["a", "b"]),
    ]:
        rows = _rows(times).set_column(1, "v", pa.array(texts))
        split = [
            p.partition_key.partition
            for p in pyiceberg_arrow._determine_partitions(spec, schema, rows)
        ]
        key = single_partition(spec, schema, rows)
        assert (key.partition if key is not None else None) == (
            split[0] if len(split) == 1 else None
        ), (transform, times, texts)


def _typed_table(tmp_path: Path) -> IcebergTable:
    table = IcebergTable(load_settings(state_dir=tmp_path), "bronze", "typed")
    columns = [("ts", "timestamp"), ("s", "string"), ("n", "long"), ("i", "int")]
    columns += [("d", "double"), ("b", "boolean"), ("_seq", "long"), ("_record_id", "string")]
    columns += [("_source", "string"), ("_payload", "binary")]
    table.ensure([Column(name, kind) for name, kind in columns], [("ts", "day")])
    return table


def _typed_rows(n: int) -> pa.Table:
    def some(values: list[Any]) -> list[Any]:  # every seventh value null
        return [None if i % 7 == 3 else v for i, v in enumerate(values)]

    return pa.table(
        {
            "ts": pa.array([DAY + timedelta(seconds=i) for i in range(n)], TS),  # one day
            "s": pa.array(some([f"text {i % 40:05d} ✓" for i in range(n)]), pa.large_string()),
            "n": pa.array(some([i * 1_000_003 - 7 for i in range(n)]), pa.int64()),
            "i": pa.array(some([i % 300 - 150 for i in range(n)]), pa.int32()),
            "d": pa.array(some([i / 7 for i in range(n)]), pa.float64()),
            "b": pa.array(some([i % 2 == 0 for i in range(n)]), pa.bool_()),
            "_seq": pa.array(range(n), pa.int64()),
            "_record_id": pa.array([f"3f2a9c1e04b7:{i}" for i in range(n)], pa.large_string()),
            "_source": pa.array([f"file:///x.csv#row={i}" for i in range(n)], pa.large_string()),
            "_payload": pa.array([f"{i},a,b".encode() for i in range(n)], pa.large_binary()),
        }
    )


def test_data_files_are_pyiceberg_s_without_dictionaries_for_unique_envelope_columns(
    tmp_path: Path,
) -> None:
    """``_write_tasks`` writes what pyiceberg's ``write_file`` writes (the same data file
    entries: counts, null counts, bounds, partition; field ids; the rows read back), except
    that the envelope's unique columns have no dictionary and the others keep theirs."""
    table = _typed_table(tmp_path)
    t = table.table
    rows = _typed_rows(5_000)
    ours = data_files(t, rows)
    theirs = list(pyiceberg_arrow._dataframe_to_data_files(t.metadata, rows, t.io))
    assert len(ours) == len(theirs) == 1
    a, b = ours[0], theirs[0]
    assert a.file_path != b.file_path and a.file_path.endswith(".parquet")
    assert a.partition == b.partition
    assert a.record_count == b.record_count == 5_000
    assert a.value_counts == b.value_counts
    assert a.null_value_counts == b.null_value_counts
    assert a.lower_bounds == b.lower_bounds
    assert a.upper_bounds == b.upper_bounds
    local = Path(a.file_path.removeprefix("file://"))
    assert a.file_size_in_bytes == local.stat().st_size
    ids = {f.name: int(f.metadata[b"PARQUET:field_id"]) for f in pq.read_schema(local)}
    assert ids == {f.name: f.field_id for f in t.schema().fields}
    chunks = pq.read_metadata(local).row_group(0)
    dictionary = {
        chunks.column(k).path_in_schema: chunks.column(k).has_dictionary_page
        for k in range(chunks.num_columns)
    }
    assert not any(dictionary[c] for c in iceberg_write.UNIQUE_COLUMNS)
    assert all(dictionary[c] for c in ("ts", "s", "n", "i", "d"))  # (pyarrow: no bool dicts)
    IcebergTable._fast_append(t, ours, {})
    back = table.refresh().scan().to_arrow().sort_by("_seq")
    assert back.cast(rows.schema).equals(rows)


def test_a_list_column_keeps_its_dictionary(tmp_path: Path) -> None:
    """Quarantine's rule lists: dictionary-encoded as before (the leaf path is named)."""
    table = IcebergTable(load_settings(state_dir=tmp_path), "quarantine", "q")
    columns = [Column("ts", "timestamp"), Column("_record_id", "string")]
    table.ensure([*columns, Column("_rule_ids", "list<string>")], [("ts", "day")])
    rows = pa.table(
        {
            "ts": pa.array([DAY, DAY], TS),
            "_record_id": pa.array(["t:1", "t:2"], pa.large_string()),
            "_rule_ids": pa.array([["a"], ["a", "b"]], pa.list_(pa.large_string())),
        }
    )
    (written,) = data_files(table.table, rows)
    chunks = pq.read_metadata(written.file_path.removeprefix("file://")).row_group(0)
    dictionary = {
        chunks.column(k).path_in_schema: chunks.column(k).has_dictionary_page
        for k in range(chunks.num_columns)
    }
    assert dictionary == {"ts": True, "_record_id": False, "_rule_ids.list.element": True}


def test_rows_of_several_partitions_are_written_by_the_same_writer(tmp_path: Path) -> None:
    """pyiceberg's split (rows of two days) hands its partitions to ``_write_tasks`` too:
    no dictionary for the unique envelope columns there either."""
    table = _typed_table(tmp_path)
    rows = _typed_rows(100)
    later = rows.set_column(
        0, "ts", pa.array([DAY + timedelta(days=i % 2) for i in range(100)], TS)
    )
    files = data_files(table.table, later)
    assert sorted(f.record_count for f in files) == [50, 50]
    for f in files:
        chunks = pq.read_metadata(f.file_path.removeprefix("file://")).row_group(0)
        names = {
            chunks.column(k).path_in_schema
            for k in range(chunks.num_columns)
            if chunks.column(k).has_dictionary_page
        }
        assert not names & iceberg_write.UNIQUE_COLUMNS and "s" in names
