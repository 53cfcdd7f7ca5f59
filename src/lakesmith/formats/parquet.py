"""The ``parquet`` format: each row of a Parquet file becomes a record, its JSON text.

``read`` iterates record batches (``ParquetFile.iter_batches``, ``chunk_records`` rows at
a time) and turns each batch into JSON lines in bulk with Polars (``write_ndjson``); one
payload per row, ``seq`` = row index. Bronze keeps that text and ``decode`` is the
``json`` decoder, so typing and rules behave exactly as for JSON. Values serialise as:

- timestamps: ISO 8601 with their offset (``2025-01-20T10:00:00.123+00:00``), which a
  ``timestamp`` field with ``format: iso8601`` types; timestamps *without* a zone
  (``isAdjustedToUTC = false``) are taken as UTC;
- dates, times, decimals: ISO text (``"2025-01-20"``, ``"10:00:00"``, ``"1.25"``);
  durations ISO 8601 (``"PT3S"``); binary: base64 text;
- structs and maps: objects, lists: arrays (dotted contract paths reach inside);
- NaN and ±inf: the strings ``"NaN"``, ``"inf"``, ``"-inf"`` (so ``<field>_not_finite``
  reports them, as for JSON); in a batch holding any, that float column is written as
  text throughout (``"21.5"``), which types the same.

A row whose JSON text is longer than ``max_bytes`` is delivered truncated to
``max_bytes + 1`` bytes (quarantined as ``payload_too_large``). A file that is not Parquet,
is truncated or corrupt raises ``InputError``. ``read_from`` starts at a row without
converting the rows before it (whole row groups are skipped from the metadata).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO, cast

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from polars.datatypes import DataTypeClass

from lakesmith.contracts.model import Contract
from lakesmith.core.errors import InputError
from lakesmith.core.records import RawBatch
from lakesmith.formats.base import RecordChunk, with_record_fields
from lakesmith.formats.csv_columns import unique_names
from lakesmith.formats.json import decode_json

_ARROW_ERRORS = (pa.ArrowException, OSError, ValueError, TypeError, pl.exceptions.PolarsError)


def _fixed(expr: pl.Expr, dtype: pl.DataType | DataTypeClass) -> pl.Expr | None:
    """``expr`` made JSON-friendly (see the module doc), or None when it already is."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is None:
        return expr.dt.replace_time_zone("UTC")
    if isinstance(dtype, pl.Binary):
        return expr.bin.encode("base64")
    if isinstance(dtype, pl.Struct):
        subs = [(f.name, _fixed(expr.struct.field(f.name), f.dtype)) for f in dtype.fields]
        if all(s is None for _, s in subs):
            return None
        rebuilt = pl.struct(
            [(s if s is not None else expr.struct.field(n)).alias(n) for n, s in subs]
        )
        return pl.when(expr.is_null()).then(None).otherwise(rebuilt)
    if isinstance(dtype, pl.List | pl.Array):
        inner = _fixed(pl.element(), dtype.inner)
        if inner is None:
            return None
        as_list = expr.arr.to_list() if isinstance(dtype, pl.Array) else expr
        return as_list.list.eval(inner)
    return None


def _json_lines(batch: pa.RecordBatch, max_bytes: int) -> list[bytes]:
    """One JSON object (bytes) per row of ``batch``."""
    n = batch.num_rows
    if batch.num_columns == 0:
        return [b"{}"] * n
    # blank or repeated column names as a CSV header's (``column_<k>``, ``name_<k>``)
    batch = batch.rename_columns(list(unique_names(batch.schema.names)))
    df = cast("pl.DataFrame", pl.from_arrow(batch))
    fixes = [
        e.alias(name)
        for name, dtype in df.schema.items()
        if (e := _fixed(pl.col(name), dtype)) is not None
    ]
    floats = [name for name, dtype in df.schema.items() if dtype.is_float()]
    if floats:
        flags = df.select((~pl.col(floats).is_finite()).any()).row(0)
        fixes += [pl.col(c).cast(pl.String) for c, bad in zip(floats, flags, strict=True) if bad]
    if fixes:
        df = df.with_columns(fixes)
    out = io.BytesIO()
    df.write_ndjson(out)
    lines = out.getvalue().split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    if len(lines) != n:
        raise InputError(f"Parquet batch of {n} rows gave {len(lines)} JSON lines")
    lens = np.fromiter(map(len, lines), dtype=np.int64, count=n)
    for i in np.flatnonzero(lens > max_bytes).tolist():
        lines[i] = lines[i][: max_bytes + 1]
    return lines


def _guarded(step: str, error: BaseException) -> InputError:
    return InputError(f"cannot {step} the Parquet file: {error}".strip())


class ParquetFormat:
    """A Parquet file; each row becomes one record, its JSON text."""

    name = "parquet"

    def decode(self, batch: RawBatch, contract: Contract) -> pl.DataFrame:
        return with_record_fields(decode_json(batch.payloads, contract).frame, batch, contract)

    def read(self, file: BinaryIO, chunk_records: int, max_bytes: int) -> Iterator[RecordChunk]:
        return self.read_from(file, chunk_records, max_bytes, 0)

    def read_from(
        self, file: BinaryIO, chunk_records: int, max_bytes: int, start: int
    ) -> Iterator[RecordChunk]:
        """Like ``read``, from row ``start`` on (earlier rows are neither read nor converted)."""
        try:
            pf = pq.ParquetFile(file)
            meta = pf.metadata
            sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        except _ARROW_ERRORS as exc:
            raise InputError(
                f"not a readable Parquet file: {exc}",
                hint="check the file is complete Parquet (not truncated, not another format)",
            ) from exc
        seq, first = 0, 0
        while first < len(sizes) and seq + sizes[first] <= start:
            seq += sizes[first]
            first += 1
        if first == len(sizes):
            return
        batches = pf.iter_batches(batch_size=chunk_records, row_groups=range(first, len(sizes)))
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except _ARROW_ERRORS as exc:
                raise _guarded("read", exc) from exc
            if seq + batch.num_rows <= start:
                seq += batch.num_rows
                continue
            if seq < start:
                batch = batch.slice(start - seq)
                seq = start
            try:
                lines = _json_lines(batch, max_bytes)
            except InputError:
                raise
            except _ARROW_ERRORS as exc:
                raise _guarded("convert", exc) from exc
            except BaseException as exc:  # a Polars panic (pyo3) on an unsupported type
                if type(exc).__name__ != "PanicException":
                    raise
                raise _guarded("convert", exc) from None
            if lines:
                yield RecordChunk(seq, cast("list[bytes | None]", lines))
            seq += batch.num_rows


FORMAT = ParquetFormat()
