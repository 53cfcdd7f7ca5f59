"""The ``json`` format: bulk decoding of JSON payloads into one text column per contract field.

The hot path is Polars' NDJSON reader over the whole batch (~3M rows/s). Polars fails a
whole batch on one malformed line, so the batch is screened first, also in bulk:

1. sizes with ``map(len, …)`` (C speed); empty, missing and oversized payloads are marked;
2. the payloads are joined once into one JSON array and validated by msgspec in chunks of
   4,096 records (one C call per chunk; no Python objects built). When a chunk fails,
   msgspec's error offset names the culprit; it (and its neighbour, since an unterminated
   string can push the error into the next record) is checked alone and the chunk resumes
   after it. Non-standard ``NaN``/``Infinity`` tokens are quoted so such a record fails its
   ``<field>_not_finite`` rule rather than ``invalid_json``;
3. the same buffer becomes the NDJSON input in place: separators turn into newlines and
   bad records into ``{}``.

What msgspec accepts but Polars rejects (invalid UTF-8, out-of-range numbers) is isolated
by bisection, which costs nothing when the batch is clean. Values are decoded as *text*;
typing happens in ``quality.typing``, so ``"temperature": "hot"`` is a precise rule
failure, not a silent null.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, cast

import msgspec
import numpy as np
import polars as pl

from lakesmith.contracts.model import Contract
from lakesmith.core.records import RawBatch
from lakesmith.formats.base import PARSE_DETAIL, PARSE_ERROR, RecordChunk, with_record_fields
from lakesmith.formats.json_array import first_block, split_array

# Non-standard float tokens some firmware emits (Python's json.dumps does).
_NONFINITE = re.compile(rb"(?<=[:\[,])(\s*)(-?(?:NaN|Infinity))(?=\s*[,}\]])")
_RAW = msgspec.json.Decoder(msgspec.Raw)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_BYTE_POS = re.compile(r"\(byte (\d+)\)")
_CHUNK = 4096
_LBRACE, _RBRACE, _SPACE, _NL = ord("{"), ord("}"), ord(" "), ord("\n")


Errors = dict[int, tuple[str, str]]  # row index → (rule id, message); bad rows only

# A record a source makes for input it could not split into records (a truncated gzip
# stream, an empty object): quarantined under ``rule`` with ``message`` (``source_error``).
SOURCE_ERROR = b"\x00lakesmith-source-error "


def source_error(rule: str, message: str) -> bytes:
    """The payload of a record standing for unreadable input (never valid JSON)."""
    return SOURCE_ERROR + f"{rule}: {message}".encode()


@dataclass(frozen=True)
class Decoded:
    """One row per input payload: field texts (null when absent) + parse error columns."""

    frame: pl.DataFrame


def _check_one(p: bytes) -> tuple[bytes | None, tuple[str, str] | None]:
    """Validate one payload alone: ``(NaN-quoted replacement or None, error or None)``."""
    try:
        _RAW.decode(p)
    except RecursionError:  # hostile nesting ([[[[…) deeper than the decoder goes
        return None, _TOO_DEEP
    except msgspec.DecodeError as exc:
        if p.startswith(SOURCE_ERROR):
            rule, _, message = p[len(SOURCE_ERROR) :].decode(errors="replace").partition(": ")
            return None, (rule, message)
        fixed = _NONFINITE.sub(rb'\1"\2"', p)
        try:
            _RAW.decode(fixed)
        except msgspec.DecodeError:
            return None, ("invalid_json", f"not valid JSON: {exc}")
        return (fixed, None) if fixed.lstrip()[:1] == b"{" else (None, _NOT_OBJECT)
    return (None, None) if p.lstrip()[:1] == b"{" else (None, _NOT_OBJECT)


_NOT_OBJECT = ("not_an_object", "payload is valid JSON but not an object")
_TOO_DEEP = ("invalid_json", "not valid JSON: nested too deeply to decode")


@dataclass
class _Screened:
    ndjson: bytes  # one line per payload, bad ones as {}
    errors: Errors
    fixed: dict[int, bytes]  # records that parse only after quoting NaN/Infinity


def _screen(payloads: Sequence[bytes | None], max_bytes: int) -> _Screened:
    n = len(payloads)
    errors: Errors = {}
    plist = list(payloads) if None in payloads else payloads
    if plist is not payloads:
        assert isinstance(plist, list)
        for i, p in enumerate(plist):
            if p is None:
                errors[i] = ("invalid_json", "empty message (no value)")
                plist[i] = b"{}"
    lens = np.fromiter(map(len, plist), dtype=np.int64, count=n)  # type: ignore[arg-type]
    for i in np.flatnonzero((lens > max_bytes) | (lens == 0)).tolist():
        errors[i] = (
            ("payload_too_large", f"payload is {lens[i]} bytes; the limit is {max_bytes}")
            if lens[i]
            else ("invalid_json", "empty payload")
        )
    # ",rec0,rec1,…,recN-1," in one allocation; the commas around a chunk become [ and ].
    buf = bytearray(b",").join([b"", *plist, b""])  # type: ignore[list-item]
    starts = np.empty(n, dtype=np.int64)
    if n:
        starts[0] = 1
        np.cumsum(lens[:-1] + 1, out=starts[1:])
        starts[1:] += 1
    ends = starts + lens
    arr = np.frombuffer(buf, dtype=np.uint8)
    fixed: dict[int, bytes] = {}

    def mark(k: int) -> bool:
        if k in errors or k in fixed:
            return True
        replacement, err = _check_one(plist[k])  # type: ignore[arg-type]
        if err is not None:
            errors[k] = err
        elif replacement is not None:
            fixed[k] = replacement
        return err is not None or replacement is not None

    # Blank oversize/empty records first so they cannot fail the chunk scans.
    for k in list(errors):
        arr[starts[k] : ends[k]] = _SPACE
        if lens[k] >= 2:
            arr[starts[k]], arr[starts[k] + 1] = _LBRACE, _RBRACE
    i = 0
    while i < n:
        j = min(i + _CHUNK, n)
        lo, hi = int(starts[i]) - 1, int(ends[j - 1])  # the bytes around records i..j-1
        saved = arr[lo], arr[hi]
        arr[lo], arr[hi] = ord("["), ord("]")
        try:
            _RAW_LIST.decode(memoryview(buf)[lo : hi + 1])
            i = j
            continue
        except msgspec.DecodeError as exc:
            m = _BYTE_POS.search(str(exc))
            pos = lo + int(m.group(1)) if m else None
        except RecursionError:  # a record nested too deeply: found one by one below
            pos = None
        finally:
            arr[lo], arr[hi] = saved
        r = (
            i
            if pos is None
            else min(max(int(np.searchsorted(starts, pos, side="right")) - 1, i), j - 1)
        )
        culprits = [k for k in (r - 1, r) if k >= i and mark(k)]
        if not culprits:  # cannot localise: check the rest of the chunk one by one
            for k in range(i, j):
                mark(k)
            i = j
            continue
        i = max(culprits) + 1
    # Valid JSON that is not an object (arrays, strings, numbers) passes the scan.
    firsts = arr[starts[lens > 0]] if n else arr[:0]
    for k in np.flatnonzero(lens > 0)[firsts != _LBRACE].tolist():
        mark(k)

    for ch in (b"\r", b"\n"):  # newlines in valid JSON are whitespace (memchr first: rare)
        if buf.find(ch) != -1:
            arr[arr == ch[0]] = _SPACE
    for k in [*errors, *fixed]:
        arr[starts[k] : ends[k]] = _SPACE
        if lens[k] >= 2:
            arr[starts[k]], arr[starts[k] + 1] = _LBRACE, _RBRACE
    if n > 1:
        arr[starts[1:] - 1] = _NL
    short = [k for k in [*errors, *fixed] if lens[k] < 2]
    if short:  # a 0/1-byte record cannot hold "{}": rebuild the lines (rare)
        lines = [
            b"{}" if (k in errors or k in fixed) else bytes(buf[starts[k] : ends[k]])
            for k in range(n)
        ]
        return _Screened(b"\n".join(lines), errors, fixed)
    return _Screened(bytes(memoryview(buf)[1:-1]), errors, fixed)


def _top_level_schema(contract: Contract) -> dict[str, pl.DataType]:
    return {f.source_path[0]: pl.String() for f in contract.fields}


def _read_lines(
    lines: list[bytes], schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, dict[int, str]]:
    """Decode NDJSON lines; rows Polars cannot read are isolated by bisection."""
    if not lines:
        return pl.DataFrame(schema=schema), {}
    try:
        df = pl.read_ndjson(b"\n".join(lines), schema=schema)
        if df.height == len(lines):
            return df, {}
        message = "unreadable line"
    except pl.exceptions.PolarsError as exc:
        message = str(exc).split("\n")[0]
    if len(lines) == 1:
        return pl.DataFrame([dict.fromkeys(schema)], schema=schema), {0: message}
    mid = len(lines) // 2
    left, lbad = _read_lines(lines[:mid], schema)
    right, rbad = _read_lines(lines[mid:], schema)
    return pl.concat([left, right]), {**lbad, **{i + mid: e for i, e in rbad.items()}}


def _read(
    ndjson: bytes, n: int, schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, dict[int, str]]:
    if n == 0:
        return pl.DataFrame(schema=schema), {}
    try:
        df = pl.read_ndjson(ndjson, schema=schema)
        if df.height == n:
            return df, {}
    except pl.exceptions.PolarsError:
        pass
    return _read_lines(ndjson.split(b"\n"), schema)


def decode_json(payloads: Sequence[bytes | None], contract: Contract) -> Decoded:
    """Decode ``payloads`` into one String column per contract field, in input order."""
    screened = _screen(payloads, contract.payload.max_bytes)
    errors = screened.errors
    schema = _top_level_schema(contract)
    n = len(payloads)
    top, unreadable = _read(screened.ndjson, n, schema)
    if screened.fixed:
        idx = list(screened.fixed)
        extra, extra_bad = _read_lines([screened.fixed[k] for k in idx], schema)
        top = top.with_columns([top[c].scatter(idx, extra[c]) for c in schema])
        unreadable.update({idx[i]: e for i, e in extra_bad.items()})
    for i, msg in unreadable.items():
        errors[i] = ("invalid_json", f"not valid JSON: {msg}")

    columns: list[pl.Expr] = []
    for f in contract.fields:
        head, *rest = f.source_path
        expr = pl.col(head)
        if rest:
            expr = expr.str.json_path_match("$." + ".".join(rest))
        columns.append(expr.alias(f.name))
    err_ids = pl.Series(PARSE_ERROR, [None] * n, dtype=pl.String)
    err_msgs = pl.Series(PARSE_DETAIL, [None] * n, dtype=pl.String)
    if errors:
        idx = list(errors)
        err_ids = err_ids.scatter(idx, [errors[i][0] for i in idx])
        err_msgs = err_msgs.scatter(idx, [errors[i][1] for i in idx])
    return Decoded(top.select(columns).with_columns(err_ids, err_msgs))


class JsonFormat:
    """One JSON object per record; as a file: one object, or an array of objects."""

    name = "json"

    def decode(self, batch: RawBatch, contract: Contract) -> pl.DataFrame:
        return with_record_fields(decode_json(batch.payloads, contract).frame, batch, contract)

    def read(self, file: BinaryIO, chunk_records: int, max_bytes: int) -> Iterator[RecordChunk]:
        """An array's elements, streamed (``formats.json_array``); a file holding one
        object is one record (truncated to ``max_bytes + 1`` bytes when larger)."""
        head = first_block(file, _PEEK)
        if head[:1] == b"{":
            data = head + file.read(max(max_bytes + 1 - len(head), 0))
            yield RecordChunk(0, [data[: max_bytes + 1].rstrip()])
            return
        stream = cast("BinaryIO", _Prefixed(head, file))
        for seq, items in split_array(stream, max_bytes):
            for i in range(0, len(items), chunk_records):
                yield RecordChunk(seq + i, list(items[i : i + chunk_records]))


_PEEK = 4096


class _Prefixed(io.RawIOBase):
    """``head`` (already read), then the rest of ``file``."""

    def __init__(self, head: bytes, file: BinaryIO) -> None:
        self._head, self._file = head, file

    def read(self, size: int = -1) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._file.read(size)


FORMAT = JsonFormat()
