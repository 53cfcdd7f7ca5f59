"""The sinks a processed batch is written to, each committing its data *with* the
batch's source positions (exactly-once by idempotence, ARCHITECTURE decision 2).

Every sink re-reads its committed positions inside its own commit and drops rows below
them, so the worker can always resume from the *lowest* position over all sinks and
replay harmlessly into the sinks that were further ahead (e.g. after a crash between
the lake commit and the PostgreSQL commit). ``build_sinks`` is the one factory: it
builds a dataset's sinks from its contract.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import polars as pl

from lakesmith.core import positions as pos
from lakesmith.core.logging import get_logger
from lakesmith.pipeline.lake_sink import LakeSink
from lakesmith.pipeline.latest_sink import LatestLakeSink
from lakesmith.pipeline.process import ProcessedBatch
from lakesmith.pipeline.sink_base import CommitPolicy, Sink
from lakesmith.quality.dq import batch_stats
from lakesmith.stores import meta
from lakesmith.stores.timeseries import TimeseriesTable

if TYPE_CHECKING:
    import psycopg

    from lakesmith.config import Settings
    from lakesmith.pipeline.dataset import Dataset

log = get_logger(__name__)


class TimeseriesSink:
    name = "timeseries"

    def __init__(self, table: TimeseriesTable) -> None:
        self.table = table
        self.commits = 0

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        return self.table.positions(streams)

    def write(self, batch: ProcessedBatch) -> int:
        written = self.table.upsert(batch.silver, batch.positions)
        self.commits += 1
        return written

    def flush(self, force: bool = False) -> int | None:
        return None  # commits every batch (the time series stays fresh)

    def close(self) -> None:
        self.table.close()


class DqSink:
    """Per-batch DQ statistics in ``lakesmith.dq_batches``, positioned like the data."""

    name = "dq"

    def __init__(self, settings: Settings, dataset: str) -> None:
        self.settings = settings
        self.dataset = dataset
        self.sink = f"dq:{dataset}"
        self.commits = 0
        self._conn: psycopg.Connection[Any] | None = meta.connect_meta(settings)
        self._positions = meta.PositionReader(settings, self.sink)

    @property
    def conn(self) -> psycopg.Connection[Any]:
        """The connection, opened again after PostgreSQL dropped it (a restart)."""
        if self._conn is None or self._conn.closed:
            self._conn = meta.connect_meta(self.settings)
        return self._conn

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        return self._positions.read(streams)  # not on the writing connection: see PositionReader

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
        self.commits += 1
        return outcomes.height

    def flush(self, force: bool = False) -> int | None:
        return None  # commits every batch

    def close(self) -> None:
        self._positions.close()
        if self._conn is not None:
            self._conn.close()


def build_sinks(dataset: Dataset, clock: Callable[[], float] = time.monotonic) -> list[Sink]:
    """The dataset's sinks from its contract: the bronze, quarantine and silver lake tables
    (one silver sink per split table), the time-series table when the contract has one,
    the gold sinks (lake and warehouse) when it names a gold model, and the DQ statistics.
    ``clock`` times the lake tables' commit interval (tests simulate hours with it)."""
    policy = CommitPolicy.from_settings(dataset.settings)
    keys = dataset.contract.keys
    sinks: list[Sink] = [
        LakeSink("bronze", dataset.bronze, lambda b: b.bronze, policy, clock),
        LakeSink("quarantine", dataset.quarantine, lambda b: b.quarantine, policy, clock),
    ]
    for name, table in dataset.silver_tables.items():
        # a split silver table gets its rows of every batch (none: its positions still move)
        frame = (lambda b: b.silver) if name == "silver" else _split_frame(dataset, name)
        sink_name = "silver" if name == "silver" else f"silver.{name}"
        if dataset.contract.silver.versions == "latest":  # newest version per key wins
            sinks.append(LatestLakeSink(sink_name, table, frame, keys[0], policy, clock))
            continue
        sinks.append(LakeSink(sink_name, table, frame, policy, clock, keys))
    if dataset.timeseries is not None:
        sinks.append(TimeseriesSink(dataset.timeseries))
    if dataset.gold_model is not None:
        from lakesmith.pipeline.gold_sinks import gold_sinks

        sinks.extend(gold_sinks(dataset, clock))
    sinks.append(DqSink(dataset.settings, dataset.contract.name))
    return sinks


def _split_frame(dataset: Dataset, name: str) -> Callable[[ProcessedBatch], pl.DataFrame]:
    where = dataset.split_filter(name)
    return lambda b: b.silver.filter(where)
