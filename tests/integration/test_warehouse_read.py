"""``Warehouse.read`` (gold state read back inside a transaction, through ``COPY … TO
STDOUT``) returns exactly what was written: NULL apart from an empty string, text with
commas, quotes, newlines and backslashes, microsecond and pre-1970 timestamps, booleans,
non-finite doubles; filters and column subsets as asked; uncommitted rows of the same
transaction included."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakesmith.config import Settings
from lakesmith.domains.music.gold import MODEL
from lakesmith.gold.model import Change
from lakesmith.stores.warehouse import Warehouse

pytestmark = pytest.mark.integration

HOSTILE = ["", None, 'a,"b"\nc', "back\\slash\ttab", "ünïcødé 🎵", "\\N", "NULL", " "]


@pytest.fixture
def warehouse(stack_settings: Settings) -> Iterator[Warehouse]:
    wh = Warehouse(stack_settings, MODEL, f"w_{uuid.uuid4().hex[:8]}")
    wh.ensure()
    yield wh
    wh.close()


def _users() -> pl.DataFrame:
    n = len(HOSTILE)
    table = MODEL.table("dim_user")
    times = [
        datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
        datetime(2038, 1, 19, 3, 14, 8, 1, tzinfo=UTC),
    ]
    return pl.DataFrame(
        {
            "user_key": list(range(n)),
            "user_id": [i + 1 for i in range(n)],
            "level": HOSTILE,
            "first_name": list(reversed(HOSTILE)),
            "last_name": HOSTILE,
            "gender": ["F", "M", None, "", "F", "M", None, ""],
            "registration": (times * 2)[:n],
            "valid_from": ([t for t in times if t] * 3)[:n],
            "valid_to": [None] * n,
            "last_seen": ([t for t in times if t] * 3)[:n],
            "is_current": [True, False, False, True, False, True, True, False],
        },
        schema=table.schema,
    )


def test_read_returns_what_was_written(warehouse: Warehouse) -> None:
    users = _users()
    conn = warehouse.conn
    table = MODEL.table("dim_user")
    with conn.transaction():
        warehouse.apply(conn, table, Change(users))
        inside = warehouse.read(conn, table)  # the transaction's own rows
    assert_frame_equal(inside.sort("user_key"), users)
    assert_frame_equal(warehouse.read(conn, table).sort("user_key"), users)

    some = warehouse.read(conn, table, ["last_name", "user_key"], [("user_key", "in", [1, 3])])
    assert some.columns == ["last_name", "user_key"]
    assert some.sort("user_key")["last_name"].to_list() == [HOSTILE[1], HOSTILE[3]]
    since = datetime(2000, 1, 1, tzinfo=UTC)
    late = warehouse.read(conn, table, ["user_key"], [("last_seen", ">=", since)])
    expected = users.filter(pl.col("last_seen") >= since)["user_key"].sort().to_list()
    assert late["user_key"].sort().to_list() == expected
    none = warehouse.read(conn, table, None, [("user_key", "in", [])])
    assert none.height == 0 and none.schema == users.schema


def test_doubles_and_static_tables_read_back(warehouse: Warehouse) -> None:
    conn = warehouse.conn
    songs = MODEL.table("dim_song")
    rows = pl.DataFrame(
        {
            "song_key": [1, 2, 3, 4],
            "title": ["x", "y", "z", "w"],
            "artist_key": [1, 1, 2, 2],
            "artist_name": ["a", "a", "b", ""],
            "duration_s": [float("inf"), float("nan"), 1.5e-7, None],
        },
        schema=songs.schema,
    )
    with conn.transaction():
        warehouse.apply(conn, songs, Change(rows))
    got = warehouse.read(conn, songs).sort("song_key")
    assert_frame_equal(got, rows)  # NaN equals NaN here
    dates = warehouse.read(conn, MODEL.table("dim_date"))
    assert dates.height > 3000 and dates["is_weekend"].dtype == pl.Boolean
    assert dates["is_weekend"].sum() == pytest.approx(dates.height * 2 / 7, rel=0.01)


def test_rows_are_loaded_in_the_tables_load_order(warehouse: Warehouse) -> None:
    """``GoldTable.load_order``: an append lands in (user_id, ts) order on disk, whatever
    the batch's order (the (user_id, ts) index is then filled in order), and nothing is
    lost or changed on the way."""
    table = MODEL.table("user_level_events")
    assert tuple(table.load_order) == ("user_id", "ts")
    n = 500
    rows = pl.DataFrame(
        {
            "event_key": [f"k{i}" for i in range(n)],
            "user_id": [(i * 37) % 11 for i in range(n)],
            "ts": [datetime(2025, 1, 1, tzinfo=UTC).replace(second=(i * 7) % 60) for i in range(n)],
            "level": ["free" if i % 3 else "paid" for i in range(n)],
        },
        schema=table.schema,
    ).sample(fraction=1.0, shuffle=True, seed=3)
    conn = warehouse.conn
    with conn.transaction():
        warehouse.apply(conn, table, Change(rows))
    on_disk = conn.execute(
        f'SELECT user_id, ts FROM "{warehouse.schema}".user_level_events ORDER BY ctid'
    ).fetchall()
    assert on_disk == sorted(on_disk)
    assert_frame_equal(warehouse.read(conn, table).sort("event_key"), rows.sort("event_key"))


def test_an_append_with_rows_already_there_keeps_one_of_each(warehouse: Warehouse) -> None:
    """``append`` of rows of which some are stored (a replay the positions did not stop):
    the COPY fails on the key, the staged insert skips the stored ones — also on a table
    keyed wider than ``GoldTable.key`` (user_level_events: (user_id, ts, event_key))."""
    table = MODEL.table("user_level_events")
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    rows = pl.DataFrame(
        {
            "event_key": ["a:1", "a:2", "a:3"],
            "user_id": [1, 2, 1],
            "ts": [t0, t0, t0.replace(minute=1)],
            "level": ["free", "paid", "paid"],
        },
        schema=table.schema,
    )
    conn = warehouse.conn
    with conn.transaction():
        assert warehouse.apply(conn, table, Change(rows.head(2))) == 2
    with conn.transaction():
        assert warehouse.apply(conn, table, Change(rows)) == 1  # a:3 only
    assert_frame_equal(warehouse.read(conn, table).sort("event_key"), rows)
