"""The gold sinks ``pipeline.sinks.build_sinks`` adds for a contract with ``gold:``.

Both receive each batch's validated silver rows and positions and update the model's star
schema incrementally (``GoldModel.change`` per table, merged on keys). The changes of a
batch are planned once (``gold.plan``) and shared by the two sinks when their stores are
at the same committed positions:

- ``LakeGoldSink`` ("gold"): the model's lake tables. When every table is at the same
  positions, the plan's changes are committed to all tables at once (parallel threads),
  each commit with the batch's positions (``LakeTable.replace``, checked against the
  version read before planning). Otherwise (a crash between two tables' commits, a table
  changed meanwhile) table by table in dependency order: each table drops the rows below
  its own positions, so the replay goes only into the tables behind; the sink's
  positions are the lowest over its tables.
- ``WarehouseGoldSink`` ("warehouse"): every table's change and the positions (in
  ``lakesmith.stream_positions``, sink ``gold:<dataset>``) in ONE PostgreSQL transaction;
  the marts (materialised views) are refreshed after loads, at most every
  ``MART_REFRESH_S`` seconds and at every forced flush (``--until-idle``, exit).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import polars as pl
import polars.selectors as cs
import pyarrow as pa

from lakesmith.core import positions as pos
from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger
from lakesmith.gold.model import Change, GoldModel, GoldTable
from lakesmith.gold.plan import Plan, SharedPlans, basis_of, plan_changes
from lakesmith.pipeline.sink_base import CommitPolicy, HeldBatches, Sink
from lakesmith.stores import meta
from lakesmith.stores.lake import Filter, LakeTable
from lakesmith.stores.lake.merge import StaleTableError

if TYPE_CHECKING:
    import psycopg

    from lakesmith.config import Settings
    from lakesmith.pipeline.dataset import Dataset
    from lakesmith.pipeline.process import ProcessedBatch
    from lakesmith.stores.warehouse import Warehouse

log = get_logger(__name__)
MART_REFRESH_S = 60.0
ATTEMPTS = 20
COMMIT_THREADS = 4  # lake tables committed at once (Parquet encoding and I/O release the GIL)


def _typed(frame: pl.DataFrame, table: GoldTable, columns: Sequence[str] | None) -> pl.DataFrame:
    schema = table.schema
    cols = list(columns) if columns is not None else list(schema)
    return frame.select([pl.col(c).cast(schema[c]) for c in cols])


class LakeState:
    """The current rows of a model's lake tables."""

    def __init__(self, model: GoldModel, tables: dict[str, LakeTable]) -> None:
        self.model = model
        self.tables = tables

    def read(
        self, table: str, columns: Sequence[str] | None = None, where: Filter = ()
    ) -> pl.DataFrame:
        # big IN sets are cheap in every backend (``stores.lake.iceberg_rows``)
        rows = self.tables[table].scan(columns, where)
        return _typed(rows, self.model.table(table), columns)


class WarehouseState:
    """The current rows of a model's warehouse tables, inside the sink's transaction."""

    def __init__(self, warehouse: Warehouse, conn: psycopg.Connection[Any]) -> None:
        self.warehouse = warehouse
        self.conn = conn

    def read(
        self, table: str, columns: Sequence[str] | None = None, where: Filter = ()
    ) -> pl.DataFrame:
        return self.warehouse.read(self.conn, self.warehouse.model.table(table), columns, where)


def _arrow(change: Change) -> pa.Table:
    return change.rows.to_arrow(compat_level=pl.CompatLevel.oldest())


def _where(change: Change, table: GoldTable) -> Filter | None:
    if change.mode == "append":
        return None
    if change.mode == "upsert":
        return ((table.key, "in", change.rows[table.key].to_list()),)
    return change.where


class LakeGoldSink:
    """The model's lake tables. Batches are held by the lake's ``CommitPolicy`` like the
    other lake tables' (a trickle commits every ``lake.commit_interval_s``, not every
    batch), then applied together, one commit per table with the merged positions."""

    name = "gold"
    after_lake = True  # the worker writes it after the lake sinks (``pipeline.worker``)

    def __init__(
        self,
        settings: Settings,
        model: GoldModel,
        tables: dict[str, LakeTable],
        policy: CommitPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        plans: SharedPlans | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.plans = plans or SharedPlans(stores=1)
        self._pool = ThreadPoolExecutor(max_workers=COMMIT_THREADS, thread_name_prefix="gold")
        self.tables = {t.name: tables[t.name] for t in model.tables if not t.static}
        self.state = LakeState(model, tables)
        self.policy = policy or CommitPolicy(rows=1, interval_s=0.0)
        self._held: HeldBatches[pl.DataFrame] = HeldBatches(self.policy, clock)
        self.commits = 0

    @property
    def pending_rows(self) -> int:
        return sum(f.height for f in self._held.items)

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        streams = list(streams)
        return pos.lowest((t.positions(streams) for t in self.tables.values()), streams)

    def write(self, batch: ProcessedBatch) -> int:
        """Hold the batch's silver rows; when the policy says so, apply everything held
        to every table. Returns the silver rows applied (0 while held)."""
        # batches may type a column as Enums of different categories (``_stream``): held
        # frames keep plain strings so they concatenate
        rows = batch.silver.with_columns(
            cs.enum().cast(pl.String), cs.categorical().cast(pl.String)
        )
        if self._held.positions:  # a re-delivered batch we hold: keep one copy
            rows = pos.unseen(rows, self._held.positions)
        self._held.hold(rows, batch.positions, batch.outcomes.height)
        return self._commit() if self._held.due() else 0

    def flush(self, force: bool = False) -> int | None:
        if self._held.empty or not (force or self._held.due()):
            return None
        return self._commit()

    def _commit(self) -> int:
        held, positions, _ = self._held.take()
        silver = held[0] if len(held) == 1 else pl.concat(held, how="diagonal_relaxed")
        planned = self._commit_planned(silver, positions)
        if planned is not None:
            self.commits += 1
            return planned
        taken = 0
        for name, lake in self.tables.items():
            table = self.model.table(name)
            taken = max(taken, self._write_table(table, lake, silver, positions))
        self.commits += 1
        return taken

    def _commit_planned(self, silver: pl.DataFrame, positions: pos.Positions) -> int | None:
        """The usual case: every table at the same committed positions, none of them has
        the batch. Plan every table's change once (shared with the warehouse sink when it
        is at the same positions) and commit the tables at once, in parallel threads.
        None: the tables disagree (a crash between two tables' commits) or one changed
        meanwhile — the caller goes table by table (``_write_table``)."""
        if not positions:
            return None
        names = list(self.tables)
        streams = list(positions)
        found = list(self._pool.map(lambda n: self._version_and_positions(n, streams), names))
        committed = found[0][1]
        if any(basis_of(c) != basis_of(committed) for _, c in found):
            return None
        if pos.covers(committed, positions):
            return 0  # every table has the batch already (a replay)
        rows = pos.unseen(silver, committed)
        plan = self.plans.plan(
            positions, committed, lambda: plan_changes(self.model, rows, self.state)
        )
        seen = dict(zip(names, (v for v, _ in found), strict=True))
        done = list(
            self._pool.map(lambda n: self._commit_table(n, plan, positions, seen[n]), names)
        )
        for name, ok in zip(names, done, strict=True):
            if not ok:  # changed meanwhile: recompute this table from the new state
                self._write_table(self.model.table(name), self.tables[name], silver, positions)
        return rows.height

    def _version_and_positions(self, name: str, streams: list[str]) -> tuple[str, pos.Positions]:
        lake = self.tables[name]
        return lake.version(), lake.positions(streams)

    def _commit_table(self, name: str, plan: Plan, positions: pos.Positions, seen: str) -> bool:
        table, lake = self.model.table(name), self.tables[name]
        change = plan.get(name) or Change(pl.DataFrame(schema=table.schema))
        try:
            lake.replace(_arrow(change), _where(change, table), positions, seen)
        except StaleTableError:
            log.info("gold_table_changed_meanwhile", table=lake.label)
            return False
        return True

    def _write_table(
        self, table: GoldTable, lake: LakeTable, silver: pl.DataFrame, positions: pos.Positions
    ) -> int:
        for _ in range(ATTEMPTS):
            seen = lake.version()
            committed = lake.positions(positions)
            if positions and pos.covers(committed, positions):
                return 0  # this table has the batch already (a replay after a crash)
            rows = pos.unseen(silver, committed)
            change = self.model.change(table.name, rows, self.state)
            if change is None:
                change = Change(pl.DataFrame(schema=table.schema))
            try:
                lake.replace(_arrow(change), _where(change, table), positions, seen)
                return rows.height
            except StaleTableError:
                log.info("gold_table_changed_meanwhile", table=lake.label)
        raise SinkError(f"{lake.label}: gave up after {ATTEMPTS} concurrent changes")

    def reset(self) -> None:
        """Drop the tables built from silver with their positions (``reprocess``; the
        next ``Dataset.ensure`` creates them empty; calendars stay)."""
        from lakesmith.stores.reset import drop_lake_table

        for table in self.tables.values():
            drop_lake_table(self.settings, table)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class WarehouseGoldSink:
    name = "warehouse"
    after_lake = True

    def __init__(
        self,
        warehouse: Warehouse,
        dataset: str,
        clock: Callable[[], float] = time.monotonic,
        plans: SharedPlans | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.plans = plans or SharedPlans(stores=1)
        self.sink = f"gold:{dataset}"
        self._positions = meta.PositionReader(warehouse.settings, self.sink)
        self.commits = 0
        self._clock = clock
        self._refreshed = clock()
        self._stale = False  # loads since the marts were refreshed

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        return self._positions.read(streams)  # not on the writing connection

    def write(self, batch: ProcessedBatch) -> int:
        """Apply the batch in one transaction; returns the silver rows applied."""
        wh = self.warehouse
        conn = wh.conn
        written = 0
        with conn.transaction():
            rows = meta.lock_unseen(conn, self.sink, batch.positions, batch.silver)
            state = WarehouseState(wh, conn)
            if rows.height:
                if rows.height == batch.silver.height:  # none of it seen: maybe shared
                    committed = meta.read_positions(conn, self.sink, batch.positions)
                    plan = self.plans.plan(
                        batch.positions, committed, lambda: plan_changes(wh.model, rows, state)
                    )
                else:
                    plan = plan_changes(wh.model, rows, state)
                for table in wh.model.tables:
                    change = plan.get(table.name)
                    if change is not None:
                        written += wh.apply(conn, table, change)
            meta.write_positions(conn, self.sink, batch.positions)
        self.commits += 1
        self._stale = self._stale or written > 0
        if self._stale and self._clock() - self._refreshed >= MART_REFRESH_S:
            self.refresh()
        return rows.height

    def refresh(self) -> None:
        self.warehouse.refresh_marts()
        self._refreshed, self._stale = self._clock(), False

    def flush(self, force: bool = False) -> int | None:
        if force and self._stale:
            self.refresh()
        return None

    def reset(self) -> None:
        """Empty the tables built from silver and forget the positions (``reprocess``)."""
        self.warehouse.reset(self.sink)

    def close(self) -> None:
        self._positions.close()
        self.warehouse.close()


def gold_sinks(dataset: Dataset, clock: Callable[[], float] = time.monotonic) -> list[Sink]:
    """The gold sinks of ``dataset`` (lake and/or warehouse, per ``gold:``); the lake's
    commits follow the lake's ``CommitPolicy`` timed by ``clock``."""
    model, spec = dataset.gold_model, dataset.contract.gold
    assert model is not None and spec is not None
    sinks: list[Sink] = []
    plans = SharedPlans(stores=int(spec.lake) + int(spec.warehouse))
    if spec.lake:
        policy = CommitPolicy.from_settings(dataset.settings)
        sinks.append(LakeGoldSink(dataset.settings, model, dataset.gold, policy, clock, plans))
    if spec.warehouse:
        from lakesmith.stores.warehouse import Warehouse

        warehouse = Warehouse(dataset.settings, model, spec.schema_name)
        sinks.append(WarehouseGoldSink(warehouse, dataset.contract.name, plans=plans))
    return sinks
