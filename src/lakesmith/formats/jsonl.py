"""The ``jsonl`` format: a file of JSON lines, streamed in blocks; each line is a record
decoded like ``json`` (``formats.json.decode_json``).

``read`` reads fixed-size blocks (8 MiB) and splits them with ``bytes.split`` (C speed);
the partial last line of a block is carried into the next one. Memory stays about one
block plus one record:

- ``seq`` is the physical line index (0-based), so it never depends on the block size;
  blank lines (empty or whitespace only) use their seq but are not delivered;
- ``\\r\\n`` line ends are accepted (the ``\\r`` is dropped), and a UTF-8 byte order mark
  at the start of the file is skipped;
- a line longer than ``max_bytes`` is delivered truncated to ``max_bytes + 1`` bytes, so it
  is quarantined as ``payload_too_large``; the rest of the line is skipped while reading,
  never held in memory, however long the line is.

``split_records`` and ``chunked`` are shared with the ``csv`` format, whose records may
span lines (newlines inside double quotes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import compress, pairwise
from typing import BinaryIO, TypeVar, cast

import numpy as np
import polars as pl

from lakesmith.contracts.model import Contract
from lakesmith.core.records import RawBatch
from lakesmith.formats.base import Columns, RecordChunk, with_record_fields
from lakesmith.formats.json import decode_json
from lakesmith.formats.jsonl_columns import line_runs

BLOCK_BYTES = 8 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_QUOTE = ord('"')
_WINDOW = 1024  # lines examined at once while grouping quoted records (doubles while clean)
T = TypeVar("T")
_WS_LINE = re.compile(rb"\n[ \t\f\v\r]+(?:\n|$)")  # a line of whitespace (or a CRLF blank)


def _group_quoted(buf: bytes, lines: list[bytes], max_bytes: int) -> tuple[list[bytes], bytes]:
    """Group the lines of ``buf`` into CSV records: a newline inside double quotes (odd
    number of quotes before it in the record) does not end the record.

    Returns the complete records and the open record at the end of ``buf``. A record that
    would be longer than ``max_bytes`` across lines (typically a stray quote) is cut at
    its first newline, and the next line starts a new record: one bad quote costs one
    record, not the rest of the file.
    """
    last = len(lines) - 1  # lines[last] is the partial line at the end of the block
    lens = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))
    starts = np.zeros(len(lines), dtype=np.int64)
    np.cumsum(lens[:-1] + 1, out=starts[1:])
    ends = starts + lens
    qpos = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == _QUOTE)
    odd = ((np.searchsorted(qpos, ends) - np.searchsorted(qpos, starts)) & 1).astype(bool)
    if not odd[:last].any():  # no newline inside quotes: every complete line is a record
        return lines[:last], lines[last]

    closes = np.zeros(len(lines), dtype=bool)  # line i ends a record
    pos, window = 0, _WINDOW  # pos: first line of the open record
    while pos < last:
        hi = min(pos + window, last)
        e = np.flatnonzero((np.cumsum(odd[pos:hi]) & 1) == 0) + pos  # lines ending a record
        if e.size:
            rs = np.empty_like(e)
            rs[0] = pos
            rs[1:] = e[:-1] + 1
            over = np.flatnonzero((ends[e] - starts[rs] > max_bytes) & (e > rs))
            if over.size:  # a multi-line record too long: cut it at its first newline
                k = int(over[0])
                closes[e[:k]] = True
                cut = int(rs[k])
                closes[cut] = True
                pos, window = cut + 1, _WINDOW
                continue
            closes[e] = True
            pos = int(e[-1]) + 1
        else:
            open_end = len(buf) if hi == last else int(ends[hi - 1])
            if open_end - int(starts[pos]) > max_bytes:
                closes[pos] = True
                pos, window = pos + 1, _WINDOW
                continue
            if hi == last:
                break
        window *= 2
    # The open record is lines pos..last (checked above against max_bytes, tail included).
    return _assemble(buf, lines, starts, ends, closes, pos), buf[int(starts[pos]) :]


def _assemble(
    buf: bytes,
    lines: list[bytes],
    starts: np.ndarray,
    ends: np.ndarray,
    closes: np.ndarray,
    stop: int,
) -> list[bytes]:
    """The records of lines ``[0, stop)``, ``closes`` marking each record's last line
    (``starts``/``ends``: the lines' byte offsets in ``buf``)."""
    last = np.flatnonzero(closes[:stop])
    if last.size == stop:  # one line per record
        return lines[:stop]
    first = np.zeros_like(last)
    first[1:] = last[:-1] + 1
    lines = lines[:stop]
    multi = last > first
    spans = zip(
        first[multi].tolist(),
        starts[first[multi]].tolist(),
        ends[last[multi]].tolist(),
        strict=True,
    )
    for i, a, b in spans:  # a record over several lines is one slice of the block
        lines[i] = buf[a:b]
    keep = np.zeros(stop, dtype=bool)
    keep[first] = True
    return list(compress(lines, keep.tolist()))


def _normalise(records: list[bytes], buf: bytes, max_bytes: int, blank_ws: bool) -> list[bytes]:
    """Drop a trailing ``\\r``, blank whitespace-only lines, truncate oversized records."""
    if not records:
        return records
    if b"\r" in buf:
        records = [r[:-1] if r[-1:] == b"\r" else r for r in records]
    if blank_ws and (_WS_LINE.search(buf) or records[0][:1].isspace()):
        # (an oversized line is never blank: it is delivered, truncated, wherever it ends)
        records = [r if r.strip() or len(r) > max_bytes else b"" for r in records]
    lens = np.fromiter(map(len, records), dtype=np.int64, count=len(records))
    for i in np.flatnonzero(lens > max_bytes).tolist():
        records[i] = records[i][: max_bytes + 1]
    return records


def split_records(
    file: BinaryIO,
    max_bytes: int,
    *,
    quoted: bool = False,
    blank_whitespace: bool = False,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[tuple[int, list[bytes]]]:
    """The records of ``file`` in order, block by block, as ``(seq of the first, records)``.

    A record ends at a newline; with ``quoted`` (CSV) only at a newline outside double
    quotes, as long as the record stays within ``max_bytes`` (see ``_group_quoted``).
    Blank records are ``b""`` (they use a seq; callers skip them). Records longer than
    ``max_bytes`` are truncated to ``max_bytes + 1`` bytes; the rest of such a line is
    skipped without being held in memory.
    """
    for seq, records, _ in split_blocks(
        file, max_bytes, quoted=quoted, blank_whitespace=blank_whitespace, block_bytes=block_bytes
    ):
        yield seq, records


def split_blocks(
    file: BinaryIO,
    max_bytes: int,
    *,
    quoted: bool = False,
    blank_whitespace: bool = False,
    block_bytes: int = BLOCK_BYTES,
    fast: Callable[[bytes], tuple[T, int] | None] | None = None,
    fast_last: bool = False,
    fast_view: bool = False,
) -> Iterator[tuple[int, list[bytes], T | None]]:
    """``split_records``, with a fast path: ``fast(lines)`` is first offered the complete
    lines of each block (the newline after the last one excluded) and may take them all
    at once, returning ``(its result, the number of records)`` — then ``(seq, [], result)``
    is yielded — or decline (None: a block it cannot read exactly as the records would be
    split, e.g. with a blank line or a newline inside quotes) and they are split here.
    ``fast_last``: the last line of a file without a final newline is offered too;
    ``fast_view``: the lines are offered as a memoryview of the block (not copied)."""
    seq = 0
    carry = b""
    skipping = False  # discarding the rest of an oversized line
    first = True
    while True:
        data = file.read(block_bytes)
        if not data:
            break
        if first:
            first = False
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
        if skipping:
            k = data.find(b"\n")
            if k < 0:
                continue
            data = data[k + 1 :]
            skipping = False
        buf = carry + data if carry else data
        if fast is not None:
            cut = buf.rfind(b"\n")
            taken = None
            if cut > 0 and len(buf) - cut - 1 <= max_bytes:
                # a view for a fast path that reads the lines with NumPy only (jsonl_columns)
                taken = fast(cast("bytes", memoryview(buf)[:cut]) if fast_view else buf[:cut])
            if taken is not None:
                carry = buf[cut + 1 :]
                yield seq, [], taken[0]
                seq += taken[1]
                continue
        lines = buf.split(b"\n")
        if quoted and b'"' in buf:
            records, carry = _group_quoted(buf, lines, max_bytes)
        else:
            carry = lines.pop()
            records = lines
        records = _normalise(records, buf, max_bytes, blank_whitespace)
        if len(carry) > max_bytes + 1:  # a partial line already too long (+1: its \r)
            records.append(carry[: max_bytes + 1])
            carry = b""
            skipping = True
        if records:
            yield seq, records, None
            seq += len(records)
    if carry:  # the last record has no newline
        taken = fast(carry) if fast is not None and fast_last and not skipping else None
        if taken is not None:
            yield seq, [], taken[0]
        else:
            yield seq, _normalise([carry], carry, max_bytes, blank_whitespace), None


def chunked(
    first_seq: int, records: list[bytes], chunk_records: int, context: bytes | None = None
) -> Iterator[RecordChunk]:
    """``RecordChunk``s of at most ``chunk_records`` consecutive non-blank records."""
    n = len(records)
    if all(records):
        runs = [(0, n)]
    else:
        blank = np.flatnonzero(np.fromiter(map(len, records), dtype=np.int64, count=n) == 0)
        bounds = [-1, *blank.tolist(), n]
        runs = [(a + 1, b) for a, b in pairwise(bounds) if b > a + 1]
    for a, b in runs:
        for i in range(a, b, chunk_records):
            part = cast("list[bytes | None]", records[i : min(i + chunk_records, b)])
            yield RecordChunk(first_seq + i, part, context)


class JsonlFormat:
    """A file of JSON lines; each non-blank line is one ``json`` record."""

    name = "jsonl"
    # a batch may gather the ``read_columns`` runs of several streams (objects, files):
    # its columns are the records' bytes, whatever stream they come from
    columns_span_streams = True

    def decode(self, batch: RawBatch, contract: Contract) -> pl.DataFrame:
        return with_record_fields(decode_json(batch.payloads, contract).frame, batch, contract)

    def decode_columns(self, batch: RawBatch, contract: Contract) -> pl.DataFrame:
        """Records read by ``read_columns``: their bytes (``record_payloads``) decoded."""
        payloads = batch.record_payloads
        if payloads is None:
            raise ValueError("decode_columns needs records read as columns")
        lines = cast("list[bytes | None]", payloads.to_list())
        return with_record_fields(decode_json(lines, contract).frame, batch, contract)

    def read(self, file: BinaryIO, chunk_records: int, max_bytes: int) -> Iterator[RecordChunk]:
        for seq, records in split_records(file, max_bytes, blank_whitespace=True):
            yield from chunked(seq, records, chunk_records)

    def read_columns(
        self, file: BinaryIO, chunk_records: int, max_bytes: int
    ) -> Iterator[RecordChunk]:
        """``read``, with the lines of clean blocks as views of the block
        (``formats.jsonl_columns``): the same records, seqs and chunk sizes."""
        blocks = split_blocks(
            file,
            max_bytes,
            blank_whitespace=True,
            fast=lambda lines: line_runs(lines, max_bytes),
            fast_last=True,
            fast_view=True,
        )
        for seq, records, runs in blocks:
            if runs is None:
                yield from chunked(seq, records, chunk_records)
                continue
            for first, lines in runs:
                for i in range(0, lines.len(), chunk_records):
                    part = lines.slice(i, chunk_records)
                    columns = Columns(part.to_frame(), part, self.name)
                    yield RecordChunk(seq + first + i, [], None, columns)


FORMAT = JsonlFormat()
