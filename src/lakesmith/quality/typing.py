"""Turn decoded field texts into typed columns, with a per-field type-error flag.

Each field yields two expressions: the typed value, and a boolean "the text was
present but is not a valid <type>" that becomes the ``<field>_type`` rule.
"""

from __future__ import annotations

import polars as pl

from lakesmith.contracts.model import FieldSpec
from lakesmith.formats.base import POLARS_TYPES

ISO8601_WITH_ZONE = "%Y-%m-%dT%H:%M:%S%.f%#z"
NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f")  # only with FieldSpec.timezone
TIMESTAMP = pl.Datetime("us", "UTC")


def typed(f: FieldSpec, dtype: pl.DataType | None = None) -> tuple[pl.Expr, pl.Expr]:
    """``(typed value, type error)`` for field ``f`` read from its text column — or kept
    as it is when its column (``dtype``) has the field's type already (a source's typed
    records, ``formats.records``)."""
    raw = pl.col(f.name)
    if dtype is not None and f.type != "string" and dtype == POLARS_TYPES[f.type]:
        return raw, pl.lit(False)
    if f.empty_as_null:
        raw = pl.when(raw == "").then(pl.lit(None, pl.String)).otherwise(raw)
    value: pl.Expr
    if f.type == "string":
        value = raw
    elif f.type == "double":
        value = raw.cast(pl.Float64, strict=False)
    elif f.type == "long":
        value = raw.cast(pl.Int64, strict=False)
    elif f.type == "boolean":
        value = pl.when(raw == "true").then(True).when(raw == "false").then(False)
    elif f.format in (None, "iso8601"):
        value = raw.str.to_datetime(
            ISO8601_WITH_ZONE, time_zone="UTC", time_unit="us", strict=False
        )
        if f.timezone is not None:  # text without a zone is local time in f.timezone
            naive = [
                raw.str.to_datetime(fmt, time_unit="us", strict=False) for fmt in NAIVE_FORMATS
            ]
            local = pl.coalesce(naive).dt.replace_time_zone(
                f.timezone, ambiguous="earliest", non_existent="null"
            )
            value = pl.coalesce(value, local.dt.convert_time_zone("UTC"))
    else:
        scale = 1_000_000 if f.format == "epoch_seconds" else 1_000
        micros = raw.cast(pl.Float64, strict=False) * scale
        in_range = micros.abs() < 2**62
        value = pl.when(in_range).then(micros.round(0).cast(pl.Int64, strict=False)).cast(TIMESTAMP)
    error = raw.is_not_null() & value.is_null()
    return value.alias(f.name), error
