"""The streaming worker: ``lakesmith run DATASET`` (continuous, or ``--until-idle``).

Loop: gather a micro-batch from Kafka → process it in memory (decode, validate, dedupe)
→ record new schema versions and evolve the tables → write the sinks in order (bronze,
quarantine, silver, time-series, DQ), each committing its data with the batch's source
positions → commit the consumer group offsets as a hint.

On every partition assignment the worker seeks to the lowest position over all sinks
and re-primes the dedupe index from silver, so a restart (or a rebalance between two
workers) resumes exactly where the data says it stopped.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
from pyiceberg.expressions import GreaterThanOrEqual

from lakesmith.bronze.envelope import BRONZE_COLUMNS
from lakesmith.config import Settings
from lakesmith.contracts.model import Contract, parse_duration
from lakesmith.contracts.registry import SchemaRegistry
from lakesmith.core.logging import get_logger
from lakesmith.pipeline.metrics import WorkerMetrics
from lakesmith.pipeline.process import DISPOSITION, ProcessedBatch, process_batch
from lakesmith.pipeline.sinks import DqSink, LakeSink, Sink, TimeseriesSink
from lakesmith.quality.validate import RULE_IDS, SCHEMA_VERSION
from lakesmith.silver.dedupe import DedupeIndex
from lakesmith.silver.tables import QUARANTINE_COLUMNS, partitioning, silver_columns
from lakesmith.sources.kafka import KafkaBatchSource
from lakesmith.stores import meta
from lakesmith.stores.iceberg import SCHEMA_VERSION_PROP, LakeTable
from lakesmith.stores.postgres import connect
from lakesmith.stores.timeseries import TimeseriesTable

log = get_logger(__name__)

FAULT_ENV = (
    "LAKESMITH_FAULT_KILL_AFTER"  # "<sink>:<n>": SIGKILL self after the n-th write of <sink>
)


@dataclass
class _InFlight:
    batch: ProcessedBatch
    futures: list[Future[None]]
    started: float


@dataclass
class RunStats:
    batches: int = 0
    records: int = 0
    by_disposition: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of run(), group join and idle wait included
    active_seconds: float = 0.0  # receiving + processing + committing; idle waits excluded

    @property
    def records_per_second(self) -> float:
        """Throughput while there was data (excludes the group join and the idle wait)."""
        return self.records / self.active_seconds if self.active_seconds else 0.0


def lake_tables(settings: Settings, contract: Contract) -> dict[str, LakeTable]:
    name = contract.table_name
    return {
        "bronze": LakeTable(settings, "bronze", name),
        "quarantine": LakeTable(settings, "quarantine", name),
        "silver": LakeTable(settings, "silver", name),
    }


class Worker:
    def __init__(
        self,
        settings: Settings,
        contract: Contract,
        group_id: str | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.contract = contract
        self.group_id = group_id or f"lakesmith-{contract.name}"
        self.metrics = metrics or WorkerMetrics(contract.name)
        self.dedupe = DedupeIndex(contract.keys)
        self.conn = connect(settings)
        meta.ensure_meta_schema(self.conn)
        self.registry = SchemaRegistry(self.conn, contract)
        self.lake = lake_tables(settings, contract)
        self._ensure_tables()
        self.timeseries = TimeseriesTable(settings, contract) if contract.timeseries else None
        if self.timeseries is not None:
            self.timeseries.ensure(contract.fields_at(self.silver_version))
        self.sinks: list[Sink] = [
            LakeSink("bronze", self.lake["bronze"], lambda b: b.bronze),
            LakeSink("quarantine", self.lake["quarantine"], lambda b: b.quarantine),
            LakeSink("silver", self.lake["silver"], lambda b: b.silver),
        ]
        if self.timeseries is not None:
            self.sinks.append(TimeseriesSink(self.timeseries))
        self.sinks.append(DqSink(settings, contract.name))
        self._writes: dict[str, int] = {}
        self._pool = ThreadPoolExecutor(max_workers=len(self.sinks), thread_name_prefix="sink")
        self._fault = self._parse_fault()
        self.source: KafkaBatchSource | None = None

    # -- tables ------------------------------------------------------------------------

    def _ensure_tables(self) -> None:
        c = self.contract
        self.lake["bronze"].ensure(BRONZE_COLUMNS, [("_ingested_at", "day")])
        self.lake["quarantine"].ensure(QUARANTINE_COLUMNS, [("_quarantined_at", "day")])
        self.lake["silver"].ensure(
            silver_columns(c, 1), partitioning(c), c.lake.sort_by, {SCHEMA_VERSION_PROP: "1"}
        )

    @property
    def silver_version(self) -> int:
        return int(self.lake["silver"].table.properties.get(SCHEMA_VERSION_PROP, "1"))

    def _accepted_version(self) -> int | None:
        if self.contract.evolution == "evolve":
            return None
        return max(self.registry.known(), default=1)

    def _evolve(self, batch: ProcessedBatch) -> None:
        """Record new schema versions; widen silver and the time-series table while running."""
        # Under freeze/discard_row only accepted rows may introduce a version.
        seen = batch.bronze if self.contract.evolution == "evolve" else batch.silver
        versions = seen.select(pl.col(SCHEMA_VERSION).drop_nulls().unique())[SCHEMA_VERSION]
        for v in sorted(versions.to_list()):
            if v not in self.registry.known():
                first = seen.filter(pl.col(SCHEMA_VERSION) == v).sort("_offset").row(0, named=True)
                if self.registry.record(v, batch.processed_at, first["_source"]):
                    log.info(
                        "schema_version_registered",
                        dataset=self.contract.name,
                        version=v,
                        source=first["_source"],
                    )
        wanted = batch.max_version
        if wanted > self.silver_version:
            fields = self.contract.fields_at(wanted)
            self.lake["silver"].add_columns(
                silver_columns(self.contract, wanted), {SCHEMA_VERSION_PROP: str(wanted)}
            )
            if self.timeseries is not None:
                self.timeseries.add_columns(fields)

    # -- positions & dedupe priming ---------------------------------------------------

    def start_positions(self, partitions: list[int]) -> dict[int, int]:
        topic = self.contract.source.topic
        per_sink = [s.positions(topic) for s in self.sinks]
        self._prime_dedupe()
        return {p: min(pos.get(p, 0) for pos in per_sink) for p in partitions}

    def _prime_dedupe(self) -> None:
        """Load recent natural keys from silver so duplicates across restarts are caught."""
        table = self.lake["silver"].refresh()
        self.dedupe.clear()
        if table.current_snapshot() is None:
            return
        event = self.contract.event_time
        times = pl.from_arrow(table.scan(selected_fields=(event,)).to_arrow())
        newest = times[event].max() if isinstance(times, pl.DataFrame) and times.height else None
        if not isinstance(newest, datetime):
            return
        since = newest - parse_duration(self.settings.worker.dedupe_window)
        keys = table.scan(
            row_filter=GreaterThanOrEqual(event, since.isoformat()),  # type: ignore[call-arg,misc,unused-ignore]
            selected_fields=(*self.contract.keys, "_record_id"),
        ).to_arrow()
        frame = pl.from_arrow(keys)
        assert isinstance(frame, pl.DataFrame)
        self.dedupe.add(frame)
        log.info(
            "dedupe_primed", dataset=self.contract.name, keys=frame.height, since=since.isoformat()
        )

    # -- the loop ----------------------------------------------------------------------

    def _parse_fault(self) -> tuple[str, int] | None:
        spec = os.environ.get(FAULT_ENV)
        if not spec:
            return None
        sink, _, n = spec.partition(":")
        return sink, int(n or 1)

    def _after_write(self, sink: str) -> None:
        self._writes[sink] = self._writes.get(sink, 0) + 1
        if self._fault and self._fault == (sink, self._writes[sink]):
            log.warning("fault_injected", sink=sink, write=self._writes[sink])
            os.kill(os.getpid(), signal.SIGKILL)

    def _write(self, sink: Sink, batch: ProcessedBatch) -> None:
        sink.write(batch)
        self._after_write(sink.name)

    def _submit(self, batch: ProcessedBatch) -> list[Future[None]]:
        """Write ``batch`` to every sink concurrently (each sink is idempotent on its own)."""
        return [self._pool.submit(self._write, sink, batch) for sink in self.sinks]

    def _finish(self, flight: _InFlight, stats: RunStats) -> None:
        """Wait for a batch's sinks (re-raising any failure), then account for it."""
        for future in flight.futures:
            future.result()
        batch = flight.batch
        assert self.source is not None
        self.source.commit_hint(batch.positions)
        elapsed = time.perf_counter() - flight.started
        counts = dict(batch.outcomes[DISPOSITION].value_counts().iter_rows())
        rules = dict(
            batch.outcomes.select(pl.col(RULE_IDS).explode().drop_nulls().value_counts())
            .unnest(RULE_IDS)
            .iter_rows()
        )
        self.metrics.observe_batch(counts, rules, elapsed)
        self.metrics.observe_lag(self.source.lag())
        stats.batches += 1
        stats.records += batch.bronze.height
        for k, v in counts.items():
            stats.by_disposition[k] = stats.by_disposition.get(k, 0) + int(v)
        log.info(
            "batch_committed", dataset=self.contract.name, batch_id=batch.batch_id,
            records=batch.bronze.height, seconds=round(elapsed, 3), **{k: int(v) for k, v in counts.items()},
        )  # fmt: skip

    def run(
        self,
        until_idle: bool = False,
        max_batches: int | None = None,
        assign_timeout_s: float = 60.0,
    ) -> RunStats:
        """The loop. Batch N+1 is gathered and processed while batch N is being written
        (the sinks run in threads: Parquet encoding and the PostgreSQL server work in
        parallel with Python), so two batches are in memory at most."""
        cfg = self.settings.worker
        self.source = KafkaBatchSource(
            self.settings, self.contract.source.topic, self.group_id, self.start_positions
        )
        stats = RunStats()
        started = time.monotonic()
        idle_since: float | None = None
        flight: _InFlight | None = None
        try:
            while max_batches is None or stats.batches + (flight is not None) < max_batches:
                t_iter = time.perf_counter()
                raw = self.source.poll(cfg.batch_size, cfg.max_wait_s)
                if len(raw) == 0:
                    if flight is not None:
                        self._finish(flight, stats)
                        flight = None
                        stats.active_seconds += time.perf_counter() - t_iter
                    elif until_idle and self._drained(started, assign_timeout_s):
                        idle_since = idle_since or time.monotonic()
                        if time.monotonic() - idle_since >= cfg.idle_timeout_s:
                            break
                    continue
                idle_since = None
                t_batch = time.perf_counter()
                batch = process_batch(
                    raw, self.contract, datetime.now(UTC), self.dedupe, self._accepted_version()
                )
                if flight is not None:
                    self._finish(flight, stats)
                self._evolve(batch)
                flight = _InFlight(batch, self._submit(batch), t_batch)
                stats.active_seconds += self.source.busy_s + (time.perf_counter() - t_batch)
            if flight is not None:
                t_last = time.perf_counter()
                self._finish(flight, stats)
                stats.active_seconds += time.perf_counter() - t_last
                flight = None
        finally:
            stats.seconds = time.monotonic() - started
            if flight is not None:  # an error: let the in-flight writes end before closing
                for future in flight.futures:
                    future.exception()
            self.source.close()
        return stats

    def _drained(self, started: float, assign_timeout_s: float) -> bool:
        assert self.source is not None
        if not self.source.assigned:
            return time.monotonic() - started > assign_timeout_s
        return all(v == 0 for v in self.source.lag().values())

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if close:
                close()
        if self.timeseries is not None:
            self.timeseries.close()
        self.conn.close()
