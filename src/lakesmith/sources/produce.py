"""Produce to a dataset's Kafka topic: a fast batch sender and "send this JSON file".

``TopicProducer`` is the one place that talks to the Kafka producer for lakesmith's
producers (the device simulator, file replays). It sends plain lists of keys and values
with the idempotent configuration from ``sources.kafka`` and asks librdkafka for
delivery reports on failures only, so a success costs no Python callback: at several
hundred thousand messages per second that callback would cost more than the send.

``produce_file`` replays recorded data — a JSON array (the Raspberry Pi sensor dumps)
or JSON lines — onto the topic named by the dataset's contract, keyed like the real
devices key it. Elements are re-serialised compactly but otherwise passed through as
they are: a non-object element or an unparsable line is still produced, because
quarantining it with a reason is the pipeline's job, not the producer's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import KafkaError, Producer

from lakesmith.config import Settings
from lakesmith.contracts import Contract, load_contract
from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger
from lakesmith.core.progress import progress_bar
from lakesmith.sources.kafka import kafka_spec, producer_config
from lakesmith.sources.topics import ensure_topic

log = get_logger(__name__)

_BATCH = 10_000
_SAMPLE = 10_000  # elements checked against the contract's required fields
_HINT = "is the broker reachable? start the local one with: lakesmith local up kafka"


class TopicProducer:
    """Sends batches of (key, value) to one topic; raises ``LakesmithError`` on failures.

    Use as a context manager: leaving it flushes and checks that every message was
    acknowledged, so "produced N" is only ever printed for N delivered messages.
    """

    def __init__(self, settings: Settings, topic: str, *, flush_timeout_s: float = 120.0) -> None:
        self.topic = topic
        self.sent = 0
        self._flush_timeout_s = flush_timeout_s
        self._failed = 0
        self._first_error: str | None = None
        self._fatal: str | None = None
        self._producer = Producer(
            producer_config(
                settings,
                **{
                    "delivery.report.only.error": True,
                    "on_delivery": self._on_delivery,
                    "error_cb": self._on_error,
                },
            )
        )

    def _on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self._failed += 1
            self._first_error = self._first_error or err.str()

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err.str()

    def _produce_when_room(self, key: bytes | None, value: bytes) -> None:
        """The local queue is full: serve delivery reports until the message fits."""
        while True:
            self._producer.poll(0.05)
            try:
                self._producer.produce(self.topic, value, key)
                return
            except BufferError:
                continue

    def send(self, keys: Sequence[bytes | None], values: Sequence[bytes]) -> None:
        """Queue one batch (the hot loop: positional args, no per-message callback)."""
        produce, topic = self._producer.produce, self.topic
        for key, value in zip(keys, values, strict=True):
            try:
                produce(topic, value, key)
            except BufferError:
                self._produce_when_room(key, value)
        self._producer.poll(0)
        self.sent += len(values)
        self._check()

    def _check(self) -> None:
        if self._fatal is not None:
            raise LakesmithError(f"Kafka producer failed: {self._fatal}", hint=_HINT)
        if self._failed:
            raise LakesmithError(
                f"{self._failed} message(s) to {self.topic!r} were not delivered: "
                f"{self._first_error}",
                hint=_HINT,
            )

    def close(self) -> None:
        """Wait until every queued message is acknowledged (or raise)."""
        left = self._producer.flush(self._flush_timeout_s)
        self._check()
        if left:
            raise LakesmithError(
                f"{left} message(s) to {self.topic!r} were not acknowledged within "
                f"{self._flush_timeout_s:.0f}s",
                hint=_HINT,
            )

    def __enter__(self) -> TopicProducer:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:  # already failing: do not block on a flush, just drop what is queued
            self._producer.purge()


@dataclass(frozen=True)
class FileProduceReport:
    """What ``produce_file`` sent."""

    topic: str
    produced: int
    not_objects: int  # valid JSON but not an object (the pipeline quarantines them)
    unparsed: int  # JSON-lines lines that are not JSON, sent as they are
    seconds: float
    shape: ShapeCheck | None = None  # a sample checked against the contract


@dataclass(frozen=True)
class ShapeCheck:
    """How a sample of a file's elements fits the contract's required fields."""

    sampled: int
    not_objects: int  # not a JSON object (or not JSON): nothing of the contract can match
    missing: int  # objects without at least one required field
    missing_fields: dict[str, int]  # required field -> sampled objects without it

    @property
    def mismatched(self) -> int:
        return self.not_objects + self.missing

    def message(self, dataset: str) -> str | None:
        """One line for the user, ``None`` when every sampled element fits."""
        if not self.mismatched:
            return None
        worst = sorted(self.missing_fields.items(), key=lambda kv: -kv[1])[:5]
        fields = ", ".join(f"{name} ({n:,})" for name, n in worst)
        parts = []
        if self.not_objects:
            parts.append(f"{self.not_objects:,} are not JSON objects")
        if self.missing:
            parts.append(f"{self.missing:,} lack required fields: {fields}")
        return (
            f"{self.mismatched:,} of {self.sampled:,} sampled records do not match the "
            f"contract of {dataset} ({'; '.join(parts)}): the pipeline will quarantine them "
            "— is this the right --dataset?"
        )


def check_shape(contract: Contract, elements: Sequence[tuple[Any, bytes | None]]) -> ShapeCheck:
    """Check up to ``_SAMPLE`` evenly spaced elements for the required fields of the
    contract's first schema version (later versions' fields may be absent from older data)."""
    required = {f.name: f.source_path for f in contract.fields_at(1) if f.required}
    step = max(1, len(elements) // _SAMPLE)
    sample = elements[::step][:_SAMPLE]
    not_objects = missing = 0
    missing_fields: dict[str, int] = {}
    for value, _ in sample:
        if not isinstance(value, dict):
            not_objects += 1
            continue
        lacking = [name for name, path in required.items() if _lookup(value, path) is None]
        if lacking:
            missing += 1
            for name in lacking:
                missing_fields[name] = missing_fields.get(name, 0) + 1
    return ShapeCheck(len(sample), not_objects, missing, missing_fields)


def _lookup(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _compact_std(value: Any) -> bytes:
    """Compact JSON via the standard library, for values orjson cannot represent.

    orjson rejects NaN/Infinity and integers over 64 bits on input and would write NaN
    as ``null``; the stdlib round-trips both, so such data reaches the pipeline intact.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _parse(data: bytes) -> tuple[Any, bool]:
    """``(value, strict)``: orjson first, the lenient stdlib parser as a fallback."""
    try:
        return orjson.loads(data), True
    except orjson.JSONDecodeError:
        try:
            return json.loads(data), False  # raises ValueError if it is not JSON at all
        except RecursionError:  # nested deeper than either parser goes
            raise ValueError("nested too deeply to parse") from None


UNPARSED = object()  # the element of a JSON-lines line that is not JSON


def read_elements(data: bytes, path: Path) -> Iterator[tuple[Any, bytes | None]]:
    """``(value, payload)`` per element; ``payload`` is ``None`` when orjson can write it.

    A line that is not JSON comes as ``(UNPARSED, line)``.

    A document starting with ``[`` is one JSON array; anything else is one JSON value if
    it parses as a whole, else JSON lines (blank lines skipped).
    """
    head = data.lstrip()[:1]
    if not head:
        return
    if head == b"[":
        try:
            value, strict = _parse(data)
        except ValueError as exc:
            raise LakesmithError(f"{path} is not a valid JSON array: {exc}") from None
        for item in value:
            yield item, None if strict else _compact_std(item)
        return
    try:
        value, strict = _parse(data)
    except ValueError:
        pass
    else:
        yield value, None if strict else _compact_std(value)
        return
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            value, strict = _parse(line)
        except ValueError:
            yield UNPARSED, line
            continue
        yield value, None if strict else _compact_std(value)


def _key_path(contract: Contract) -> tuple[str, ...] | None:
    """Where the Kafka key lives in an element: the key field's payload path."""
    name = kafka_spec(contract.source).key_field
    if name is None:
        return None
    try:
        return contract.field(name).source_path
    except KeyError:
        return (name,)


def _key(value: Any, path: tuple[str, ...] | None) -> bytes | None:
    for part in path or ():
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if value is None or path is None:
        return None
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


def produce_file(
    settings: Settings,
    path: Path,
    dataset: str,
    *,
    limit: int | None = None,
    topic: str | None = None,
    progress: bool = True,
) -> FileProduceReport:
    """Produce every element of the JSON-array or JSON-lines file ``path`` to ``dataset``.

    The topic is the contract's (created first if missing); each element is keyed by the
    contract's ``source.key_field`` (absent: no key). ``limit`` stops after that many;
    ``topic`` overrides the contract's topic (tests use one topic each).
    """
    contract = load_contract(dataset)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LakesmithError(
            f"cannot read {path}: {exc.strerror or exc}", hint="pass an existing JSON file"
        ) from None
    elements = list(islice(read_elements(data, path), limit))
    topic = topic or kafka_spec(contract.source).topic
    shape = check_shape(contract, elements)
    if (warning := shape.message(contract.name)) is not None:
        log.warning(
            "produce_shape_mismatch",
            dataset=contract.name,
            file=str(path),
            sampled=shape.sampled,
            not_objects=shape.not_objects,
            missing_required=shape.missing,
            missing_fields=shape.missing_fields,
            message=warning,
        )
    ensure_topic(settings, contract, topic=topic)
    key_path = _key_path(contract)
    not_objects = unparsed = 0
    t0 = time.perf_counter()
    with TopicProducer(settings, topic) as producer, progress_bar(progress) as bar:
        task = bar.add_task(f"producing to {topic}", total=len(elements))
        for first in range(0, len(elements), _BATCH):
            keys: list[bytes | None] = []
            values: list[bytes] = []
            for value, payload in elements[first : first + _BATCH]:
                if value is UNPARSED:
                    unparsed += 1
                elif not isinstance(value, dict):
                    not_objects += 1
                keys.append(_key(value, key_path))
                values.append(payload if payload is not None else orjson.dumps(value))
            producer.send(keys, values)
            bar.update(task, completed=producer.sent)
    return FileProduceReport(
        topic, len(elements), not_objects, unparsed, time.perf_counter() - t0, shape
    )
