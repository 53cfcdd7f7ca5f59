"""A CSV file's columns: the delimiter sniffed from the header, the header's names, the
contract's fields mapped to columns (exact name, then case- and space-folded, then the
outer column of a JSON path; ``column_<k>`` for fields past the header), fields per row
counted outside quotes, and each field's text taken from parsed columns ``c<k>``.

Shared by the precise row path (``formats.csv``) and the columnar block path
(``formats.csv_blocks``)."""

from __future__ import annotations

import csv as _csv
import io
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import polars as pl

from lakesmith.contracts.model import FieldSpec
from lakesmith.core.errors import InputError

Source = tuple[int, tuple[str, ...]] | None  # (column index, JSON path inside it) per field

_QUOTE, _COMMA = ord('"'), ord(",")
DELIMITERS = b",;\t|"  # sniffed from the header: the one outside quotes most often wins
_PLACEHOLDER_COLUMN = re.compile(r"^column_(\d+)$")
_EXCEL_SEP = re.compile(rb"^(?:\xef\xbb\xbf)?sep=[,;\t|]\r?$")  # Excel's delimiter hint line
# Python's csv module refuses a field over 128 KiB by default; what bounds a row here is the
# contract's payload limit (an oversized row is quarantined), not the parser.
_csv.field_size_limit(2**31 - 1)


@lru_cache(maxsize=256)
def sniff_delimiter(header: bytes) -> int:
    """The header's delimiter: of ``, ; TAB |``, the one found most often outside double
    quotes (a comma on ties or when none is found, e.g. a one-column file)."""
    arr = np.frombuffer(header, dtype=np.uint8)
    outside = (np.cumsum(arr == _QUOTE) & 1) == 0
    counts = [int(np.count_nonzero((arr == d) & outside)) for d in DELIMITERS]
    best = max(range(len(DELIMITERS)), key=lambda i: (counts[i], i == 0))
    return DELIMITERS[best] if counts[best] else _COMMA


def unique_names(row: Sequence[str]) -> tuple[str, ...]:
    """Header cells as column names every field can be mapped to: an empty cell is
    ``column_<k>`` (its 1-based position, like fields past the header), and a name seen
    before gets ``_<k>`` (``id,value,value`` → ``id, value, value_3``)."""
    used: set[str] = set()
    out: list[str] = []
    for k, cell in enumerate(row, 1):
        name = cell if cell.strip() else f"column_{k}"
        if name in used:
            name = f"{name}_{k}"
        while name in used:
            name += "_"
        used.add(name)
        out.append(name)
    return tuple(out)


@lru_cache(maxsize=256)
def header_names(header: bytes) -> tuple[str, ...]:
    """The column names of a header row (RFC 4180 quoting; invalid UTF-8 replaced; the
    delimiter sniffed; empty and repeated names made unique by ``unique_names``)."""
    text = header.decode("utf-8", "replace").removeprefix("\ufeff").rstrip("\r\n")
    delimiter = chr(sniff_delimiter(header))
    row = next(_csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
    return unique_names(row)


def extended_names(names: Sequence[str], fields: Sequence[FieldSpec]) -> tuple[str, ...]:
    """``names`` plus ``column_<k>`` placeholders up to the highest ``column_<k>`` a field
    reads that the header does not name (rows with more fields than the header)."""
    known = set(names)
    wanted = [
        int(m.group(1))
        for f in fields
        if (f.path or f.name) not in known and (m := _PLACEHOLDER_COLUMN.match(f.path or f.name))
    ]
    width = max([len(names), *wanted])
    return (*names, *(f"column_{k}" for k in range(len(names) + 1, width + 1)))


def map_columns(names: Sequence[str], fields: Sequence[FieldSpec]) -> list[Source]:
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    for i, name in enumerate(names):
        exact.setdefault(name, i)
        folded.setdefault(name.strip().casefold(), i)

    def find(name: str) -> int | None:
        return exact[name] if name in exact else folded.get(name.strip().casefold())

    out: list[Source] = []
    for f in fields:
        whole = find(f.path or f.name)
        if whole is not None:
            out.append((whole, ()))
            continue
        head, *rest = f.source_path
        outer = find(head) if rest else None
        out.append((outer, tuple(rest)) if outer is not None else None)
    return out


def field_counts(
    arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, delimiter: int = _COMMA
) -> np.ndarray:
    """Fields per row ``arr[starts[i]:ends[i]]`` (commas outside double quotes + 1): comma
    and quote positions by ``flatnonzero``, counted per row by ``searchsorted``; only the
    commas of rows holding quotes are checked for quote parity."""
    cpos = np.flatnonzero(arr == delimiter)
    cs, ce = np.searchsorted(cpos, starts), np.searchsorted(cpos, ends)
    counts = ce - cs
    qpos = np.flatnonzero(arr == _QUOTE)
    if qpos.size:
        qs = np.searchsorted(qpos, starts)
        rows = np.flatnonzero((np.searchsorted(qpos, ends) > qs) & (counts > 0))
        if rows.size:
            k = counts[rows]
            row_of = np.repeat(rows, k)
            first = np.repeat(cs[rows] - (np.cumsum(k) - k), k)
            commas = cpos[first + np.arange(int(k.sum()))]
            inside = (np.searchsorted(qpos, commas) - qs[row_of]) & 1
            counts = counts - np.bincount(row_of, weights=inside, minlength=len(starts)).astype(
                np.int64
            )
    return counts + 1


_DECIMAL_COMMA = r"^([-+]?\d+),(\d+)$"


def cleaned(expr: pl.Expr, f: FieldSpec, delimiter: int) -> pl.Expr:
    """The text of a number or boolean field as exports write it, made typable: padding
    stripped (``"  50"``); in ``;``-separated files (spreadsheet exports in comma-decimal
    locales) a decimal comma becomes a point (``1,5`` → ``1.5``)."""
    expr = expr.str.strip_chars()
    if f.type == "double" and delimiter == ord(";"):
        expr = expr.str.replace(_DECIMAL_COMMA, "${1}.${2}")
    return expr


def field_columns(
    fields: Sequence[FieldSpec], sources: list[Source], delimiter: int, bad: bool = False
) -> list[pl.Expr]:
    """Each field's text from the parsed columns ``c<k>`` (null where ``_bad``)."""
    columns: list[pl.Expr] = []
    for f, src in zip(fields, sources, strict=True):
        if src is None:
            columns.append(pl.lit(None, dtype=pl.String).alias(f.name))
            continue
        expr = pl.col(f"c{src[0]}")
        if src[1]:
            expr = expr.str.json_path_match("$." + ".".join(src[1]))
        elif f.type in ("long", "double", "boolean"):
            expr = cleaned(expr, f, delimiter)
        if bad:
            expr = pl.when(pl.col("_bad")).then(None).otherwise(expr)
        columns.append(expr.alias(f.name))
    return columns


def _after_comments(records: list[bytes], k: int | None) -> int | None:
    """The header's index past a preamble of ``#`` lines (instrument and tool exports write
    one): skipped when the first other line has more fields than the first ``#`` line. A
    header that itself starts with ``#`` (``#id,name``) has as many as that line: kept."""
    if k is None or not records[k].startswith(b"#"):
        return k
    j = next((i for i, r in enumerate(records[k + 1 :], k + 1) if r and r[:1] != b"#"), None)
    if j is None:
        return k
    d = sniff_delimiter(records[j])

    def fields(line: bytes) -> int:
        arr = np.frombuffer(line, dtype=np.uint8)
        one = np.array([0], dtype=np.int64)
        return int(field_counts(arr, one, np.array([len(line)], dtype=np.int64), d)[0])

    return j if fields(records[j]) > fields(records[k]) else k


PREAMBLE_RECORDS = 10_000  # "#" lines held while looking for the header, at most


class HeaderFinder:
    """Finds a file's header in its first blocks of records (``feed`` each block until it
    returns the header): blank lines before it are dropped, and a preamble of ``#`` lines
    is held until the first other line shows whether the header is among them."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._seq = 0
        self._held: list[bytes] = []

    def feed(self, seq: int, records: list[bytes]) -> tuple[bytes, int, list[bytes]] | None:
        """``(header, seq of the first data row, the data rows of what was fed)``, or None
        until the header is found."""
        if not self._held:
            self._seq = seq
        self._held += records
        more = len(self._held) < PREAMBLE_RECORDS
        found = first_header(self._seq, self._held, self.max_bytes, more=more)
        if found is None:
            if not any(self._held):
                self._held = []  # blank lines only: dropped
            return None
        header, base = found
        rows = self._held[base - self._seq :]
        self._held = []
        return header, base, rows


def first_header(
    seq: int, records: list[bytes], max_bytes: int, more: bool = False
) -> tuple[bytes, int] | None:
    """The header row of a file's first block with a non-blank record (None: all blank,
    or — with ``more`` records to come — only ``#`` lines so far) and the physical index
    of the first data row. Raises ``InputError`` for a header over ``max_bytes`` (not a
    CSV file, or a limit set too low)."""
    k = next((i for i, r in enumerate(records) if r), None)
    if k is not None and _EXCEL_SEP.match(records[k]):  # Excel's "sep=;" line: not the header
        k = next((i for i, r in enumerate(records) if r and i > k), None)
    if more and k is not None and all(not r or r[:1] == b"#" for r in records[k:]):
        return None  # a preamble so far: the next block tells
    k = _after_comments(records, k)
    if k is None:
        return None  # blank lines before the header
    header = records[k]
    if len(header) > max_bytes:
        raise InputError(
            f"the CSV header is longer than {max_bytes} bytes",
            hint="raise payload.max_bytes in the contract, or check the file is CSV",
        )
    return header, seq + k + 1
