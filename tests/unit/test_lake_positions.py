"""Positions in Iceberg snapshots survive concurrent writers (no stale internal retries)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from lakesmith.config import load_settings
from lakesmith.stores.iceberg import COMMIT_RETRIES, Column, LakeTable, read_positions


def _rows(partition: int, offsets: list[int]) -> pa.Table:
    return pa.table(
        {
            "_partition": pa.array([partition] * len(offsets), pa.int32()),
            "_offset": pa.array(offsets, pa.int64()),
            "ts": pa.array(
                [datetime(2025, 1, 1, tzinfo=UTC)] * len(offsets), pa.timestamp("us", "UTC")
            ),
        }
    )


def test_concurrent_writers_keep_each_others_positions(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    cols = [Column("_partition", "int"), Column("_offset", "long"), Column("ts", "timestamp")]
    a = LakeTable(settings, "silver", "t")
    a.ensure(cols, [("ts", "day")])
    # pyiceberg must not retry by itself with stale positions: our loop re-reads them
    assert a.table.properties[COMMIT_RETRIES] == "0"
    b = LakeTable(settings, "silver", "t")
    b.ensure(cols)
    assert b.append(_rows(1, list(range(10))), "t", {1: 10}) == 10
    assert a.append(_rows(0, list(range(5))), "t", {0: 5}) == 5
    assert read_positions(a.refresh()) == {"t": {0: 5, 1: 10}}
    assert a.table.scan().to_arrow().num_rows == 15
    # a replay of b's batch writes nothing
    assert a.append(_rows(1, list(range(10))), "t", {1: 10}) == 0
