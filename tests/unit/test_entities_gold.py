"""The entities gold model on in-memory silver frames (no services): newest version wins,
tombstones remove, keys are the natural ids' hashes and never dangle, the telemetry
becomes one row per device and day."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from lakesmith.domains.entities.generator import EntitiesConfig, make_fleet
from lakesmith.domains.entities.gold import MODEL
from lakesmith.gold.batch import _checked
from lakesmith.gold.keys import key_of

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _silver(frame: pl.DataFrame) -> pl.DataFrame:
    out = frame.with_columns(pl.lit(T0).alias("_ingested_at"))
    if "tags" in out.columns:
        out = out.with_columns(
            pl.col("tags").list.eval(pl.format('"{}"', pl.element())).list.join(",")
        ).with_columns(pl.format("[{}]", "tags").alias("tags"))
    return out


@pytest.fixture(scope="module")
def silver() -> dict[str, pl.DataFrame]:
    fleet = make_fleet(EntitiesConfig(seed=5, devices=50, models=8, reports=0))
    firmware = fleet.firmware.with_columns(
        pl.col("released_at").str.to_datetime(time_zone="UTC"), pl.lit(False).alias("deleted")
    )
    return {
        "entities.models": _silver(fleet.models),
        "entities.sites": _silver(fleet.sites),
        "entities.devices": _silver(fleet.devices),
        "entities.firmware": _silver(firmware),
        "entities.maintenance": _silver(fleet.maintenance),
    }


def build(silver: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return _checked(MODEL, MODEL.build({k: v.lazy() for k, v in silver.items()}))


def test_tables_keys_and_references(silver: dict[str, pl.DataFrame]) -> None:
    gold = build(silver)
    assert gold["dim_device"].height == 50 and gold["dim_model"].height == 8
    device = gold["dim_device"].row(0, named=True)
    assert device["device_key"] == key_of(device["device_id"])
    assert device["model_key"] == key_of(device["model"])
    assert "," in device["tags"] or device["tags"]
    facts = gold["fact_maintenance"]
    assert facts.height == 75 and facts["device_key"].null_count() == 0
    assert set(facts["model_key"]) <= set(gold["dim_model"]["model_key"])
    assert (facts.filter(~pl.col("is_open"))["duration_hours"] >= 0).all()
    assert facts.filter(pl.col("is_open"))["closed_date_key"].null_count() == facts["is_open"].sum()
    assert gold["dim_manufacturer"]["models"].sum() == 8
    latest = gold["dim_firmware"].filter("is_latest")
    assert latest["model"].n_unique() == latest.height == 8


def test_newest_version_wins_and_tombstones_remove(silver: dict[str, pl.DataFrame]) -> None:
    devices = silver["entities.devices"]
    first, second = devices["device_id"][0], devices["device_id"][1]
    later = datetime(2025, 6, 29, tzinfo=UTC)
    moved = devices.filter(pl.col("device_id") == first).with_columns(
        pl.lit("retired").alias("status"), pl.lit(later).alias("updated_at")
    )
    gone = devices.filter(pl.col("device_id") == second).with_columns(
        pl.lit(True).alias("deleted"), pl.lit(later).alias("updated_at")
    )
    gold = build({**silver, "entities.devices": pl.concat([devices, moved, gone])})
    dim = gold["dim_device"]
    assert dim.height == 49
    assert dim.filter(pl.col("device_id") == first)["status"].to_list() == ["retired"]
    assert second not in dim["device_id"].to_list()
    # tickets of the deleted device keep the fact, with no dangling device key
    tickets = gold["fact_maintenance"].filter(pl.col("device_id") == second)
    assert tickets["device_key"].null_count() == tickets.height


def test_fact_device_day_from_telemetry(silver: dict[str, pl.DataFrame]) -> None:
    ts = [datetime(2025, 3, 1, h, tzinfo=UTC) for h in (1, 2, 3)] + [
        datetime(2025, 3, 2, tzinfo=UTC)
    ]
    telemetry = pl.DataFrame(
        {
            "device_id": ["sensor-0000"] * 3 + ["sensor-9999"],
            "timestamp": ts,
            "temperature": [20.0, 22.0, 24.0, 5.0],
            "humidity": [50.0, 50.0, 50.0, 40.0],
        }
    )
    gold = build({**silver, "iot.telemetry": telemetry})
    days = gold["fact_device_day"].sort("date_key")
    assert days.select("device_id", "date_key", "readings", "temperature_avg").rows() == [
        ("sensor-0000", 20250301, 3, 22.0),
        ("sensor-9999", 20250302, 1, 5.0),
    ]
    assert days["device_key"].to_list() == [key_of("sensor-0000"), None]  # unknown device
    assert days["pressure_avg"].null_count() == 2  # a v1 fleet: no pressure column
