"""The sinks a processed batch is written to, each committing its data *with* the
batch's source positions (exactly-once by idempotence, ARCHITECTURE decision 2).

Every sink re-reads its committed positions inside its own commit and drops rows at or
below them, so the worker can always resume from the *lowest* position over all sinks
and replay harmlessly into the sinks that were further ahead (e.g. after a crash between
the lake commit and the Postgres commit).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

import polars as pl

from lakesmith.config import Settings
from lakesmith.pipeline.process import ProcessedBatch
from lakesmith.quality.dq import batch_stats
from lakesmith.stores import meta
from lakesmith.stores.iceberg import LakeTable
from lakesmith.stores.postgres import connect
from lakesmith.stores.timeseries import TimeseriesTable


class Sink(Protocol):
    name: str

    def positions(self, topic: str) -> dict[int, int]: ...

    def write(self, batch: ProcessedBatch) -> int: ...


class LakeSink:
    """An Iceberg table fed by one frame of the batch (bronze, silver or quarantine)."""

    def __init__(
        self, name: str, table: LakeTable, frame: Callable[[ProcessedBatch], pl.DataFrame]
    ) -> None:
        self.name = name
        self.table = table
        self._frame = frame

    def positions(self, topic: str) -> dict[int, int]:
        return self.table.positions(topic)

    def write(self, batch: ProcessedBatch) -> int:
        data = self._frame(batch).to_arrow()
        return self.table.append(data, batch.topic, batch.positions)


class TimeseriesSink:
    name = "timeseries"

    def __init__(self, table: TimeseriesTable) -> None:
        self.table = table

    def positions(self, topic: str) -> dict[int, int]:
        return self.table.positions(topic)

    def write(self, batch: ProcessedBatch) -> int:
        event = self.table.contract.event_time
        if batch.silver.height:
            days = batch.silver.select(pl.col(event).dt.date().unique())[event].to_list()
            self.table.ensure_partitions(days)
        return self.table.upsert(batch.silver, batch.topic, batch.positions)


class DqSink:
    """Per-batch DQ statistics in ``lakesmith.dq_batches``, positioned like the data."""

    name = "dq"

    def __init__(self, settings: Settings, dataset: str) -> None:
        self.dataset = dataset
        self.sink = f"dq:{dataset}"
        self.conn = connect(settings)
        meta.ensure_meta_schema(self.conn)

    def positions(self, topic: str) -> dict[int, int]:
        pos = meta.read_positions(self.conn, self.sink, topic)
        self.conn.commit()
        return pos

    def write(self, batch: ProcessedBatch) -> int:
        with self.conn.transaction():
            outcomes = meta.lock_unseen(self.conn, self.sink, batch.topic, batch.outcomes)
            if outcomes.height:
                stats: dict[str, Any] = batch_stats(outcomes, batch.processed_at)
                self.conn.execute(
                    """
                    INSERT INTO lakesmith.dq_batches (dataset, batch_id, processed_at, records_in, valid,
                        quarantined, duplicates, rule_counts, schema_versions, min_event_time,
                        max_event_time, lag_seconds, source_positions)
                    VALUES (%(dataset)s, %(batch_id)s, %(processed_at)s, %(records_in)s, %(valid)s,
                        %(quarantined)s, %(duplicates)s, %(rule_counts)s, %(schema_versions)s,
                        %(min_event_time)s, %(max_event_time)s, %(lag_seconds)s, %(source_positions)s)
                    ON CONFLICT (dataset, batch_id) DO NOTHING
                    """,
                    {
                        **stats,
                        "dataset": self.dataset,
                        "batch_id": batch.batch_id,
                        "processed_at": batch.processed_at,
                        "source_positions": json.dumps({batch.topic: batch.positions}),
                    },
                )
            meta.write_positions(self.conn, self.sink, batch.topic, batch.positions)
        return outcomes.height

    def close(self) -> None:
        self.conn.close()
