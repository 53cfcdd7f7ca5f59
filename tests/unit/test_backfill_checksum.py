"""The backfill checksum on small Polars frames (no services).

The hash anchors below were computed by PostgreSQL 15 (``hashtextextended(v, 0)``,
``hashfloat8extended(v, 0)``, ``hashint8extended(v, 0)``); the integration tests compare
whole days against the server.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from lakesmith.maintenance.checksum import (
    Checksum,
    ChecksumColumn,
    frame_checksum,
    value_hashes,
)
from lakesmith.stores.pgcopy import encode_copy

SPEC = [
    ChecksumColumn("device_id", "string"),
    ChecksumColumn("ts", "timestamp"),
    ChecksumColumn("temperature", "double"),
    ChecksumColumn("pressure", "double"),
    ChecksumColumn("seq", "long"),
    ChecksumColumn("ok", "boolean"),
]


def frame(n: int = 200) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    i = np.arange(n)
    return pl.DataFrame(
        {
            "device_id": [f"dev-{k % 17:03d}-é" * (1 + k % 3) for k in range(n)],
            "ts": pl.Series(1_709_251_200_000_000 + i * 431_999_987).cast(pl.Datetime("us", "UTC")),
            "temperature": rng.normal(20, 5, n),
            "pressure": pl.Series(rng.uniform(900, 1100, n)).scatter([3, 50, 99], None),
            "seq": i * 7919 - 10_000,
            "ok": i % 3 == 0,
        }
    )


def test_same_rows_in_any_order_or_batching_give_the_same_checksum() -> None:
    f = frame()
    whole = frame_checksum(f, SPEC)
    shuffled = frame_checksum(f.sample(fraction=1.0, shuffle=True, seed=1), SPEC)
    batched = sum((frame_checksum(b, SPEC) for b in f.iter_slices(37)), Checksum())
    assert whole == shuffled == batched
    assert whole.rows == 200
    assert whole.text() == batched.text()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("temperature", None),  # value → null
        ("device_id", "dev-000-è"),  # one character
        ("device_id", "dev-000-é "),  # one trailing byte
        ("ts", datetime(2024, 3, 1, 0, 0, 0, 1, tzinfo=UTC)),  # one microsecond
        ("seq", -9_999),
        ("ok", False),
    ],
)
def test_one_changed_value_changes_the_checksum(column: str, value: object) -> None:
    f = frame()
    changed = f.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value)).otherwise(pl.col(column))
        .cast(f.schema[column]).alias(column)
    )  # fmt: skip
    before, after = frame_checksum(f, SPEC), frame_checksum(changed, SPEC)
    assert before.rows == after.rows
    assert not before.matches(after)
    assert before.differences(after) == [column]


def test_the_last_bit_of_a_double_counts() -> None:
    f = frame()
    nudged = f.with_columns(
        pl.Series("temperature", np.nextafter(f["temperature"].to_numpy(), np.inf))
    )
    assert not frame_checksum(f, SPEC).matches(frame_checksum(nudged, SPEC))


def test_values_swapped_between_rows_are_caught() -> None:
    f = frame()
    t = f["temperature"].to_list()
    t[0], t[1] = t[1], t[0]
    swapped = f.with_columns(pl.Series("temperature", t))
    before, after = frame_checksum(f, SPEC), frame_checksum(swapped, SPEC)
    assert before.columns == after.columns  # per-column sums cannot see a swap …
    assert not before.matches(after)  # … the row hashes do


def test_missing_and_extra_rows_are_caught() -> None:
    f = frame()
    assert frame_checksum(f.head(199), SPEC).differences(frame_checksum(f, SPEC))[0] == "rows"
    assert not frame_checksum(pl.concat([f, f.head(1)]), SPEC).matches(frame_checksum(f, SPEC))


def test_equal_in_sql_means_equal_checksum() -> None:
    """+0/-0 and NaNs compare equal in PostgreSQL, so they hash alike."""
    a = pl.DataFrame({"x": [0.0, float("nan")]})
    b = pl.DataFrame({"x": [-0.0, -float("nan")]})
    spec = [ChecksumColumn("x", "double")]
    assert frame_checksum(a, spec) == frame_checksum(b, spec)


def test_a_missing_column_counts_as_nulls() -> None:
    f = frame().select("device_id", "ts")
    with_nulls = f.with_columns(pl.lit(None, pl.Float64).alias("temperature"))
    spec = SPEC[:3]
    assert frame_checksum(f, spec) == frame_checksum(with_nulls, spec)
    assert frame_checksum(f.head(0), spec) == Checksum(0, 0, {c.name: 0 for c in spec})


def test_hashes_match_postgresql() -> None:
    strings = ["", "a", "dev-00001", "x" * 12, "k:3f2a9c1e:3:1042", "é—漢字🙂" * 5]
    assert value_hashes(pl.Series(strings), "string").tolist() == [
        -6939563903564495251,
        3591986179850072241,
        6977269928291133395,
        -2459440608274261628,  # exactly one 12-byte block
        5962578709056649731,  # a block and a 5-byte tail
        -7142962169072757678,  # multi-byte UTF-8, several blocks
    ]
    doubles = pl.Series([0.0, 1.5, -273.15, 1013.25, float("nan")])
    assert value_hashes(doubles, "double").tolist() == [
        0,
        6158159405676898674,
        -5319225739691965963,
        8963115240403227588,
        4719788943832604568,
    ]


def test_binary_copy_layout() -> None:
    f = pl.DataFrame(
        {"s": ["ab", None], "x": [1.5, None], "t": [datetime(2000, 1, 1, tzinfo=UTC), None]},
        schema={"s": pl.String, "x": pl.Float64, "t": pl.Datetime("us", "UTC")},
    )
    spec = [ChecksumColumn("s", "string"), ChecksumColumn("x", "double"),
            ChecksumColumn("t", "timestamp")]  # fmt: skip
    null = b"\xff\xff\xff\xff"
    row1 = b"\x00\x03" + b"\x00\x00\x00\x02ab" + b"\x00\x00\x00\x08" + bytes.fromhex(
        "3ff8000000000000"
    ) + b"\x00\x00\x00\x08" + bytes(8)  # fmt: skip
    row2 = b"\x00\x03" + null * 3
    assert encode_copy(f, spec).to_pybytes() == row1 + row2
