"""lakesmith's own bookkeeping in PostgreSQL (schema ``lakesmith``).

- ``stream_positions`` source positions committed by the Postgres sinks (same transaction as the data)
- ``schema_versions``  the schema registry: every version of every dataset, first seen when/where
- ``stream_context``   what a stream's records need to be decoded again (a CSV file's header)
- ``dq_batches``       DQ statistics per processed batch (records in / valid / quarantined by rule …)
- ``backfill_days``    per-day checkpoints of lake → time-series backfills
- ``position_resets``  every ``lakesmith reset-positions`` (when, to what, the positions written)

Every statement is idempotent, so ``ensure_meta_schema`` runs at every start.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import polars as pl
import psycopg

from lakesmith.config import Settings
from lakesmith.core import positions as pos
from lakesmith.core.logging import get_logger
from lakesmith.stores.postgres import connect

log = get_logger(__name__)

META_DDL = """
CREATE SCHEMA IF NOT EXISTS lakesmith;
CREATE TABLE IF NOT EXISTS lakesmith.stream_positions (
    sink       text   NOT NULL,
    stream     text   NOT NULL,
    next_seq   bigint NOT NULL,
    cursor     text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sink, stream)
);
CREATE TABLE IF NOT EXISTS lakesmith.stream_context (
    dataset text  NOT NULL,
    stream  text  NOT NULL,
    context bytea NOT NULL,
    PRIMARY KEY (dataset, stream)
);
CREATE TABLE IF NOT EXISTS lakesmith.schema_versions (
    dataset       text    NOT NULL,
    version       integer NOT NULL,
    fields        jsonb   NOT NULL,
    first_seen_at timestamptz NOT NULL,
    first_source  text,
    PRIMARY KEY (dataset, version)
);
CREATE TABLE IF NOT EXISTS lakesmith.dq_batches (
    dataset          text NOT NULL,
    batch_id         text NOT NULL,
    processed_at     timestamptz NOT NULL,
    records_in       integer NOT NULL,
    valid            integer NOT NULL,
    quarantined      integer NOT NULL,
    duplicates       integer NOT NULL,
    rule_counts      jsonb NOT NULL,
    schema_versions  jsonb NOT NULL,
    min_event_time   timestamptz,
    max_event_time   timestamptz,
    lag_seconds      double precision,
    source_positions jsonb NOT NULL,
    PRIMARY KEY (dataset, batch_id)
);
CREATE INDEX IF NOT EXISTS dq_batches_time ON lakesmith.dq_batches (dataset, processed_at);
CREATE TABLE IF NOT EXISTS lakesmith.position_resets (
    dataset   text NOT NULL,
    reset_at  timestamptz NOT NULL DEFAULT now(),
    target    text NOT NULL,
    positions jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS lakesmith.backfill_days (
    dataset     text NOT NULL,
    target      text NOT NULL,
    day         date NOT NULL,
    rows        bigint NOT NULL,
    checksum    text NOT NULL,
    verified    boolean NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, target, day)
);
"""


def connect_meta(settings: Settings) -> psycopg.Connection[Any]:
    """A new PostgreSQL connection with lakesmith's bookkeeping tables in place."""
    conn = connect(settings)
    ensure_meta_schema(conn)
    return conn


def ensure_meta_schema(conn: psycopg.Connection[Any]) -> None:
    """Create lakesmith's bookkeeping tables if missing (safe to run concurrently)."""
    with conn.transaction():
        # Serialise concurrent first starts (two workers): CREATE … IF NOT EXISTS can race.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('lakesmith.meta_ddl'))")
        conn.execute(META_DDL)


def read_positions(
    conn: psycopg.Connection[Any], sink: str, streams: Iterable[str]
) -> pos.Positions:
    rows = conn.execute(
        "SELECT stream, next_seq, cursor FROM lakesmith.stream_positions "
        "WHERE sink = %s AND stream = ANY(%s)",
        (sink, list(streams)),
    ).fetchall()
    return {s: pos.Position(int(n), c) for s, n, c in rows}


class PositionReader:
    """Reads one sink's committed positions on a connection of its own.

    The worker asks for positions from its polling thread (a rebalance assigns partitions
    during ``poll``) while a sink thread may be in the middle of a write transaction on the
    sink's connection: on that connection the read would join the open transaction (and
    its ``commit`` raise "commit() forbidden within a Transaction"). Positions read here
    are the committed ones, which is what a source resumes from."""

    def __init__(self, settings: Settings, sink: str) -> None:
        self.settings = settings
        self.sink = sink
        self._conn: psycopg.Connection[Any] | None = None

    def read(self, streams: Iterable[str]) -> pos.Positions:
        if self._conn is None or self._conn.closed:  # opened again after a restart
            self._conn = connect_meta(self.settings)
            self._conn.autocommit = True  # each read sees what is committed now
        return read_positions(self._conn, self.sink, streams)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def lock_unseen(
    conn: psycopg.Connection[Any], sink: str, positions: pos.Positions, frame: pl.DataFrame
) -> pl.DataFrame:
    """Inside a transaction: lock ``sink``'s committed positions of the batch's streams and
    return the rows of ``frame`` (with ``_stream``/``_seq``) beyond them — a replay writes
    nothing twice."""
    committed = {
        s: pos.Position(int(n))
        for s, n in conn.execute(
            "SELECT stream, next_seq FROM lakesmith.stream_positions "
            "WHERE sink = %s AND stream = ANY(%s) FOR UPDATE",
            (sink, sorted(positions)),
        ).fetchall()
    }
    return pos.unseen(frame, committed)


def write_positions(conn: psycopg.Connection[Any], sink: str, positions: pos.Positions) -> None:
    """Advance positions (never backwards); call inside the data's transaction."""
    if not positions:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO lakesmith.stream_positions (sink, stream, next_seq, cursor)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (sink, stream) DO UPDATE
            SET next_seq = GREATEST(lakesmith.stream_positions.next_seq, EXCLUDED.next_seq),
                cursor = CASE WHEN EXCLUDED.next_seq >= lakesmith.stream_positions.next_seq
                              THEN EXCLUDED.cursor ELSE lakesmith.stream_positions.cursor END,
                updated_at = now()
            """,
            [(sink, s, p.next, p.cursor) for s, p in sorted(positions.items())],
        )


def insert_dq_batch(conn: psycopg.Connection[Any], stats: dict[str, Any]) -> None:
    """One row of per-batch DQ statistics (idempotent on ``(dataset, batch_id)``)."""
    conn.execute(
        """
        INSERT INTO lakesmith.dq_batches (dataset, batch_id, processed_at, records_in, valid,
            quarantined, duplicates, rule_counts, schema_versions, min_event_time,
            max_event_time, lag_seconds, source_positions)
        VALUES (%(dataset)s, %(batch_id)s, %(processed_at)s, %(records_in)s, %(valid)s,
            %(quarantined)s, %(duplicates)s, %(rule_counts)s, %(schema_versions)s,
            %(min_event_time)s, %(max_event_time)s, %(lag_seconds)s, %(source_positions)s)
        ON CONFLICT (dataset, batch_id) DO NOTHING
        """,
        stats,
    )


def record_reset(conn: psycopg.Connection[Any], dataset: str, target: str, positions: str) -> None:
    """Remember a ``reset-positions`` (an audit trail beside the DQ history)."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO lakesmith.position_resets (dataset, target, positions) VALUES (%s, %s, %s)",
            (dataset, target, positions),
        )


class AdvisoryLock:
    """A PostgreSQL session advisory lock named ``name``, as a reusable context manager:
    every process using the same PostgreSQL server and name waits its turn. The lake uses
    one per table to serialise commits (``stores.lake.CommitLock``).

    It holds its own connection (opened on first use), because a session lock is released
    by the session that took it; a killed holder's session ends and the lock with it. A
    connection lost while held loses the lock too — harmless, as commits never depend on it
    for correctness. Threads of one process take turns through a local lock first."""

    def __init__(self, settings: Settings, name: str, timeout_s: float = 300.0) -> None:
        self.settings = settings
        self.name = name
        self.key = int.from_bytes(
            hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True
        )
        self.timeout_s = timeout_s
        self._conn: psycopg.Connection[Any] | None = None
        self._local = threading.Lock()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.settings, autocommit=True)
            # a holder stuck longer than this is a failure, not a queue
            self._conn.execute(f"SET lock_timeout = '{int(self.timeout_s * 1000)}ms'")
        return self._conn

    def __enter__(self) -> AdvisoryLock:
        self._local.acquire()
        try:
            self._connection().execute("SELECT pg_advisory_lock(%s)", (self.key,))
        except BaseException:
            self._drop()
            self._local.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._conn is not None and not self._conn.closed:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except psycopg.Error as error:
            log.warning("advisory_unlock_failed", lock=self.name, error=str(error))
            self._drop()  # closing the session releases the lock
        finally:
            self._local.release()

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._local:
            self._drop()
