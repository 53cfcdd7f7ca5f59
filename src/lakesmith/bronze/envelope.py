"""The record envelope every bronze row carries, built for a whole batch at once.

``_record_id`` is deterministic from the source coordinates — a short hash of the topic
plus partition and offset (``k:3f2a9c1e:3:1042``) — so a replay produces the same id and
ids never collide. ``_source`` spells the coordinates as a URI
(``kafka://iot.telemetry/3/1042``) for lineage from any silver/gold row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from lakesmith.quality.typing import TIMESTAMP
from lakesmith.stores.iceberg import Column

BRONZE_COLUMNS = [
    Column("_record_id", "string", "deterministic id from the source coordinates"),
    Column("_source", "string", "source coordinates as a URI"),
    Column("_topic", "string"),
    Column("_partition", "int"),
    Column("_offset", "long"),
    Column("_key", "string", "message key as UTF-8 (null if absent or not UTF-8)"),
    Column("_payload", "binary", "the message value exactly as received"),
    Column("_source_ts", "timestamp", "broker timestamp of the message"),
    Column("_ingested_at", "timestamp"),
    Column("_batch_id", "string"),
    Column("_schema_version", "int", "detected schema version; null when unparseable"),
]


@dataclass
class RawBatch:
    """Messages of one topic as parallel lists (what a source hands to the pipeline)."""

    topic: str
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    payloads: list[bytes | None] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets)

    def next_positions(self) -> dict[int, int]:
        """Partition → next offset to read after this batch."""
        frame = pl.DataFrame(
            {"p": self.partitions, "o": self.offsets}, schema={"p": pl.Int32, "o": pl.Int64}
        )
        agg = frame.group_by("p").agg(pl.col("o").max() + 1)
        return dict(zip(agg["p"].to_list(), agg["o"].to_list(), strict=True))

    def batch_id(self) -> str:
        """Deterministic from the offset ranges the batch covers."""
        frame = pl.DataFrame(
            {"p": self.partitions, "o": self.offsets}, schema={"p": pl.Int32, "o": pl.Int64}
        )
        ranges = (
            frame.group_by("p")
            .agg(pl.col("o").min().alias("lo"), pl.col("o").max().alias("hi"))
            .sort("p")
        )
        text = self.topic + ";" + ";".join(f"{p}:{lo}-{hi}" for p, lo, hi in ranges.iter_rows())
        return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def topic_tag(topic: str) -> str:
    return hashlib.blake2b(topic.encode(), digest_size=4).hexdigest()


def envelope(batch: RawBatch, batch_id: str, ingested_at: datetime) -> pl.DataFrame:
    """Bronze envelope columns for every message of ``batch`` (same row order)."""
    n = len(batch)
    frame = pl.DataFrame(
        {
            "_partition": batch.partitions,
            "_offset": batch.offsets,
            "_key": batch.keys,
            "_payload": batch.payloads,
            "_source_ts": batch.timestamps_ms,
        },
        schema={
            "_partition": pl.Int32,
            "_offset": pl.Int64,
            "_key": pl.Binary,
            "_payload": pl.Binary,
            "_source_ts": pl.Int64,
        },
    )
    tag = topic_tag(batch.topic)
    return (
        frame.select(
            pl.format("k:{}:{}:{}", pl.lit(tag), pl.col("_partition"), pl.col("_offset")).alias(
                "_record_id"
            ),
            pl.format(
                "kafka://{}/{}/{}", pl.lit(batch.topic), pl.col("_partition"), pl.col("_offset")
            ).alias("_source"),
            pl.lit(batch.topic).alias("_topic"),
            "_partition",
            "_offset",
            pl.col("_key").cast(pl.String, strict=False).alias("_key"),
            "_payload",
            pl.from_epoch("_source_ts", time_unit="ms")
            .dt.replace_time_zone("UTC")
            .cast(TIMESTAMP)
            .alias("_source_ts"),
            pl.lit(ingested_at).cast(TIMESTAMP).alias("_ingested_at"),
            pl.lit(batch_id).alias("_batch_id"),
        )
        if n
        else pl.DataFrame(
            schema={c.name: _POLARS[c.type] for c in BRONZE_COLUMNS if c.name != "_schema_version"}
        )
    )


_POLARS: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int32(),
    "long": pl.Int64(),
    "binary": pl.Binary(),
    "timestamp": TIMESTAMP,
}
