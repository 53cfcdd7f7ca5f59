"""SCD type 2 merges in Polars (gold.scd2), without services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from lakesmith.gold.keys import key_of
from lakesmith.gold.scd2 import merge_versions, version_at

T0 = datetime(2025, 1, 20, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")


def obs(*rows: tuple[int, int, str]) -> pl.DataFrame:
    """(user, minute, level) observations."""
    return pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "ts": [T0 + timedelta(minutes=r[1]) for r in rows],
            "level": [r[2] for r in rows],
            "name": [f"n{r[0]}" for r in rows],
        },
        schema={"user_id": pl.Int64, "ts": TS, "level": pl.String, "name": pl.String},
    )


EMPTY = pl.DataFrame(
    schema={
        "user_id": pl.Int64, "valid_from": TS, "last_seen": pl.Datetime("us", "UTC"),
        "level": pl.String, "valid_to": TS, "is_current": pl.Boolean, "name": pl.String,
        "user_key": pl.Int64,
    }
)  # fmt: skip


def merge(observations: pl.DataFrame, existing: pl.DataFrame = EMPTY) -> pl.DataFrame:
    out = merge_versions(observations, existing, "user_id", "ts", ["level"], ["name"], "user_key")
    return out.select(EMPTY.columns)


def ranges(versions: pl.DataFrame) -> list[tuple[str, int, int | None]]:
    def minute(t: datetime | None) -> int | None:
        return None if t is None else int((t - T0).total_seconds() // 60)

    return [
        (r["level"], minute(r["valid_from"]), minute(r["valid_to"]))
        for r in versions.sort("user_id", "valid_from").iter_rows(named=True)
    ]


def upsert(existing: pl.DataFrame, changed: pl.DataFrame) -> pl.DataFrame:
    """What a ``replace`` of the changed users' versions leaves."""
    kept = existing.filter(~pl.col("user_id").is_in(changed["user_id"].unique().to_list()))
    return pl.concat([kept, changed])


def test_upgrade_then_downgrade_gives_three_versions() -> None:
    v = merge(obs((7, 0, "free"), (7, 5, "free"), (7, 10, "paid"), (7, 20, "free")))
    assert ranges(v) == [("free", 0, 10), ("paid", 10, 20), ("free", 20, None)]
    assert v["is_current"].to_list() == [False, False, True]
    assert v["user_key"].to_list()[0] == key_of(7, int(T0.timestamp() * 1_000_000))


def test_batches_in_order_and_out_of_order_agree() -> None:
    first, second, third = (
        obs((7, 0, "free"), (7, 5, "free")),
        obs((7, 10, "paid"), (7, 15, "paid")),
        obs((7, 20, "free"), (7, 25, "free")),
    )
    in_order = EMPTY
    for batch in (first, second, third):
        in_order = upsert(in_order, merge(batch, in_order))
    late = EMPTY
    for batch in (first, third, second):  # the downgrade's events before the upgrade's
        # the entity's earlier observations, as the music model passes them
        interior = pl.concat([first, third]).filter(pl.col("ts") >= batch["ts"].min())
        late = upsert(late, merge(pl.concat([batch, interior]), late))
    expected = [("free", 0, 10), ("paid", 10, 20), ("free", 20, None)]
    assert ranges(in_order) == ranges(late) == expected
    assert sorted(in_order["user_key"].to_list()) == sorted(late["user_key"].to_list())


def test_unchanged_users_are_not_rewritten() -> None:
    stored = merge(obs((1, 0, "free"), (1, 9, "free"), (2, 0, "paid")))
    again = merge(obs((1, 5, "free")), stored)  # inside a stored version: nothing changes
    assert again.height == 0
    moved = merge(obs((2, 30, "free")), stored)  # only user 2 changes
    assert moved["user_id"].unique().to_list() == [2]


def test_facts_point_to_the_version_valid_at_their_time() -> None:
    versions = merge(obs((7, 0, "free"), (7, 10, "paid"), (7, 20, "free"), (8, 3, "paid")))
    facts = obs((7, 0, "free"), (7, 19, "paid"), (7, 30, "free"), (8, 4, "paid"))
    facts = pl.concat([facts, obs((9, 1, "free"))]).with_row_index("n")
    keyed = version_at(facts, versions, "user_id", "ts", "user_key")
    assert keyed["n"].to_list() == list(range(5))  # order kept
    levels = dict(zip(versions["user_key"], versions["level"], strict=True))
    got = [levels.get(k) for k in keyed["user_key"]]
    assert got == ["free", "paid", "free", "paid", None]  # user 9 has no versions
