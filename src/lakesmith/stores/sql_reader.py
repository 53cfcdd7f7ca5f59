"""Reading a table (or a query) of a SQL database in chunks, for the ``sql`` source kind.

Two readers, one interface (``open`` a query from a lower bound, ``fetch`` up to n rows,
``newer_than``):

- **PostgreSQL** (``postgresql://``, ``postgresql+psycopg://``…): psycopg 3, a named
  (server-side) cursor in a read-only transaction, and the server builds each row's JSON
  text (``row_to_json``; ``numeric`` columns as text, every digit kept) and hands it over as bytes (``convert_to`` + binary results): no
  per-column Python objects at all, memory is one chunk of rows. The session's time zone
  is UTC, so ``timestamptz`` values arrive as ``2025-01-20T10:00:00.123+00:00``.
- **any other SQLAlchemy URL**: SQLAlchemy's streamed results (``stream_results`` +
  ``yield_per``), each chunk made a Polars frame and JSON lines in bulk.

Every row becomes a JSON object keyed by the column names exactly as the database spells
them (spaces, capitals, Unicode included), plus ``_deleted`` when a soft-delete column is
named. What JSON cannot say directly (PostgreSQL's ``row_to_json`` rules): ``numeric``
is text with all its digits (a key or watermark column: a JSON number); ``json``/``jsonb`` nested values; ``uuid``, ``date``,
``time``, ``interval`` text; ``bytea`` ``"\\x…"`` hex text; arrays JSON arrays; float
``NaN``/``Infinity`` and timestamp ``infinity`` text (they fail their field's type rule).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from lakesmith.core.errors import ConfigError, ServiceUnavailableError, SourceError
from lakesmith.core.logging import get_logger

if TYPE_CHECKING:
    import polars as pl

    from lakesmith.sources.sql_spec import SqlSourceSpec

log = get_logger(__name__)

NUMERIC_OID = 1700  # PostgreSQL's numeric / decimal
Value = str | int | float | bool | None  # a column value as JSON has it (cursors)


class Reader(Protocol):
    def open(self, since: Any | None, after: Sequence[Value] | None) -> None:
        """Start reading rows with watermark >= ``since`` (incremental) or key > ``after``
        (full, resumed), ordered by (watermark,) key."""
        ...

    def fetch(self, n: int) -> list[bytes]:
        """Up to ``n`` rows' JSON text; ``[]`` once the query is exhausted."""
        ...

    def newer_than(self, value: Value) -> bool:
        """Is there a row whose watermark is above ``value`` (a cheap probe)?"""
        ...

    def close(self) -> None: ...


def lower_bound(value: Value, lag: timedelta | Decimal) -> Any:
    """``value - lag`` as a query parameter: a datetime for time watermarks (ISO text in
    the cursor), a number for numeric ones."""
    if isinstance(lag, timedelta):
        if not isinstance(value, str):
            raise ConfigError(
                f"the watermark's last value {value!r} is not a timestamp",
                hint="give lag as a number for a numeric watermark column (lag: 1000)",
            )
        try:
            return datetime.fromisoformat(value) - lag
        except ValueError:
            raise ConfigError(
                f"the watermark's last value {value!r} is not an ISO timestamp",
                hint="a duration lag (5m) needs a timestamp or date watermark column",
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"the watermark's last value {value!r} is not a number")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ConfigError(f"the watermark's last value {value!r} is not a number") from None
    out = number - lag
    return int(out) if out == out.to_integral_value() else out


def open_reader(url: str, spec: SqlSourceSpec) -> Reader:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"the sql source's URL for {spec.relation} is not a SQLAlchemy URL",
            hint="use dialect[+driver]://user:password@host:port/database",
        ) from None
    if parsed.get_backend_name() == "postgresql":
        return PostgresReader(parsed.set(drivername="postgresql").render_as_string(False), spec)
    return SqlAlchemyReader(url, spec)


def _cursor_values(row: dict[str, Any], names: Sequence[str]) -> list[Value]:
    out: list[Value] = []
    for name in names:
        if name not in row:
            raise SourceError(f"column {name!r} is not in the rows read (check key/watermark)")
        v = row[name]
        if isinstance(v, datetime):
            v = v.isoformat()
        elif v is not None and not isinstance(v, str | int | float | bool):
            v = str(v)
        out.append(v)
    return out


def last_values(payload: bytes, names: Sequence[str]) -> list[Value]:
    """The values of columns ``names`` in one row's JSON text (the chunk's last row)."""
    return _cursor_values(json.loads(payload), names)


# -- PostgreSQL ----------------------------------------------------------------------------


class PostgresReader:
    """A named cursor whose rows are their JSON text, built by the server."""

    def __init__(self, dsn: str, spec: SqlSourceSpec) -> None:
        import psycopg

        self.spec = spec
        try:
            self.conn = psycopg.connect(dsn, connect_timeout=10, application_name="lakesmith-sql")
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceUnavailableError(
                f"cannot connect to the sql source's database ({spec.uri}): {first}",
                hint="check the URL (url/url_env), that the server runs and the login",
            ) from None
        self.conn.read_only = True
        self._cursor: Any = None
        self._n = 0
        self._columns: list[tuple[str, int]] | None = None

    def _base(self) -> Any:
        from psycopg import sql

        spec = self.spec
        if spec.table is not None:
            rel: Any = sql.SQL(".").join(sql.Identifier(p) for p in spec.table.split("."))
        else:
            assert spec.query is not None
            rel = (
                sql.SQL("(")
                + sql.SQL(spec.query.rstrip().rstrip(";").replace("%", "%%"))
                + sql.SQL(")")
            )
        if spec.soft_delete is None:
            return sql.SQL("SELECT * FROM {} AS b").format(rel)
        col = sql.Identifier(spec.soft_delete)
        flag = sql.SQL(
            "CASE WHEN b.{c} IS NULL THEN false WHEN b.{c}::text IN ('false', 'f', '0', '') "
            "THEN false ELSE true END AS _deleted"
        ).format(c=col)
        return sql.SQL("SELECT b.*, {} FROM {} AS b").format(flag, rel)

    def _projected(self) -> Any:
        """The base relation with ``numeric`` columns as text: JSON numbers would reach
        the decoder as floats (17 digits); text keeps every digit for a string field and
        types the same for a double one. Key and watermark columns stay numbers (order)."""
        from psycopg import sql

        base = self._base()
        if self._columns is None:
            with self.conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT * FROM ({}) AS t LIMIT 0").format(base))
                self._columns = [(d.name, d.type_code) for d in cur.description or ()]
            self.conn.rollback()
        keep = {*self.spec.key, self.spec.watermark}
        if not any(oid == NUMERIC_OID and n not in keep for n, oid in self._columns):
            return base
        cols = [
            sql.SQL(
                "t.{c}::text AS {c}" if oid == NUMERIC_OID and n not in keep else "t.{c}"
            ).format(c=sql.Identifier(n))
            for n, oid in self._columns
        ]
        return sql.SQL("SELECT {} FROM ({}) AS t").format(sql.SQL(", ").join(cols), base)

    def open(self, since: Any | None, after: Sequence[Value] | None) -> None:
        from psycopg import sql

        self.close_cursor()
        spec = self.spec
        keys = [sql.SQL("t.{}").format(sql.Identifier(k)) for k in spec.key]
        where: list[Any] = []
        params: list[Any] = []
        order = list(keys)
        if spec.mode == "incremental":
            assert spec.watermark is not None
            wm = sql.SQL("t.{}").format(sql.Identifier(spec.watermark))
            order = [wm, *keys]
            if since is not None:
                where.append(sql.SQL("{} >= %s").format(wm))
                params.append(since)
        elif after is not None:
            where.append(
                sql.SQL("({}) > ({})").format(
                    sql.SQL(", ").join(keys), sql.SQL(", ").join(sql.Placeholder() * len(after))
                )
            )
            params.extend(after)
        query = sql.SQL(
            "SELECT convert_to(row_to_json(t)::text, 'UTF8') FROM ({}) AS t{} ORDER BY {}"
        ).format(
            self._projected(),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
            sql.SQL(", ").join(order),
        )
        self.conn.execute("SET TIME ZONE 'UTC'")
        self._n += 1
        self._cursor = self.conn.cursor(name=f"lakesmith_sql_{self._n}", binary=True)
        self._cursor.itersize = min(spec.chunk_rows, 10_000)
        self._cursor.execute(query, params)

    def fetch(self, n: int) -> list[bytes]:
        if self._cursor is None:
            return []
        rows = self._cursor.fetchmany(n)
        if len(rows) < n:
            self.close_cursor()
        return [r[0] for r in rows]

    def newer_than(self, value: Value) -> bool:
        from psycopg import sql

        assert self.spec.watermark is not None
        if self._cursor is not None:
            return True
        query = sql.SQL("SELECT 1 FROM ({}) AS t WHERE t.{} > %s LIMIT 1").format(
            self._base(), sql.Identifier(self.spec.watermark)
        )
        with self.conn.cursor() as cur:
            found = cur.execute(query, [value]).fetchone() is not None
        self.conn.rollback()
        return found

    def close_cursor(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
        if not self.conn.closed:
            self.conn.rollback()  # end the read-only transaction (no snapshot held idle)

    def close(self) -> None:
        try:
            self.close_cursor()
        finally:
            self.conn.close()


# -- any SQLAlchemy URL --------------------------------------------------------------------


class SqlAlchemyReader:
    """Streamed SQLAlchemy results, converted to JSON lines a chunk at a time."""

    def __init__(self, url: str, spec: SqlSourceSpec) -> None:
        from sqlalchemy import create_engine

        self.spec = spec
        try:
            self.engine = create_engine(url)
            self.conn = self.engine.connect()
        except Exception as exc:  # driver-specific errors: one line, no URL
            raise ServiceUnavailableError(
                f"cannot connect to the sql source's database ({spec.uri}): {type(exc).__name__}",
                hint="check the URL (url/url_env), the driver package and the login",
            ) from None
        self._quote = self.engine.dialect.identifier_preparer.quote
        self._result: Any = None

    def _col(self, name: str) -> str:
        return "t." + self._quote(name)

    def _base(self) -> str:
        spec = self.spec
        if spec.table is not None:
            return ".".join(self._quote(p) for p in spec.table.split("."))
        assert spec.query is not None
        return "(" + spec.query.rstrip().rstrip(";") + ")"

    def open(self, since: Any | None, after: Sequence[Value] | None) -> None:
        from sqlalchemy import text

        self.close_result()
        spec = self.spec
        keys = [self._col(k) for k in spec.key]
        order, where, params = list(keys), [], {}
        if spec.mode == "incremental":
            assert spec.watermark is not None
            order = [self._col(spec.watermark), *keys]
            if since is not None:
                where.append(f"{self._col(spec.watermark)} >= :since")
                params["since"] = since
        elif after is not None:
            marks = ", ".join(f":k{i}" for i in range(len(after)))
            where.append(f"({', '.join(keys)}) > ({marks})")
            params |= {f"k{i}": v for i, v in enumerate(after)}
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        query = f"SELECT * FROM {self._base()} AS t{clause} ORDER BY {', '.join(order)}"
        conn = self.conn.execution_options(stream_results=True, yield_per=spec.chunk_rows)
        self._result = conn.execute(text(query), params)

    def _frame(self, names: list[str], rows: Sequence[Any]) -> pl.DataFrame:
        import polars as pl

        frame = pl.DataFrame(
            [tuple(r) for r in rows], schema=names, orient="row", infer_schema_length=None
        )
        if self.spec.soft_delete is not None:
            col = pl.col(self.spec.soft_delete)
            text = col.cast(pl.String).str.to_lowercase()
            flag = col.is_not_null() & ~text.is_in(["false", "f", "0", ""]).fill_null(False)
            frame = frame.with_columns(flag.alias("_deleted"))
        return frame

    def fetch(self, n: int) -> list[bytes]:
        if self._result is None:
            return []
        from lakesmith.formats.parquet import _json_lines

        names = list(self._result.keys())
        rows = self._result.fetchmany(n)
        if len(rows) < n:
            self.close_result()
        if not rows:
            return []
        table = self._frame(names, rows).to_arrow().combine_chunks()
        return _json_lines(table.to_batches()[0], 1 << 62)

    def newer_than(self, value: Value) -> bool:
        from sqlalchemy import text

        assert self.spec.watermark is not None
        if self._result is not None:
            return True
        wm = self._col(self.spec.watermark)
        query = f"SELECT 1 FROM {self._base()} AS t WHERE {wm} > :v LIMIT 1"
        found = self.conn.execute(text(query), {"v": value}).first() is not None
        self.conn.rollback()
        return found

    def close_result(self) -> None:
        if self._result is not None:
            self._result.close()
            self._result = None
            self.conn.rollback()

    def close(self) -> None:
        try:
            self.close_result()
        finally:
            self.conn.close()
            self.engine.dispose()
