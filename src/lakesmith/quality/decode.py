"""Bulk JSON decoding of raw payloads into one text column per contract field.

The hot path is Polars' NDJSON reader over the whole batch (~3M rows/s). Polars fails a
whole batch on one malformed line, so a cheap screen runs first: one C call per payload
(msgspec's validating scanner into ``Raw``, ~4M/s; no Python objects are built) picks
out oversized, malformed and non-object payloads. This is the only per-record Python
step in the path, and it exists because no vectorised JSON validator exists for Polars/
Arrow. What msgspec accepts but Polars rejects (invalid UTF-8, out-of-range numbers) is
isolated by bisection, which costs nothing when the batch is clean.

Values are decoded as *text*; typing is done afterwards by ``quality.typing`` so that a
wrong type (``"temperature": "hot"``) is a precise rule failure, not a silent null.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import polars as pl

from lakesmith.contracts.model import Contract

# Non-standard float tokens some firmware emits (Python's json.dumps does): quoted so the
# record parses and the value fails its field's `not_finite` rule instead of `invalid_json`.
_NONFINITE = re.compile(rb"(?<=[:\[,])(\s*)(-?(?:NaN|Infinity))(?=\s*[,}\]])")
_RAW = msgspec.json.Decoder(msgspec.Raw)

PARSE_ERROR = "_parse_error"
PARSE_DETAIL = "_parse_detail"


@dataclass(frozen=True)
class Decoded:
    """One row per input payload: field texts (null when absent) + parse error columns."""

    frame: pl.DataFrame


Errors = dict[int, tuple[str, str]]  # row index → (rule id, message); sparse: bad rows only


def _screen(payloads: Sequence[bytes | None], max_bytes: int) -> tuple[list[bytes], Errors]:
    """Per payload: the bytes to decode (``b"{}"`` placeholder if bad); errors by row."""
    good: list[bytes] = []
    errors: Errors = {}
    validate = _RAW.decode
    for i, p in enumerate(payloads):
        if p is None or len(p) > max_bytes:
            good.append(b"{}")
            errors[i] = (
                ("invalid_json", "empty message (no value)")
                if p is None
                else ("payload_too_large", f"payload is {len(p)} bytes; the limit is {max_bytes}")
            )
            continue
        try:
            validate(p)
        except msgspec.DecodeError as exc:
            fixed = _NONFINITE.sub(rb'\1"\2"', p)
            try:
                validate(fixed)
                p = fixed
            except msgspec.DecodeError:
                good.append(b"{}")
                errors[i] = ("invalid_json", f"not valid JSON: {exc}")
                continue
        if p[:1] != b"{" and p.lstrip()[:1] != b"{":
            good.append(b"{}")
            errors[i] = ("not_an_object", "payload is valid JSON but not an object")
            continue
        good.append(p)
    return good, errors


def _top_level_schema(contract: Contract) -> dict[str, pl.DataType]:
    return {f.source_path[0]: pl.String() for f in contract.fields}


def _read_lines(
    lines: list[bytes], schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, dict[int, str]]:
    """Decode NDJSON lines; rows Polars cannot read are isolated by bisection."""
    if not lines:
        return pl.DataFrame(schema=schema), {}
    buf = b"\n".join(lines)
    if buf.count(b"\n") != len(lines) - 1:  # pretty-printed payloads: newlines are whitespace
        lines = [ln.replace(b"\n", b" ").replace(b"\r", b" ") for ln in lines]
        buf = b"\n".join(lines)
    try:
        df = pl.read_ndjson(buf, schema=schema)
        if df.height == len(lines):
            return df, {}
    except pl.exceptions.PolarsError as exc:
        if len(lines) == 1:
            return pl.DataFrame([{k: None for k in schema}], schema=schema), {
                0: str(exc).split("\n")[0]
            }
    if len(lines) == 1:
        return pl.DataFrame([{k: None for k in schema}], schema=schema), {0: "unreadable line"}
    mid = len(lines) // 2
    left, lbad = _read_lines(lines[:mid], schema)
    right, rbad = _read_lines(lines[mid:], schema)
    return pl.concat([left, right]), {**lbad, **{i + mid: e for i, e in rbad.items()}}


def decode_json(payloads: Sequence[bytes | None], contract: Contract) -> Decoded:
    """Decode ``payloads`` into one String column per contract field, in input order."""
    good, errors = _screen(payloads, contract.payload.max_bytes)
    schema = _top_level_schema(contract)
    top, unreadable = _read_lines(good, schema)
    for i, msg in unreadable.items():
        errors[i] = ("invalid_json", f"not valid JSON: {msg}")

    columns: list[pl.Expr] = []
    for f in contract.fields:
        head, *rest = f.source_path
        expr = pl.col(head)
        if rest:
            expr = expr.str.json_path_match("$." + ".".join(rest))
        columns.append(expr.alias(f.name))
    n = len(good)
    idx = list(errors)
    err_ids = pl.Series(PARSE_ERROR, [None] * n, dtype=pl.String)
    err_msgs = pl.Series(PARSE_DETAIL, [None] * n, dtype=pl.String)
    if idx:
        err_ids = err_ids.scatter(idx, [errors[i][0] for i in idx])
        err_msgs = err_msgs.scatter(idx, [errors[i][1] for i in idx])
    return Decoded(top.select(columns).with_columns(err_ids, err_msgs))
