"""The local Kafka-protocol broker with the client lakesmith uses (confluent-kafka)."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lakesmith.config import Settings
from lakesmith.sources.kafka import consumer_config, producer_config

pytestmark = pytest.mark.integration

N = 10_000


def _consume(
    consumer: Consumer, want: int, timeout_s: float = 60.0
) -> list[tuple[int, int, bytes]]:
    import time

    got: list[tuple[int, int, bytes]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=1000, timeout=1.0):
            assert msg.error() is None, msg.error()
            got.append((msg.partition(), msg.offset(), msg.value()))
    return got


def test_produce_consume_commit_resume(stack_settings: Settings) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": stack_settings.effective_kafka_bootstrap()})
    for fut in admin.create_topics(
        [NewTopic(topic, num_partitions=3, replication_factor=1)]
    ).values():
        fut.result(timeout=30)
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 3

    producer = Producer(producer_config(stack_settings))
    for i in range(N):
        producer.produce(topic, key=f"device-{i % 50}", value=str(i).encode())
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0

    group = f"g-{uuid.uuid4().hex[:8]}"
    first = Consumer(consumer_config(stack_settings, group))
    first.subscribe([topic])
    part1 = _consume(first, 4000)
    assert len(part1) >= 4000
    # Commit exactly what we processed: the next offset per partition.
    last: dict[int, int] = {}
    for p, off, _ in part1:
        last[p] = max(last.get(p, -1), off)
    first.commit(
        offsets=[TopicPartition(topic, p, off + 1) for p, off in last.items()], asynchronous=False
    )
    first.close()

    second = Consumer(consumer_config(stack_settings, group))
    second.subscribe([topic])
    part2 = _consume(second, N - len(part1))
    second.close()

    values1 = {int(v) for _, _, v in part1}
    values2 = {int(v) for _, _, v in part2}
    assert len(part1) + len(part2) == N, "a message was lost or read twice"
    assert values1.isdisjoint(values2)
    assert values1 | values2 == set(range(N))
    # Keys are hashed to partitions: one device always lands on one partition.
    assert {p for p, _, _ in part1 + part2} == {0, 1, 2}
