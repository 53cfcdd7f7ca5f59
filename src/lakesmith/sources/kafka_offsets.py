"""Where a Kafka partition's records begin and end, and the sinks' positions checked
against them (ING-7): a committed position before the first available record means
records were removed unread, which stops the worker with the choices; ``drained``
compares the end offsets with what the sinks committed.

Tansu 0.6 answers ListOffsets with a low end offset and does not report out-of-range
fetches, so the end offset is the larger of ListOffsets and the last fetch's high
watermark.
"""

from __future__ import annotations

import time
from typing import Any

from lakesmith.config import Settings
from lakesmith.core.errors import SourceError
from lakesmith.core.positions import Position
from lakesmith.sources.kafka_client import client_base


def first_offsets(consumer: Any, topic: str, partitions: list[int]) -> dict[int, int]:
    """The first available offset of each partition, asked of the broker now."""
    from confluent_kafka import TopicPartition

    return {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10.0, cached=False)[0]
        for p in partitions
    }


def end_offset(consumer: Any, tp: Any) -> int:
    """The partition's end offset: the larger of the broker's answer to ListOffsets and the
    high watermark of the last fetch (Tansu 0.6 answers ListOffsets with a low figure)."""
    _, listed = consumer.get_watermark_offsets(tp, timeout=10.0, cached=False)
    try:
        _, fetched = consumer.get_watermark_offsets(tp, cached=True)
    except Exception:  # no fetch yet for this partition
        fetched = -1
    return int(max(listed, fetched))


def waiting_records(
    consumer: Any, topic: str, committed: dict[int, int], reached: dict[int, int]
) -> dict[int, int]:
    """Records not yet committed by the sinks per partition (those with none omitted):
    ``committed`` is the sinks' next offset per partition of the topic, ``reached`` the
    consumer's position in the partitions assigned to it — one at the end offset counts
    as done (the last offsets may be control records that no sink ever sees)."""
    from confluent_kafka import TopicPartition

    waiting: dict[int, int] = {}
    for p, done in committed.items():
        high = end_offset(consumer, TopicPartition(topic, p))
        if high > done and not (p in reached and reached[p] >= high):
            waiting[p] = high - done
    return waiting


def check_positions(
    resumed: dict[int, Position | None], firsts: dict[int, int]
) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
    """``(start offset per partition, lost)``: a partition never committed starts at its
    first available record; a committed position before it means records were removed
    unread (``lost``: partition → (committed, first available))."""
    starts: dict[int, int] = {}
    lost: dict[int, tuple[int, int]] = {}
    for p, at in resumed.items():
        if at is None:
            starts[p] = firsts[p]
        elif at.next < firsts[p]:
            lost[p] = (at.next, firsts[p])
        else:
            starts[p] = at.next
    return starts, lost


def positions_error(dataset: str, topic: str, lost: dict[int, tuple[int, int]]) -> SourceError:
    """``lost``: partition → (committed, first available); first available -1 when the
    broker only said the position is out of range."""
    parts = ", ".join(
        f"{p} (committed {at:,}"
        + (f", first available {edge:,})" if edge >= 0 else ", out of range)")
        for p, (at, edge) in sorted(lost.items())
    )
    return SourceError(
        f"{dataset}: stored positions of {topic!r} are outside what the broker holds in "
        f"partitions {parts}: records were removed (retention) or the partition lost data "
        "before they were read; nothing was skipped",
        hint=f"accept and continue with `lakesmith reset-positions {dataset} --to earliest` "
        "(from the first available record) or `--to latest` (only new records)",
    )


def partition_bounds(
    settings: Settings, topic: str, partitions: list[int]
) -> dict[int, tuple[int, int]]:
    """``partition → (first available offset, end offset)``, read with a group-less
    consumer (joining the group would disturb running workers)."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    consumer = Consumer(
        {**client_base(settings), "group.id": "lakesmith-bounds", "enable.auto.commit": False}
    )
    try:
        tps = [TopicPartition(topic, p, OFFSET_END) for p in sorted(partitions)]
        consumer.assign(tps)  # one fetch at the end of each partition reports its watermark
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            consumer.consume(num_messages=1, timeout=0.2)
            if all(_fetched(consumer, tp) for tp in tps):
                break
        out: dict[int, tuple[int, int]] = {}
        for tp in tps:
            low, _ = consumer.get_watermark_offsets(tp, timeout=10.0, cached=False)
            out[tp.partition] = (low, end_offset(consumer, tp))
        return out
    finally:
        consumer.close()


def _fetched(consumer: Any, tp: Any) -> bool:
    try:
        return int(consumer.get_watermark_offsets(tp, cached=True)[1]) >= 0
    except Exception:
        return False
