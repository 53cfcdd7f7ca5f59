"""The ``kafka`` source kind: a topic consumed by a consumer group (ING-1).

Streams are partitions of one incarnation of the topic (``kafka://<topic>@<id>/<partition>``,
``<id>`` a short hash of the broker's topic id, so a deleted and recreated topic is new
streams read from their start, never positions of the old one), seq is the offset.
Positions come from the sinks (committed with the data) and are checked against the
partition's offsets before use (ING-7, ``kafka_offsets``): retention that removed unread
records stops the worker with the choices. Consumer-group commits are a hint for
monitoring tools only. The client configuration shared with producers and topic
administration is in ``kafka_client`` (re-exported here).
"""

from __future__ import annotations

import hashlib
import operator
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from lakesmith.config import Settings
from lakesmith.contracts.model import SourceSpec
from lakesmith.core.errors import ContractError, SourceError
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Position, Positions
from lakesmith.core.records import RawBatch
from lakesmith.core.transient import retrying
from lakesmith.sources.base import SourceContext
from lakesmith.sources.kafka_client import (
    admin_client,
    check_reachable,
    consumer_config,
    missing_topic_error,
    producer_config,
    require_topic,
    unreachable_hint,
)
from lakesmith.sources.kafka_offsets import (
    check_positions,
    first_offsets,
    partition_bounds,
    positions_error,
    waiting_records,
)

_TIMESTAMP_MS = operator.itemgetter(1)  # of a message's (timestamp type, epoch ms)
FETCH_QUEUE_BACKOFF_MS = 10  # see KafkaSource: how soon a drained prefetch queue is refilled

__all__ = [
    "SOURCE",
    "SPEC",
    "KafkaSource",
    "KafkaSpec",
    "admin_client",
    "bounds",
    "check_positions",
    "check_reachable",
    "consumer_config",
    "kafka_spec",
    "missing_topic_error",
    "positions_error",
    "producer_config",
    "require_topic",
    "stream_prefix",
    "unreachable_hint",
]

log = get_logger(__name__)


class KafkaSpec(SourceSpec):
    """``source: {kind: kafka, topic: …}``"""

    kind: Literal["kafka"] = "kafka"
    topic: str
    partitions: int = Field(6, ge=1, description="partitions when lakesmith creates the topic")
    retention_hours: int = Field(168, ge=1)
    key_field: str | None = Field(None, description="payload field used as message key")

    @property
    def uri(self) -> str:
        return f"kafka://{self.topic}"


def kafka_spec(spec: SourceSpec) -> KafkaSpec:
    """The contract's source as a Kafka spec (clear error for other kinds)."""
    if not isinstance(spec, KafkaSpec):
        raise ContractError(f"this needs a kafka source; the contract's source is {spec.kind!r}")
    return spec


def stream_prefix(settings: Settings, spec: KafkaSpec) -> str:
    """``kafka://<topic>@<tag>``: the topic and a short hash of its broker topic id (the
    topic alone when the broker has no topic ids), so each incarnation is its own streams."""
    from confluent_kafka import KafkaException, TopicCollection

    admin = admin_client(settings)
    try:
        found = admin.describe_topics(TopicCollection([spec.topic]), request_timeout=10)
        topic_id = found[spec.topic].result().topic_id
    except (KafkaException, KeyError, ValueError) as exc:
        log.warning("kafka_topic_id_unavailable", topic=spec.topic, error=str(exc)[:200])
        return spec.uri
    if topic_id is None:
        return spec.uri
    return f"{spec.uri}@{hashlib.blake2b(str(topic_id).encode(), digest_size=4).hexdigest()}"


class KafkaSource:
    """Consume one topic in micro-batches, positioned from the sinks (not the group).

    On every partition assignment the worker's ``start_positions`` callback returns the
    next offset per partition as committed *with the data* in the sinks; the consumer
    seeks there. Group offset commits are written after each batch as a hint for
    monitoring tools only. Messages of partitions revoked while a batch is being
    gathered are dropped from it: the new owner re-reads them from the sinks' positions.
    """

    def __init__(
        self,
        context: SourceContext,
        on_revoke: Callable[[list[int]], None] | None = None,
        **overrides: Any,
    ) -> None:
        from confluent_kafka import Consumer

        settings = context.settings
        spec = kafka_spec(context.contract.source)
        self.topic = topic = spec.topic
        self.uri = spec.uri
        self._resume = context.resume
        self._committed = context.committed_positions
        self.group_id = context.group_id
        self._started = time.monotonic()
        self._assign_timeout_s = settings.worker.assign_timeout_s
        self._on_revoke = on_revoke
        self.dataset = context.contract.name
        require_topic(settings, topic, self.dataset)  # broker down / no topic: fail now
        self.prefix = stream_prefix(settings, spec)
        self._error: Exception | None = None
        self.assigned: set[int] = set()
        self._revoked_during_poll: set[int] = set()
        self.busy_s = 0.0
        self._retry_s = settings.worker.retry_for_s
        self.consumer = Consumer(
            consumer_config(
                settings,
                context.group_id,
                **{
                    # positions are always explicit (the sinks', or a partition's first
                    # record): one out of range is reported (poll), never silently moved
                    "auto.offset.reset": "error",
                    "fetch.max.bytes": 64 * 1024 * 1024,
                    # bound the prefetch queue (librdkafka default: 64 MiB per partition)
                    "queued.max.messages.kbytes": 16 * 1024,
                    "max.partition.fetch.bytes": 8 * 1024 * 1024,
                    # when a partition's prefetch queue is full, fetch again this soon after
                    # it drains (librdkafka's default, 1000 ms, capped a backlog's reading at
                    # ~190k messages/s: 200k IoT events took 1.04 s to consume, 0.16 s now)
                    "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
                },
                **overrides,
            )
        )
        self.consumer.subscribe(
            [topic], on_assign=self._assign, on_revoke=self._revoke, on_lost=self._revoke
        )

    def stream(self, partition: int) -> str:
        return f"{self.prefix}/{partition}"

    def _assign(self, consumer: Any, partitions: list[Any]) -> None:
        parts = [tp.partition for tp in partitions]
        try:
            resumed = self._resume([self.stream(p) for p in parts])
            # the group re-forms as soon as a restarted broker answers: offsets may fail a
            # moment (the broker handle replaced, its fetch path not back yet)
            firsts = retrying(
                lambda: first_offsets(consumer, self.topic, parts),
                "reading the partitions' first offsets",
                self._retry_s,
            )
        except Exception as exc:
            self._error = exc  # poll() raises it: exceptions do not cross librdkafka's callbacks
            return
        starts, lost = check_positions({p: resumed.get(self.stream(p)) for p in parts}, firsts)
        if lost:
            self._error = positions_error(self.dataset, self.topic, lost)
            return  # poll() raises it: exceptions do not cross librdkafka's callbacks
        for tp in partitions:
            tp.offset = starts[tp.partition]
        consumer.assign(partitions)
        self.assigned |= set(parts)
        log.info("partitions_assigned", topic=self.topic, positions=starts)

    def _revoke(self, consumer: Any, partitions: list[Any]) -> None:
        parts = [tp.partition for tp in partitions]
        self.assigned -= set(parts)
        self._revoked_during_poll |= set(parts)
        if self._on_revoke:
            self._on_revoke(parts)
        log.info("partitions_revoked", topic=self.topic, partitions=parts)

    def poll(self, max_records: int, max_wait_s: float) -> RawBatch:
        """Gather up to ``max_records`` messages, waiting at most ``max_wait_s``."""
        from confluent_kafka import Message

        batch = self._new_batch()
        # the reads that returned messages (not idle waits); a full batch: see the end
        self.busy_s = 0.0
        self._revoked_during_poll.clear()
        deadline = time.monotonic() + max_wait_s
        first_read: float | None = None  # when the first read that returned records began
        self._raise_pending()
        while len(batch) < max_records:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            t_call = time.monotonic()
            msgs = self.consumer.consume(
                num_messages=min(max_records - len(batch), 10_000), timeout=min(remaining, 0.1)
            )
            self._raise_pending()
            if not msgs:
                continue
            self.busy_s += time.monotonic() - t_call
            first_read = t_call if first_read is None else first_read
            if list(map(Message.error, msgs)).count(None) != len(msgs):
                errors = [m for m in msgs if m.error() is not None]
                self._check_out_of_range(errors)
                for m in errors:
                    log.warning("kafka_consume_error", topic=self.topic, error=str(m.error()))
                msgs = [m for m in msgs if m.error() is None]
            # One C call per field per message (confluent-kafka exposes no columnar API),
            # mapped without a Python frame per message (bench_batch_steps: 41 vs 45 ms).
            # A consumed message (no error) always has its partition and offset.
            batch.stream_ids.extend(map(Message.partition, msgs))  # type: ignore[arg-type]
            batch.seqs.extend(map(Message.offset, msgs))  # type: ignore[arg-type]
            batch.keys.extend(map(Message.key, msgs))
            batch.payloads.extend(map(Message.value, msgs))
            batch.timestamps_ms.extend(map(_TIMESTAMP_MS, map(Message.timestamp, msgs)))
        if first_read is not None and len(batch) >= max_records:
            # a backlog: from the first records to a full batch it was all reading, the
            # reads that came back empty while the prefetch refilled included (counting
            # only the reads that returned records hid a fetch-bound consumer)
            self.busy_s = time.monotonic() - first_read
        if self._revoked_during_poll and len(batch):
            keep = [i for i, p in enumerate(batch.stream_ids) if p not in self._revoked_during_poll]
            kept = self._new_batch()
            kept.stream_ids = [batch.stream_ids[i] for i in keep]
            kept.seqs = [batch.seqs[i] for i in keep]
            kept.keys = [batch.keys[i] for i in keep]
            kept.payloads = [batch.payloads[i] for i in keep]
            kept.timestamps_ms = [batch.timestamps_ms[i] for i in keep]
            batch = kept
        batch.streams = {p: self.stream(p) for p in set(batch.stream_ids)}
        return batch

    def _check_out_of_range(self, errors: list[Any]) -> None:
        """A fetch position outside the partition (the broker lost the records there, or
        they expired while the fetch waited) is an error, not a silent reset."""
        from confluent_kafka import KafkaError

        bad = {
            m.partition() or 0: (m.offset() or 0, -1)
            for m in errors
            if m.error().code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE)
        }
        if bad:
            self._error = positions_error(self.dataset, self.topic, bad)
            self._raise_pending()

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def _new_batch(self) -> RawBatch:
        # stream ids are the partition numbers; names are filled in once per batch
        return RawBatch(source=self.uri, uri_sep="/")

    def lag(self) -> dict[str, int]:
        """Messages not yet read per assigned partition (high watermark - position)."""
        from confluent_kafka import TopicPartition

        out: dict[str, int] = {}
        for tp in self.consumer.position(
            [TopicPartition(self.topic, p) for p in sorted(self.assigned)]
        ):
            try:
                _, high = self.consumer.get_watermark_offsets(tp, timeout=1.0, cached=True)
            except Exception:
                continue
            if tp.offset >= 0:
                out[self.stream(tp.partition)] = max(0, high - tp.offset)
        return out

    def drained(self) -> bool:
        """Every partition of the topic — not only ours — is committed by the sinks up to
        its high watermark, read fresh from the broker now. Partitions assigned to us whose
        consumer position already reached the watermark count as done too (the last
        offsets may be control records that no sink ever sees)."""
        from confluent_kafka import TopicPartition

        meta = self.consumer.list_topics(self.topic, timeout=10.0).topics.get(self.topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise missing_topic_error(self.topic, self.dataset)  # deleted while we ran
        parts = sorted(meta.partitions)
        committed = self._committed([self.stream(p) for p in parts])
        reached = {
            tp.partition: tp.offset
            for tp in self.consumer.position(
                [TopicPartition(self.topic, p) for p in sorted(self.assigned)]
            )
        }
        done = {p: committed.get(self.stream(p), Position(0)).next for p in parts}
        waiting = waiting_records(self.consumer, self.topic, done, reached)
        if not waiting:
            return True
        waited = time.monotonic() - self._started
        if not self.assigned and waited > self._assign_timeout_s:
            raise SourceError(
                f"no partitions of {self.topic!r} assigned after {waited:.0f} s while "
                f"{sum(waiting.values()):,} records wait in partitions "
                f"{', '.join(map(str, sorted(waiting)))}: the consumer group "
                f"{self.group_id!r} is still held by other members (a killed worker keeps "
                "its partitions until its session times out)",
                hint="run again once the other members are gone, or raise "
                "LAKESMITH__WORKER__ASSIGN_TIMEOUT_S",
            )
        return False

    def committed(self, positions: Positions) -> None:
        """Commit the group offsets as a hint for monitoring tools (never read back)."""
        from confluent_kafka import KafkaException, TopicPartition

        prefix = self.prefix + "/"
        owned = {
            int(s[len(prefix) :]): p.next
            for s, p in positions.items()
            if s.startswith(prefix) and int(s[len(prefix) :]) in self.assigned
        }
        if not owned:
            return
        try:
            self.consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in owned.items()],
                asynchronous=True,
            )
        except KafkaException as exc:  # only a hint: the sinks hold the real positions
            log.debug("commit_hint_failed", error=str(exc))

    def close(self) -> None:
        self.consumer.close()


def bounds(context: SourceContext) -> dict[str, tuple[int, int]]:
    """``stream → (first available offset, end offset)`` of every partition, read with a
    group-less consumer (joining the group would disturb running workers)."""
    spec = kafka_spec(context.contract.source)
    meta = require_topic(context.settings, spec.topic, context.contract.name)
    prefix = stream_prefix(context.settings, spec)
    found = partition_bounds(context.settings, spec.topic, list(meta.partitions))
    return {f"{prefix}/{p}": edges for p, edges in found.items()}


SPEC = KafkaSpec
SOURCE = KafkaSource
