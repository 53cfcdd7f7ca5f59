"""Clean CSV blocks read column by column: the fast path of the ``csv`` format.

``read_columns`` splits a file like ``CsvFormat.read`` (same records, same seqs) but
offers every 8 MiB block of complete lines to ``columnar_block`` first. A block is
*clean* when each of its lines is one record that decodes without error: no blank line,
no newline inside quotes (every line holds an even number of ``"``), no NUL byte, no
``\\r`` but at a line end, no line over ``max_bytes``, and every line has the header's
number of fields (outside quotes). Such a block is parsed by ``pl.read_csv`` at once,
straight from the file's bytes, into one String column per header column, and its
records' raw bytes (bronze's ``_payload``: the line without its ``\\r\\n``) become one
Arrow binary array by a NumPy mask over the block — no Python object per record. Any
other block (and the header's) goes through the precise record-by-record path
(``formats.csv``), so a ragged row or a bad quote ends in quarantine with its row number
exactly as before; only the blocks around it are read slowly.

``decode_columns`` maps such columns to the contract's fields like ``decode_csv`` does
(the same header matching, number cleaning and JSON paths).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa

from lakesmith.contracts.model import Contract
from lakesmith.core.records import RawBatch
from lakesmith.formats.base import PARSE_DETAIL, PARSE_ERROR, Columns, RecordChunk
from lakesmith.formats.csv_columns import (
    HeaderFinder,
    extended_names,
    field_columns,
    field_counts,
    header_names,
    map_columns,
    sniff_delimiter,
)
from lakesmith.formats.jsonl import chunked, split_blocks

_NL, _CR, _QUOTE = ord("\n"), ord("\r"), ord('"')


def columnar_block(lines: bytes, header: bytes, max_bytes: int) -> tuple[Columns, int] | None:
    """The records of ``lines`` (complete lines, no final newline) as columns, or None
    when the block is not clean (see the module)."""
    if not lines or lines.find(b"\x00") != -1:
        return None
    width = len(header_names(header))
    if width == 0:
        return None
    delimiter = sniff_delimiter(header)
    arr = np.frombuffer(lines, dtype=np.uint8)
    nl = np.flatnonzero(arr == _NL)
    n = nl.size + 1
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = nl + 1
    ends = np.empty(n, dtype=np.int64)
    ends[:-1] = nl
    ends[-1] = arr.size
    drop = nl  # bytes that are not part of a record
    if lines.find(b"\r") != -1:
        cr = np.flatnonzero(arr == _CR)
        at_end = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == _CR)
        if int(np.count_nonzero(at_end)) != cr.size:
            return None  # a \r inside a record
        ends = ends - at_end
        drop = np.sort(np.concatenate([nl, cr]))
    lens = ends - starts
    if not lens.all() or int(lens.max()) > max_bytes:
        return None
    if lines.find(b'"') != -1:
        qpos = np.flatnonzero(arr == _QUOTE)
        if ((np.searchsorted(qpos, ends) - np.searchsorted(qpos, starts)) & 1).any():
            return None
        if (field_counts(arr, starts, ends, delimiter) != width).any():
            return None
    elif lines.count(bytes([delimiter])) != n * (width - 1):
        # (no quotes: a row with too many fields fails the parse below, so the right
        # total means no row has too few)
        return None
    try:
        frame = pl.read_csv(
            lines,
            has_header=False,
            separator=chr(delimiter),
            schema={f"c{i}": pl.String() for i in range(width)},
            quote_char='"',
            raise_if_empty=False,
            truncate_ragged_lines=False,
        )
    except pl.exceptions.PolarsError:  # invalid UTF-8, a quote Polars reads otherwise …
        return None
    if frame.height != n:
        return None
    keep = np.ones(arr.size, dtype=bool)
    keep[drop] = False
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lens, out=offsets[1:])
    data = pa.py_buffer(arr[keep])
    binary = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), data])
    payloads = pl.Series("_payload", binary)
    return Columns(frame, payloads, "csv"), n


def read_columns(
    file: BinaryIO, chunk_records: int, max_bytes: int, block_bytes: int
) -> Iterator[RecordChunk]:
    """``CsvFormat.read`` with clean blocks delivered as ``Columns`` (same seqs)."""
    header: bytes | None = None
    base = 0  # physical record index of the first data row

    def fast(lines: bytes) -> tuple[Columns, int] | None:
        return columnar_block(lines, header, max_bytes) if header is not None else None

    finder = HeaderFinder(max_bytes)
    blocks = split_blocks(file, max_bytes, quoted=True, block_bytes=block_bytes, fast=fast)
    for seq, records, columns in blocks:
        if columns is not None:
            for i in range(0, columns.frame.height, chunk_records):
                yield RecordChunk(seq - base + i, [], header, columns.slice(i, chunk_records))
            continue
        if header is None:
            found = finder.feed(seq, records)
            if found is None:
                continue  # blank lines or a preamble before the header
            header, base, records = found
            seq = base
        yield from chunked(seq - base, records, chunk_records, header)


def decode_columns(batch: RawBatch, contract: Contract) -> pl.DataFrame:
    """The contract's field texts from a batch of clean CSV columns (``c0``, ``c1``, …
    in header order; the header in ``batch.context``), parse errors null."""
    frame = batch.records
    assert frame is not None
    (stream,) = batch.streams.values()
    header = batch.context[stream]
    fields = contract.fields
    names = extended_names(header_names(header), fields)
    if len(names) != frame.width:  # the contract reads fields past the header's: none here
        message = f"expected {len(names)} fields, found {frame.width}"
        return pl.select(
            *[pl.repeat(None, frame.height, dtype=pl.String).alias(f.name) for f in fields],
            pl.repeat("invalid_csv", frame.height, dtype=pl.String).alias(PARSE_ERROR),
            pl.repeat(message, frame.height, dtype=pl.String).alias(PARSE_DETAIL),
        )
    columns = field_columns(fields, map_columns(names, fields), sniff_delimiter(header))
    none = pl.lit(None, pl.String)
    return frame.select(*columns, none.alias(PARSE_ERROR), none.alias(PARSE_DETAIL))
