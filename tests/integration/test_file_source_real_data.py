"""Real public sample data through the file source, every record accounted for.

Eventsim clickstream logs (JSON lines with blank lines between records, epoch-millisecond
times, nulls) into Iceberg, and the Online Retail II Parquet file (naive local times, a
column name with a space, real duplicates and missing customers) into Delta Lake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.pipeline.worker import RunStats, Worker
from lakesmith.testing.pipeline import read_sinks, unique_contract

pytestmark = [pytest.mark.integration, pytest.mark.external_data]


def _run(settings: Settings, contract: Contract) -> RunStats:
    worker = Worker(settings, contract)
    try:
        return worker.run(until_idle=True)
    finally:
        worker.close()


def _contract(tmp_path: Path, name: str, **sections: Any) -> Contract:
    base = Contract.model_validate(
        {"name": f"test.{name}", "source": {"kind": "file", "path": "/nonexistent"}, **sections}
    )
    contract, _ = unique_contract(tmp_path, base)
    return contract


def test_eventsim_json_lines_into_iceberg(
    stack_settings: Settings, external_data: Path, tmp_path: Path
) -> None:
    files = sorted((external_data / "eventsim").glob("*.json"))
    lines = [ln for f in files for ln in f.read_bytes().splitlines() if ln.strip()]
    contract = _contract(
        tmp_path,
        "eventsim",
        source={"kind": "file", "path": str(external_data / "eventsim" / "*.json")},
        payload={"format": "jsonl", "max_bytes": 16384},
        fields=[
            {"name": "ts", "type": "timestamp", "format": "epoch_millis", "required": True},
            {"name": "session_id", "path": "sessionId", "type": "long", "required": True},
            {"name": "item_in_session", "path": "itemInSession", "type": "long", "required": True},
            {"name": "user_id", "path": "userId", "type": "string"},
            {"name": "page", "type": "string", "required": True},
            {"name": "level", "type": "string"},
            {"name": "location", "type": "string"},
            {"name": "song", "type": "string"},
            {"name": "length", "type": "double"},
        ],
        keys=["session_id", "item_in_session", "ts"],
        event_time="ts",
        rules=[{"id": "level_known", "kind": "enum", "field": "level", "values": ["free", "paid"]}],
    )
    stats = _run(stack_settings, contract)
    sinks = read_sinks(stack_settings, contract)
    assert stats.records == sinks.bronze.height == len(lines)
    outcome = stats.by_disposition
    assert sum(outcome.values()) == len(lines)
    assert sinks.silver.height == outcome.get("valid", 0) > 0
    assert sinks.quarantine.height == outcome.get("quarantined", 0)
    # lineage: each silver row names its file and physical line
    assert sinks.silver["_source"].str.contains(r"^file:///.*\.json@\d+-\d+#row=\d+$").all()
    assert sinks.silver["ts"].dt.year().unique().to_list() == [2018]


def test_online_retail_parquet_into_delta(
    stack_settings: Settings, external_data: Path, tmp_path: Path
) -> None:
    path = external_data / "retail" / "online_retail_ii_2009_2010.parquet"
    rows = pl.read_parquet(path)
    settings = stack_settings.model_copy(
        update={"lake": stack_settings.lake.model_copy(update={"format": "delta"})}
    )
    contract = _contract(
        tmp_path,
        "retail",
        source={"kind": "file", "path": str(path)},
        payload={"format": "parquet", "max_bytes": 4096},
        fields=[
            {"name": "invoice", "path": "Invoice", "type": "string", "required": True},
            {"name": "stock_code", "path": "StockCode", "type": "string", "required": True},
            {"name": "description", "path": "Description", "type": "string"},
            {"name": "quantity", "path": "Quantity", "type": "long", "required": True},
            {
                "name": "invoice_date",
                "path": "InvoiceDate",
                "type": "timestamp",
                "timezone": "Europe/London",
                "required": True,
            },
            {"name": "price", "path": "Price", "type": "double", "required": True},
            {"name": "customer_id", "path": "Customer ID", "type": "double"},
            {"name": "country", "path": "Country", "type": "string"},
        ],
        keys=["invoice", "stock_code", "invoice_date", "quantity", "price"],
        event_time="invoice_date",
        lake={"partition_by": [{"field": "invoice_date", "transform": "month"}]},
    )
    stats = _run(settings, contract)
    sinks = read_sinks(settings, contract)
    assert sinks.bronze.height == stats.records == rows.height
    outcome = stats.by_disposition
    assert outcome.get("quarantined", 0) == sinks.quarantine.height == 0
    key_cols = ["Invoice", "StockCode", "InvoiceDate", "Quantity", "Price"]
    expected_dupes = rows.height - rows.select(key_cols).n_unique()  # the first per key stays
    assert outcome.get("duplicate", 0) == expected_dupes
    assert sinks.silver.height == rows.height - expected_dupes
    assert sinks.silver["customer_id"].null_count() > 0  # missing customers stay, as nulls
    row = pl.col("_source").str.extract(r"#row=(\d+)$").cast(pl.Int64)
    first = sinks.silver.sort(row).row(0, named=True)
    assert first["invoice"] == "489434" and first["invoice_date"].hour == 7  # GMT in December
