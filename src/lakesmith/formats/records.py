"""Records a source read already typed (a frame of columns), through the same spine.

A source that reads typed data — a SQL table over binary COPY, a Parquet file — need not
spell every row as JSON for the pipeline to parse it back: it hands the records as one
Polars frame (``RawBatch.add_records``), one column per top-level name, and:

- ``json_payloads(frame, max_bytes)`` makes bronze's ``_payload`` for every row, in bulk
  (``struct.json_encode``): the row's JSON object, so bronze keeps a readable raw record
  per row and ``reprocess`` decodes it with the ``json`` format exactly as this module
  does. Timestamps are ISO 8601 with their offset, binary ``\\x…`` hex text, NaN and ±inf
  the strings ``"NaN"``/``"inf"``/``"-inf"`` (a float column holding any is text in that
  batch). A row over ``max_bytes`` is cut at ``max_bytes + 1`` bytes (and quarantined
  ``payload_too_large``, as for every format).
- ``decode_records(batch, contract)`` is the decoder: the frame's columns become the
  contract's fields. A column whose type already *is* the field's type (integers for a
  ``long``, any number for a ``double``, a zoned timestamp for a ``timestamp``, booleans,
  strings) is passed typed and ``quality.typing`` keeps it as it is (no text round trip);
  any other column becomes its text (``quality.typing`` types it and reports
  ``<field>_type`` like for JSON); a dotted ``path`` reaches into a column holding JSON
  text (``str.json_path_match``) or a struct. A timestamp outside the years 1 to 9999 (what
  PostgreSQL's ``infinity`` becomes over binary COPY) fails ``<field>_type``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from lakesmith.contracts.model import Contract, FieldSpec
from lakesmith.core.records import RawBatch
from lakesmith.formats.base import (
    PARSE_DETAIL,
    PARSE_ERROR,
    POLARS_TYPES,
    RECORD_PATHS,
    DecodesColumns,
    with_record_fields,
)

ISO_UTC = "%Y-%m-%dT%H:%M:%S%.f+00:00"
OUT_OF_RANGE = "out-of-range timestamp"
_LOW = datetime(1, 1, 1, tzinfo=UTC)
_HIGH = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def _utc(expr: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    zoned = expr.dt.replace_time_zone("UTC") if dtype.time_zone is None else expr
    return zoned.dt.convert_time_zone("UTC").dt.cast_time_unit("us")


def _in_range(expr: pl.Expr) -> pl.Expr:
    """Within the years 1 to 9999 (what ISO text and the typing rules can hold)."""
    return expr.is_between(_LOW, _HIGH)


def _iso(expr: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    """ISO 8601 text of a zoned timestamp column; ``OUT_OF_RANGE`` for values outside the
    years 1 to 9999 (formatting those would panic), which then fail ``<field>_type``."""
    utc = _utc(expr, dtype)
    text = pl.when(_in_range(utc)).then(utc).dt.to_string(ISO_UTC)
    return pl.when(expr.is_not_null() & text.is_null()).then(pl.lit(OUT_OF_RANGE)).otherwise(text)


def _payload_value(name: str, dtype: pl.DataType, nonfinite: bool) -> pl.Expr | None:
    """Column ``name`` made JSON-friendly for the payload, or None when it already is."""
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return _iso(col, dtype) if dtype.time_zone else None
    if isinstance(dtype, pl.Binary):
        return pl.lit("\\x") + col.bin.encode("hex")
    if isinstance(dtype, pl.Decimal) or (dtype.is_float() and nonfinite):
        return col.cast(pl.String)
    if isinstance(dtype, pl.Object | pl.Duration | pl.Time | pl.Date):
        return col.cast(pl.String)
    return None


def json_payloads(frame: pl.DataFrame, max_bytes: int) -> pl.Series:
    """Every row of ``frame`` as its JSON object (bytes), cut at ``max_bytes + 1``."""
    if frame.width == 0:
        return pl.Series(PAYLOAD_NAME, [b"{}"] * frame.height, dtype=pl.Binary)
    floats = [n for n, t in frame.schema.items() if t.is_float()]
    bad: set[str] = set()
    if floats and frame.height:
        flags = frame.select((~pl.col(floats).is_finite()).any()).row(0)
        bad = {c for c, b in zip(floats, flags, strict=True) if b}
    fixes = [
        e.alias(n)
        for n, t in frame.schema.items()
        if (e := _payload_value(n, t, n in bad)) is not None
    ]
    json = (frame.with_columns(fixes) if fixes else frame).select(
        pl.struct(pl.all()).struct.json_encode().cast(pl.Binary).alias(PAYLOAD_NAME)
    )
    size = pl.col(PAYLOAD_NAME).bin.size()
    return json.select(
        pl.when(size > max_bytes)
        .then(pl.col(PAYLOAD_NAME).bin.head(max_bytes + 1))
        .otherwise(pl.col(PAYLOAD_NAME))
    ).to_series()


PAYLOAD_NAME = "_payload"


def _field(f: FieldSpec, schema: pl.Schema) -> tuple[pl.Expr, pl.Expr | None]:
    """``(the field's column, its out-of-range flag or None)`` from ``schema``'s columns."""
    head, *rest = f.source_path
    dtype = schema.get(head)
    if dtype is None:
        return pl.lit(None, pl.String).alias(f.name), None
    col = pl.col(head)
    if rest:
        if isinstance(dtype, pl.Struct):
            col = col.struct.json_encode()
        elif dtype != pl.String:
            return pl.lit(None, pl.String).alias(f.name), None
        return col.str.json_path_match("$." + ".".join(rest)).alias(f.name), None
    want = POLARS_TYPES[f.type]
    if f.type == "timestamp" and isinstance(dtype, pl.Datetime) and dtype.time_zone:
        value = _utc(col, dtype)
        out_of_range = col.is_not_null() & ~_in_range(value)
        return pl.when(out_of_range).then(None).otherwise(value).alias(f.name), out_of_range
    if (
        dtype == want
        or (f.type == "long" and dtype.is_integer())
        or (f.type == "double" and dtype.is_numeric() and not isinstance(dtype, pl.Decimal))
    ):
        return col.cast(want).alias(f.name), None
    if isinstance(dtype, pl.Datetime):
        text = _iso(col, dtype) if dtype.time_zone else col.dt.to_string("%Y-%m-%dT%H:%M:%S%.f")
    elif isinstance(dtype, pl.Binary):
        text = pl.lit("\\x") + col.bin.encode("hex")
    elif isinstance(dtype, pl.Struct | pl.List | pl.Array):
        text = pl.struct(col.alias("v")).struct.json_encode().str.json_path_match("$.v")
    else:
        text = col.cast(pl.String, strict=False)
    return text.alias(f.name), None


def decode_records(batch: RawBatch, contract: Contract) -> pl.DataFrame:
    """The contract's fields from ``batch.records`` (typed where the types agree, else
    text), plus ``_parse_error``/``_parse_detail``: ``payload_too_large`` for rows whose
    payload is over ``payload.max_bytes``, ``<field>_type`` for a timestamp out of range."""
    frame, payloads = batch.records, batch.record_payloads
    if frame is None or payloads is None:
        raise ValueError("decode_records needs a batch of records (RawBatch.add_records)")
    if batch.records_format is not None:  # text columns split by a format (a CSV block)
        from lakesmith.formats import get_format

        fmt = get_format(batch.records_format)
        if not isinstance(fmt, DecodesColumns):
            raise ValueError(f"the {fmt.name} format does not decode columns")
        return fmt.decode_columns(batch, contract)
    max_bytes = contract.payload.max_bytes
    columns: list[pl.Expr] = []
    flags: list[tuple[FieldSpec, pl.Expr]] = []
    for f in contract.fields:
        if f.path in RECORD_PATHS:
            continue
        value, out_of_range = _field(f, frame.schema)
        columns.append(value)
        if out_of_range is not None:
            flags.append((f, out_of_range))
    too_large = pl.lit(payloads.bin.size() > max_bytes)
    errors = [(too_large, "payload_too_large", f"payload is over the limit of {max_bytes} bytes")]
    errors += [
        (bad, f"{f.name}_type", f"{f.name} is not a valid timestamp (out of range)")
        for f, bad in flags
    ]
    error = pl.coalesce([pl.when(c).then(pl.lit(rule)) for c, rule, _ in errors])
    detail = pl.coalesce([pl.when(c).then(pl.lit(text)) for c, _, text in errors])
    out = frame.select(
        *columns,
        error.cast(pl.String).alias(PARSE_ERROR),
        detail.cast(pl.String).alias(PARSE_DETAIL),
    )
    return with_record_fields(out, batch, contract)
