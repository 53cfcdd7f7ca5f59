"""PostgreSQL binary ``COPY`` from Polars frames, vectorised (no per-row Python).

The server parses binary tuples 2-3x faster than CSV (1M rows: 0.79 s vs 2.07 s) and
stores exactly the bits it was given — no float or timestamp text round trip. Used by the
streaming time-series load and by the backfill.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

Kind = Literal["string", "double", "timestamp", "long", "boolean"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


class CopyColumn(Protocol):
    """A column to encode: its name in the frame and its PostgreSQL-side kind."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> Kind: ...


PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, PostgreSQL's timestamp zero, in Unix µs
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.large_binary())  # field length -1
_EMPTY = pa.scalar(b"", pa.large_binary())


def _binary(n: int, width: int, data: npt.NDArray[Any]) -> pa.Array:
    offsets = np.arange(0, n * width + 1, width, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _fixed(series: pl.Series, kind: Kind) -> npt.NDArray[Any]:
    """A fixed-width column's values as PostgreSQL's binary form (nulls as zeros)."""
    if kind == "double":
        return series.fill_null(0.0).to_numpy().astype(">f8")
    if kind == "timestamp":
        return (series.dt.epoch("us").fill_null(0).to_numpy() - PG_EPOCH_US).astype(">i8")
    if kind == "long":
        return series.fill_null(0).to_numpy().astype(">i8")
    return series.fill_null(False).to_numpy().astype(np.uint8)


def _fixed_block(columns: Sequence[npt.NDArray[Any]], n: int) -> pa.Array:
    """Several adjacent fixed-width columns without nulls as ONE binary array: each row
    ``len, value, len, value, …`` laid out by numpy in a single block (a column per
    array made the row join below walk every column's array again)."""
    width = sum(4 + v.dtype.itemsize for v in columns)
    block = np.empty((n, width), np.uint8)
    at = 0
    for values in columns:
        w = values.dtype.itemsize
        block[:, at : at + 4] = np.frombuffer(struct.pack(">i", w), np.uint8)
        block[:, at + 4 : at + 4 + w] = values.view(np.uint8).reshape(n, w)
        at += 4 + w
    return _binary(n, width, block)


def _copy_fields(series: pl.Series, kind: Kind) -> pa.Array:
    """One column as binary-COPY fields: a big-endian int32 length, then the value."""
    n, nulls = len(series), series.is_null().to_numpy() if series.null_count() else None
    if kind == "string":
        text = series.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(pa.large_binary())
        lengths = pc.binary_length(text).fill_null(0).to_numpy(zero_copy_only=False)
        fields = pc.binary_join_element_wise(_binary(n, 4, lengths.astype(">i4")), text, _EMPTY)
        return fields.fill_null(_NULL) if nulls is not None else fields
    fields = _fixed_block([_fixed(series, kind)], n)
    return pc.if_else(pa.array(nulls), _NULL, fields) if nulls is not None else fields


def encode_copy(frame: pl.DataFrame, spec: Sequence[CopyColumn]) -> pa.Buffer:
    """The rows of ``frame`` as binary ``COPY`` tuples, columns in ``spec`` order (no
    header/trailer); types as ``POLARS_TYPES``, vectorised (no per-row Python). Adjacent
    fixed-width columns without nulls are encoded together (``_fixed_block``)."""
    n = frame.height
    fields: list[pa.Array] = []
    run: list[npt.NDArray[Any]] = []
    for c in spec:
        series = frame[c.name]
        if c.kind != "string" and series.null_count() == 0:
            run.append(_fixed(series, c.kind))
            continue
        if run:
            fields.append(_fixed_block(run, n))
            run = []
        fields.append(_copy_fields(series, c.kind))
    if run:
        fields.append(_fixed_block(run, n))
    count = pa.scalar(struct.pack(">h", len(spec)), pa.large_binary())
    rows = pc.binary_join_element_wise(count, *fields, _EMPTY)
    _, offsets_buf, data = rows.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64, len(rows) + 1, rows.offset * 8)
    return data.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


SLICE_ROWS = 16_384  # rows encoded per slice of a COPY stream (``copy_stream``)


def copy_stream(frame: pl.DataFrame, spec: Sequence[CopyColumn]) -> Iterator[bytes | memoryview]:
    """A whole binary ``COPY`` stream of ``frame``: header, tuples, trailer — encoded slice
    by slice as the caller sends them, so the server parses one slice while the next is
    encoded (encoding the frame first, then sending it, was ~10 % of a load's time)."""
    yield COPY_HEADER
    for start in range(0, frame.height, SLICE_ROWS):
        yield memoryview(encode_copy(frame.slice(start, SLICE_ROWS), spec))
    yield COPY_TRAILER
