"""Backfill: silver history (the lake) → the dataset's time-series table, one UTC day at a time.

This module plans the days and reads the lake; ``stores.timeseries_backfill`` is the
PostgreSQL side. A day is read from the silver table through ``LakeTable.batches`` (about
one data file at a time, bounded memory, in a reader thread so reading overlaps loading),
reshaped with Polars into the operational layout (event time renamed, the table's columns
and types), checksummed (``maintenance.checksum``), encoded as binary ``COPY`` tuples and
handed to the store, which loads it in ONE transaction that also verifies the day and
writes its checkpoint: by *attach* (a new partition, swapped in) when the day's partition
is missing or empty, else by *upsert* (staged, merged; equal rows are not rewritten).

A verified day is skipped by later runs (unless ``force``, or the lake's row count for the
day changed), so a run can be interrupted and resumed, and repeating it changes nothing.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger
from lakesmith.maintenance import checksum as ck
from lakesmith.maintenance.checksum import Checksum
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores import pgcopy
from lakesmith.stores.lake import Filter
from lakesmith.stores.timeseries import TimeseriesTable
from lakesmith.stores.timeseries_backfill import (
    BackfillTarget,
    Conn,
    LoadPath,
    Phases,
    RowsAndHash,
    UpsertInsteadError,
    prepare_table,
)

log = get_logger(__name__)


OnRows = Callable[[int], None] | None
_NOTHING = pa.py_buffer(b"")


class BackfillInterruptedError(LakesmithError):
    """The run was stopped; finished days keep their checkpoints, the others rolled back."""


@dataclass(frozen=True)
class DayPlan:
    day: date
    lake_rows: int | None  # from the lake's partition metadata (None without day partitions)
    skip: bool  # a verified checkpoint for the same row count exists


@dataclass
class _Work:
    """One day in progress: what the lake held, phase timings, the progress callback."""

    day: date
    on_rows: OnRows
    lake: Checksum = field(default_factory=Checksum)
    phases: Phases = field(default_factory=dict)


def _target(found: RowsAndHash | None) -> Checksum:
    """The checksum the store computed (no table: nothing)."""
    return Checksum() if found is None else Checksum(*found, None)


@dataclass
class DayResult:
    day: date
    path: LoadPath
    lake: Checksum
    target: Checksum
    written: int = 0  # rows loaded (attach) or inserted/changed (upsert)
    seconds: float = 0.0
    phases: Phases = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.lake.rows

    @property
    def ok(self) -> bool:
        return self.lake.matches(self.target)


@dataclass
class BackfillReport:
    dataset: str
    target: str
    days: list[DayResult]
    skipped: list[date]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.days)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def mismatched(self) -> list[DayResult]:
        return [d for d in self.days if not d.ok]


class Backfill:
    """Lake (silver) → time-series backfill of one dataset: ``plan()``, then ``run()``."""

    def __init__(
        self,
        settings: Settings,
        contract: Contract,
        *,
        since: date | None = None,
        until: date | None = None,
        force: bool = False,
        verify_only: bool = False,
        jobs: int = 2,
    ) -> None:
        if contract.timeseries is None:
            raise LakesmithError(f"{contract.name} has no timeseries section to backfill into")
        self.settings, self.contract, self.jobs = settings, contract, max(1, jobs)
        self.since, self.until, self.force, self.verify_only = since, until, force, verify_only
        self.table = Dataset(settings, contract).silver
        if not self.table.exists():
            hint = f"ingest it first: lakesmith run {contract.name}"
            raise LakesmithError(f"no silver table {self.table.label}", hint=hint)
        self.ts = TimeseriesTable(settings, contract)
        self.target, self.name = self.ts.sink, self.ts.table
        self.time_column = contract.timeseries.time_column
        self._stop = threading.Event()
        self.store = self._prepare()

    def _prepare(self) -> BackfillTarget:
        """Create/widen the table (unless verify-only); fix the columns to move and check."""
        silver = set(self.table.column_names())
        fields = [f for f in self.contract.fields if f.name in silver]
        ck.check_server_hashes(self.ts.conn)  # the connection also creates lakesmith's tables
        table, partitioned = prepare_table(self.ts, fields, create=not self.verify_only)
        kinds: dict[str, ck.Kind] = {self.ts.column_of(f.name): f.type for f in fields}
        kinds["_record_id"] = "string"
        self.present = [c.name for c in table]  # what PostgreSQL has (nothing: no table)
        order = [c for c in self.present if c in kinds] + [
            c for c in kinds if c not in self.present
        ]
        self.spec = [ck.ChecksumColumn(c, kinds[c]) for c in order]  # absent in PG: null there
        lake_names = [self.contract.event_time if c == self.time_column else c for c in order]
        self.lake_columns = [c for c in lake_names if c in silver]
        return BackfillTarget(
            self.settings, self.ts, self.contract.name, table, partitioned, self.spec
        )

    # -- planning ----------------------------------------------------------------------------

    def lake_days(self) -> dict[date, int | None]:
        """Days (UTC) with silver rows: from partition metadata, else a scan of the event time."""
        event = self.contract.event_time
        known = self.table.day_counts(event)
        if known is not None:
            return dict(known)
        counts: dict[date, int | None] = {}
        for batch in self._batches((), [event]):
            per_day = pl.DataFrame(pl.from_arrow(batch)).group_by(pl.col(event).dt.date())
            for d, n in per_day.len().iter_rows():
                counts[d] = (counts.get(d) or 0) + n
        return dict(sorted(counts.items()))

    def checkpoints(self) -> dict[date, tuple[int, bool]]:
        """``day → (rows, verified)`` of earlier backfills of this dataset into this table."""
        return self.store.checkpoints()

    def plan(self) -> list[DayPlan]:
        done = {} if self.force or self.verify_only else self.checkpoints()
        plan = []
        for day, rows in self.lake_days().items():
            if (self.since and day < self.since) or (self.until and day > self.until):
                continue
            cp = done.get(day)
            plan.append(DayPlan(day, rows, cp is not None and cp[1] and rows in (None, cp[0])))
        return plan

    # -- reading the lake --------------------------------------------------------------------

    def _batches(self, where: Filter, columns: Sequence[str]) -> Iterator[pa.Table]:
        """Matching rows, about one data file at a time (bounded memory)."""
        return self.table.batches(columns, where)

    def to_rows(self, batch: pa.Table | pa.RecordBatch) -> pl.DataFrame:
        """A silver batch in the time-series layout: event time renamed, columns cast."""
        frame = pl.DataFrame(pl.from_arrow(batch))
        frame = frame.rename({self.contract.event_time: self.time_column}, strict=False)
        return frame.select(
            (pl.col(c.name) if c.name in frame.columns else pl.lit(None))
            .cast(ck.POLARS_TYPES[c.kind])
            .alias(c.name)
            for c in self.spec
        )

    def _chunks(self, w: _Work, encode: bool) -> Iterator[tuple[pa.Buffer, int]]:
        """The day's rows, checksummed into ``w.lake``; as binary COPY tuples when ``encode``
        (else an empty buffer: verify-only)."""
        start = datetime(w.day.year, w.day.month, w.day.day, tzinfo=UTC)
        event = self.contract.event_time
        where: Filter = [(event, ">=", start), (event, "<", start + timedelta(1))]
        for batch in self._batches(where, self.lake_columns):
            t0 = time.perf_counter()
            rows = self.to_rows(batch)
            w.lake += ck.frame_checksum(rows, self.spec)
            data = pgcopy.encode_copy(rows, self.spec) if encode else _NOTHING
            w.phases["lake"] = w.phases.get("lake", 0.0) + time.perf_counter() - t0
            yield data, rows.height

    def _stream(self, w: _Work, encode: bool) -> Generator[tuple[pa.Buffer, int], None, None]:
        """``_chunks`` read ahead in a thread, reporting progress as they are consumed."""
        with contextlib.closing(self._prefetched(self._chunks(w, encode))) as chunks:
            for data, n in chunks:
                yield data, n
                if w.on_rows:
                    w.on_rows(n)

    def _prefetched(self, items: Iterator[Any], depth: int = 3) -> Generator[Any, None, None]:
        """Produce ``items`` in a thread, up to ``depth`` ahead: reading overlaps loading."""
        q: queue.Queue[Any] = queue.Queue(depth)
        end, quit_ = object(), threading.Event()

        def put(item: Any) -> bool:
            while not quit_.is_set():
                with contextlib.suppress(queue.Full):
                    q.put(item, timeout=0.1)
                    return True
            return False

        def work() -> None:
            try:
                if all(put(item) for item in items):
                    put(end)
            except BaseException as exc:
                put(exc)

        thread = threading.Thread(target=work, name="backfill-reader", daemon=True)
        thread.start()
        try:
            while (item := q.get()) is not end:
                if isinstance(item, BaseException):
                    raise item
                if self._stop.is_set():
                    raise BackfillInterruptedError("backfill interrupted")
                yield item
        finally:
            quit_.set()
            thread.join()

    # -- one day -----------------------------------------------------------------------------

    def process_day(self, day: date, on_rows: OnRows = None) -> DayResult:
        """Load (verify-only: compare) one day in one transaction; returns its verification."""
        t0 = time.perf_counter()
        with self.store.connection() as conn:
            if self.verify_only:
                result = self._day(conn, day, "verify", on_rows)
            else:
                try:
                    result = self._day(conn, day, "attach", on_rows)
                except UpsertInsteadError:
                    result = self._day(conn, day, "upsert", on_rows)
            if not result.ok and self.present:  # name the columns that differ
                cols = self.store.column_sums(conn, day)
                result.target = Checksum(result.target.rows, result.target.hash_sum, cols)
        result.seconds = time.perf_counter() - t0
        facts = {"dataset": self.contract.name, "day": day.isoformat(), "rows": result.rows}
        if not result.ok:
            log.warning(
                "backfill_day_mismatch", **facts, differences=result.lake.differences(result.target)
            )
        log.info("backfill_day", **facts, path=result.path, written=result.written,
                 verified=result.ok, seconds=round(result.seconds, 3))  # fmt: skip
        return result

    def _day(self, conn: Conn, day: date, path: LoadPath, on_rows: OnRows) -> DayResult:
        self.store.prepare_day(conn, day, path)  # may raise UpsertInsteadError
        w = _Work(day, on_rows)
        with (
            self.store.day_transaction(conn),
            contextlib.closing(self._stream(w, encode=path != "verify")) as chunks,
        ):
            if path == "verify":
                written = sum(n for _, n in chunks)
                target = _target(self.store.day_checksum(conn, day, w.phases))
            else:
                load = self.store.upsert if path == "upsert" else self.store.attach
                written, found = load(conn, day, chunks, w.phases)
                target = _target(found)
            result = DayResult(day, path, w.lake, target, written, phases=w.phases)
            self.store.write_checkpoint(conn, day, result.rows, result.lake.text(), result.ok)
        return result

    def run(
        self,
        plan: Sequence[DayPlan] | None = None,
        on_rows: OnRows = None,
        on_day: Callable[[DayResult], None] | None = None,
    ) -> BackfillReport:
        """Process the planned days, ``jobs`` at a time, in day order.

        ``on_day`` runs in the calling thread after each day commits; an exception from it
        (or Ctrl-C) stops the run — days in flight roll back — and propagates.
        """
        plan = self.plan() if plan is None else plan
        todo = iter([p.day for p in plan if not p.skip])
        results: list[DayResult] = []
        running: set[Future[DayResult]] = set()
        started = time.perf_counter()
        self._stop.clear()
        with ThreadPoolExecutor(self.jobs, thread_name_prefix="backfill") as pool:
            try:
                while True:
                    while len(running) < self.jobs and (day := next(todo, None)) is not None:
                        running.add(pool.submit(self.process_day, day, on_rows))
                    if not running:
                        break
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for result in sorted((f.result() for f in finished), key=lambda r: r.day):
                        results.append(result)
                        if on_day:
                            on_day(result)
            except BaseException:
                self._stop.set()
                wait(running)
                raise
        results.sort(key=lambda r: r.day)
        skipped = [p.day for p in plan if p.skip]
        report = BackfillReport(
            self.contract.name, self.target, results, skipped, time.perf_counter() - started
        )
        log.info("backfill_finished", dataset=self.contract.name, days=len(results),
                 skipped=len(skipped), rows=report.rows, seconds=round(report.seconds, 3),
                 rows_per_second=round(report.rows_per_second),
                 mismatched=[d.day.isoformat() for d in report.mismatched])  # fmt: skip
        return report

    def close(self) -> None:
        self.store.close()
