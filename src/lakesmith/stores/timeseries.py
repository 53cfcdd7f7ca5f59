"""The time-series store: PostgreSQL (TimescaleDB hypertable when the extension exists).

One table per dataset in schema ``timeseries``, columns from the contract (the event
time renamed to ``timeseries.time_column``) plus ``_record_id`` for lineage, primary key
= the natural key. Without TimescaleDB it is natively range-partitioned by day, with the
partitions a batch needs (and ``partition_days_ahead`` future days) created on the fly.

Loads are binary ``COPY`` (encoded from Polars by ``stores.pgcopy``, no per-row Python),
sorted by the key, straight into the table inside a savepoint; on a key conflict, into a temporary staging
table, then ``INSERT … ON CONFLICT (key) DO UPDATE`` — all in one transaction that also
advances the source positions in ``lakesmith.positions``, after re-reading them under a
row lock and dropping rows already committed. A replayed batch is therefore harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract, FieldSpec
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Positions
from lakesmith.stores import meta, pgcopy

log = get_logger(__name__)

SCHEMA = "timeseries"
PG_TYPES = {
    "string": "text",
    "long": "bigint",
    "double": "double precision",
    "boolean": "boolean",
    "timestamp": "timestamptz",
}


def timescale_available(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return row is not None


class TimeseriesTable:
    """The time-series table of one dataset."""

    def __init__(self, settings: Settings, contract: Contract) -> None:
        if contract.timeseries is None:
            raise ValueError(f"{contract.name} has no timeseries section")
        self.settings = settings
        self.contract = contract
        self.spec = contract.timeseries
        self.table = self.spec.table
        self.sink = f"timeseries:{self.table}"
        self._conn: psycopg.Connection[Any] | None = None
        self._positions = meta.PositionReader(settings, self.sink)
        self._columns: list[str] = []
        self._partitions: set[date] = set()
        self.hypertable = False

    # -- naming ------------------------------------------------------------------------

    def column_of(self, field: str) -> str:
        return self.spec.time_column if field == self.contract.event_time else field

    @property
    def key_columns(self) -> list[str]:
        return [self.column_of(k) for k in self.contract.keys]

    def _ident(self, name: str | None = None) -> sql.Identifier:
        return sql.Identifier(SCHEMA, name or self.table)

    # -- connection & DDL --------------------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = meta.connect_meta(self.settings)
        return self._conn

    def close(self) -> None:
        self._positions.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ensure(self, fields: Sequence[FieldSpec]) -> None:
        """Create the table (hypertable or partitioned) with ``fields`` if it is missing."""
        conn = self.conn
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"lakesmith.ddl.{self.table}",)
            )
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
            cols: list[sql.Composable] = [
                sql.SQL("{} {}{}").format(
                    sql.Identifier(self.column_of(f.name)),
                    sql.SQL(PG_TYPES[f.type]),
                    sql.SQL(" NOT NULL" if f.name in self.contract.keys else ""),
                )
                for f in fields
            ]
            cols.append(sql.SQL("_record_id text NOT NULL"))
            pk = sql.SQL(", ").join(sql.Identifier(c) for c in self.key_columns)
            time_col = sql.Identifier(self.spec.time_column)
            self.hypertable = timescale_available(conn)
            body = sql.SQL(", ").join([*cols, sql.SQL("PRIMARY KEY ({})").format(pk)])
            if self.hypertable:
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(self._ident(), body)
                )
                conn.execute(
                    "SELECT create_hypertable(%s, %s, if_not_exists => TRUE, "
                    "chunk_time_interval => INTERVAL '1 day')",
                    (f"{SCHEMA}.{self.table}", self.spec.time_column),
                )
            else:
                conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}) PARTITION BY RANGE ({})").format(
                        self._ident(), body, time_col
                    )
                )
        self._columns = self._existing_columns()

    def _existing_columns(self) -> list[str]:
        rows = self.conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (SCHEMA, self.table),
        ).fetchall()
        self.conn.commit()
        return [r[0] for r in rows]

    @property
    def columns(self) -> list[str]:
        if not self._columns:
            self._columns = self._existing_columns()
        return self._columns

    def add_columns(self, fields: Sequence[FieldSpec]) -> list[str]:
        """``ALTER TABLE … ADD COLUMN`` for fields the table lacks (at runtime, no restart)."""
        missing = [f for f in fields if self.column_of(f.name) not in self.columns]
        if not missing:
            return []
        with self.conn.transaction():
            for f in missing:
                self.conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        self._ident(),
                        sql.Identifier(self.column_of(f.name)),
                        sql.SQL(PG_TYPES[f.type]),
                    )
                )
        self._columns = self._existing_columns()
        log.info("timeseries_schema_evolved", table=self.table, added=[f.name for f in missing])
        return [f.name for f in missing]

    def ensure_partitions(self, days: Sequence[date]) -> None:
        if self.hypertable:
            return
        today = date.today()
        wanted = set(days) | {
            today + timedelta(d) for d in range(self.spec.partition_days_ahead + 1)
        }
        missing = sorted(wanted - self._partitions)
        if not missing:
            return
        with self.conn.transaction():
            self.conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"lakesmith.ddl.{self.table}",)
            )
            for day in missing:
                self.conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})"
                    ).format(
                        self._ident(f"{self.table}_p{day:%Y%m%d}"),
                        self._ident(),
                        sql.Literal(f"{day.isoformat()} 00:00:00+00"),
                        sql.Literal(f"{(day + timedelta(1)).isoformat()} 00:00:00+00"),
                    )
                )
        self._partitions.update(missing)

    # -- loading -----------------------------------------------------------------------

    def to_rows(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The silver frame in this table's column names and order."""
        renamed = frame.rename({self.contract.event_time: self.spec.time_column})
        present = set(renamed.columns)  # (a list built on every access)
        return renamed.select([c for c in self.columns if c in present])

    def upsert(self, frame: pl.DataFrame, positions: Positions | None = None) -> int:
        """Upsert ``frame`` (silver columns, with ``_stream``/``_seq`` when positioned).

        With ``positions`` the rows below the committed positions are dropped under a
        lock, and the positions advance in the same transaction. The partitions the rows
        need are created first. Returns the number of rows loaded.
        """
        event = self.contract.event_time
        if frame.height:
            self.ensure_partitions(frame.select(pl.col(event).dt.date().unique())[event].to_list())
        conn = self.conn
        _ = self.columns  # read outside the transaction (it commits its own query)
        with conn.transaction():
            if positions:
                frame = meta.lock_unseen(conn, self.sink, positions, frame)
            rows = self.to_rows(frame)
            if rows.height:
                self._load(conn, rows)
            if positions:
                meta.write_positions(conn, self.sink, positions)
        return rows.height

    def _load(self, conn: psycopg.Connection[Any], rows: pl.DataFrame) -> None:
        """Optimistic ``COPY`` straight into the table; on a key conflict, upsert instead.

        The stream is deduplicated before it gets here, so conflicts only happen when a
        batch is replayed (after a crash) or corrects earlier rows: the common case pays
        for one ``COPY`` (~2x the staging+upsert rate), the rare case for both.
        """
        # In key order the server inserts into the primary-key index (and routes to the
        # day partitions) in runs of neighbouring keys instead of at random leaves:
        # 1M rows in 100k frames load ~35% faster (benchmarks/bench_timeseries_copy.py).
        rows = rows.sort(self.key_columns)
        col_list = sql.SQL(", ").join(sql.Identifier(c) for c in rows.columns)
        try:
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                self._ident(), col_list
            )
            # a savepoint inside the caller's transaction, rolled back on a key conflict
            with conn.transaction(), conn.cursor().copy(copy_sql) as copy:
                for chunk in self._encode(rows):
                    copy.write(chunk)
            return
        except psycopg.errors.UniqueViolation:
            log.info("timeseries_copy_conflict", table=self.table, rows=rows.height)
        self._copy_upsert(conn, rows, self._encode(rows))

    def _encode(self, rows: pl.DataFrame) -> Iterator[bytes | memoryview]:
        """The rows as a binary ``COPY`` stream, encoded as it is sent."""
        spec = [pgcopy.Column(c, self._kinds.get(c, "string")) for c in rows.columns]
        return pgcopy.copy_stream(rows, spec)

    @property
    def _kinds(self) -> dict[str, pgcopy.Kind]:
        return {self.column_of(f.name): f.type for f in self.contract.fields}

    def _copy_upsert(
        self, conn: psycopg.Connection[Any], rows: pl.DataFrame, buf: Iterable[bytes | memoryview]
    ) -> None:
        cols = rows.columns
        col_list = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS _stage (LIKE {}) ON COMMIT DELETE ROWS"
            ).format(self._ident())
        )
        # The staging table may predate an ADD COLUMN: recreate it when the columns differ.
        stage_cols = {
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = '_stage'::regclass AND attnum > 0 AND NOT attisdropped"
            ).fetchall()
        }
        if not set(cols) <= stage_cols:
            conn.execute("DROP TABLE _stage")
            conn.execute(
                sql.SQL("CREATE TEMP TABLE _stage (LIKE {}) ON COMMIT DELETE ROWS").format(
                    self._ident()
                )
            )
        with conn.cursor().copy(
            sql.SQL("COPY _stage ({}) FROM STDIN (FORMAT binary)").format(col_list)
        ) as copy:
            for chunk in buf:
                copy.write(chunk)
        keys = set(self.key_columns)
        updates = sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
            for c in cols
            if c not in keys
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} ({}) SELECT {} FROM _stage ON CONFLICT ({}) DO UPDATE SET {}"
            ).format(
                self._ident(),
                col_list,
                col_list,
                sql.SQL(", ").join(sql.Identifier(c) for c in self.key_columns),
                updates,
            )
        )

    def read_all(self) -> pl.DataFrame:
        """Every row of the table (tests and small demos)."""
        with self.conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT * FROM {}").format(self._ident()))
            cols = [d.name for d in cur.description or []]
            rows = cur.fetchall()
        self.conn.commit()
        return pl.DataFrame(rows, schema=cols, orient="row", infer_schema_length=None)

    def positions(self, streams: Iterable[str]) -> Positions:
        return self._positions.read(streams)  # not on the writing connection
