"""Positions in Iceberg snapshots survive concurrent writers (no stale internal retries)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from lakesmith.config import load_settings
from lakesmith.core.columns import SEQ, STREAM, Column
from lakesmith.core.positions import Position
from lakesmith.stores.lake.iceberg import COMMIT_RETRIES, IcebergTable, read_positions


def _rows(stream: str, seqs: list[int]) -> pa.Table:
    return pa.table(
        {
            STREAM: pa.array([stream] * len(seqs), pa.string()),
            SEQ: pa.array(seqs, pa.int64()),
            "ts": pa.array(
                [datetime(2025, 1, 1, tzinfo=UTC)] * len(seqs), pa.timestamp("us", "UTC")
            ),
        }
    )


def test_concurrent_writers_keep_each_others_positions(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    cols = [Column(STREAM, "string"), Column(SEQ, "long"), Column("ts", "timestamp")]
    a = IcebergTable(settings, "silver", "t")
    a.ensure(cols, [("ts", "day")])
    # pyiceberg must not retry by itself with stale positions: our loop re-reads them
    assert a.table.properties[COMMIT_RETRIES] == "0"
    b = IcebergTable(settings, "silver", "t")
    b.ensure(cols)
    assert b.append(_rows("t/1", list(range(10))), {"t/1": Position(10)}) == 10
    assert a.append(_rows("t/0", list(range(5))), {"t/0": Position(5)}) == 5
    assert read_positions(a.refresh()) == {"t/0": Position(5), "t/1": Position(10)}
    assert a.scan().height == 15
    # a replay of b's batch writes nothing
    assert a.append(_rows("t/1", list(range(10))), {"t/1": Position(10)}) == 0
    # a batch overlapping the committed position writes only the new rows
    assert a.append(_rows("t/1", list(range(5, 15))), {"t/1": Position(15)}) == 5
    assert a.positions(["t/1", "t/9"]) == {"t/1": Position(15)}


def test_kafka_positions_are_checked_against_the_partition() -> None:
    from lakesmith.sources.kafka import check_positions, positions_error

    starts, lost = check_positions(
        {0: Position(120), 1: None, 2: Position(5), 3: Position(40)},
        {0: 100, 1: 7, 2: 30, 3: 40},
    )
    # 0 resumes, 1 (never committed) starts at its first record, 3 resumes at its first
    assert starts == {0: 120, 1: 7, 3: 40}
    assert lost == {2: (5, 30)}  # retention removed 25 records before they were read
    err = positions_error("iot.telemetry", "iot.telemetry", lost | {4: (9, -1)})
    text = str(err)
    assert "partitions 2 (committed 5, first available 30), 4 (committed 9, out of range)" in text
    assert "lakesmith reset-positions iot.telemetry --to earliest" in text
