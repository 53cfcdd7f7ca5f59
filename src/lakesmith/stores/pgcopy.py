"""PostgreSQL binary ``COPY`` from Polars frames, vectorised (no per-row Python).

The server parses binary tuples 2-3x faster than CSV (1M rows: 0.79 s vs 2.07 s) and
stores exactly the bits it was given — no float or timestamp text round trip. Used by the
streaming time-series load, the warehouse loads and the backfill.

The tuples are encoded by pgpq (Arrow → PostgreSQL binary COPY, in Rust): each column is
first cast to the Arrow type of its PostgreSQL-side kind, so what reaches the server does
not depend on how the frame happened to be typed (an integer column bound for a
``double precision`` one is sent as a double). pgpq replaced a hand-written NumPy/Arrow
encoder that produced the same bytes ~2.6x slower (100k IoT rows: 39 vs 15 ms).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import polars as pl
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder

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


COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"


def _as_kind(name: str, dtype: pl.DataType, kind: Kind) -> pl.Expr:
    """``name`` cast to the Polars type whose Arrow form pgpq encodes as ``kind``."""
    col = pl.col(name)
    if kind == "timestamp":  # µs since the epoch, as PostgreSQL stores it
        if isinstance(dtype, pl.Datetime):
            return col.dt.cast_time_unit("us") if dtype.time_unit != "us" else col
        return col.cast(pl.Datetime("us"))
    target = {"double": pl.Float64, "long": pl.Int64, "boolean": pl.Boolean}.get(kind, pl.String)
    return col if dtype == target else col.cast(target)


def to_arrow(frame: pl.DataFrame, spec: Sequence[CopyColumn]) -> pa.Table:
    """The ``spec`` columns of ``frame``, in ``spec`` order, typed for the encoder."""
    schema = frame.schema
    return frame.select([_as_kind(c.name, schema[c.name], c.kind) for c in spec]).to_arrow()


def encode_copy(frame: pl.DataFrame, spec: Sequence[CopyColumn]) -> pa.Buffer:
    """The rows of ``frame`` as binary ``COPY`` tuples, columns in ``spec`` order (no
    header/trailer): ``copy_stream`` joined, its header and trailer sliced off."""
    stream = pa.py_buffer(b"".join(copy_stream(frame, spec)))
    return stream.slice(len(COPY_HEADER), stream.size - len(COPY_HEADER) - len(COPY_TRAILER))


SLICE_ROWS = 16_384  # rows encoded per slice of a COPY stream (``copy_stream``)


def copy_stream(frame: pl.DataFrame, spec: Sequence[CopyColumn]) -> Iterator[bytes | memoryview]:
    """A whole binary ``COPY`` stream of ``frame``: header, tuples, trailer — encoded slice
    by slice as the caller sends them, so the server parses one part while the next is
    encoded (encoding the frame first, then sending it, was ~10 % of a load's time). The
    encoder hands its output over in parts of ~1 MiB (empty ones in between)."""
    encoder = ArrowToPostgresBinaryEncoder(to_arrow(frame.head(0), spec).schema)
    yield encoder.write_header()
    for start in range(0, frame.height, SLICE_ROWS):
        # converted slice by slice: never a whole second copy of the frame in Arrow
        for batch in to_arrow(frame.slice(start, SLICE_ROWS), spec).to_batches():
            if part := encoder.write_batch(batch):
                yield part
    yield encoder.finish()  # the rest and the trailer
