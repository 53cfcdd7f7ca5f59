"""A lake sink that commits every N rows writes its files batch by batch (Iceberg stages
them, uncommitted) and commits them together with the merged positions; a table that
cannot stage (Delta) commits as soon as the held rows pass the staging threshold."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from lakesmith.config import load_settings
from lakesmith.core.columns import SEQ, STREAM, Column
from lakesmith.core.errors import SinkError
from lakesmith.core.positions import Position
from lakesmith.pipeline.lake_sink import LakeSink, StagingTable
from lakesmith.pipeline.process import ProcessedBatch
from lakesmith.pipeline.sink_base import CommitPolicy
from lakesmith.stores.lake.delta import DeltaTable
from lakesmith.stores.lake.iceberg import IcebergTable

COLS = [Column(STREAM, "string"), Column(SEQ, "long"), Column("v", "string")]
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _batch(stream: str, lo: int, hi: int) -> ProcessedBatch:
    rows = pl.DataFrame(
        {
            STREAM: [stream] * (hi - lo),
            SEQ: list(range(lo, hi)),
            "v": [f"x{i}" for i in range(lo, hi)],
        }
    )
    return ProcessedBatch(
        batch_id=f"b{lo}",
        processed_at=NOW,
        positions={stream: Position(hi)},
        bronze=rows,
        silver=rows,
        quarantine=rows.clear(),
        outcomes=rows,
    )


def _sink(table: IcebergTable | DeltaTable, rows: int) -> LakeSink:
    policy = CommitPolicy(rows=rows, interval_s=3600.0)
    return LakeSink("bronze", table, lambda b: b.bronze, policy, stage_bytes=1)


def test_iceberg_stages_files_and_commits_every_n_rows(tmp_path: Path) -> None:
    table = IcebergTable(load_settings(state_dir=tmp_path), "bronze", "t")
    table.ensure(COLS)
    assert isinstance(table, StagingTable)
    sink = _sink(table, rows=400)  # source records, a re-delivered batch included
    assert sink.write(_batch("f", 0, 100)) == 0
    assert sink.write(_batch("f", 100, 200)) == 0
    # written as files, not committed: no positions, no rows a reader sees
    assert table.positions(["f"]) == {}
    assert table.scan().height == 0
    assert sink.pending_rows == 200  # not committed yet
    assert len(list(tmp_path.rglob("*.parquet"))) == 2
    # a re-delivered batch is not staged twice
    assert sink.write(_batch("f", 100, 200)) == 0
    assert sink.write(_batch("f", 200, 300)) == 300
    assert sink.commits == 1
    assert table.positions(["f"]) == {"f": Position(300)}
    assert table.scan()[SEQ].sort().to_list() == list(range(300))
    # the rest is committed by the final flush
    sink.write(_batch("f", 300, 350))
    assert sink.flush(force=True) == 50
    assert table.scan().height == 350


def test_staged_files_are_dropped_when_another_writer_advanced(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    table = IcebergTable(settings, "bronze", "t")
    table.ensure(COLS)
    sink = _sink(table, rows=1000)
    sink.write(_batch("f", 0, 100))
    other = IcebergTable(settings, "bronze", "t")
    other.append(_batch("f", 0, 50).bronze.to_arrow(), {"f": Position(50)})
    with pytest.raises(SinkError, match="another writer advanced"):
        sink.flush(force=True)
    assert table.scan().height == 50  # the other writer's rows only, none twice
    assert table.positions(["f"]) == {"f": Position(50)}


def test_staged_files_of_a_batch_committed_meanwhile_are_dropped(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    table = IcebergTable(settings, "bronze", "t")
    table.ensure(COLS)
    sink = _sink(table, rows=1000)
    sink.write(_batch("f", 0, 100))
    IcebergTable(settings, "bronze", "t").append(
        _batch("f", 0, 150).bronze.to_arrow(), {"f": Position(150)}
    )
    assert sink.flush(force=True) == 0  # a replay: everything is committed already
    assert table.scan().height == 150


def test_a_table_that_cannot_stage_commits_past_the_threshold(tmp_path: Path) -> None:
    table = DeltaTable(load_settings(state_dir=tmp_path), "bronze", "t")
    table.ensure(COLS)
    assert not isinstance(table, StagingTable)
    sink = _sink(table, rows=1000)
    assert sink.write(_batch("f", 0, 100)) == 100  # held rows past stage_bytes: commit now
    assert sink.commits == 1
    assert table.positions(["f"]) == {"f": Position(100)}
