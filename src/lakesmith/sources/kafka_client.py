"""Kafka client settings and checks shared by the ``kafka`` source, producers and topic
administration: bootstrap servers and librdkafka's logging routed through ours, producer
and consumer configurations, and the checks that the brokers answer and a topic exists
(clear errors, at once when nothing listens).
"""

from __future__ import annotations

import socket
from typing import Any

from lakesmith.config import Settings
from lakesmith.core.errors import ServiceUnavailableError, SourceError
from lakesmith.core.logging import kafka_client_logger


def client_base(settings: Settings) -> dict[str, Any]:
    """Bootstrap servers, ``kafka.extra``, and librdkafka's logging routed through ours
    (rate limited: a broker that is down is one line a while, not hundreds)."""
    klog = kafka_client_logger()
    return {
        "bootstrap.servers": settings.effective_kafka_bootstrap(),
        "logger": klog,
        "error_cb": klog.error,
        **settings.kafka.extra,
    }


def admin_client(settings: Settings, **overrides: Any) -> Any:
    """An ``AdminClient`` with lakesmith's client settings and logging."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({**client_base(settings), **overrides})


def unreachable_hint(settings: Settings) -> str:
    if settings.kafka.bootstrap_servers is None:
        return "start the local broker with `lakesmith local up kafka` (or point " \
            "LAKESMITH__KAFKA__BOOTSTRAP_SERVERS at a running cluster)"  # fmt: skip
    return "check that the brokers run and kafka.bootstrap_servers " \
        "(LAKESMITH__KAFKA__BOOTSTRAP_SERVERS) names them"  # fmt: skip


def _split_server(server: str) -> tuple[str, int] | None:
    server = server.strip().split("://", 1)[-1]
    host, sep, port = server.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _tcp_refusals(servers: str, timeout_s: float) -> list[str] | None:
    """Why each bootstrap server refused a TCP connection; ``None`` once one accepts (or a
    server is not plain ``host:port``: librdkafka then decides)."""
    reasons: list[str] = []
    for server in servers.split(","):
        target = _split_server(server)
        if target is None:
            return None
        try:
            with socket.create_connection(target, timeout=timeout_s):
                return None
        except OSError as exc:
            reasons.append(f"{server.strip()}: {exc.strerror or exc}")
    return reasons


def check_reachable(settings: Settings, timeout_s: float | None = None) -> Any:
    """The cluster's metadata (every topic), or ``ServiceUnavailableError`` within
    ``kafka.connect_timeout_s``: at once when every bootstrap server refuses the
    connection, else when no broker answers a metadata request in time.

    All topics are listed, not one: a metadata request naming a missing topic can make a
    broker with ``auto.create.topics.enable`` create it with default settings.
    """
    from confluent_kafka import KafkaException

    timeout = settings.kafka.connect_timeout_s if timeout_s is None else timeout_s
    servers = settings.effective_kafka_bootstrap()
    refused = _tcp_refusals(servers, timeout)
    if refused:
        raise ServiceUnavailableError(
            f"Kafka is not reachable at {servers} ({'; '.join(refused)})",
            hint=unreachable_hint(settings),
        )
    try:
        return admin_client(settings).list_topics(timeout=timeout)
    except KafkaException as exc:
        err = exc.args[0] if exc.args else exc
        text = err.str() if hasattr(err, "str") else str(err)
        raise ServiceUnavailableError(
            f"Kafka at {servers} did not answer within {timeout:g} s ({text})",
            hint=unreachable_hint(settings),
        ) from None


def missing_topic_error(topic: str, dataset: str | None = None) -> SourceError:
    what = f"{dataset}: " if dataset else ""
    return SourceError(
        f"{what}Kafka topic {topic!r} does not exist",
        hint=f"create it by producing to it (`lakesmith simulate …` / `lakesmith produce FILE "
        f"--dataset {dataset or 'DATASET'}` create it from the contract), or fix source.topic",
    )


def require_topic(settings: Settings, topic: str, dataset: str | None = None) -> Any:
    """The topic's metadata; ``ServiceUnavailableError`` (broker down) or ``SourceError``
    (no such topic) within ``kafka.connect_timeout_s``."""
    meta = check_reachable(settings).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise missing_topic_error(topic, dataset)
    return meta


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """An idempotent, lz4-compressed, batching producer (no duplicates on retry)."""
    return {
        **client_base(settings),
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 1_000_000,
        **overrides,
    }


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """A consumer whose offsets are managed by the caller (committed with the data)."""
    return {
        **client_base(settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # Tansu (and small clusters) answer group joins slowly with the 45 s default.
        "session.timeout.ms": settings.kafka.session_timeout_ms,
        "heartbeat.interval.ms": max(500, settings.kafka.session_timeout_ms // 3),
        **overrides,
    }
