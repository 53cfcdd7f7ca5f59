"""``gold.plan``: the overlay of a batch's earlier changes, and one plan for two stores."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import polars as pl
import pytest

from lakesmith.core.columns import Column
from lakesmith.core.positions import Position
from lakesmith.gold.model import Change, GoldTable
from lakesmith.gold.plan import PendingState, SharedPlans, apply_change
from lakesmith.stores.lake.base import Filter, predicate_expr

T = GoldTable("dim", [Column("k", "long"), Column("user_id", "long"), Column("v", "string")], "k")


class Model:
    name = "m"
    tables: Sequence[GoldTable] = (T,)
    marts: Sequence[str] = ()

    def table(self, name: str) -> GoldTable:
        return T


class Stored:
    def __init__(self, rows: pl.DataFrame) -> None:
        self.rows = rows
        self.reads: list[Sequence[str] | None] = []

    def read(
        self, table: str, columns: Sequence[str] | None = None, where: Filter = ()
    ) -> pl.DataFrame:
        self.reads.append(columns)
        rows = self.rows.filter(predicate_expr(where)) if where else self.rows
        return rows.select(columns or rows.columns)


STORED = pl.DataFrame({"k": [1, 2, 3], "user_id": [10, 20, None], "v": ["a", "b", "c"]})


def test_changes_apply_like_a_store() -> None:
    new = pl.DataFrame({"k": [2, 4], "user_id": [20, 40], "v": ["B", "d"]})
    upsert = apply_change(STORED, Change(new, "upsert"), T).sort("k")
    assert upsert["v"].to_list() == ["a", "B", "c", "d"]
    # replace: rows matching the filter go (a null user_id does not match), new ones come
    replace = apply_change(STORED, Change(new, "replace", (("user_id", "in", [10, 20]),)), T)
    assert replace.sort("k")["v"].to_list() == ["B", "c", "d"]
    assert apply_change(STORED, Change(new), T).height == 5


def test_pending_state_reads_the_store_with_earlier_changes_over_it() -> None:
    base = Stored(STORED)
    state = PendingState(Model(), base)  # type: ignore[arg-type]  # only .table is used
    assert state.read("dim", ["v"], (("user_id", "==", 10),))["v"].to_list() == ["a"]
    new = pl.DataFrame({"k": [5], "user_id": [10], "v": ["z"]})
    state.add("dim", Change(new, "replace", (("user_id", "==", 10),)))
    got = state.read("dim", ["v"], (("user_id", "in", [10, 20]),))
    assert sorted(got["v"].to_list()) == ["b", "z"]
    assert base.reads[-1] == ["k", "user_id", "v"]  # the key and filter columns too


def test_one_plan_for_two_stores_at_the_same_positions() -> None:
    plans = SharedPlans(stores=2)
    batch = {"s": Position(10)}
    calls: list[str] = []

    def compute(who: str) -> dict[str, Change]:
        calls.append(who)
        return {"dim": Change(STORED)}

    first = plans.plan(batch, {"s": Position(5)}, lambda: compute("lake"))
    second = plans.plan(batch, {"s": Position(5)}, lambda: compute("warehouse"))
    assert second is first and calls == ["lake"] and plans.shared == 1
    # a store behind the other (a crash between them) computes its own
    plans.plan({"s": Position(20)}, {"s": Position(10)}, lambda: compute("lake"))
    plans.plan({"s": Position(20)}, {"s": Position(7)}, lambda: compute("warehouse"))
    assert calls == ["lake", "lake", "warehouse"] and plans.shared == 1


def test_the_second_store_waits_for_the_plan_being_computed() -> None:
    plans = SharedPlans(stores=2)
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow() -> dict[str, Change]:
        calls.append("first")
        started.set()
        release.wait(5)
        return {}

    t = threading.Thread(target=lambda: plans.plan({"s": Position(1)}, {}, slow))
    t.start()
    started.wait(5)
    got: list[object] = []
    u = threading.Thread(
        target=lambda: got.append(plans.plan({"s": Position(1)}, {}, lambda: {"x": Change(STORED)}))
    )
    u.start()
    release.set()
    t.join(5)
    u.join(5)
    assert calls == ["first"] and got == [{}]


def test_a_failed_plan_leaves_the_other_store_to_compute() -> None:
    plans = SharedPlans(stores=2)

    def boom() -> dict[str, Change]:
        raise RuntimeError("read failed")

    with pytest.raises(RuntimeError):
        plans.plan({"s": Position(1)}, {}, boom)
    assert plans.plan({"s": Position(1)}, {}, lambda: {"x": Change(STORED)}).keys() == {"x"}
