"""Iceberg data files of rows that share one partition are written as they are (no
per-partition copy); rows of several partitions still go through pyiceberg's split. The
partition values, files and rows read back are the same either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
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
