"""The PostgreSQL side of a lake → time-series backfill (``maintenance.backfill`` plans the
days and reads the lake; this module loads, verifies and checkpoints them).

A day arrives as binary ``COPY`` tuples (``stores.pgcopy``) from an iterator of
``(data, rows)`` chunks and is loaded in ONE transaction (``day_transaction``) that also
verifies it (``stores.pgchecksum``) and writes its checkpoint to
``lakesmith.backfill_days``:

- *attach* (native partitioning, the day's partition missing or empty): ``COPY … FREEZE``
  into a new standalone table, add its primary key and a CHECK matching the bounds, verify,
  then ``ATTACH PARTITION`` — PostgreSQL adopts the index and skips the validation scan.
  The parent is touched last, after the DDL advisory lock the streaming worker also takes.
- *upsert* (the day has rows, or a TimescaleDB hypertable): ``COPY`` into a temporary
  table, then ``INSERT … ON CONFLICT (key) DO UPDATE … WHERE … IS DISTINCT FROM`` (rows
  that are already equal are not rewritten).

When the attach path cannot take a day it raises ``UpsertInsteadError`` (its transaction
rolls back); the caller redoes the day as an upsert.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import psycopg
import pyarrow as pa
from psycopg import sql

from lakesmith.config import Settings
from lakesmith.contracts.model import FieldSpec
from lakesmith.core.logging import get_logger
from lakesmith.stores import pgchecksum, pgcopy
from lakesmith.stores.pgchecksum import ChecksumSpec
from lakesmith.stores.postgres import connect
from lakesmith.stores.timeseries import SCHEMA, TimeseriesTable

log = get_logger(__name__)

Conn = psycopg.Connection[Any]
LoadPath = Literal["attach", "upsert", "verify"]
Chunks = Iterable[tuple[pa.Buffer, int]]  # binary COPY tuples (no header/trailer), rows
Phases = dict[str, float]  # seconds per phase of a day: copy, index, verify, attach, merge
RowsAndHash = tuple[int, int]  # a checksum computed in PostgreSQL: (rows, Σ row hash)


class UpsertInsteadError(Exception):
    """The attach path cannot take this day (its partition has rows, maybe just written by
    the stream; a hypertable; duplicate keys in the lake): redo it as an upsert."""


@dataclass(frozen=True)
class TargetColumn:
    """A column of the time-series table, as PostgreSQL has it."""

    name: str
    type: str  # format_type(atttypid, atttypmod)
    not_null: bool


def prepare_table(
    ts: TimeseriesTable, fields: Sequence[FieldSpec], *, create: bool
) -> tuple[list[TargetColumn], bool]:
    """Create/widen the table with ``fields`` (when ``create``); return its columns (none:
    no table) and whether it is natively partitioned."""
    if create:
        ts.ensure(fields)
        ts.add_columns(fields)
    rows = ts.conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull, "
        "(SELECT relkind FROM pg_class WHERE oid = attrelid) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (f'{SCHEMA}."{ts.table}"',),
    ).fetchall()
    ts.close()
    columns = [TargetColumn(str(n), str(t), bool(nn)) for n, t, nn, _ in rows]
    return columns, bool(rows) and rows[0][3] == "p"


def _ids(names: Sequence[str], template: str = "{}") -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL(template).format(sql.Identifier(n)) for n in names)


def _run(conn: Conn, template: str, *parts: sql.Composable) -> psycopg.Cursor[Any]:
    return conn.execute(sql.SQL(template).format(*parts))


class BackfillTarget:
    """The time-series table of one dataset as a backfill target.

    ``columns`` are the table's (from ``prepare_table``); ``spec`` the columns to load and
    verify, in load order (those the table lacks are null on its side). Connections are
    pooled, one per concurrent day.
    """

    def __init__(
        self,
        settings: Settings,
        ts: TimeseriesTable,
        dataset: str,
        columns: Sequence[TargetColumn],
        partitioned: bool,
        spec: Sequence[ChecksumSpec],
    ) -> None:
        self.settings, self.ts, self.dataset = settings, ts, dataset
        self.name, self.target = ts.table, ts.sink
        self.time_column = ts.spec.time_column
        self.present = [c.name for c in columns]
        self.partitioned = partitioned
        self.spec = list(spec)
        self._ddl = sql.SQL(", ").join(
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name),
                sql.SQL(c.type),
                sql.SQL(" NOT NULL" * c.not_null),
            )
            for c in columns
        )
        self._pool: queue.SimpleQueue[Conn] = queue.SimpleQueue()

    # -- connections and checkpoints -------------------------------------------------------

    @contextlib.contextmanager
    def connection(self) -> Iterator[Conn]:
        """A pooled connection (one per concurrent day)."""
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = connect(self.settings)
        try:
            yield conn
        finally:
            if conn.closed or conn.broken:
                conn.close()
            else:
                self._pool.put(conn)

    def close(self) -> None:
        while not self._pool.empty():
            self._pool.get_nowait().close()

    def checkpoints(self) -> dict[date, tuple[int, bool]]:
        """``day → (rows, verified)`` of earlier backfills of this dataset into this table."""
        with self.connection() as conn, conn.transaction():
            rows = conn.execute(
                "SELECT day, rows, verified FROM lakesmith.backfill_days "
                "WHERE dataset = %s AND target = %s",
                (self.dataset, self.target),
            ).fetchall()
        return {d: (int(n), bool(v)) for d, n, v in rows}

    def write_checkpoint(
        self, conn: Conn, day: date, rows: int, checksum: str, verified: bool
    ) -> None:
        """Record the day's outcome (inside its ``day_transaction``)."""
        conn.execute(
            "INSERT INTO lakesmith.backfill_days (dataset, target, day, rows, checksum, verified) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (dataset, target, day) DO UPDATE SET "
            "rows = EXCLUDED.rows, checksum = EXCLUDED.checksum, verified = EXCLUDED.verified, "
            "finished_at = now()",
            (self.dataset, self.target, day, rows, checksum, verified),
        )

    # -- one day -----------------------------------------------------------------------------

    def _part(self, day: date) -> str:
        return f"{self.name}_p{day:%Y%m%d}"

    def _bounds(self, day: date) -> tuple[sql.Literal, sql.Literal]:
        """The day's partition bounds, spelled as ``TimeseriesTable.ensure_partitions`` does."""
        lo, hi = (sql.Literal(f"{d.isoformat()} 00:00:00+00") for d in (day, day + timedelta(1)))
        return lo, hi

    def _where(self, day: date) -> sql.Composed:
        return sql.SQL("{0} >= {1} AND {0} < {2}").format(
            sql.Identifier(self.time_column), *self._bounds(day)
        )

    def prepare_day(self, conn: Conn, day: date, path: LoadPath) -> None:
        """Before loading ``day`` by ``path``, in a short transaction of its own: *upsert*
        creates the day's partition; *attach* raises ``UpsertInsteadError`` unless the table
        is partitioned and the partition is missing or empty."""
        if path == "attach" and not self.partitioned:
            raise UpsertInsteadError  # a hypertable (or a plain table): upsert
        if path == "verify" or not self.partitioned:
            return
        with conn.transaction():
            self._ddl_lock(conn)
            if path == "upsert":
                _run(
                    conn,
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})",
                    sql.Identifier(SCHEMA, self._part(day)),
                    sql.Identifier(SCHEMA, self.name),
                    *self._bounds(day),
                )
            elif self._has_rows(conn, self._part(day)):
                raise UpsertInsteadError

    @contextlib.contextmanager
    def day_transaction(self, conn: Conn) -> Iterator[None]:
        """The transaction of one day: load, verify, checkpoint."""
        with conn.transaction():
            conn.execute("SET LOCAL maintenance_work_mem = '256MB'")  # for the index build
            yield

    def attach(
        self, conn: Conn, day: date, chunks: Chunks, phases: Phases
    ) -> tuple[int, RowsAndHash]:
        """Load into a new table, index and verify it, then swap it in as the day's partition.
        Returns the rows written and the new partition's checksum."""
        part = self._part(day)
        final, new = sql.Identifier(SCHEMA, part), sql.Identifier(SCHEMA, f"{part}_bf")
        pkey, time_column = f"{part}_bf_pkey", sql.Identifier(self.time_column)
        _run(conn, "CREATE TABLE {} ({})", new, self._ddl)
        written = self._copy(conn, new, ", FREEZE", chunks, phases)
        t0 = time.perf_counter()
        keys = _ids(self.ts.key_columns)
        try:
            _run(
                conn,
                "ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})",
                new,
                sql.Identifier(pkey),
                keys,
            )
        except psycopg.errors.UniqueViolation as exc:
            log.warning(
                "backfill_duplicate_keys",
                dataset=self.dataset,
                day=day.isoformat(),
                error=str(exc).splitlines()[0],
            )
            raise UpsertInsteadError from exc
        _run(
            conn,
            "ALTER TABLE {} ADD CONSTRAINT bounds CHECK ({} IS NOT NULL AND {})",
            new,
            time_column,
            self._where(day),
        )
        t1 = time.perf_counter()
        target = pgchecksum.table_checksum(conn, self.spec, new, sql.SQL("true"), self.present)
        t2 = time.perf_counter()
        self._ddl_lock(conn)
        if self._has_rows(conn, part, lock=True):
            raise UpsertInsteadError  # the stream wrote into it meanwhile
        _run(conn, "DROP TABLE IF EXISTS {}", final)  # an empty partition is replaced
        _run(conn, "ALTER TABLE {} RENAME TO {}", new, sql.Identifier(part))
        _run(
            conn,
            "ALTER INDEX {} RENAME TO {}",
            sql.Identifier(SCHEMA, pkey),
            sql.Identifier(f"{part}_pkey"),
        )
        _run(
            conn,
            "ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})",
            sql.Identifier(SCHEMA, self.name),
            final,
            *self._bounds(day),
        )
        _run(conn, "ALTER TABLE {} DROP CONSTRAINT bounds", final)
        phases.update(index=t1 - t0, verify=t2 - t1, attach=time.perf_counter() - t2)
        return written, target

    def upsert(
        self, conn: Conn, day: date, chunks: Chunks, phases: Phases
    ) -> tuple[int, RowsAndHash | None]:
        """Stage the day, merge it into the table (equal rows left alone), verify. Returns
        the rows inserted or changed and the day's checksum in the table."""
        stage = sql.Identifier("_backfill_stage")
        _run(conn, "CREATE TEMP TABLE {} ({}) ON COMMIT DROP", stage, self._ddl)
        self._copy(conn, stage, "", chunks, phases)
        t0 = time.perf_counter()
        cols, keys = [c.name for c in self.spec], self.ts.key_columns
        rest = [c for c in cols if c not in keys]
        order = _ids([*keys, "_record_id"] if "_record_id" in rest else keys)
        action: sql.Composable = sql.SQL("DO NOTHING")
        if rest:
            action = sql.SQL("DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})").format(
                _ids(rest, "{0} = EXCLUDED.{0}"), _ids(rest, "t.{}"), _ids(rest, "EXCLUDED.{}")
            )
        cur = _run(
            conn,
            "INSERT INTO {} AS t ({}) SELECT DISTINCT ON ({}) {} FROM {} ORDER BY {} DESC "
            "ON CONFLICT ({}) {}",
            sql.Identifier(SCHEMA, self.name), _ids(cols), _ids(keys), _ids(cols), stage, order,
            _ids(keys), action,
        )  # fmt: skip
        phases["merge"] = time.perf_counter() - t0
        return max(cur.rowcount, 0), self.day_checksum(conn, day, phases)

    def day_checksum(self, conn: Conn, day: date, phases: Phases) -> RowsAndHash | None:
        """The day's checksum in the table (None: there is no table)."""
        t0 = time.perf_counter()
        target = None
        if self.present:
            parent = sql.Identifier(SCHEMA, self.name)
            target = pgchecksum.table_checksum(
                conn, self.spec, parent, self._where(day), self.present
            )
        phases["verify"] = time.perf_counter() - t0
        return target

    def column_sums(self, conn: Conn, day: date) -> dict[str, int]:
        """Per column, the day's sum of fingerprints in the table (names what differs)."""
        with conn.transaction():
            parent = sql.Identifier(SCHEMA, self.name)
            _, sums = pgchecksum.column_sums(
                conn, self.spec, parent, self._where(day), self.present
            )
        return sums

    # -- helpers -----------------------------------------------------------------------------

    def _ddl_lock(self, conn: Conn) -> None:
        """The advisory lock ``TimeseriesTable`` takes for its DDL (same order: no deadlock)."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"lakesmith.ddl.{self.name}",))

    def _has_rows(self, conn: Conn, part: str, lock: bool = False) -> bool:
        """Whether partition ``part`` exists and has rows (``lock``: and keep writers out)."""
        found = conn.execute("SELECT to_regclass(%s)", (f'{SCHEMA}."{part}"',)).fetchone()
        if found is None or found[0] is None:
            return False
        table = sql.Identifier(SCHEMA, part)
        if lock:
            _run(conn, "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", table)
        return _run(conn, "SELECT EXISTS (SELECT 1 FROM {})", table).fetchone() == (True,)

    def _copy(
        self, conn: Conn, into: sql.Identifier, options: str, chunks: Chunks, phases: Phases
    ) -> int:
        columns = _ids([c.name for c in self.spec])
        stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary{})")
        t0 = time.perf_counter()
        rows = 0
        with conn.cursor().copy(stmt.format(into, columns, sql.SQL(options))) as copy:
            copy.write(pgcopy.COPY_HEADER)
            for data, n in chunks:
                copy.write(data)
                rows += n
            copy.write(pgcopy.COPY_TRAILER)
        phases["copy"] = time.perf_counter() - t0
        return rows
