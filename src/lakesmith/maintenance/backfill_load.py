"""The PostgreSQL side of a backfill day: the *attach* and *upsert* load paths, the
binary ``COPY`` stream and the day's checksum in PostgreSQL (see ``backfill`` for the
whole procedure). ``Backfill`` supplies the lake side (``_chunks``, ``_prefetched``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from lakesmith.contracts.model import Contract
from lakesmith.core.logging import get_logger
from lakesmith.maintenance import checksum as ck
from lakesmith.maintenance.checksum import Checksum
from lakesmith.stores import pgcopy
from lakesmith.stores.timeseries import SCHEMA, TimeseriesTable

log = get_logger(__name__)

Conn = psycopg.Connection[Any]
OnRows = Callable[[int], None] | None
Phases = dict[str, float]


class _UpsertInsteadError(Exception):
    """The attach path cannot take this day (its partition has rows, maybe just written by
    the stream; a hypertable; duplicate keys in the lake): redo it as an upsert."""


@dataclass
class _Work:
    """One day in progress: what the lake held, phase timings, the progress callback."""

    day: date
    on_rows: OnRows
    lake: Checksum = field(default_factory=Checksum)
    phases: Phases = field(default_factory=dict)


def _ids(names: Sequence[str], template: str = "{}") -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL(template).format(sql.Identifier(n)) for n in names)


def _run(conn: Conn, template: str, *parts: sql.Composable) -> psycopg.Cursor[Any]:
    return conn.execute(sql.SQL(template).format(*parts))


class DayLoader:
    """Load paths of one day; mixed into ``Backfill``, which sets these attributes."""

    contract: Contract
    ts: TimeseriesTable
    name: str
    time_column: str
    present: list[str]
    spec: list[ck.ChecksumColumn]
    ddl: sql.Composed

    def _chunks(self, w: _Work, encode: bool) -> Iterator[tuple[pa.Buffer | None, int]]:
        raise NotImplementedError

    def _prefetched(self, items: Iterator[Any], depth: int = 3) -> Iterator[Any]:
        raise NotImplementedError

    def _bounds(self, day: date) -> tuple[sql.Literal, sql.Literal]:
        """The day's partition bounds, spelled as ``TimeseriesTable.ensure_partitions`` does."""
        lo, hi = (sql.Literal(f"{d.isoformat()} 00:00:00+00") for d in (day, day + timedelta(1)))
        return lo, hi

    def _where(self, day: date) -> sql.Composed:
        return sql.SQL("{0} >= {1} AND {0} < {2}").format(
            sql.Identifier(self.time_column), *self._bounds(day)
        )

    def _attach(self, conn: Conn, w: _Work) -> tuple[int, Checksum]:
        """Load into a new table, index and verify it, then swap it in as the day's partition."""
        part = f"{self.name}_p{w.day:%Y%m%d}"
        final, new = sql.Identifier(SCHEMA, part), sql.Identifier(SCHEMA, f"{part}_bf")
        pkey, time_column = f"{part}_bf_pkey", sql.Identifier(self.time_column)
        _run(conn, "CREATE TABLE {} ({})", new, self.ddl)
        written = self._copy(conn, w, new, ", FREEZE")
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
                dataset=self.contract.name,
                day=w.day.isoformat(),
                error=str(exc).splitlines()[0],
            )
            raise _UpsertInsteadError from exc
        _run(
            conn,
            "ALTER TABLE {} ADD CONSTRAINT bounds CHECK ({} IS NOT NULL AND {})",
            new,
            time_column,
            self._where(w.day),
        )
        t1 = time.perf_counter()
        target = ck.pg_checksum(conn, self.spec, new, sql.SQL("true"), self.present)
        t2 = time.perf_counter()
        self._ddl_lock(conn)
        if self._has_rows(conn, part, lock=True):
            raise _UpsertInsteadError  # the stream wrote into it meanwhile
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
            *self._bounds(w.day),
        )
        _run(conn, "ALTER TABLE {} DROP CONSTRAINT bounds", final)
        w.phases.update(index=t1 - t0, verify=t2 - t1, attach=time.perf_counter() - t2)
        return written, target

    def _upsert(self, conn: Conn, w: _Work) -> tuple[int, Checksum]:
        """Stage the day, merge it into the table (equal rows left alone), verify."""
        stage = sql.Identifier("_backfill_stage")
        _run(conn, "CREATE TEMP TABLE {} ({}) ON COMMIT DROP", stage, self.ddl)
        self._copy(conn, w, stage, "")
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
        w.phases["merge"] = time.perf_counter() - t0
        return max(cur.rowcount, 0), self._pg_day(conn, w)

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

    def _stream(self, w: _Work, copy: Any) -> int:
        """Read the day from the lake, checksumming it; with ``copy``, send it on."""
        rows = 0
        for data, n in self._prefetched(self._chunks(w, copy is not None)):
            if copy is not None:
                copy.write(data)
            rows += n
            if w.on_rows:
                w.on_rows(n)
        return rows

    def _copy(self, conn: Conn, w: _Work, into: sql.Identifier, options: str) -> int:
        columns = _ids([c.name for c in self.spec])
        stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary{})")
        t0 = time.perf_counter()
        with conn.cursor().copy(stmt.format(into, columns, sql.SQL(options))) as copy:
            copy.write(pgcopy.COPY_HEADER)
            rows = self._stream(w, copy)
            copy.write(pgcopy.COPY_TRAILER)
        w.phases["copy"] = time.perf_counter() - t0
        return rows

    def _pg_day(self, conn: Conn, w: _Work) -> Checksum:
        t0 = time.perf_counter()
        target = Checksum()
        if self.present:  # else there is no table yet
            parent = sql.Identifier(SCHEMA, self.name)
            target = ck.pg_checksum(conn, self.spec, parent, self._where(w.day), self.present)
        w.phases["verify"] = time.perf_counter() - t0
        return target

    # -- all days ----------------------------------------------------------------------------
