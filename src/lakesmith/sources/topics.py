"""Create a dataset's Kafka topic from its contract, so producers never rely on auto-create.

Auto-created topics get the broker's default partition count (often 1), which would cap
the number of consumers and break per-device ordering assumptions the moment someone
adds partitions by hand. The contract states partitions and retention; this module
makes the topic match it once, before the first message is produced.

Creation is idempotent (an existing topic is left alone; a concurrent creator is not an
error) and waits until the broker's metadata shows every partition with a leader,
because producing to a topic whose partitions are still being assigned fails or lands
messages on fewer partitions than intended.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.cimpl import NewTopic

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.errors import LakesmithError, ServiceUnavailableError
from lakesmith.core.logging import get_logger
from lakesmith.sources.kafka import admin_client, check_reachable, kafka_spec, unreachable_hint

log = get_logger(__name__)


def _ready(md: Any, topic: str) -> int | None:
    """Number of partitions of ``topic`` with a leader in ``md``; ``None``: not listed."""
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    return sum(1 for p in t.partitions.values() if p.leader >= 0 and p.error is None)


def _partitions_ready(admin: Any, settings: Settings, topic: str, timeout_s: float) -> int | None:
    """Number of partitions with a leader, or ``None`` if the topic is not listed.

    All topics are listed (not just ``topic``): a metadata request naming a missing topic
    can make a broker with ``auto.create.topics.enable`` create it with default settings.
    """
    try:
        md = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise ServiceUnavailableError(
            f"cannot read metadata from Kafka at {settings.effective_kafka_bootstrap()}: {exc}",
            hint=unreachable_hint(settings),
        ) from None
    return _ready(md, topic)


def _create(admin: Any, topic: NewTopic, timeout_s: float) -> KafkaError | None:
    """Create ``topic``; ``None`` on success or if it already exists, else the error."""
    future = admin.create_topics([topic], request_timeout=timeout_s)[topic.topic]
    try:
        future.result(timeout=timeout_s)
    except KafkaException as exc:
        err: KafkaError = exc.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return None
        return err
    return None


def ensure_topic(
    settings: Settings, contract: Contract, *, topic: str | None = None, timeout_s: float = 30.0
) -> bool:
    """Make sure ``contract.source.topic`` (or ``topic``) exists; ``True`` if it was created.

    New topics get ``contract.source.partitions`` partitions, the broker's default
    replication factor and ``retention.ms`` from ``contract.source.retention_hours``.
    A broker that rejects the retention setting (a policy, an old version) still gets
    the topic, without it, and a warning is logged: retention is an operational
    preference, the partition count is what correctness depends on. An existing topic
    is never altered; fewer partitions than the contract asks for is logged.
    """
    spec = kafka_spec(contract.source)
    name = topic or spec.topic
    want = spec.partitions
    have = _ready(check_reachable(settings), name)  # broker down: an error within seconds
    admin = admin_client(settings)
    if have is not None:
        if have < want:
            log.warning("topic_has_fewer_partitions", topic=name, partitions=have, contract=want)
        return False

    retention_ms = str(spec.retention_hours * 3_600_000)
    err = _create(
        admin,
        NewTopic(
            name, num_partitions=want, replication_factor=-1, config={"retention.ms": retention_ms}
        ),
        timeout_s,
    )
    if err is not None:
        log.warning(
            "topic_config_rejected",
            topic=name,
            config={"retention.ms": retention_ms},
            error=str(err),
        )
        err = _create(admin, NewTopic(name, num_partitions=want, replication_factor=-1), timeout_s)
    if err is not None:
        raise LakesmithError(
            f"cannot create Kafka topic {name!r}: {err.str()}", hint=unreachable_hint(settings)
        )

    deadline = time.monotonic() + timeout_s
    while (have := _partitions_ready(admin, settings, name, timeout_s)) is None or have < want:
        if time.monotonic() > deadline:
            raise LakesmithError(
                f"topic {name!r} was created but only {have or 0} of {want} partitions "
                f"have a leader after {timeout_s:.0f}s",
                hint=unreachable_hint(settings),
            )
        time.sleep(0.1)
    log.info(
        "topic_created",
        topic=name,
        partitions=want,
        retention_hours=spec.retention_hours,
    )
    return True
