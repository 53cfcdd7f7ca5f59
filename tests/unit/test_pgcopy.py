"""``encode_copy`` lays adjacent fixed-width columns out in one block: the bytes are the
same as encoding every column on its own, whatever mix of kinds, nulls and column order."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakesmith.stores.pgcopy import Column, _copy_fields, encode_copy


def _column_by_column(frame: pl.DataFrame, spec: list[Column]) -> bytes:
    count = pa.scalar(struct.pack(">h", len(spec)), pa.large_binary())
    fields = [_copy_fields(frame[c.name], c.kind) for c in spec]
    rows = pc.binary_join_element_wise(count, *fields, pa.scalar(b"", pa.large_binary()))
    return b"".join(r.as_py() for r in rows)


@pytest.mark.parametrize("seed", range(6))
def test_fixed_runs_encode_like_single_columns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 257
    kinds = ["long", "double", "timestamp", "boolean", "string"]
    data: dict[str, pl.Series] = {}
    spec: list[Column] = []
    for i in range(int(rng.integers(1, 12))):
        kind = kinds[int(rng.integers(0, len(kinds)))]
        name = f"c{i}"
        if kind == "long":
            s = pl.Series(name, rng.integers(-(2**62), 2**62, n))
        elif kind == "double":
            s = pl.Series(name, rng.normal(size=n))
        elif kind == "timestamp":
            us = rng.integers(-(10**15), 3 * 10**15, n)
            s = pl.Series(name, us).cast(pl.Datetime("us", "UTC"))
        elif kind == "boolean":
            s = pl.Series(name, rng.random(n) < 0.5)
        else:
            s = pl.Series(name, [f"é{j}" * int(rng.integers(0, 4)) for j in range(n)])
        if rng.random() < 0.4:  # some columns with nulls break the fixed runs
            s = s.scatter(rng.integers(0, n, 20), None)
        data[name] = s
        spec.append(Column(name, kind))  # type: ignore[arg-type]
    frame = pl.DataFrame(data)
    assert encode_copy(frame, spec).to_pybytes() == _column_by_column(frame, spec)


def test_a_row_of_fixed_columns_has_the_binary_layout() -> None:
    frame = pl.DataFrame(
        {"a": [7], "t": [datetime(2000, 1, 1, 0, 0, 1, tzinfo=UTC)], "b": [True]},
        schema={"a": pl.Int64, "t": pl.Datetime("us", "UTC"), "b": pl.Boolean},
    )
    spec = [Column("a", "long"), Column("t", "timestamp"), Column("b", "boolean")]
    expected = (
        b"\x00\x03"
        + b"\x00\x00\x00\x08" + (7).to_bytes(8, "big")
        + b"\x00\x00\x00\x08" + (1_000_000).to_bytes(8, "big")
        + b"\x00\x00\x00\x01\x01"
    )  # fmt: skip
    assert encode_copy(frame, spec).to_pybytes() == expected
