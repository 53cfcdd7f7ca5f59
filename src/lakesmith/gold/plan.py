"""A batch's gold changes computed ONCE and handed to every store that is at the same place.

``plan_changes`` computes the change of every table of a model for one batch from one
store's state, before anything is committed: a ``PendingState`` lays the changes of the
tables already planned over the store's rows, so each table still sees the earlier tables
with the batch applied (``fact_listen`` finds the ``dim_user`` versions this batch made)
— exactly what committing table by table gave, without a commit in between.

``SharedPlans`` lets the lake gold sink and the warehouse gold sink of one dataset (two
threads of the worker) share that work: the first sink to reach a batch computes the plan
from its store, the other waits for it and uses it when its own store was at the same
committed positions (``basis``) — the stores then hold the same gold rows, so the plan
is valid for both. Otherwise (one store behind after a crash, the lake holding several
batches under its commit policy) the sink computes its own; exactly-once never depends
on the sharing: each store still commits the changes with its positions.

The sharing assumes one worker writes a model's gold tables (the stores' positions then
say what they hold), as the gold sinks always have.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import polars as pl

from lakesmith.core import positions as pos
from lakesmith.gold.model import Change, GoldModel, GoldState, GoldTable
from lakesmith.stores.lake.base import Filter, predicate_expr

Plan = dict[str, Change]
"""Table name → its change for the batch (tables without a change are absent)."""


def _matching(rows: pl.DataFrame, where: Filter) -> pl.Series:
    if not where or rows.height == 0:
        return pl.Series([True] * rows.height, dtype=pl.Boolean)
    return rows.select(predicate_expr(where).fill_null(False)).to_series()


def apply_change(rows: pl.DataFrame, change: Change, table: GoldTable) -> pl.DataFrame:
    """``rows`` of ``table`` (every column) with ``change`` applied, as a store would."""
    new = change.rows.select(rows.columns) if rows.columns else change.rows
    if change.mode == "upsert":
        rows = rows.filter(~pl.col(table.key).is_in(new[table.key].implode()))
    elif change.mode == "replace":
        rows = rows.filter(~_matching(rows, change.where))
    return pl.concat([rows, new], how="vertical_relaxed")


class PendingState:
    """A store's state with the batch's changes of earlier tables laid over it."""

    def __init__(self, model: GoldModel, base: GoldState) -> None:
        self.model = model
        self.base = base
        self.pending: dict[str, Change] = {}

    def add(self, table: str, change: Change) -> None:
        self.pending[table] = change

    def read(
        self, table: str, columns: Sequence[str] | None = None, where: Filter = ()
    ) -> pl.DataFrame:
        change = self.pending.get(table)
        if change is None:
            return self.base.read(table, columns, where)
        spec = self.model.table(table)
        cols = list(columns) if columns is not None else list(spec.schema)
        # read only what the result and the overlay need (not every column of the table)
        need = [*cols, *(w[0] for w in where), *(w[0] for w in change.where), spec.key]
        stored = self.base.read(table, [c for c in spec.schema if c in set(need)], where)
        rows = apply_change(stored, change, spec)
        rows = rows.filter(_matching(rows, where))
        return rows.select(cols)


def plan_changes(model: GoldModel, silver: pl.DataFrame, state: GoldState) -> Plan:
    """Every non-static table's change for the batch's new ``silver`` rows, computed from
    ``state`` in the model's table order (each table sees the earlier ones' changes)."""
    pending = PendingState(model, state)
    for table in model.tables:
        if table.static or silver.height == 0:
            continue
        change = model.change(table.name, silver, pending)
        if change is not None:
            pending.add(table.name, change)
    return pending.pending


def basis_of(committed: Mapping[str, pos.Position]) -> tuple[tuple[str, int], ...]:
    """What a store's committed positions say about its state (``next`` per stream)."""
    return tuple(sorted((s, p.next) for s, p in committed.items()))


class _Entry:
    def __init__(self, basis: tuple[tuple[str, int], ...]) -> None:
        self.basis = basis
        self.plan: Plan | None = None
        self.users = 1
        self.done = threading.Event()


class SharedPlans:
    """Per batch, the plan the first store computed, for the other store (see module)."""

    KEEP = 4  # plans of batches one store took and the other has not (yet)

    def __init__(self, stores: int = 2) -> None:
        self.stores = stores
        self._lock = threading.Lock()
        self._plans: OrderedDict[str, _Entry] = OrderedDict()
        self.shared = 0  # plans a store took from the other (tests, metrics)

    def plan(
        self,
        batch: Mapping[str, pos.Position],
        committed: Mapping[str, pos.Position],
        compute: Callable[[], Plan],
    ) -> Plan:
        """The plan of the batch at ``batch`` positions for a store at ``committed``:
        the other store's when it was at the same positions, else ``compute()``."""
        if self.stores < 2:
            return compute()
        key, basis = pos.dumps(batch), basis_of(committed)
        with self._lock:
            entry = self._plans.get(key)
            mine = entry is None
            if entry is None:
                entry = self._plans[key] = _Entry(basis)
                while len(self._plans) > self.KEEP:
                    self._plans.popitem(last=False)
            else:
                entry.users += 1
                if entry.users >= self.stores:
                    self._plans.pop(key, None)  # every store has come: forget it
        if mine:
            try:
                entry.plan = compute()
            finally:
                entry.done.set()
            return entry.plan
        entry.done.wait()
        if entry.plan is not None and entry.basis == basis:
            self.shared += 1
            return entry.plan
        return compute()
