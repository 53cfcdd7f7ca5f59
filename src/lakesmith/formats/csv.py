"""The ``csv`` format: each CSV row is a record (its raw text); decoded in bulk by Polars.

Reading a file (``read``), streamed in 8 MiB blocks like ``jsonl``:

- the first non-blank row is the header; it travels with every chunk as
  ``RecordChunk.context`` (sources put it in ``RawBatch.context[stream]``);
- ``seq`` is the data row index (0-based, header excluded); blank rows use their seq
  but are not delivered;
- rows are split on newlines outside double quotes (RFC 4180), found with numpy (quote
  counts per line, parity by cumulative sum), never with a per-byte Python loop. A row
  that would span more than ``max_bytes`` across lines (a stray quote, typically) is cut
  at its first newline, so one bad quote costs one row, not the rest of the file;
- rows longer than ``max_bytes`` are delivered truncated to ``max_bytes + 1`` bytes.

Decoding (``decode``): the rows of each header are joined into one buffer and parsed by
``pl.read_csv`` (every column String). Rows that arrive without a header (CSV lines as
Kafka messages) are read as if the header were the ``source_path[0]`` of every contract
field, in contract order. A contract field reads the column named by its path (``path``
or ``name``): an exact match first, else a case-insensitive match ignoring surrounding
spaces (the first such column wins); a dotted path whose full name is not a column reads
its first part and extracts the rest from that column's JSON text. Missing columns are
null; empty fields are null (a quoted ``""`` is an empty string).

Files as exports write them: the delimiter is sniffed from the header (``, ; TAB |``,
the one found most often outside quotes); a UTF-8 BOM and CRLF line ends are accepted;
the text of number and boolean fields is stripped of padding (``"  50"``) and, in
``;``-separated files, a decimal comma becomes a point. Rows with more fields than the
header names are read through ``column_<k>`` fields (1-based, past the named columns),
which contract inference adds when the sampled rows are that wide.

Bad rows become per-row errors (``invalid_csv``, ``payload_too_large``) and every good
row still decodes. The screening is in bulk too: sizes, ``\\r``, NUL bytes and unbalanced
quotes up front; a sentinel field appended to each row catches rows with too few fields;
rows with too many fail the parse (with quotes, when every column is parsed) or show in
the total comma count (without quotes, when only the contract's columns are parsed);
rows a parse rejects (too many fields, invalid UTF-8, …) are found by a per-row field
count outside quotes and UTF-8 screening in chunks, whatever remains by bisection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO, cast

import numpy as np
import polars as pl

from lakesmith.contracts.model import Contract
from lakesmith.core.records import RawBatch
from lakesmith.formats.base import PARSE_DETAIL, PARSE_ERROR, RecordChunk, with_record_fields
from lakesmith.formats.csv_columns import (
    HeaderFinder,
    extended_names,
    field_columns,
    field_counts,
    header_names,
    map_columns,
    sniff_delimiter,
)
from lakesmith.formats.jsonl import BLOCK_BYTES, chunked, split_records

Errors = dict[int, tuple[str, str]]  # row index → (rule id, message); bad rows only

_SENTINEL = b"~"
_SEP = b"," + _SENTINEL + b"\n"  # appended to every row: too few fields → sentinel missing
_QUOTE, _COMMA, _CR, _NUL = ord('"'), ord(","), ord("\r"), 0


def sep_of(delimiter: int) -> bytes:
    """What ends every row in the joined buffer: the delimiter, the sentinel, a newline."""
    return bytes([delimiter]) + _SENTINEL + b"\n"


_UTF8_CHUNK = 4096  # rows validated per UTF-8 decode call in the error path


def _invalid(message: str) -> tuple[str, str]:
    return ("invalid_csv", message)


def _offsets(lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start/end of each row in ``_SEP.join(rows)``."""
    starts = np.zeros(len(lens), dtype=np.int64)
    if len(lens) > 1:
        np.cumsum(lens[:-1] + len(_SEP), out=starts[1:])
    return starts, starts + lens


def _rows_of(positions: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[int]:
    """Rows containing the byte ``positions`` (separator bytes excluded)."""
    rows = np.searchsorted(starts, positions, side="right") - 1
    inside = positions < ends[rows]
    return [int(r) for r in np.unique(rows[inside])]


class _Rows:
    """The rows of one header being screened, joined as ``row,~\\n`` for Polars."""

    def __init__(
        self, rows: Sequence[bytes | None], width: int, max_bytes: int, delimiter: int = _COMMA
    ) -> None:
        self.width = width
        self.delimiter = delimiter
        self.sep = sep_of(delimiter)
        self.placeholder = bytes([delimiter]) * (
            width - 1
        )  # a well-formed row (all null) for bad ones
        self.errors: Errors = {}
        self.rows = cast("list[bytes]", list(rows))
        if None in self.rows:
            for i, r in enumerate(rows):
                if r is None:
                    self.errors[i] = _invalid("empty message (no value)")
                    self.rows[i] = b""
        lens = np.fromiter(map(len, self.rows), dtype=np.int64, count=len(self.rows))
        for i in np.flatnonzero(lens > max_bytes).tolist():
            self.errors[i] = (
                "payload_too_large",
                f"row is {lens[i]} bytes; the limit is {max_bytes}",
            )
        for i in np.flatnonzero(lens == 0).tolist():
            self.errors.setdefault(i, _invalid("empty row"))
        self.join()

    def join(self) -> None:
        for i in self.errors:
            self.rows[i] = self.placeholder
        self.buf = self.sep.join(self.rows) + self.sep[:-1]
        self.arr = np.frombuffer(self.buf, dtype=np.uint8)
        lens = np.fromiter(map(len, self.rows), dtype=np.int64, count=len(self.rows))
        self.starts, self.ends = _offsets(lens)
        self.lens = lens

    def screen(self) -> None:
        """Bulk checks before parsing: trailing ``\\r``, NUL bytes, unbalanced quotes."""
        changed = False
        if self.buf.find(b"\r") != -1:
            has = self.lens > 0
            last = np.zeros(len(self.rows), dtype=np.uint8)
            last[has] = self.arr[self.ends[has] - 1]
            for i in np.flatnonzero(last == _CR).tolist():
                self.rows[i] = self.rows[i][:-1]
                if not self.rows[i]:
                    self.errors.setdefault(i, _invalid("empty row"))
                changed = True
        if self.buf.find(b"\x00") != -1:
            for i in _rows_of(np.flatnonzero(self.arr == _NUL), self.starts, self.ends):
                self.errors.setdefault(i, _invalid("row contains a NUL byte"))
                changed = True
        if self.buf.find(b'"') != -1:
            qpos = np.flatnonzero(self.arr == _QUOTE)
            q = np.searchsorted(qpos, self.ends) - np.searchsorted(qpos, self.starts)
            for i in np.flatnonzero(q & 1).tolist():
                if i not in self.errors:
                    self.errors[i] = _invalid(
                        "unbalanced double quotes (a quoted field is not closed)"
                    )
                    changed = True
        if changed:
            self.join()

    def screen_after_failure(self) -> bool:
        """Locate rows Polars may have rejected: invalid UTF-8, wrong field counts."""
        before = len(self.errors)
        mv = memoryview(self.buf)
        n = len(self.rows)
        for a in range(0, n, _UTF8_CHUNK):
            b = min(a + _UTF8_CHUNK, n)
            try:
                str(mv[int(self.starts[a]) : int(self.ends[b - 1])], "utf-8")
                continue
            except UnicodeDecodeError:
                pass
            for i in range(a, b):
                try:
                    self.rows[i].decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.errors.setdefault(
                        i,
                        _invalid(
                            f"row is not valid UTF-8: {exc.reason} (another encoding? set "
                            "payload.encoding, e.g. cp1252 or utf-16)"
                        ),
                    )
        self.count_fields()
        if len(self.errors) == before:
            return False
        self.join()
        return True

    def count_fields(self) -> None:
        """Flag the rows whose field count (outside quotes) is not the header's."""
        counts = field_counts(self.arr, self.starts, self.ends, self.delimiter)
        for i in np.flatnonzero(counts != self.width).tolist():
            self.errors.setdefault(
                i, _invalid(f"expected {self.width} fields, found {int(counts[i])}")
            )


def _schema(width: int) -> dict[str, pl.DataType]:
    return {f"c{i}": pl.String() for i in range(width + 1)}  # + the sentinel column


def _parse(buf: bytes, width: int, project: list[int], delimiter: int = _COMMA) -> pl.DataFrame:
    return pl.read_csv(
        buf,
        has_header=False,
        separator=chr(delimiter),
        schema=_schema(width),
        columns=project,
        quote_char='"',
        raise_if_empty=False,
        truncate_ragged_lines=False,
    )


def _try_parse(
    buf: bytes, n: int, width: int, project: list[int], delimiter: int = _COMMA
) -> pl.DataFrame | None:
    """The parsed rows, or None when Polars fails or finds another number of rows."""
    try:
        df = _parse(buf, width, project, delimiter)
    except pl.exceptions.PolarsError:
        return None
    return df if df.height == n else None


def _parse_lines(
    rows: list[bytes], width: int, project: list[int], delimiter: int = _COMMA
) -> tuple[pl.DataFrame, dict[int, str]]:
    """Parse rows; those Polars cannot read are isolated by bisection."""
    names = [f"c{i}" for i in project]
    if not rows:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.String())), {}
    try:
        sep = sep_of(delimiter)
        df = _parse(sep.join(rows) + sep[:-1], width, project, delimiter)
        if df.height == len(rows):
            return df, {}
        message = "the row's quoting does not match its line breaks"
    except pl.exceptions.PolarsError as exc:
        message = str(exc).split("\n")[0]
    if len(rows) == 1:
        return pl.DataFrame([dict.fromkeys(names)], schema=dict.fromkeys(names, pl.String())), {
            0: message
        }
    mid = len(rows) // 2
    left, lbad = _parse_lines(rows[:mid], width, project, delimiter)
    right, rbad = _parse_lines(rows[mid:], width, project, delimiter)
    return pl.concat([left, right]), {**lbad, **{i + mid: e for i, e in rbad.items()}}


def _decode_group(
    rows: Sequence[bytes | None], header: bytes | None, contract: Contract
) -> tuple[pl.DataFrame, Errors]:
    """Field texts of rows that share one header (None: contract order), in order."""
    fields = contract.fields
    n = len(rows)
    names = header_names(header) if header is not None else [f.source_path[0] for f in fields]
    names = extended_names(names, fields)
    delimiter = sniff_delimiter(header) if header is not None else _COMMA
    width = len(names)
    sources = map_columns(names, fields)
    if width == 0:
        frame = pl.DataFrame([pl.Series(f.name, [None] * n, dtype=pl.String) for f in fields])
        return frame, dict.fromkeys(range(n), _invalid("the CSV header has no columns"))
    screened = _Rows(rows, width, contract.payload.max_bytes, delimiter)
    screened.screen()
    # Polars fails on a row with too many fields unless the columns are projected (then it
    # drops the extra fields silently). Without quotes, the comma total finds such rows for
    # free, so only the needed columns are parsed; with quotes, every column is.
    quoted = screened.buf.find(b'"') != -1
    used = {s[0] for s in sources if s is not None}
    project = list(range(width + 1)) if quoted else sorted(used | {width})
    parsed = _try_parse(screened.buf, n, width, project, delimiter)
    if parsed is None and screened.screen_after_failure():
        parsed = _try_parse(screened.buf, n, width, project, delimiter)
    if parsed is None:  # something else Polars rejects: isolate it by bisection
        parsed, unreadable = _parse_lines(screened.rows, width, project, delimiter)
        for i, msg in unreadable.items():
            screened.errors.setdefault(i, _invalid(f"not valid CSV: {msg}"))
    frame = parsed
    sentinel = frame[f"c{width}"]
    short = (sentinel != _SENTINEL.decode()).fill_null(True)
    if short.any() or (not quoted and screened.buf.count(bytes([delimiter])) != n * width):
        # Too few fields leave the sentinel column empty; too many fields (unquoted rows)
        # show in the comma total: count per row, outside quotes, to name them.
        screened.count_fields()
        for i in np.flatnonzero(short.to_numpy()).tolist():
            screened.errors.setdefault(i, _invalid(f"cannot split the row into {width} fields"))
    errors = screened.errors
    if errors:
        bad = np.zeros(n, dtype=bool)
        bad[list(errors)] = True
        frame = frame.with_columns(pl.Series("_bad", bad))
    return frame.select(field_columns(fields, sources, delimiter, bool(errors))), errors


def decode_csv(batch: RawBatch, contract: Contract) -> pl.DataFrame:
    """One String column per contract field + parse errors, one row per record, in order."""
    payloads = batch.payloads
    n = len(payloads)
    header_of = {sid: batch.context.get(name) for sid, name in batch.streams.items()}
    headers = set(header_of.values())
    if len(headers) <= 1 or len(batch.stream_ids) != n:
        header = next(iter(headers)) if len(headers) == 1 else None
        frame, errors = _decode_group(payloads, header, contract)
    else:
        sids = np.asarray(batch.stream_ids, dtype=np.int64)
        parts: list[pl.DataFrame] = []
        order: list[np.ndarray] = []
        errors = {}
        for h in headers:
            idx = np.flatnonzero(np.isin(sids, [s for s, x in header_of.items() if x == h]))
            part, part_errors = _decode_group([payloads[i] for i in idx.tolist()], h, contract)
            parts.append(part)
            order.append(idx)
            errors.update({int(idx[i]): e for i, e in part_errors.items()})
        perm = np.concatenate(order)
        inverse = np.empty(n, dtype=np.int64)
        inverse[perm] = np.arange(n)
        frame = pl.concat(parts)[inverse]
    err_ids = pl.Series(PARSE_ERROR, [None] * n, dtype=pl.String)
    err_msgs = pl.Series(PARSE_DETAIL, [None] * n, dtype=pl.String)
    if errors:
        idx_list = list(errors)
        err_ids = err_ids.scatter(idx_list, [errors[i][0] for i in idx_list])
        err_msgs = err_msgs.scatter(idx_list, [errors[i][1] for i in idx_list])
    return frame.with_columns(err_ids, err_msgs)


class CsvFormat:
    """A CSV file with a header row; each data row is one record (its raw text)."""

    name = "csv"

    def decode(self, batch: RawBatch, contract: Contract) -> pl.DataFrame:
        return with_record_fields(decode_csv(batch, contract), batch, contract)

    def decode_columns(self, batch: RawBatch, contract: Contract) -> pl.DataFrame:
        from lakesmith.formats.csv_blocks import decode_columns

        return with_record_fields(decode_columns(batch, contract), batch, contract)

    def read_columns(
        self, file: BinaryIO, chunk_records: int, max_bytes: int
    ) -> Iterator[RecordChunk]:
        """``read``, with clean blocks of rows as ``Columns`` (``formats.csv_blocks``)."""
        from lakesmith.formats.csv_blocks import read_columns

        return read_columns(file, chunk_records, max_bytes, BLOCK_BYTES)

    def read(self, file: BinaryIO, chunk_records: int, max_bytes: int) -> Iterator[RecordChunk]:
        header: bytes | None = None
        base = 0  # physical record index of the first data row
        finder = HeaderFinder(max_bytes)
        for seq, records in split_records(file, max_bytes, quoted=True):
            if header is None:
                found = finder.feed(seq, records)
                if found is None:
                    continue  # blank lines or a preamble before the header
                header, base, records = found
                seq = base
            yield from chunked(seq - base, records, chunk_records, header)


FORMAT = CsvFormat()
