"""Stored positions are checked against the source before use (ING-7)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from lakesmith.config import Settings
from lakesmith.contracts import Contract
from lakesmith.domains.iot.simulator import SimConfig, produce_simulation
from lakesmith.maintenance.reset import reset_positions
from lakesmith.pipeline.worker import Worker
from lakesmith.sources.kafka import kafka_spec
from lakesmith.sources.topics import ensure_topic
from lakesmith.testing.pipeline import read_sinks, unique_contract

pytestmark = pytest.mark.integration


def _produce(settings: Settings, contract: Contract, n: int, seed: int) -> None:
    config = SimConfig(
        devices=20, rate=100, duration=n / 100, bad_ratio=0.0, seed=seed,
        topic=kafka_spec(contract.source).topic,
    ).resolved()  # fmt: skip
    produce_simulation(settings, config, progress=False)


def _drain(settings: Settings, contract: Contract) -> int:
    worker = Worker(settings, contract)
    try:
        return worker.run(until_idle=True).records
    finally:
        worker.close()


def test_recreated_topic_is_read_from_its_start(stack_settings: Settings, tmp_path: Path) -> None:
    contract, _ = unique_contract(tmp_path)
    topic = kafka_spec(contract.source).topic
    _produce(stack_settings, contract, 3000, seed=1)
    assert _drain(stack_settings, contract) == 3000
    admin = AdminClient({"bootstrap.servers": stack_settings.effective_kafka_bootstrap()})
    admin.delete_topics([topic])[topic].result()
    time.sleep(1)
    ensure_topic(stack_settings, contract)
    _produce(stack_settings, contract, 1000, seed=2)  # fewer than the old positions
    assert _drain(stack_settings, contract) == 1000  # nothing skipped, nothing twice
    sinks = read_sinks(stack_settings, contract)
    assert sinks.bronze.height == sinks.bronze["_record_id"].n_unique() == 4000
    assert sinks.bronze["_stream"].str.extract(r"@([0-9a-f]+)/").n_unique() == 2


def test_reset_to_latest_skips_only_when_asked(stack_settings: Settings, tmp_path: Path) -> None:
    contract, _ = unique_contract(tmp_path)
    _produce(stack_settings, contract, 800, seed=4)
    written = reset_positions(stack_settings, contract, "latest")
    assert sum(p.next for p in written.values()) == 800
    assert _drain(stack_settings, contract) == 0  # the user chose to skip what was there
    _produce(stack_settings, contract, 300, seed=5)
    assert _drain(stack_settings, contract) == 300
