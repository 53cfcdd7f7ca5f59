"""Kafka client configuration shared by producers (simulators) and consumers (workers)."""

from __future__ import annotations

from typing import Any

from lakesmith.config import Settings


def _base(settings: Settings) -> dict[str, Any]:
    return {"bootstrap.servers": settings.effective_kafka_bootstrap(), **settings.kafka.extra}


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """An idempotent, lz4-compressed, batching producer (no duplicates on retry)."""
    return {
        **_base(settings),
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
        **_base(settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # Tansu (and small clusters) answer group joins slowly with the 45 s default.
        "session.timeout.ms": settings.kafka.session_timeout_ms,
        "heartbeat.interval.ms": max(500, settings.kafka.session_timeout_ms // 3),
        **overrides,
    }
