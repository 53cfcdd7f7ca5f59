"""The streaming worker: ``lakesmith run DATASET`` (continuous, or ``--until-idle``).

Loop, for any source kind: poll a micro-batch from the contract's source → process it in
memory (decode, validate, dedupe) → record new schema versions and evolve the tables →
write the sinks (bronze, quarantine, silver, time series, DQ; concurrently), each
committing its data with the batch's source positions → tell the source (a hint).

Whenever the source (re)starts streams it asks ``resume``: the lowest position over all
sinks, with the dedupe index re-primed from silver, so a restart (or a rebalance between
two workers) resumes exactly where the data says it stopped.
"""

from __future__ import annotations

import gc
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import polars as pl

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract, parse_duration
from lakesmith.core import positions as pos
from lakesmith.core.columns import DISPOSITION, RULE_IDS
from lakesmith.core.errors import ServiceUnavailableError
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Positions
from lakesmith.core.transient import STOPPING, retrying, transient
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.lake_sink import LakeSink
from lakesmith.pipeline.memory import Trimmer, TrimPolicy
from lakesmith.pipeline.metrics import WorkerMetrics
from lakesmith.pipeline.process import ProcessedBatch, process_batch
from lakesmith.pipeline.sink_base import Sink
from lakesmith.pipeline.sinks import DqSink, build_sinks
from lakesmith.silver.dedupe import DedupeIndex
from lakesmith.sources.base import Source, SourceContext
from lakesmith.sources.registry import open_source

log = get_logger(__name__)
T = TypeVar("T")

FAULT_ENV = (
    "LAKESMITH_FAULT_KILL_AFTER"  # "<sink>:<n>": SIGKILL self after the n-th write of <sink>
)


def _quiet_gc() -> None:
    """Fewer garbage-collector passes: the start-up objects (modules, settings, tables) are
    frozen out of every later pass, and the young generation is collected every 50,000
    allocations instead of 700 — each poll creates hundreds of thousands of short-lived
    message objects, and the default thresholds spent ~14 % of the worker's CPU walking
    them (measured with perf; ~10 % less user CPU per 1M events with this)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


SINK_LANES = 2  # sinks written at once: the PostgreSQL ones in one, the lake tables in turn


@dataclass
class _InFlight:
    batch: ProcessedBatch
    futures: list[Future[None]]  # the sinks the next batch waits for (``Worker.early``)
    late: list[Future[None]]  # the ``after_lake`` sinks (gold): may lag one batch
    started: float
    records: int  # the batch's records (its bronze rows; the lagging copy holds none)
    # epoch seconds when its last sink finished: the batch is accounted for when the loop
    # gets to it (after the next poll, which may wait out ``max_wait_s``), its commit time
    # is when the writes ended. A list the futures' callbacks share, not the flight: a
    # future pointing back at its flight would keep the batch alive until a GC pass
    written: list[float] = field(default_factory=lambda: [0.0])

    def __post_init__(self) -> None:
        stamp = self.written

        def done(_: Future[None]) -> None:
            stamp[0] = max(stamp[0], time.time())

        for future in self.futures + self.late:
            future.add_done_callback(done)

    @property
    def written_at(self) -> float:
        return self.written[0]


@dataclass
class RunStats:
    batches: int = 0
    records: int = 0
    by_disposition: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of run(), group join and idle wait included
    # receiving (the sources' ``busy_s``) + processing + committing; waiting for records to
    # arrive excluded
    active_seconds: float = 0.0
    lake_commits: int = 0  # commits to the lake tables (one per table per batch)
    lake_conflicts: int = 0  # of which had to be redone because another worker won
    first_record_at: float | None = None  # epoch seconds: the first record received …
    last_commit_at: float | None = None  # … and the last batch committed (spans across workers)
    interrupted: bool = False  # stopped by a signal (``core.transient.stop_after_batch``)

    @property
    def records_per_second(self) -> float:
        """Throughput while there was data (excludes the group join and the idle wait)."""
        return self.records / self.active_seconds if self.active_seconds else 0.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        contract: Contract,
        group_id: str | None = None,
        metrics: WorkerMetrics | None = None,
        overlap_lake: bool = False,
        trim_memory: bool | TrimPolicy = True,
        keep_all_keys: bool = False,
    ) -> None:
        self.settings = settings
        # True: batch N+1 is processed while N's lake files are encoded (a third batch's
        # worth of memory; ``lakesmith ingest`` sizes its batches for it)
        self.overlap_lake = overlap_lake
        # True: the allocators hand their free memory back (``pipeline.memory``) every few
        # batches or after one that leaves more than ``worker.trim_above_mib`` resident, so
        # a long-running stream's RSS stays flat; freed memory is reused in between instead
        # of being returned and faulted in again (page zeroing was ~30 % of an ingest's CPU,
        # perf). A ``TrimPolicy``: that one (``lakesmith ingest``'s). False: never
        if trim_memory is True:
            trim_memory = TrimPolicy.for_worker(settings.worker.trim_above_mib)
        self.trimmer = Trimmer(TrimPolicy.of(trim_memory))
        self.contract = contract
        self.group_id = group_id or f"lakesmith-{contract.name}"
        self.metrics = metrics or WorkerMetrics(contract.name)
        # the natural keys of the last ``dedupe_window`` of event time (what a restart
        # primes), or (``keep_all_keys``: ``lakesmith ingest``, a file's rows may span years
        # of event time) every key of the run
        self.dedupe = DedupeIndex(
            [] if contract.silver.versions == "latest" else contract.keys,
            contract.event_time,
            None if keep_all_keys else parse_duration(settings.worker.dedupe_window),
        )
        self.dataset = Dataset(settings, contract).ensure()
        self.sinks: list[Sink] = build_sinks(self.dataset)
        self._writes: dict[str, int] = {}
        # Lane order: the PostgreSQL writes first (the longest, mostly server time), then the
        # lake tables (Parquet encoding: the batch's data again, in Arrow) one after the
        # other beside them, then the DQ statistics: the next batch waits for the lake
        # writes (``_wait_lake``), not for the statistics (DQ before the lake tables put
        # ~60 ms a batch on that wait, ~7 % of the IoT loop).
        self.sinks.sort(key=lambda s: (isinstance(s, DqSink), isinstance(s, LakeSink)))
        # The ``after_lake`` sinks (gold: the star schema, planned from silver, then merged
        # into the lake's and the warehouse's tables; the slowest writes) each get a lane
        # of their own, one batch after another, and may lag one batch behind the rest:
        # batch N's gold is merged while N+1's bronze and silver are written and N+2 is
        # processed, instead of the loop waiting for it (the two cores were a fifth idle).
        # Each sink commits its own positions, so a lagging sink is exactly-once as well.
        self.early = [s for s in self.sinks if not getattr(s, "after_lake", False)]
        self.late = [s for s in self.sinks if getattr(s, "after_lake", False)]
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(SINK_LANES, len(self.early))), thread_name_prefix="sink"
        )
        self._lanes = {
            s.name: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sink-{s.name}")
            for s in self.late
        }
        self._lagging: _InFlight | None = None  # its late sinks are still writing
        self._fault = self._parse_fault()
        self.source: Source | None = None
        self._resumed = False  # the first resume fails fast (see resume)
        self.stats = RunStats()  # the current (or last) run's figures, also after Ctrl-C

    def committed(self, streams: Sequence[str]) -> Positions:
        """The lowest position over all sinks of ``streams`` (what is safely written)."""
        return pos.lowest([s.positions(streams) for s in self.sinks], streams)

    def resume(self, streams: Sequence[str]) -> Positions:
        """Where to start ``streams``: the lowest position over all sinks. Called by the
        source on every (re)assignment; the dedupe index is re-primed from silver. Both
        reads are retried while a store is briefly away (a rebalance while PostgreSQL or
        the lake's S3 restarts), as the sinks' writes are — except the first time: a store
        that is down when the worker starts is an error at once (the user's fix), not a
        five-minute wait."""

        def read(call: Callable[[], T], what: str) -> T:
            return self._retrying(call, what) if self._resumed else call()

        found = read(lambda: self.committed(streams), "reading the sinks' positions")
        read(lambda: self.dataset.prime_dedupe(self.dedupe), "loading recent keys")
        self._resumed = True
        return found

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

    def _retrying(self, call: Callable[[], T], what: str, **context: object) -> T:
        """``call()`` retried while a service is briefly away (``core.transient``)."""
        budget = self.settings.worker.retry_for_s
        return retrying(call, what, budget, dataset=self.contract.name, **context)

    def _write(self, sink: Sink, batch: ProcessedBatch) -> None:
        # each sink retries on its own: it is idempotent, so a repeated write is harmless
        before = sink.commits
        self._retrying(
            lambda: sink.write(batch), f"writing to the {sink.name} sink", batch_id=batch.batch_id
        )
        if sink.commits > before:  # not when the sink held the rows (its commit policy)
            self._after_write(sink.name)

    def _flush_one(self, sink: Sink, force: bool) -> None:
        before = sink.commits
        self._retrying(lambda: sink.flush(force), f"committing the {sink.name} sink")
        if sink.commits > before:
            self._after_write(sink.name)

    def flush(self, force: bool = False) -> None:
        """Commit the rows sinks hold (lake tables at low rates) when due, or now (after
        every batch written: a lagging gold sink is waited for first)."""
        self._settle(self.stats)
        futures = [self._pool.submit(self._flush_one, s, force) for s in self.early]
        futures += [self._lanes[s.name].submit(self._flush_one, s, force) for s in self.late]
        for future in futures:
            future.result()

    def _submit(self, batch: ProcessedBatch, started: float) -> _InFlight:
        """Write ``batch`` to every sink concurrently (each sink is idempotent on its own);
        the late sinks get the batch without its bronze and quarantine rows (they read
        silver), so a lagging gold write does not keep the whole batch in memory."""
        futures = [self._pool.submit(self._write, sink, batch) for sink in self.early]
        slim = replace(batch, bronze=batch.bronze.clear(), quarantine=batch.quarantine.clear())
        late = [self._lanes[s.name].submit(self._write, s, slim) for s in self.late]
        return _InFlight(slim, futures, late, started, batch.bronze.height)

    def _wait_lake(self, flight: _InFlight) -> None:
        """Wait until the lake sinks wrote the batch in flight (their failures are raised by
        ``_finish``). They hold the batch twice more while encoding Parquet, so they overlap
        the next poll but not its processing: one batch's processing or one batch's Parquet
        encoding at a time (peak RSS 1.5 GiB → under 1 GiB for batches of 200k), while the
        PostgreSQL writes, which hold little, still run beside the processing."""
        for sink, future in zip(self.early, flight.futures, strict=True):
            if isinstance(sink, LakeSink):
                future.exception()

    def _finish(self, flight: _InFlight, stats: RunStats) -> None:
        """Wait for a batch's sinks but the late ones (re-raising any failure), and for
        the late sinks of the batch before it; account for every batch fully written."""
        for future in flight.futures:
            future.result()
        self._settle(stats)
        if flight.late:
            self._lagging = flight
        else:
            self._account(flight, stats)

    def _settle(self, stats: RunStats) -> None:
        """Wait for the lagging batch's late sinks, then account for it."""
        flight, self._lagging = self._lagging, None
        if flight is None:
            return
        try:
            for future in flight.late:
                future.result()
        except BaseException:
            self._lagging = flight  # still unwritten: the caller's error path waits for it
            raise
        self._account(flight, stats)

    def _account(self, flight: _InFlight, stats: RunStats) -> None:
        """A batch every sink wrote: tell the source, count it, log it."""
        batch = flight.batch
        assert self.source is not None
        self.source.committed(batch.positions)
        elapsed = time.perf_counter() - flight.started
        counts = dict(batch.outcomes[DISPOSITION].value_counts().iter_rows())
        rules = dict(
            batch.outcomes.select(pl.col(RULE_IDS).explode().drop_nulls().value_counts())
            .unnest(RULE_IDS)
            .iter_rows()
        )
        self.metrics.observe_batch(counts, rules, elapsed)
        try:  # monitoring only: a broker away for a moment must not stop the worker
            self.metrics.observe_lag(self.source.lag())
        except Exception as exc:
            if not transient(exc):
                raise
            log.info("lag_unavailable", dataset=self.contract.name, error=str(exc)[:200])
        stats.batches += 1
        stats.records += flight.records
        stats.lake_commits += len(self.dataset.lake)
        stats.lake_conflicts = sum(t.conflicts for t in self.dataset.lake.values())
        stats.last_commit_at = flight.written_at or time.time()
        for k, v in counts.items():
            stats.by_disposition[k] = stats.by_disposition.get(k, 0) + int(v)
        log.info(
            "batch_committed", dataset=self.contract.name, batch_id=batch.batch_id,
            records=flight.records, seconds=round(elapsed, 3), **{k: int(v) for k, v in counts.items()},
        )  # fmt: skip

    def run(
        self,
        until_idle: bool = False,
        max_batches: int | None = None,
    ) -> RunStats:
        """The loop. Batch N+1 is gathered while batch N is being written (the sinks run
        in two threads), and processed while N's PostgreSQL writes finish (server work in
        parallel with Python); N's lake writes end before N+1 is processed (``_wait_lake``),
        unless ``overlap_lake`` (``lakesmith ingest``: the Parquet encoding of N runs beside
        the processing of N+1; one more batch in memory, which its batch sizing allows).
        Two batches are in memory at most, and only one of them is being transformed."""
        cfg = self.settings.worker
        _quiet_gc()
        self.trimmer.start()
        source = self.source = open_source(
            SourceContext(self.settings, self.contract, self.group_id, self.resume, self.committed)
        )
        stats = self.stats = RunStats()
        started = time.monotonic()
        idle_since: float | None = None
        flight: _InFlight | None = None
        try:
            while not STOPPING.is_set() and (
                max_batches is None or stats.batches + self._unaccounted(flight) < max_batches
            ):
                t_iter = time.perf_counter()
                raw = self._retrying(
                    lambda: source.poll(cfg.batch_size, cfg.max_wait_s), "reading the source"
                )
                if len(raw) == 0:
                    if flight is not None or self._lagging is not None:
                        t_wait = time.perf_counter()  # (the empty poll was waiting, not work)
                        if flight is not None:
                            self._finish(flight, stats)
                            flight = None
                        self._settle(stats)
                        stats.active_seconds += time.perf_counter() - t_wait
                        continue
                    self.flush(force=until_idle)  # held rows: when due, or all to drain
                    pause = cfg.max_wait_s - (time.perf_counter() - t_iter)
                    if until_idle and self._retrying(source.drained, "checking the source"):
                        idle_since = idle_since or time.monotonic()
                        idle_left = cfg.idle_timeout_s - (time.monotonic() - idle_since)
                        if idle_left <= 0:
                            break
                        pause = min(pause, idle_left)
                    # a source with nothing new may answer at once (files read to the end):
                    # wait out the poll interval instead of spinning (a stop cuts it short)
                    STOPPING.wait(max(pause, 0.0))
                    continue
                idle_since = None
                stats.first_record_at = stats.first_record_at or time.time()
                t_batch = time.perf_counter()
                if flight is not None and not self.overlap_lake:
                    self._wait_lake(flight)
                batch = process_batch(
                    raw,
                    self.contract,
                    datetime.now(UTC),
                    self.dedupe,
                    self.dataset.accepted_version(),
                    release=True,
                )
                if flight is not None:
                    self._finish(flight, stats)
                    flight = None
                    self.trimmer.after_batch()
                self._retrying(partial(self.dataset.evolve, batch), "evolving the tables")
                flight = self._submit(batch, t_batch)
                # the flight keeps the batch without its bronze rows; this name must not
                # keep them (the payloads: a third of a batch) through the next batch
                del batch
                stats.active_seconds += self.source.busy_s + (time.perf_counter() - t_batch)
            t_last = time.perf_counter()
            if flight is not None:
                self._finish(flight, stats)
                flight = None
            self._settle(stats)
            stats.active_seconds += time.perf_counter() - t_last
            self.flush(force=True)
            stats.interrupted = STOPPING.is_set()
        except ServiceUnavailableError as exc:
            if not STOPPING.is_set():
                raise
            self._stopped_with_writes_failing(exc)  # a store away when the stop came
            stats.interrupted = True
        except KeyboardInterrupt:  # Ctrl-C / SIGTERM: what is written stays written
            STOPPING.set()  # writes retrying against a service that is away give up now
            try:
                if flight is not None:
                    self._finish(flight, stats)
                    flight = None
                self.flush(force=True)
            except ServiceUnavailableError as exc:
                self._stopped_with_writes_failing(exc)
            raise
        finally:
            stats.seconds = time.monotonic() - started
            # an error: let the in-flight writes end before closing
            for unfinished in (flight, self._lagging):
                for future in [] if unfinished is None else unfinished.futures + unfinished.late:
                    future.exception()
            self._lagging = None
            self.source.close()
            STOPPING.clear()  # the stop is served
        return stats

    def _stopped_with_writes_failing(self, exc: ServiceUnavailableError) -> None:
        """A stop while a store is away: what was not committed is read again next run
        (the writes still running are waited for before the sinks close)."""
        log.warning("stopped_with_writes_failing", dataset=self.contract.name,
                    error=exc.message[:300])  # fmt: skip

    def _unaccounted(self, flight: _InFlight | None) -> int:
        """Batches submitted but not yet accounted for (in flight, lagging)."""
        return (flight is not None) + (self._lagging is not None)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for lane in self._lanes.values():
            lane.shutdown(wait=True)
        for sink in self.sinks:
            sink.close()
        self.dataset.close()
