"""The local broker keeps its topics and records across ``local down`` / ``local up``
(Tansu's s3:// storage on the local S3 server, which keeps its objects on disk)."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from lakesmith.config import Settings
from lakesmith.local import LocalStack
from lakesmith.sources.kafka import consumer_config, producer_config
from lakesmith.stores.objects import s3_client
from lakesmith.testing import local_stack_settings, make_state_dir

pytestmark = pytest.mark.integration

N = 3000


@pytest.fixture
def own_stack() -> Iterator[Settings]:
    """S3 and the broker alone, in a state dir of their own (this test stops them)."""
    state_dir = make_state_dir()
    settings = local_stack_settings(state_dir)
    assert settings.local.kafka_storage.startswith("s3://") and settings.local.s3_persist
    try:
        yield settings
    finally:
        LocalStack(settings, ["s3", "kafka"]).down()
        shutil.rmtree(state_dir, ignore_errors=True)


def _read_all(settings: Settings, topic: str, want: int) -> list[tuple[int, int, bytes]]:
    consumer = Consumer(consumer_config(settings, f"g-{uuid.uuid4().hex[:8]}"))
    consumer.subscribe([topic])
    got: list[tuple[int, int, bytes]] = []
    deadline = time.monotonic() + 60
    try:
        while len(got) < want and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                assert m.error() is None, m.error()
                got.append((m.partition() or 0, m.offset() or 0, m.value() or b""))
    finally:
        consumer.close()
    return sorted(got)


def test_topics_and_records_survive_down_up(own_stack: Settings) -> None:
    settings = own_stack
    stack = LocalStack(settings, ["s3", "kafka"])
    stack.up()
    topic = f"keep-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.effective_kafka_bootstrap()})
    new_topic = NewTopic(topic, num_partitions=3, replication_factor=-1)
    admin.create_topics([new_topic])[topic].result(30)
    producer = Producer(producer_config(settings))
    for i in range(N):
        producer.produce(topic, str(i).encode(), f"k{i % 17}".encode())
    assert producer.flush(30) == 0
    before = _read_all(settings, topic, N)
    assert len(before) == N

    assert stack.down() == {"kafka": True, "s3": True}
    assert not any(s.running for s in stack.status())
    stack = LocalStack(settings, ["s3", "kafka"])
    stack.up()

    admin = AdminClient({"bootstrap.servers": settings.effective_kafka_bootstrap()})
    meta = admin.list_topics(timeout=10).topics
    assert topic in meta and len(meta[topic].partitions) == 3
    after = _read_all(settings, topic, N)
    assert after == before  # same partitions, offsets and values
    # the topic goes on from where it ended: new records get the next offsets
    producer = Producer(producer_config(settings))
    producer.produce(topic, b"more", b"k0")
    assert producer.flush(30) == 0
    again = _read_all(settings, topic, N + 1)
    assert len(again) == N + 1 and set(before) < set(again)
    (new,) = set(again) - set(before)
    assert new[2] == b"more" and new[1] == max(o for p, o, _ in before if p == new[0]) + 1


def test_broker_up_alone_starts_its_storage(own_stack: Settings) -> None:
    """``local up kafka`` with s3:// storage brings the local S3 server up first."""
    settings = own_stack
    LocalStack(settings, ["kafka"]).up()
    assert LocalStack(settings, ["s3"]).status()[0].healthy
    buckets = {b["Name"] for b in s3_client(settings).list_buckets()["Buckets"]}
    assert "tansu" in buckets
