"""The sinks a processed batch is written to, each committing its data *with* the
batch's source positions (exactly-once by idempotence, ARCHITECTURE decision 2).

Every sink re-reads its committed positions inside its own commit and drops rows below
them, so the worker can always resume from the *lowest* position over all sinks and
replay harmlessly into the sinks that were further ahead (e.g. after a crash between
the lake commit and the PostgreSQL commit). ``build_sinks`` is the one factory: it
builds a dataset's sinks from its contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from lakesmith.bronze.envelope import as_stored
from lakesmith.core import positions as pos
from lakesmith.pipeline.process import ProcessedBatch
from lakesmith.quality.dq import batch_stats
from lakesmith.stores import meta
from lakesmith.stores.lake import LakeTable
from lakesmith.stores.timeseries import TimeseriesTable

if TYPE_CHECKING:
    import psycopg

    from lakesmith.config import Settings
    from lakesmith.pipeline.dataset import Dataset


class Sink(Protocol):
    name: str

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        """Committed positions of ``streams`` (absent: nothing committed for it)."""
        ...

    def write(self, batch: ProcessedBatch) -> int:
        """Write the batch's rows beyond the committed positions, with its positions,
        atomically; returns the rows written."""
        ...

    def close(self) -> None: ...


class LakeSink:
    """A lake table (Iceberg or Delta) fed by one frame of the batch."""

    def __init__(
        self, name: str, table: LakeTable, frame: Callable[[ProcessedBatch], pl.DataFrame]
    ) -> None:
        self.name = name
        self.table = table
        self._frame = frame

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        return self.table.positions(streams)

    def write(self, batch: ProcessedBatch) -> int:
        return self.table.append(as_stored(self._frame(batch)), batch.positions)

    def close(self) -> None:
        pass


class TimeseriesSink:
    name = "timeseries"

    def __init__(self, table: TimeseriesTable) -> None:
        self.table = table

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        return self.table.positions(streams)

    def write(self, batch: ProcessedBatch) -> int:
        return self.table.upsert(batch.silver, batch.positions)

    def close(self) -> None:
        self.table.close()


class DqSink:
    """Per-batch DQ statistics in ``lakesmith.dq_batches``, positioned like the data."""

    name = "dq"

    def __init__(self, settings: Settings, dataset: str) -> None:
        self.settings = settings
        self.dataset = dataset
        self.sink = f"dq:{dataset}"
        self._conn: psycopg.Connection[Any] | None = meta.connect_meta(settings)

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The connection, opened again after PostgreSQL dropped it (a restart)."""
        if self._conn is None or self._conn.closed:
            self._conn = meta.connect_meta(self.settings)
        return self._conn

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        found = meta.read_positions(self.conn, self.sink, streams)
        self.conn.commit()
        return found

    def write(self, batch: ProcessedBatch) -> int:
        with self.conn.transaction():
            outcomes = meta.lock_unseen(self.conn, self.sink, batch.positions, batch.outcomes)
            if outcomes.height:
                stats: dict[str, Any] = batch_stats(outcomes, batch.processed_at)
                meta.insert_dq_batch(
                    self.conn,
                    {
                        **stats,
                        "dataset": self.dataset,
                        "batch_id": batch.batch_id,
                        "processed_at": batch.processed_at,
                        "source_positions": pos.dumps(batch.positions),
                    },
                )
            meta.write_positions(self.conn, self.sink, batch.positions)
        return outcomes.height

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def build_sinks(dataset: Dataset) -> list[Sink]:
    """The dataset's sinks from its contract: the three lake tables, the time-series
    table when the contract has one, and the DQ statistics."""
    sinks: list[Sink] = [
        LakeSink("bronze", dataset.bronze, lambda b: b.bronze),
        LakeSink("quarantine", dataset.quarantine, lambda b: b.quarantine),
        LakeSink("silver", dataset.silver, lambda b: b.silver),
    ]
    if dataset.timeseries is not None:
        sinks.append(TimeseriesSink(dataset.timeseries))
    sinks.append(DqSink(dataset.settings, dataset.contract.name))
    return sinks
