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
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from lakesmith.bronze.envelope import as_stored
from lakesmith.core import positions as pos
from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger
from lakesmith.pipeline.process import ProcessedBatch
from lakesmith.pipeline.sink_base import CommitPolicy, HeldBatches, Sink
from lakesmith.quality.dq import batch_stats
from lakesmith.stores import meta
from lakesmith.stores.lake import CompactOptions, LakeTable
from lakesmith.stores.timeseries import TimeseriesTable

if TYPE_CHECKING:
    import psycopg

    from lakesmith.config import Settings
    from lakesmith.pipeline.dataset import Dataset

log = get_logger(__name__)
AUTO_COMPACT_BYTES = 16 * 1024 * 1024  # target file size of the worker's own compactions


class LakeSink:
    """A lake table (Iceberg or Delta) fed by one frame of the batch, committing by its
    ``CommitPolicy``: rows of several batches are held (as Arrow, in memory) and committed
    together with their merged positions. Held rows are not committed, so the positions
    the worker resumes from never cover them: a crash loses nothing."""

    def __init__(
        self,
        name: str,
        table: LakeTable,
        frame: Callable[[ProcessedBatch], pl.DataFrame],
        policy: CommitPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        compact_keys: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.table = table
        self._frame = frame
        self.policy = policy or CommitPolicy(rows=1, interval_s=0.0)
        self._compact_keys = tuple(compact_keys)
        self._held: HeldBatches[pa.Table] = HeldBatches(self.policy, clock)
        self._held_rows = 0
        self.commits = 0
        self._small_commits = 0  # commits of less than a full batch since the last compaction

    @property
    def pending_rows(self) -> int:
        return self._held_rows

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        return self.table.positions(streams)

    def write(self, batch: ProcessedBatch) -> int:
        rows = as_stored(self._frame(batch))
        if self._held.positions:
            # a source that seeks back (a rebalance resumes from the *committed* positions)
            # re-delivers rows we hold: keep one copy
            rows = pos.unseen_arrow(rows, self._held.positions)
        keep = rows.num_rows or not self._held.items  # an empty frame still gives the columns
        self._held.hold(rows if keep else None, batch.positions, batch.outcomes.height)
        self._held_rows += rows.num_rows
        return self._commit() if self._held.due() else 0

    def flush(self, force: bool = False) -> int | None:
        if self._held.empty or not (force or self._held.due()):
            return None
        return self._commit()

    def _commit(self) -> int:
        held, positions, records = self._held.take()
        self._held_rows = 0
        data = (
            held[0]
            if len(held) == 1
            else pa.concat_tables(held, promote_options="permissive")  # evolved columns
        )
        written = self.table.append(data, positions)
        small = records < self.policy.rows  # the interval (or a flush) was due
        self.commits += 1
        self._small_commits += small
        every = self.policy.compact_every
        if every and self._small_commits >= every:
            self._small_commits = 0
            self._compact()
        return written

    def _compact(self) -> None:
        """Compaction after every ``compact_every`` commits: the small files of a low-rate
        stream are rewritten into one per partition and old snapshots expire."""
        # files of a trickle only: full-batch commits already write batch-sized files, and a
        # small target keeps a rewrite (read into memory at once) small beside the worker
        options = CompactOptions(dedupe_keys=self._compact_keys, target_bytes=AUTO_COMPACT_BYTES)
        started = time.monotonic()
        try:
            report = self.table.compact(options)
        except LakesmithError as exc:  # the data is committed; compaction can wait
            log.warning("auto_compact_failed", table=self.table.label, error=str(exc)[:300])
            return
        log.info(
            "auto_compacted", table=self.table.label, files_before=report.files_before,
            files_after=report.files_after, seconds=round(time.monotonic() - started, 2),
        )  # fmt: skip

    def close(self) -> None:
        pass


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
        self.commits += 1
        return outcomes.height

    def flush(self, force: bool = False) -> int | None:
        return None  # commits every batch

    def close(self) -> None:
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
            from lakesmith.pipeline.latest_sink import LatestLakeSink

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
