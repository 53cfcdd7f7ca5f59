"""The PostgreSQL warehouse of the gold models: one schema per model (``music`` …),
tables from SQLModel classes (``stores.warehouse_<model>``), created and upgraded by
Alembic (``stores/warehouse_migrations``, one branch per model) when a sink starts.

Loads are binary ``COPY`` (``stores.pgcopy``): straight into the table for rows known to
be new (``append``: facts), else into a temporary staging table, then one ``INSERT …
SELECT … ON CONFLICT`` (or a ``DELETE`` first for a replace): never row-by-row ORM inserts. Everything a gold sink does for a batch — every table's change and the
batch's positions in ``lakesmith.stream_positions`` — is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import psycopg
from psycopg import sql

from lakesmith.config import Settings
from lakesmith.core.columns import Column
from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger
from lakesmith.stores import pgcopy
from lakesmith.stores.lake.base import Filter
from lakesmith.stores.meta import connect_meta

if TYPE_CHECKING:
    from lakesmith.gold.model import Change, GoldModel, GoldTable

log = get_logger(__name__)

MIGRATIONS = Path(__file__).with_name("warehouse_migrations")
_CASTS: dict[str, str] = {
    "string": "text",
    "double": "double precision",
    "timestamp": "timestamptz",
    "long": "bigint",
    "boolean": "boolean",
}


# How ``Warehouse.read`` moves a column through CSV: the Polars type on the wire where it
# is not the column's own, and the SQL that prints it.
_CSV_TYPES: dict[str, pl.DataType] = {"timestamp": pl.Int64(), "boolean": pl.String()}


def _csv_field(name: str, kind: str) -> sql.Composable:
    if kind == "timestamp":  # whole seconds + the microseconds: exact on any version
        return sql.SQL(
            "extract(epoch FROM date_trunc('second', {c}::timestamptz))::bigint * 1000000"
            " + mod(extract(microseconds FROM {c}::timestamptz)::bigint, 1000000)"
        ).format(c=sql.Identifier(name))
    return sql.SQL("{}::{}").format(sql.Identifier(name), sql.SQL(_CASTS[kind]))


def _from_csv(name: str, kind: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if kind == "timestamp":
        return pl.from_epoch(column, time_unit="us").dt.replace_time_zone("UTC").cast(dtype)
    if kind == "boolean":
        return (column == "t").alias(name)
    return column.cast(dtype)


def sqlalchemy_url(settings: Settings) -> str:
    return "postgresql+psycopg://" + settings.effective_postgres_dsn().split("://", 1)[1]


def alembic_config(settings: Settings, schema: str) -> Any:
    """An Alembic ``Config`` for the warehouse migrations, aimed at ``schema``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    cfg.attributes["url"] = sqlalchemy_url(settings)
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(settings: Settings, model: str, schema: str) -> None:
    """Create or upgrade ``schema`` to the newest migration of ``model`` (concurrent
    starts wait for each other: env.py takes an advisory lock)."""
    from alembic import command

    command.upgrade(alembic_config(settings, schema), f"{model}@head")


def schema_diff(settings: Settings, schema: str, tables: Sequence[str]) -> list[Any]:
    """What Alembic's autogenerate finds between the SQLModel classes of ``tables`` and
    the migrated ``schema`` (empty: the migrations match the models)."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = sa.create_engine(
        sqlalchemy_url(settings), connect_args={"options": f"-csearch_path={schema}"}
    )
    wanted = set(tables)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _p: kind != "table" or name in wanted,
                    # the metadata holds every model's classes: compare only these tables
                    "include_object": lambda obj, name, kind, _r, _c: (
                        kind != "table" or name in wanted
                    ),
                },
            )
            return list(compare_metadata(ctx, SQLModel.metadata))
    finally:
        engine.dispose()


def _where(where: Filter) -> tuple[sql.Composable, list[Any]]:
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for col, op, value in where:
        c = sql.Identifier(col)
        if op == "in":
            parts.append(sql.SQL("{} = ANY(%s)").format(c))
            params.append(list(value))
        elif op in ("==", ">=", "<"):
            parts.append(sql.SQL("{} {} %s").format(c, sql.SQL("=" if op == "==" else op)))
            params.append(value)
        else:
            raise ValueError(f"unsupported filter op {op!r}")
    return (sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")), params


class Warehouse:
    """A gold model's tables in one PostgreSQL schema."""

    def __init__(self, settings: Settings, model: GoldModel, schema: str) -> None:
        self.settings = settings
        self.model = model
        self.schema = schema
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect_meta(self.settings)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _ident(self, table: str) -> sql.Identifier:
        return sql.Identifier(self.schema, table)

    # -- schema -----------------------------------------------------------------------------

    def ensure(self) -> None:
        """Migrate the schema to the model's head and fill empty static tables."""
        upgrade(self.settings, self.model.name, self.schema)
        conn = self.conn
        for table in self.model.tables:
            if not table.static:
                continue
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}.{table.name}",)
                )
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(self._ident(table.name))
                ).fetchone()
                if row is not None and row[0] == 0:
                    from lakesmith.gold.model import Change

                    self.apply(conn, table, Change(self.model.static_rows(table.name)))

    # -- reading ----------------------------------------------------------------------------

    def read(
        self,
        conn: psycopg.Connection[Any],
        table: GoldTable,
        columns: Sequence[str] | None = None,
        where: Filter = (),
    ) -> pl.DataFrame:
        """Matching rows, typed as ``table.schema``, read inside the caller's transaction
        with ``COPY … TO STDOUT`` as CSV and parsed by Polars (not row by row in Python:
        a gold batch reads back thousands of rows). Timestamps travel
        as epoch microseconds, booleans as ``t``/``f``; a NULL is an unquoted empty field,
        an empty string a quoted one."""
        kinds = {c.name: c.type for c in table.columns}
        cols = list(columns) if columns is not None else list(kinds)
        select = sql.SQL(", ").join(_csv_field(c, kinds[c]) for c in cols)
        cond, params = _where(where)
        query = sql.SQL("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT (FORMAT csv)").format(
            select, self._ident(table.name), cond
        )
        out = bytearray()
        with conn.cursor().copy(query, params) as copy:
            for block in copy:
                out += block
        wire = {c: _CSV_TYPES.get(kinds[c], table.schema[c]) for c in cols}
        frame = pl.read_csv(bytes(out), has_header=False, new_columns=cols, schema=wire)
        return frame.select(_from_csv(c, kinds[c], table.schema[c]) for c in cols)

    # -- writing ----------------------------------------------------------------------------

    def apply(self, conn: psycopg.Connection[Any], table: GoldTable, change: Change) -> int:
        """One table's change, inside the caller's transaction. ``append`` (rows the model
        knows are new: facts, level events): ``COPY`` straight into the table, in a
        savepoint — should a key be there after all, the rows go the staging way instead.
        Else ``COPY`` into a staging table, then ``DELETE`` (replace) and
        ``INSERT … ON CONFLICT``."""
        rows = change.rows
        if table.load_order and rows.height > 1:
            rows = rows.sort(table.load_order)  # index inserts in order (``GoldTable``)
        target = self._ident(table.name)
        if change.mode == "replace":
            cond, params = _where(change.where)
            conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(target, cond), params)
        if rows.height == 0:
            return 0
        kinds = {c.name: c.type for c in table.columns}
        cols = [c for c in rows.columns if c in kinds]
        if change.mode == "append" and not table.static:
            try:
                with conn.transaction():
                    self._copy(conn, target, rows.select(cols), kinds)
                return rows.height
            except (psycopg.errors.UniqueViolation, psycopg.DataError) as exc:
                # a key there after all, or a column typed otherwise than in the lake
                log.info("warehouse_append_staged", table=table.name, reason=str(exc)[:120])
        stage = sql.Identifier(f"_stage_{table.name}")
        col_list = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        conn.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DROP").format(
                stage,
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_CASTS[kinds[c]]))
                    for c in cols
                ),
            )
        )
        self._copy(conn, stage, rows.select(cols), kinds)
        action: sql.Composable
        if change.mode == "append":
            # no conflict target: a table may be keyed wider than ``table.key`` (the one
            # index it needs, e.g. user_level_events on (user_id, ts, event_key))
            action = sql.SQL("DO NOTHING")
        else:
            action = sql.SQL("({}) DO UPDATE SET {}").format(
                sql.Identifier(table.key),
                sql.SQL(", ").join(
                    sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                    for c in cols
                    if c != table.key
                ),
            )
        cur = conn.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT {}").format(
                target, col_list, col_list, stage, action
            )
        )
        conn.execute(sql.SQL("DROP TABLE {}").format(stage))
        return cur.rowcount

    @staticmethod
    def _copy(
        conn: psycopg.Connection[Any],
        into: sql.Identifier,
        rows: pl.DataFrame,
        kinds: dict[str, str],
    ) -> None:
        """Binary ``COPY`` of ``rows`` into the table ``into``, encoded as it is sent."""
        spec = [pgcopy.Column(c, kinds[c]) for c in rows.columns]  # type: ignore[arg-type]
        col_list = sql.SQL(", ").join(sql.Identifier(c) for c in rows.columns)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(into, col_list)
        with conn.cursor().copy(copy_sql) as copy:
            for chunk in pgcopy.copy_stream(rows, spec):
                copy.write(chunk)

    def reset(self, sink: str) -> None:
        """Empty every table built from silver (not the calendars), forget ``sink``'s
        positions and refresh the marts, in one transaction."""
        conn = self.conn
        with conn.transaction():
            tables = [self._ident(t.name) for t in self.model.tables if not t.static]
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(tables)))
            conn.execute("DELETE FROM lakesmith.stream_positions WHERE sink = %s", (sink,))
            for view in self.model.marts:
                conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(self._ident(view)))

    def refresh_marts(self) -> None:
        """Refresh the model's materialised views (after loads)."""
        conn = self.conn
        try:
            with conn.transaction():
                for view in self.model.marts:
                    conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(self._ident(view)))
        except psycopg.Error as exc:
            raise SinkError(f"refreshing the marts of {self.schema} failed: {exc}") from exc


def columns_of(model: Any) -> list[Column]:
    """The lake columns of a SQLModel table class (the warehouse's column types mapped
    to the lake's: a ``date`` is a UTC-midnight timestamp there)."""
    import sqlalchemy as sa

    out = []
    for col in model.__table__.columns:
        t = col.type
        if isinstance(t, sa.BigInteger | sa.Integer):
            kind = "long"
        elif isinstance(t, sa.Double | sa.Float):
            kind = "double"
        elif isinstance(t, sa.DateTime | sa.Date):
            kind = "timestamp"
        elif isinstance(t, sa.Boolean):
            kind = "boolean"
        else:
            kind = "string"
        out.append(Column(col.name, kind, col.comment or ""))
    return out
