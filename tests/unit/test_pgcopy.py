"""``encode_copy`` / ``copy_stream`` give PostgreSQL's binary ``COPY`` layout for every kind,
with nulls, whatever the frame's own types (pgpq encodes; a per-row reference here)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pytest

from lakesmith.stores.pgcopy import (
    COPY_HEADER,
    COPY_TRAILER,
    SLICE_ROWS,
    Column,
    copy_stream,
    encode_copy,
)

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _field(value: Any, kind: str) -> bytes:
    """One value as the server expects it: int32 length, then the big-endian value."""
    if value is None:
        return b"\xff\xff\xff\xff"
    if kind == "string":
        data = str(value).encode()
    elif kind == "double":
        data = struct.pack(">d", float(value))
    elif kind == "long":
        data = struct.pack(">q", int(value))
    elif kind == "boolean":
        data = b"\x01" if value else b"\x00"
    else:  # timestamp: µs since 2000-01-01 UTC (naive values are UTC)
        ts = value if value.tzinfo else value.replace(tzinfo=UTC)
        delta = ts - PG_EPOCH
        data = struct.pack(">q", (delta.days * 86_400 + delta.seconds) * 10**6 + delta.microseconds)
    return struct.pack(">i", len(data)) + data


def _reference(frame: pl.DataFrame, spec: list[Column]) -> bytes:
    rows = frame.select([c.name for c in spec]).rows()
    return b"".join(
        struct.pack(">h", len(spec))
        + b"".join(_field(v, c.kind) for v, c in zip(row, spec, strict=True))
        for row in rows
    )


@pytest.mark.parametrize("seed", range(6))
def test_every_kind_with_nulls_encodes_like_the_reference(seed: int) -> None:
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
        if rng.random() < 0.4:
            s = s.scatter(rng.integers(0, n, 20), None)
        data[name] = s
        spec.append(Column(name, kind))  # type: ignore[arg-type]
    frame = pl.DataFrame(data)
    assert encode_copy(frame, spec).to_pybytes() == _reference(frame, spec)


def test_columns_are_sent_as_their_kind_not_their_frame_type() -> None:
    """An integer column bound for a double, a ms or ns or naive timestamp, a number bound
    for text, an all-null column: each is converted, not sent with the wrong width."""
    frame = pl.DataFrame(
        {
            "i_as_double": pl.Series([1, None, -3], dtype=pl.Int32),
            "ms": pl.Series([0, 1_500, None]).cast(pl.Datetime("ms", "UTC")),
            "ns_naive": pl.Series([946_684_800_000_001_000, 0, None]).cast(pl.Datetime("ns")),
            "n_as_text": [7, None, 9],
            "nothing": pl.Series([None, None, None], dtype=pl.Null),
            "small": pl.Series([1, 2, None], dtype=pl.Int16),
        }
    )
    spec = [
        Column("i_as_double", "double"),
        Column("ms", "timestamp"),
        Column("ns_naive", "timestamp"),
        Column("n_as_text", "string"),
        Column("nothing", "double"),
        Column("small", "long"),
    ]
    expected = frame.with_columns(
        pl.col("i_as_double").cast(pl.Float64), pl.col("n_as_text").cast(pl.String)
    )
    got = encode_copy(frame, spec).to_pybytes()
    assert got == _reference(expected, spec)
    # the ns value 1 µs after 2000-01-01 is sent as 1 µs
    assert struct.pack(">i", 8) + struct.pack(">q", 1) in got


def test_copy_stream_is_header_slices_trailer() -> None:
    n = SLICE_ROWS * 2 + 5
    frame = pl.DataFrame({"a": np.arange(n), "s": [str(i) for i in range(n)]})
    spec = [Column("a", "long"), Column("s", "string")]
    stream = b"".join(bytes(p) for p in copy_stream(frame, spec))
    assert stream == COPY_HEADER + _reference(frame, spec) + COPY_TRAILER


def test_a_large_frame_is_streamed_in_parts() -> None:
    n = SLICE_ROWS * 8
    frame = pl.DataFrame({"a": np.arange(n), "s": [f"value {i}" for i in range(n)]})
    spec = [Column("a", "long"), Column("s", "string")]
    parts = [bytes(p) for p in copy_stream(frame, spec)]
    assert len(parts) > 3 and all(parts)  # not one buffer at the end, no empty writes
    assert b"".join(parts) == COPY_HEADER + _reference(frame, spec) + COPY_TRAILER


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
