"""The simulator and the file producer against the real local broker: every message
arrives, keyed by device, one device per partition."""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from lakesmith.config import Settings
from lakesmith.domains.iot.simulator import SimConfig, generate, produce_simulation
from lakesmith.sources.kafka import consumer_config
from lakesmith.sources.produce import produce_file

pytestmark = pytest.mark.integration

RPI = Path("iot") / "environmental_sensor_telemetry"


def _topic() -> str:
    return f"sim-{uuid.uuid4().hex[:10]}"


def consume_all(
    settings: Settings, topic: str, want: int, timeout_s: float = 60.0
) -> list[tuple[int, bytes | None, bytes]]:
    """(partition, key, value) of every message; keeps reading briefly after ``want``
    arrived so that extra (duplicated) messages would be seen too."""
    consumer = Consumer(consumer_config(settings, f"g-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([topic])
    got: list[tuple[int, bytes | None, bytes]] = []
    deadline = time.monotonic() + timeout_s
    settle: float | None = None
    try:
        while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
            for msg in consumer.consume(num_messages=5000, timeout=0.5):
                assert msg.error() is None, msg.error()
                got.append((msg.partition(), msg.key(), msg.value()))
            if settle is None and len(got) >= want:
                settle = time.monotonic() + 2.0
    finally:
        consumer.close()
    return got


def test_simulation_arrives_keyed_and_partitioned_by_device(stack_settings: Settings) -> None:
    topic = _topic()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    cfg = SimConfig(
        devices=50, rate=500, duration=10, bad_ratio=0.05, seed=11, topic=topic, start=start
    )
    report = produce_simulation(stack_settings, cfg, progress=False)
    assert report.total == 5000
    assert report.valid == 4750
    assert sum(report.by_kind.values()) == 250
    assert report.by_expected["valid"] == 4750
    assert report.first_event == "{}.000Z".format(start.strftime("%Y-%m-%dT%H:%M:%S"))

    admin = AdminClient({"bootstrap.servers": stack_settings.effective_kafka_bootstrap()})
    assert len(admin.list_topics(timeout=10).topics[topic].partitions) == 6

    got = consume_all(stack_settings, topic, 5000)
    expected = list(generate(cfg))
    assert len(got) == 5000
    assert Counter(v for _, _, v in got) == Counter(m.value for m in expected)
    key_of = {m.value: m.key for m in expected}
    partitions: dict[bytes | None, set[int]] = defaultdict(set)
    for partition, key, value in got:
        assert key == key_of[value]
        partitions[key].add(partition)
    assert set(partitions) == {f"sensor-{d:04d}".encode() for d in range(50)}
    assert all(len(p) == 1 for p in partitions.values()), "a device spans partitions"
    assert len({p for ps in partitions.values() for p in ps}) > 1
    for m in expected:
        if m.expected == "valid":
            assert orjson.loads(m.value)["device_id"].encode() == m.key


@pytest.mark.parametrize(
    ("name", "count"), [("raw_data_small.json", 5), ("raw_data_large.json", 9995)]
)
def test_produce_real_sensor_file(
    stack_settings: Settings, external_data: Path, name: str, count: int
) -> None:
    path = external_data / RPI / name
    topic = _topic()
    report = produce_file(stack_settings, path, "iot.environment", topic=topic, progress=False)
    assert (report.produced, report.not_objects, report.unparsed) == (count, 0, 0)

    got = consume_all(stack_settings, topic, count)
    assert len(got) == count
    source = orjson.loads(path.read_bytes())
    assert Counter(v for _, _, v in got) == Counter(orjson.dumps(e) for e in source)
    by_device: dict[bytes | None, set[int]] = defaultdict(set)
    for partition, key, value in got:
        assert key == orjson.loads(value)["device"].encode()
        by_device[key].add(partition)
    assert all(len(p) == 1 for p in by_device.values())


def test_produce_file_limit_and_json_lines(stack_settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    path.write_text('{"device": "d1", "ts": 1}\n[1, 2]\nnot json\n{"ts": 2}\n{"device": "d2"}\n')
    topic = _topic()
    report = produce_file(
        stack_settings, path, "iot.environment", topic=topic, limit=4, progress=False
    )
    assert (report.produced, report.not_objects, report.unparsed) == (4, 1, 1)
    got = sorted(consume_all(stack_settings, topic, 4), key=lambda g: g[2])
    assert [(k, v) for _, k, v in got] == [
        (None, b"[1,2]"),
        (None, b"not json"),
        (b"d1", b'{"device":"d1","ts":1}'),
        (None, b'{"ts":2}'),
    ]
