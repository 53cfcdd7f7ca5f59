"""The Arrow side of Delta tables (``stores.lake.delta``): column types, the generated
partition columns of ``day`` / ``hour`` / ``month`` transforms, batches conformed to a
table's schema, and a ``Filter`` as a delta-rs SQL predicate or a pyarrow expression.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakesmith.core.columns import Column
from lakesmith.core.errors import SinkError
from lakesmith.stores.lake.base import Filter

# -- types ----------------------------------------------------------------------------

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "long": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
    "list<string>": pa.list_(pa.string()),
}
_GENERATED_TYPES: dict[str, pa.DataType] = {
    "day": pa.date32(),
    "hour": pa.timestamp("us", tz="UTC"),
    "month": pa.date32(),
}


def arrow_type(t: str) -> pa.DataType:
    try:
        return _ARROW_TYPES[t]
    except KeyError:
        raise SinkError(f"unsupported column type {t!r} for a Delta table") from None


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=True) for c in columns])


def generated_name(column: str, transform: str) -> str:
    return f"{column}_{transform}"


def create_schema(
    label: str, columns: Sequence[Column], partition_by: Sequence[tuple[str, str]]
) -> tuple[pa.Schema, list[str]]:
    """The schema of a new table (``columns`` and the generated partition columns) and
    its partition columns, for ``partition_by`` (column, transform) pairs."""
    types = {c.name: c.type for c in columns}
    fields = [pa.field(c.name, arrow_type(c.type), nullable=True) for c in columns]
    parts = []
    for col, transform in partition_by:
        if transform == "identity":
            parts.append(col)
            continue
        if types.get(col) != "timestamp" or transform not in _GENERATED_TYPES:
            raise SinkError(
                f"{label}: cannot partition by {transform}({col}) "
                f"(needs a timestamp column and day, hour or month)"
            )
        gen = generated_name(col, transform)
        fields.append(pa.field(gen, _GENERATED_TYPES[transform], nullable=True))
        parts.append(gen)
    return pa.schema(fields), parts


def _transformed(values: pa.ChunkedArray, transform: str) -> pa.ChunkedArray:
    """The partition value of a UTC timestamp column under ``transform``."""
    if transform == "day":
        return pc.cast(values, pa.date32())
    if transform == "hour":
        return pc.floor_temporal(values, unit="hour")
    if transform == "month":
        return pc.cast(pc.floor_temporal(values, unit="month"), pa.date32())
    raise SinkError(f"unsupported partition transform {transform!r}")


def _cast(values: Any, typ: pa.DataType) -> Any:
    if values.type == typ:
        return values
    # timestamps: ns → us truncates instead of failing; everything else casts safely
    return pc.cast(values, typ, safe=not pa.types.is_timestamp(typ))


def conform(
    data: pa.Table,
    schema: pa.Schema,
    generated: Mapping[str, tuple[str, str]],
    sort_by: str | None,
) -> pa.Table:
    """``data`` in the table's ``schema``: missing columns null, unknown ones dropped,
    the ``generated`` partition columns (→ source column, transform) computed, rows
    sorted by the columns of ``sort_by`` (the table's JSON sort property)."""
    n = data.num_rows
    arrays: dict[str, Any] = {}
    present = set(data.column_names)  # (a list built on every call)
    for field in schema:
        if field.name in generated:
            continue
        if field.name in present:
            arrays[field.name] = _cast(data.column(field.name), field.type)
        else:
            arrays[field.name] = pa.nulls(n, field.type)
    for gen, (col, transform) in generated.items():
        values = arrays[col]
        if not isinstance(values, pa.ChunkedArray):
            values = pa.chunked_array([values], type=schema.field(col).type)
        arrays[gen] = _cast(_transformed(values, transform), schema.field(gen).type)
    out = pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)
    sort = [c for c in json.loads(sort_by) if c in schema.names] if sort_by else []
    if sort and n > 1:
        out = out.sort_by([(c, "ascending") for c in sort])
    return out


# -- predicates -----------------------------------------------------------------------


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return f"'{value.astimezone(UTC).isoformat()}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise ValueError(f"unsupported filter value {value!r}")


def sql_predicate(where: Filter) -> str | None:
    """The filter as a delta-rs (DataFusion) SQL predicate; None matches everything."""
    parts = []
    for col, op, value in where:
        c = _sql_ident(col)
        if op == "==":
            parts.append(f"{c} IS NULL" if value is None else f"{c} = {_sql_literal(value)}")
        elif op in (">=", "<"):
            parts.append(f"{c} {op} {_sql_literal(value)}")
        elif op == "in":
            values = list(value)
            parts.append(
                f"{c} IN ({', '.join(_sql_literal(v) for v in values)})" if values else "false"
            )
        else:
            raise ValueError(f"unsupported filter op {op!r}")
    return " AND ".join(parts) if parts else None


def _scalar(value: Any, typ: pa.DataType) -> Any:
    if pa.types.is_timestamp(typ) and isinstance(value, date):
        if not isinstance(value, datetime):  # a day: its first instant, UTC
            value = datetime(value.year, value.month, value.day, tzinfo=UTC)
        elif value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
    try:
        return pa.scalar(value, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return value


def arrow_predicate(where: Filter, schema: pa.Schema) -> pc.Expression | None:
    """The filter as a pyarrow dataset expression (prunes files by partition and stats)."""
    expr: pc.Expression | None = None
    for col, op, value in where:
        field = pc.field(col)
        typ = schema.field(col).type
        if op == "==":
            term = field.is_null() if value is None else field == _scalar(value, typ)
        elif op == ">=":
            term = field >= _scalar(value, typ)
        elif op == "<":
            term = field < _scalar(value, typ)
        elif op == "in":
            term = field.isin(pa.array(list(value), type=typ))
        else:
            raise ValueError(f"unsupported filter op {op!r}")
        expr = term if expr is None else expr & term
    return expr


__all__ = [
    "arrow_predicate",
    "arrow_schema",
    "arrow_type",
    "conform",
    "create_schema",
    "generated_name",
    "sql_predicate",
]
