"""Every lake table lakesmith writes, in either format, is readable by DuckDB and Polars."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.pipeline.dataset import Dataset
from lakesmith.testing.pipeline import unique_contract
from lakesmith.testing.sink_suite import NOW, process_into, raw_batch

pytestmark = pytest.mark.integration


def _duckdb() -> duckdb.DuckDBPyConnection:
    import duckdb_ext  # namespace package shipping the extension binaries on PyPI

    ext = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect(
        config={"extension_directory": str(ext), "autoinstall_known_extensions": False}
    )
    con.execute("LOAD iceberg; LOAD delta")
    return con


@pytest.fixture(params=["iceberg", "delta"])
def dataset(
    request: pytest.FixtureRequest, stack_settings: Settings, tmp_path: Path
) -> Iterator[Dataset]:
    settings = stack_settings.model_copy(
        update={"lake": stack_settings.lake.model_copy(update={"format": request.param})}
    )
    contract, _ = unique_contract(tmp_path, "iot.telemetry")
    ds = Dataset(settings, contract).ensure()
    process_into(ds, raw_batch("suite://a", range(0, 300)))
    process_into(ds, raw_batch("suite://a", range(300, 500), pressure=True))
    yield ds
    ds.close()


def test_duckdb_reads_every_layer(dataset: Dataset) -> None:
    con = _duckdb()
    scan = "iceberg_scan" if dataset.format == "iceberg" else "delta_scan"
    for layer, table in dataset.lake.items():
        n = con.execute(f"SELECT count(*) FROM {scan}('{table.location}')").fetchone()
        assert n is not None
        assert n[0] == table.scan().height, layer
    row = con.execute(
        f"SELECT count(*), count(pressure), max(timestamp) <= ? "
        f"FROM {scan}('{dataset.silver.location}')",
        [NOW],
    ).fetchone()
    assert row == (500, 200, True)


def test_polars_reads_silver(dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLARS_ICEBERG_PLANNER", "pyiceberg")  # the faster planner is optional
    loc = dataset.silver.location
    frame = pl.scan_iceberg(loc).collect() if dataset.format == "iceberg" else pl.read_delta(loc)
    assert frame.height == 500
    assert frame["_record_id"].n_unique() == 500
    assert frame.filter(pl.col("pressure").is_not_null()).height == 200
