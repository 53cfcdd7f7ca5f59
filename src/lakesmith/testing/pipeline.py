"""Helpers for pipeline tests and benchmarks: unique contracts, reading every sink back.

They accept any contract (a built-in name, a YAML path or a ``Contract``), whatever its
source kind and lake format.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from lakesmith.config import Settings
from lakesmith.contracts import Contract, load_contract
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.pipeline.dataset import Dataset


def _name_in(path: Path) -> object:
    loaded = yaml.safe_load(path.read_text())
    return loaded.get("name") if isinstance(loaded, dict) else None


def _contract_data(base: str | Contract) -> dict[str, Any]:
    if isinstance(base, Contract):
        data: dict[str, Any] = base.model_dump(mode="json", exclude_defaults=True)
        data["source"] = base.source.model_dump(mode="json")
        return data
    path = Path(base)
    if path.suffix not in {".yaml", ".yml"}:
        # a built-in dataset name (iot.telemetry), looked up by the name in the file (two
        # domains may both have an orders.yaml), or for older tests an IoT file stem
        by_name = [p for p in sorted(DOMAINS_DIR.glob("*/*.yaml")) if _name_in(p) == base]
        found = by_name or sorted(DOMAINS_DIR.glob(f"iot/{base.split('.')[-1]}.yaml"))
        if not found:
            raise FileNotFoundError(f"no built-in contract {base!r}")
        path = found[0]
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def unique_contract(
    tmp_path: Path, base: str | Contract = "iot.telemetry", **changes: Any
) -> tuple[Contract, Path]:
    """A copy of ``base`` with its own dataset name, tables and (Kafka) topic.

    ``changes`` replace top-level sections (``source={...}``, ``lake={...}``, …)."""
    data = _contract_data(base)
    tag = uuid.uuid4().hex[:8]
    stem = data["name"].split(".")[-1]
    data["name"] = f"test.{stem}_{tag}"
    if data.get("source", {}).get("kind", "kafka") == "kafka":
        data["source"]["topic"] = f"test.{stem}.{tag}"
    if data.get("timeseries"):
        data["timeseries"]["table"] = f"{stem}_{tag}"
    if data.get("gold"):  # its own lake namespace and warehouse schema
        data["gold"]["namespace"] = f"{stem}_{tag}"
    data.update(changes)
    path = tmp_path / f"{stem}_{tag}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_contract(str(path)), path


@dataclass
class Sinks:
    bronze: pl.DataFrame
    silver: pl.DataFrame
    quarantine: pl.DataFrame
    timeseries: pl.DataFrame | None


def read_sinks(settings: Settings, contract: Contract) -> Sinks:
    """Every row of every sink of the dataset (small test datasets only)."""
    dataset = Dataset(settings, contract)
    try:
        ts = dataset.timeseries.read_all() if dataset.timeseries is not None else None
        silver = dataset.scan_silver()  # every split table of a split silver
        return Sinks(dataset.bronze.scan(), silver, dataset.quarantine.scan(), ts)
    finally:
        dataset.close()


def assert_exactly_once(
    settings: Settings, contract: Contract, expected: Counter[str], total: int
) -> None:
    """Every sink holds exactly the produced records: ``expected`` counts the simulator's
    outcomes (``valid``, ``duplicate``, else the rule that must quarantine it)."""
    from lakesmith.stores.dq import dq_totals
    from lakesmith.stores.postgres import connect

    sinks = read_sinks(settings, contract)
    assert sinks.bronze.height == total
    assert sinks.bronze["_record_id"].n_unique() == total
    assert sinks.silver["_record_id"].n_unique() == sinks.silver.height == expected["valid"]
    quarantined = sum(v for k, v in expected.items() if k not in ("valid", "duplicate"))
    assert sinks.quarantine["_record_id"].n_unique() == sinks.quarantine.height == quarantined
    if contract.timeseries is not None:
        assert sinks.timeseries is not None
        assert sinks.timeseries.height == sinks.silver.height
        assert set(sinks.timeseries["_record_id"].to_list()) == set(
            sinks.silver["_record_id"].to_list()
        )
    assert sinks.silver.select(contract.keys).is_duplicated().sum() == 0
    with connect(settings) as conn:
        totals = dq_totals(conn, contract.name)
    assert totals == (total, expected["valid"], quarantined, expected["duplicate"])
