"""Reads of the PostgreSQL warehouse for the REST API: gold tables and marts.

The caller (``api.services.gold``) has checked every column name against the model; here
names become quoted identifiers and every value a bound parameter — no text from a
request is ever spliced into SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql
from psycopg.rows import dict_row

from lakesmith.stores.pg_pool import ConnectionPool

CompareOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "isnull"]
_SQL_OPS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True)
class Condition:
    column: str
    op: CompareOp
    value: Any  # a list for ``in``, a bool for ``isnull``


@dataclass(frozen=True)
class Order:
    column: str
    descending: bool = False


def _condition(c: Condition) -> tuple[sql.Composable, list[Any]]:
    col = sql.Identifier(c.column)
    if c.op == "in":
        return sql.SQL("{} = ANY(%s)").format(col), [list(c.value)]
    if c.op == "contains":
        escaped = str(c.value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return sql.SQL("{}::text ILIKE %s").format(col), [f"%{escaped}%"]
    if c.op == "isnull":
        return sql.SQL("{} IS NULL" if c.value else "{} IS NOT NULL").format(col), []
    return sql.SQL("{} {} %s").format(col, sql.SQL(_SQL_OPS[c.op])), [c.value]


class GoldRepository:
    """Rows of a warehouse relation (table or materialised view)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    def rows(
        self,
        schema: str,
        relation: str,
        columns: Sequence[str],
        where: Sequence[Condition] = (),
        order: Sequence[Order] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        parts, params = [], []
        for c in where:
            part, values = _condition(c)
            parts.append(part)
            params.extend(values)
        query = sql.SQL("SELECT {cols} FROM {rel} WHERE {cond}{order} LIMIT %s OFFSET %s").format(
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            rel=sql.Identifier(schema, relation),
            cond=sql.SQL(" AND ").join(parts) if parts else sql.SQL("true"),
            order=(
                sql.SQL(" ORDER BY ")
                + sql.SQL(", ").join(
                    sql.SQL("{} {} NULLS LAST").format(
                        sql.Identifier(o.column), sql.SQL("DESC" if o.descending else "ASC")
                    )
                    for o in order
                )
                if order
                else sql.SQL("")
            ),
        )
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return list(cur.execute(query, [*params, limit, offset]).fetchall())

    def relation_columns(self, schema: str, relation: str) -> dict[str, str] | None:
        """Column name → PostgreSQL type of a table or materialised view (None: absent)."""
        query = """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
        """
        with self.pool.connection() as conn:
            found = conn.execute(query, (schema, relation)).fetchall()
        return {str(n): str(t) for n, t in found} or None

    def ping(self) -> None:
        with self.pool.connection() as conn:
            conn.execute("SELECT 1")
