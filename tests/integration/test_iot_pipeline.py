"""W-IOT end to end against the real broker, PostgreSQL and Iceberg tables on disk."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml

from lakesmith.config import Settings
from lakesmith.contracts import load_contract
from lakesmith.domains.iot.simulator import SimConfig, generate, produce_simulation
from lakesmith.maintenance.replay import replay_quarantine
from lakesmith.pipeline.worker import Worker
from lakesmith.sources.kafka import kafka_spec
from lakesmith.sources.produce import produce_file
from lakesmith.stores.postgres import connect
from lakesmith.stores.schema_registry import SchemaRegistry
from lakesmith.testing.pipeline import read_sinks, unique_contract

pytestmark = pytest.mark.integration


def _fast(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "worker": settings.worker.model_copy(update={"idle_timeout_s": 1.0, "batch_size": 2000})
        }
    )


def test_stream_with_schema_change_and_every_bad_kind(
    stack_settings: Settings, tmp_path: Path
) -> None:
    settings = _fast(stack_settings)
    contract, contract_path = unique_contract(tmp_path)
    config = SimConfig(
        devices=20,
        rate=100,
        duration=60,
        evolve_after=30,
        bad_ratio=0.1,
        seed=11,
        topic=kafka_spec(contract.source).topic,
    )
    config = config.resolved()
    messages = list(generate(config))
    report = produce_simulation(settings, config, progress=False)
    assert report.total == len(messages) == 6000

    worker = Worker(settings, contract)
    try:
        stats = worker.run(until_idle=True)
    finally:
        worker.close()
    assert stats.records == report.total
    sinks = read_sinks(settings, contract)

    # bronze: every record exactly once, raw bytes as produced
    assert sinks.bronze.height == report.total
    assert sinks.bronze["_record_id"].n_unique() == report.total
    assert Counter(sinks.bronze["_payload"].to_list()) == Counter(m.value for m in messages)

    # every record lands in exactly one place: silver, quarantine, or removed as duplicate
    silver_ids = set(sinks.silver["_record_id"].to_list())
    quarantine_ids = set(sinks.quarantine["_record_id"].to_list())
    bronze_ids = set(sinks.bronze["_record_id"].to_list())
    assert len(silver_ids) == sinks.silver.height and len(quarantine_ids) == sinks.quarantine.height
    assert silver_ids.isdisjoint(quarantine_ids)
    duplicate_ids = bronze_ids - silver_ids - quarantine_ids
    expected = Counter(m.expected for m in messages)
    assert len(duplicate_ids) == expected["duplicate"] > 0
    assert sinks.silver.height == expected["valid"]
    assert sinks.quarantine.height == sum(
        v for k, v in expected.items() if k not in ("valid", "duplicate")
    )
    assert sinks.silver.height + sinks.quarantine.height + len(duplicate_ids) == report.total
    # a duplicate is a record whose natural key a silver row already has
    dups = sinks.bronze.filter(pl.col("_record_id").is_in(list(duplicate_ids)))
    silver_payloads = set(
        sinks.bronze.filter(pl.col("_record_id").is_in(list(silver_ids)))["_payload"].to_list()
    )
    assert set(dups["_payload"].to_list()) <= silver_payloads

    # every bad kind is quarantined with the rule the simulator expects
    by_payload = dict(
        zip(
            sinks.quarantine["_payload"].to_list(),
            sinks.quarantine["_rule_ids"].to_list(),
            strict=True,
        )
    )
    kinds_seen = set()
    for m in messages:
        if m.expected in ("valid", "duplicate"):
            continue
        assert m.expected in by_payload[m.value], (m.kind, m.value[:120], by_payload[m.value])
        kinds_seen.add(m.kind)
    assert kinds_seen == {
        "malformed_json", "missing_device_id", "missing_timestamp", "wrong_type", "out_of_range",
        "nan", "bad_timestamp", "far_future", "oversized",
    }  # fmt: skip

    # schema evolution mid-stream: silver and Postgres gained pressure; v1 rows read null
    assert "pressure" in sinks.silver.columns and "pressure" in sinks.timeseries.columns
    v1 = sinks.silver.filter(pl.col("_schema_version") == 1)
    v2 = sinks.silver.filter(pl.col("_schema_version") == 2)
    assert v1.height > 0 and v2.height > 0
    assert v1["pressure"].null_count() == v1.height
    assert v2["pressure"].null_count() == 0
    assert v1["timestamp"].max() < v2["timestamp"].min()
    ts_v1 = sinks.timeseries.join(v1.select("_record_id"), on="_record_id")
    assert ts_v1.height == v1.height and ts_v1["pressure"].null_count() == v1.height

    # the time-series table holds exactly the silver rows
    assert sinks.timeseries.height == sinks.silver.height
    assert set(sinks.timeseries["_record_id"].to_list()) == silver_ids

    # lineage: every silver row points at its bronze record
    joined = sinks.silver.join(
        sinks.bronze.select("_record_id", "_source", "_seq"), on="_record_id"
    )
    assert joined.height == sinks.silver.height
    assert (joined["_source"] == joined["_source_right"]).all()

    # schema registry and DQ stats
    with connect(settings) as conn:
        versions = SchemaRegistry(conn, contract).versions()
        assert [v.version for v in versions] == [1, 2]
        assert versions[1].first_source is not None and versions[1].first_source.startswith(
            "kafka://"
        )
        totals = conn.execute(
            "SELECT sum(records_in), sum(valid), sum(quarantined), sum(duplicates) FROM lakesmith.dq_batches WHERE dataset = %s",
            (contract.name,),
        ).fetchone()
    assert totals == (
        report.total,
        sinks.silver.height,
        sinks.quarantine.height,
        len(duplicate_ids),
    )

    # replay after a rule fix: out-of-range temperatures become valid, the rest stay
    data = yaml.safe_load(contract_path.read_text())
    for rule in data["rules"]:
        if rule["id"] == "temperature_range":
            rule["max"] = 200
    relaxed_path = tmp_path / "relaxed.yaml"
    relaxed_path.write_text(yaml.safe_dump(data))

    result = replay_quarantine(settings, load_contract(str(relaxed_path)))
    n_temp = sum(1 for m in messages if m.expected == "temperature_range")
    assert result.recovered == n_temp > 0
    after = read_sinks(settings, contract)
    assert after.silver.height == sinks.silver.height + n_temp
    assert after.quarantine.height == sinks.quarantine.height - n_temp
    assert after.timeseries.height == after.silver.height
    again = replay_quarantine(settings, load_contract(str(relaxed_path)))
    assert again.recovered == 0
    assert read_sinks(settings, contract).silver.height == after.silver.height


def test_second_device_family_is_configuration_only(
    stack_settings: Settings, tmp_path: Path, external_data: Path
) -> None:
    """Real Raspberry Pi readings with their own contract, through the same pipeline code."""
    settings = _fast(stack_settings)
    contract, contract_path = unique_contract(tmp_path, base="environment")
    source = external_data / "iot" / "environmental_sensor_telemetry" / "raw_data_large.json"
    produced = produce_file(settings, source, str(contract_path), progress=False)
    assert produced.produced == 9995
    worker = Worker(settings, contract)
    try:
        worker.run(until_idle=True)
    finally:
        worker.close()
    sinks = read_sinks(settings, contract)
    assert sinks.bronze.height == 9995
    duplicates = 9995 - sinks.silver.height - sinks.quarantine.height
    assert duplicates >= 0
    assert sinks.timeseries.height == sinks.silver.height > 9000
    assert set(sinks.silver["device"].unique().to_list()) == {
        "iot-device-01",
        "iot-device-02",
        "iot-device-03",
    }
    assert sinks.silver["ts"].dt.year().unique().to_list() == [2020]
    assert sinks.silver["light"].dtype == pl.Boolean and sinks.silver["temp"].null_count() == 0
