"""Reading a table (or a query) of a SQL database in chunks, for the ``sql`` source kind.

Two readers, one interface (``open`` a query from a lower bound, ``fetch`` up to n rows
as a typed Polars frame, ``newer_than``):

- **PostgreSQL** (``postgresql://``, ``postgresql+psycopg://``…): ADBC's PostgreSQL
  driver streams the query as Arrow record batches (binary ``COPY``: no text formatting
  on the server, no Python object per row or value on the client; memory is one chunk
  plus the driver's ~16 MB batch). Integers, floats, booleans, text and ``timestamptz``
  arrive typed; every other column is sent as its JSON text (``to_json``): ``numeric``
  with every digit, ``json``/``jsonb``, ``uuid``, ``date``, ``timestamp``
  (``2025-01-20T10:00:00``), ``interval``, ``bytea`` (``\\x00ff`` hex), arrays (JSON
  arrays). The session is UTC and read-only; a psycopg connection beside it reads the
  column types and runs the probes (``newer_than``).
- **any other SQLAlchemy URL**: SQLAlchemy's streamed results (``stream_results`` +
  ``yield_per``), each chunk made a Polars frame in bulk.

Columns keep the names the database spells (spaces, capitals, Unicode included), plus
``_deleted`` when a soft-delete column is named. The source hands the frames to the
pipeline as typed records (``formats.records``), whose payloads are their JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from lakesmith.core.errors import ConfigError, ServiceUnavailableError, SourceError
from lakesmith.core.logging import get_logger

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from lakesmith.sources.sql_spec import SqlSourceSpec

log = get_logger(__name__)

Value = str | int | float | bool | None  # a column value as JSON has it (cursors)


class Reader(Protocol):
    def open(self, since: Any | None, after: Sequence[Value] | None) -> None:
        """Start reading rows with watermark >= ``since`` (incremental) or key > ``after``
        (full, resumed), ordered by (watermark,) key."""
        ...

    def fetch(self, n: int) -> pl.DataFrame:
        """Up to ``n`` rows, typed (an empty frame once the query is exhausted)."""
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
        elif isinstance(v, Decimal):
            v = int(v) if v == v.to_integral_value() else str(v)
        elif v is not None and not isinstance(v, str | int | float | bool):
            v = str(v)
        out.append(v)
    return out


def last_values(rows: pl.DataFrame, names: Sequence[str], index: int = -1) -> list[Value]:
    """The values of columns ``names`` in row ``index`` of a chunk (its last row)."""
    missing = [n for n in names if n not in rows.columns]
    if missing:
        raise SourceError(f"column {missing[0]!r} is not in the rows read (check key/watermark)")
    return _cursor_values(rows.select(names).row(index, named=True), names)


# -- PostgreSQL ----------------------------------------------------------------------------

# Columns read typed over binary COPY; every other type is sent as its JSON text.
_TYPED_OIDS = {
    16,  # boolean
    20,
    21,
    23,  # bigint, smallint, integer
    25,
    1042,
    1043,  # text, char(n), varchar
    700,
    701,  # real, double precision
    1184,  # timestamptz
}


class PostgresReader:
    """One query streamed as Arrow batches (ADBC's PostgreSQL driver, binary COPY); a
    psycopg connection beside it for the column types and the probes."""

    batch_bytes = 1 << 20  # the driver's Arrow batch size (a hint, bytes)

    def __init__(self, dsn: str, spec: SqlSourceSpec) -> None:
        import psycopg

        self.spec = spec
        self._dsn = dsn
        try:
            self.conn = psycopg.connect(dsn, connect_timeout=10, application_name="lakesmith-sql")
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServiceUnavailableError(
                f"cannot connect to the sql source's database ({spec.uri}): {first}",
                hint="check the URL (url/url_env), that the server runs and the login",
            ) from None
        self.conn.read_only = True
        self._adbc: Any = None
        self._cursor: Any = None
        self._stream: Any = None
        self._rest: list[pa.RecordBatch] = []
        self._columns: list[tuple[str, int]] | None = None

    def _stream_connection(self) -> Any:
        """The ADBC connection (UTC, read-only), opened on first use (the driver's
        low-level API: its DB-API module would import pandas, ~60 MB)."""
        if self._adbc is None:
            import adbc_driver_manager as adbc
            import adbc_driver_postgresql  # type: ignore[import-untyped]

            sep = "&" if "?" in self._dsn else "?"
            try:
                db = adbc_driver_postgresql.connect(
                    f"{self._dsn}{sep}application_name=lakesmith-sql"
                )
                try:
                    conn = adbc.AdbcConnection(db)
                except BaseException:
                    db.close()
                    raise
            except adbc.Error as exc:  # driver errors: one line, never the URL
                raise ServiceUnavailableError(
                    f"cannot stream from the sql source's database ({self.spec.uri}): "
                    f"{type(exc).__name__}",
                    hint="check the URL (url/url_env), that the server runs and the login",
                ) from None
            self._adbc = (db, conn)
            with adbc.AdbcStatement(conn) as stmt:
                for statement in (
                    "SET TIME ZONE 'UTC'",
                    "SET bytea_output = 'hex'",
                    "SET default_transaction_read_only = on",
                ):
                    stmt.set_sql_query(statement)
                    stmt.execute_update()
        return self._adbc[1]

    def _base(self, params: bool = True) -> Any:
        """The relation (``params``: for psycopg's ``execute``, ``%`` escaped)."""
        from psycopg import sql

        spec = self.spec
        if spec.table is not None:
            rel: Any = sql.SQL(".").join(sql.Identifier(p) for p in spec.table.split("."))
        else:
            assert spec.query is not None
            text = spec.query.rstrip().rstrip(";")
            rel = sql.SQL("(") + sql.SQL(text.replace("%", "%%") if params else text) + sql.SQL(")")
        if spec.soft_delete is None:
            return sql.SQL("SELECT * FROM {} AS b").format(rel)
        col = sql.Identifier(spec.soft_delete)
        flag = sql.SQL(
            "CASE WHEN b.{c} IS NULL THEN false WHEN b.{c}::text IN ('false', 'f', '0', '') "
            "THEN false ELSE true END AS _deleted"
        ).format(c=col)
        return sql.SQL("SELECT b.*, {} FROM {} AS b").format(flag, rel)

    def _projection(self) -> Any:
        """The select list: the columns Arrow holds well as they are (integers, floats,
        booleans, text, timestamptz), every other one as its JSON text (``to_json``:
        ``numeric`` with every digit, ``json``/``jsonb``, ``uuid``, ``date``,
        ``timestamp``, ``interval``, ``bytea`` as ``\\x`` hex, arrays as JSON arrays)."""
        from psycopg import sql

        if self._columns is None:
            with self.conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT * FROM ({}) AS t LIMIT 0").format(self._base()))
                self._columns = [(d.name, d.type_code) for d in cur.description or ()]
            self.conn.rollback()
        return sql.SQL(", ").join(
            sql.SQL("t.{c}" if oid in _TYPED_OIDS else "to_json(t.{c}) #>> '{{}}' AS {c}").format(
                c=sql.Identifier(n)
            )
            for n, oid in self._columns
        )

    def open(self, since: Any | None, after: Sequence[Value] | None) -> None:
        from psycopg import sql

        self.close_cursor()
        spec = self.spec
        keys = [sql.SQL("t.{}").format(sql.Identifier(k)) for k in spec.key]
        where: list[Any] = []
        order = list(keys)
        if spec.mode == "incremental":
            assert spec.watermark is not None
            wm = sql.SQL("t.{}").format(sql.Identifier(spec.watermark))
            order = [wm, *keys]
            if since is not None:
                where.append(sql.SQL("{} >= {}").format(wm, sql.Literal(since)))
        elif after is not None:
            where.append(
                sql.SQL("({}) > ({})").format(
                    sql.SQL(", ").join(keys), sql.SQL(", ").join(sql.Literal(v) for v in after)
                )
            )
        query = sql.SQL("SELECT {} FROM ({}) AS t{} ORDER BY {}").format(
            self._projection(),
            self._base(params=False),
            sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
            sql.SQL(", ").join(order),
        )
        text = query.as_string(self.conn)
        import adbc_driver_manager as adbc
        import pyarrow as pa

        self._cursor = adbc.AdbcStatement(self._stream_connection())
        self._cursor.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(self.batch_bytes)})
        self._cursor.set_sql_query(text)
        handle, _ = self._cursor.execute_query()
        self._stream = pa.RecordBatchReader._import_from_c(handle.address)

    def fetch(self, n: int) -> pl.DataFrame:
        import polars as pl
        import pyarrow as pa

        if self._stream is None:
            return pl.DataFrame()
        batches, have = self._rest, sum(b.num_rows for b in self._rest)
        schema = self._stream.schema
        ended = False
        while have < n:
            try:
                batch = self._stream.read_next_batch()
            except StopIteration:
                ended = True
                break
            batches.append(batch)
            have += batch.num_rows
        table = pa.Table.from_batches(batches, schema=schema)
        self._rest = [] if have <= n else table.slice(n).to_batches()
        if ended:
            self.close_cursor()
        frame = pl.from_arrow(table.slice(0, n))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def newer_than(self, value: Value) -> bool:
        from psycopg import sql

        assert self.spec.watermark is not None
        if self._stream is not None:
            return True
        query = sql.SQL("SELECT 1 FROM ({}) AS t WHERE t.{} > %s LIMIT 1").format(
            self._base(), sql.Identifier(self.spec.watermark)
        )
        with self.conn.cursor() as cur:
            found = cur.execute(query, [value]).fetchone() is not None
        self.conn.rollback()
        return found

    def close_cursor(self) -> None:
        stream, cursor = self._stream, self._cursor
        self._stream = self._cursor = None
        self._rest = []
        try:
            if stream is not None:
                stream.close()
        finally:
            if cursor is not None:
                cursor.close()

    def close(self) -> None:
        try:
            self.close_cursor()
        finally:
            try:
                if self._adbc is not None:
                    db, conn = self._adbc
                    self._adbc = None
                    conn.close()
                    db.close()
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

    def fetch(self, n: int) -> pl.DataFrame:
        import polars as pl

        if self._result is None:
            return pl.DataFrame()
        names = list(self._result.keys())
        rows = self._result.fetchmany(n)
        if len(rows) < n:
            self.close_result()
        return self._frame(names, rows)

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
