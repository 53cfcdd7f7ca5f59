"""The time-series load sends a frame as a binary COPY encoded slice by slice (the server
parses one while the next is encoded): every row of a frame larger than one slice arrives,
and a frame whose keys are there already (a correction) goes the staging-upsert way with
the stream encoded again — the new values replace the old, no row is doubled."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml

from lakesmith.config import Settings
from lakesmith.contracts import load_contract
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.stores import pgcopy, timeseries
from lakesmith.stores.postgres import connect
from lakesmith.stores.timeseries import TimeseriesTable

pytestmark = pytest.mark.integration
_names = itertools.count()
T0 = datetime(2025, 6, 1, tzinfo=UTC)


def _frame(n: int, temperature: float) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "device_id": [f"dev-{i % 97:03d}" for i in range(n)],
            "timestamp": [T0 + timedelta(seconds=i) for i in range(n)],
            "temperature": [temperature] * n,
            "humidity": [None if i % 5 == 0 else 50.0 for i in range(n)],
            "firmware_version": ["1.2.3"] * n,
            "pressure": [1013.25] * n,
            "_record_id": [f"{temperature}:{i}" for i in range(n)],
        },
        schema_overrides={"timestamp": pl.Datetime("us", "UTC")},
    )


def test_frames_over_several_slices_load_and_corrections_upsert(
    stack_settings: Settings, tmp_path: Path
) -> None:
    raw = yaml.safe_load((DOMAINS_DIR / "iot" / "telemetry.yaml").read_text())
    name = f"tl{next(_names)}_{tmp_path.name[-8:].lower().replace('-', '_')}"
    raw["name"], raw["source"]["topic"] = f"test.{name}", f"test.{name}"
    raw["timeseries"]["table"] = f"test_{name}"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    contract = load_contract(str(tmp_path / "c.yaml"))
    n = pgcopy.SLICE_ROWS * 2 + 123  # three slices
    ts = TimeseriesTable(stack_settings, contract)
    ts.ensure(contract.fields)
    try:
        assert ts.upsert(_frame(n, 20.0)) == n
        assert ts.upsert(_frame(n // 2, 25.0)) == n // 2  # same keys: a conflict, upserted
    finally:
        ts.close()
    with connect(stack_settings) as conn:
        rows = conn.execute(
            f'SELECT count(*), count(DISTINCT (device_id, "{ts.spec.time_column}")), '
            "sum((temperature = 25.0)::int), count(humidity) "
            f'FROM "{timeseries.SCHEMA}"."{ts.table}"'
        ).fetchone()
    assert rows == (n, n, n // 2, n - len(range(0, n, 5)))
