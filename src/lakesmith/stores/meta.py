"""lakesmith's own bookkeeping in PostgreSQL (schema ``lakesmith``).

- ``stream_positions`` source positions committed by the Postgres sinks (same transaction as the data)
- ``schema_versions``  the schema registry: every version of every dataset, first seen when/where
- ``dq_batches``       DQ statistics per processed batch (records in / valid / quarantined by rule …)
- ``backfill_days``    per-day checkpoints of lake → time-series backfills
- ``position_resets``  every ``lakesmith reset-positions`` (when, to what, the positions written)

Every statement is idempotent, so ``ensure_meta_schema`` runs at every start.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl
import psycopg

from lakesmith.config import Settings
from lakesmith.core import positions as pos
from lakesmith.stores.postgres import connect

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
