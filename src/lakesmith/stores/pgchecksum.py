"""The PostgreSQL side of the backfill checksum: the same fingerprints, computed in SQL.

``maintenance.checksum`` defines the checksum and computes it over Polars frames (the
lake side); this module computes it over rows in PostgreSQL with the server's own hash
functions, and reads those functions' results on probe values so the two
implementations can be compared before use. Results are plain numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, LiteralString, Protocol

import psycopg
from psycopg import sql

Kind = Literal["string", "double", "timestamp", "long", "boolean"]
MASK = 0x7FFF_FFFF
NULL_FP = 625_341_585  # the fingerprint of a null, on both sides


class ChecksumSpec(Protocol):
    """A checksummed column: its name in the table, its kind and its fixed weight."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> Kind: ...

    @property
    def weight(self) -> int: ...


_SQL_HASH = {
    "string": "hashtextextended({}, 0)",
    "double": "hashfloat8extended({}, 0)",
    "timestamp": "hashfloat8extended(date_part('epoch', {}), 0)",
    "long": "hashint8extended({}, 0)",
    "boolean": "hashint8extended({}::int, 0)",
}


def _sql_fingerprint(c: ChecksumSpec, present: bool) -> sql.Composable:
    if not present:
        return sql.Literal(NULL_FP)
    return sql.SQL("coalesce({} & {}, {})").format(
        sql.SQL(_SQL_HASH[c.kind]).format(sql.Identifier(c.name)),
        sql.Literal(MASK),
        sql.Literal(NULL_FP),
    )


def checksum_sql(
    spec: Sequence[ChecksumSpec],
    source: sql.Composable,
    where: sql.Composable,
    present: Sequence[str] | None = None,
    *,
    columns: bool = False,
) -> sql.Composed:
    """``count(*), Σ H`` (or, with ``columns``, ``Σ fp`` per column) over ``source``.

    Columns not ``present`` in the table are null on this side.
    """
    have = {c.name for c in spec} if present is None else set(present)
    fps = [_sql_fingerprint(c, c.name in have) for c in spec]
    if columns:
        outs = sql.SQL(", ").join(sql.SQL("sum({})").format(fp) for fp in fps)
    else:
        outs = sql.SQL("sum(hashint8extended({}, 0))").format(
            sql.SQL(" + ").join(
                sql.SQL("{} * {}").format(fp, sql.Literal(c.weight))
                for c, fp in zip(spec, fps, strict=True)
            )
        )
    return sql.SQL("SELECT count(*), {} FROM {} WHERE {}").format(outs, source, where)


def table_checksum(
    conn: psycopg.Connection[Any],
    spec: Sequence[ChecksumSpec],
    source: sql.Composable,
    where: sql.Composable,
    present: Sequence[str] | None = None,
) -> tuple[int, int]:
    """``(rows, Σ H)`` of the matching rows (call inside a transaction)."""
    conn.execute("SET LOCAL jit = off")
    row = conn.execute(checksum_sql(spec, source, where, present)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1] or 0)


def column_sums(
    conn: psycopg.Connection[Any],
    spec: Sequence[ChecksumSpec],
    source: sql.Composable,
    where: sql.Composable,
    present: Sequence[str] | None = None,
) -> tuple[int, dict[str, int]]:
    """``(rows, {column: Σ fp})`` of the matching rows (call inside a transaction)."""
    conn.execute("SET LOCAL jit = off")
    row = conn.execute(checksum_sql(spec, source, where, present, columns=True)).fetchone()
    assert row is not None
    sums = {c.name: int(v or 0) for c, v in zip(spec, row[1:], strict=True)}
    return int(row[0]), dict(sorted(sums.items()))


_PROBE = "SELECT array_agg({}(v, 0) ORDER BY i) FROM unnest(%s::{}[]) WITH ORDINALITY AS t(v, i)"
_PROBES: dict[Kind, LiteralString] = {
    "string": _PROBE.format("hashtextextended", "text"),
    "double": _PROBE.format("hashfloat8extended", "float8"),
    "long": _PROBE.format("hashint8extended", "int8"),
    "timestamp": (
        "SELECT array_agg(hashfloat8extended(date_part('epoch', v), 0) ORDER BY i) "
        "FROM unnest(%s::timestamptz[]) WITH ORDINALITY AS t(v, i)"
    ),
}


def server_hashes(
    conn: psycopg.Connection[Any], probes: Sequence[tuple[Kind, Sequence[Any]]]
) -> list[list[int] | None]:
    """The 64-bit hashes the server computes for each ``(kind, values)`` probe, in order
    (``kind``: string, double, long or timestamp)."""
    out: list[list[int] | None] = []
    with conn.transaction():
        for kind, values in probes:
            row = conn.execute(_PROBES[kind], (list(values),)).fetchone()
            out.append(None if row is None else [int(h) for h in row[0]])
    return out
