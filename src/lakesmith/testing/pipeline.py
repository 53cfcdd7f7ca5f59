"""Helpers for pipeline tests and benchmarks: unique contracts, reading every sink back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

from lakesmith.config import Settings
from lakesmith.contracts import Contract, load_contract
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.pipeline.worker import lake_tables
from lakesmith.stores.postgres import connect


def unique_contract(
    tmp_path: Path, base: str = "telemetry", **changes: object
) -> tuple[Contract, Path]:
    """A copy of a built-in contract with its own dataset name, topic and tables."""
    data = yaml.safe_load((DOMAINS_DIR / "iot" / f"{base}.yaml").read_text())
    tag = uuid.uuid4().hex[:8]
    data["name"] = f"test.{base}_{tag}"
    data["source"]["topic"] = f"test.{base}.{tag}"
    data["timeseries"]["table"] = f"{base}_{tag}"
    data.update(changes)
    path = tmp_path / f"{base}_{tag}.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_contract(str(path)), path


@dataclass
class Sinks:
    bronze: pl.DataFrame
    silver: pl.DataFrame
    quarantine: pl.DataFrame
    timeseries: pl.DataFrame


def read_sinks(settings: Settings, contract: Contract) -> Sinks:
    frames = {}
    for name, table in lake_tables(settings, contract).items():
        df = pl.from_arrow(table.refresh().scan().to_arrow())
        assert isinstance(df, pl.DataFrame)
        frames[name] = df
    assert contract.timeseries is not None
    with connect(settings) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT * FROM timeseries."{contract.timeseries.table}"')
        cols = [d.name for d in cur.description or []]
        ts = pl.DataFrame(cur.fetchall(), schema=cols, orient="row", infer_schema_length=None)
    return Sinks(frames["bronze"], frames["silver"], frames["quarantine"], ts)
