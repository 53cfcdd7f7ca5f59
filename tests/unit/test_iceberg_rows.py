"""Reading, replacing and deleting Iceberg rows by big key sets: files are planned by the
set's range and the exact set is applied to the rows read, so keys inside the range but
not in the set survive, and a replace is one snapshot whatever it deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.expressions import AlwaysFalse, In

from lakesmith.config import load_settings
from lakesmith.core.columns import Column
from lakesmith.core.positions import Position
from lakesmith.stores.lake.iceberg import IcebergTable
from lakesmith.stores.lake.iceberg_rows import SET_LIMIT, planning_expression

T0 = datetime(2025, 3, 4, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _rows(keys: list[int], tag: str = "a") -> pa.Table:
    return pa.table(
        {
            "k": pa.array(keys, pa.int64()),
            "ts": pa.array([T0 + timedelta(hours=k % 48) for k in keys], TS),
            "v": pa.array([f"{tag}{k}" for k in keys]),
        }
    )


@pytest.fixture
def table(tmp_path: Path) -> IcebergTable:
    t = IcebergTable(load_settings(state_dir=tmp_path), "gold", "t")
    t.ensure([Column("k", "long"), Column("ts", "timestamp"), Column("v", "string")], [])
    # three files, keys 0..2999 interleaved so every file spans the whole key range
    for part in range(3):
        t.append(_rows(list(range(part, 3000, 3))), {})
    return t


def _keys(table: IcebergTable) -> list[int]:
    return sorted(table.scan(["k"])["k"].to_list())


def test_big_sets_plan_by_range_small_sets_exactly() -> None:
    expr, exact = planning_expression([("k", "in", list(range(SET_LIMIT + 1)))])
    assert not exact and "In" not in repr(expr) and "LessThanOrEqual" in repr(expr)
    expr, exact = planning_expression([("k", "in", [1, 2, None])])
    assert exact and isinstance(expr, In)
    assert planning_expression([("k", "in", [None])])[0] == AlwaysFalse()


def test_scan_with_a_big_set_returns_exactly_the_set(table: IcebergTable) -> None:
    wanted = list(range(0, 3000, 7))  # a range that covers keys not in the set
    frame = table.scan(["v"], [("k", "in", wanted), ("ts", ">=", T0 + timedelta(hours=1))])
    expected = {f"a{k}" for k in wanted if k % 48 >= 1}
    assert frame.columns == ["v"] and sorted(frame["v"].to_list()) == sorted(expected)
    got = [row for t in table.batches(["k"], [("k", "in", wanted)]) for row in t["k"].to_pylist()]
    assert sorted(got) == wanted


def test_replace_by_big_set_deletes_only_the_set_in_one_snapshot(table: IcebergTable) -> None:
    before = len(list(table.table.snapshots()))
    gone = list(range(100, 2000, 2))
    stream = "kafka://t/0"
    table.replace(_rows([5000, 5001], "new"), (("k", "in", gone),), {stream: Position(9)})
    assert _keys(table) == sorted({*range(3000)} - set(gone) | {5000, 5001})
    snapshots = list(table.refresh().snapshots())
    assert len(snapshots) == before + 1  # deletes, rewrites and new rows together
    assert table.positions([stream]) == {stream: Position(9)}
    assert table.scan(["v"], [("k", "==", 5000)])["v"].to_list() == ["new5000"]


def test_delete_by_big_set_keeps_positions_and_other_rows(table: IcebergTable) -> None:
    stream = "kafka://t/0"
    table.append(_rows([7000]), {stream: Position(3)})
    table.delete([("k", "in", list(range(0, 3000, 2)))])
    assert _keys(table) == [*range(1, 3000, 2), 7000]
    assert table.positions([stream]) == {stream: Position(3)}
    table.delete([("k", "in", [])])  # matches nothing: no snapshot
    assert _keys(table) == [*range(1, 3000, 2), 7000]
