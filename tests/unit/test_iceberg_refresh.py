"""``IcebergTable.refresh`` re-reads the metadata file only when the SQL catalog says the
table moved: a handle sees another handle's commit at once, and a dropped-and-recreated
table is still an error, never the old one."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from lakesmith.config import load_settings
from lakesmith.core.columns import Column
from lakesmith.core.errors import SinkError
from lakesmith.stores.lake.iceberg import IcebergTable

COLUMNS = [Column("k", "long")]


def _handle(tmp_path: Path) -> IcebergTable:
    return IcebergTable(load_settings(state_dir=tmp_path), "gold", "t")


def test_refresh_reads_again_only_after_a_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _handle(tmp_path), _handle(tmp_path)
    a.ensure(COLUMNS)
    b.ensure(COLUMNS)
    loads: list[object] = []
    real = b.catalog.load_table
    monkeypatch.setattr(b.catalog, "load_table", lambda i: loads.append(i) or real(i))
    first = b.refresh().metadata_location
    assert b.refresh().metadata_location == first and loads == []  # nothing committed
    a.append(pa.table({"k": pa.array([1, 2], pa.int64())}), {})  # (same catalog object)
    loads.clear()
    after = b.refresh().metadata_location
    assert loads == [b.identifier]  # the moved table was read again, once
    assert after != first and after == a.refresh().metadata_location
    assert sorted(b.scan(["k"])["k"].to_list()) == [1, 2]


def test_a_table_dropped_and_created_again_is_an_error(tmp_path: Path) -> None:
    a, b = _handle(tmp_path), _handle(tmp_path)
    a.ensure(COLUMNS)
    b.ensure(COLUMNS)
    a.catalog.drop_table(a.identifier)
    a.ensure(COLUMNS)
    with pytest.raises(SinkError, match="dropped and created again"):
        b.refresh()
