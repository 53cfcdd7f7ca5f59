"""lakesmith's own bookkeeping in PostgreSQL (schema ``lakesmith``).

- ``positions``        source positions committed by the Postgres sinks (same transaction as the data)
- ``schema_versions``  the schema registry: every version of every dataset, first seen when/where
- ``dq_batches``       DQ statistics per processed batch (records in / valid / quarantined by rule …)
- ``backfill_days``    per-day checkpoints of lake → time-series backfills

Every statement is idempotent, so ``ensure_meta_schema`` runs at every start.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import psycopg

META_DDL = """
CREATE SCHEMA IF NOT EXISTS lakesmith;
CREATE TABLE IF NOT EXISTS lakesmith.positions (
    sink        text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sink, topic, partition)
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


def ensure_meta_schema(conn: psycopg.Connection[Any]) -> None:
    """Create lakesmith's bookkeeping tables if missing (safe to run concurrently)."""
    with conn.transaction():
        # Serialise concurrent first starts (two workers): CREATE … IF NOT EXISTS can race.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('lakesmith.meta_ddl'))")
        conn.execute(META_DDL)


def read_positions(conn: psycopg.Connection[Any], sink: str, topic: str) -> dict[int, int]:
    rows = conn.execute(
        "SELECT partition, next_offset FROM lakesmith.positions WHERE sink = %s AND topic = %s",
        (sink, topic),
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


def lock_unseen(
    conn: psycopg.Connection[Any], sink: str, topic: str, frame: pl.DataFrame
) -> pl.DataFrame:
    """Inside a transaction: lock ``sink``'s committed positions and return the rows of
    ``frame`` (with ``_partition``/``_offset``) beyond them — a replay writes nothing twice."""
    committed: dict[int, int] = dict(
        conn.execute(
            "SELECT partition, next_offset FROM lakesmith.positions "
            "WHERE sink = %s AND topic = %s FOR UPDATE",
            (sink, topic),
        ).fetchall()
    )
    if not committed:
        return frame
    floor = pl.col("_partition").replace_strict(committed, default=0, return_dtype=pl.Int64)
    return frame.filter(pl.col("_offset") >= floor)


def write_positions(
    conn: psycopg.Connection[Any], sink: str, topic: str, positions: dict[int, int]
) -> None:
    """Advance positions (never backwards); call inside the data's transaction."""
    if not positions:
        return
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO lakesmith.positions (sink, topic, partition, next_offset)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (sink, topic, partition) DO UPDATE
            SET next_offset = GREATEST(lakesmith.positions.next_offset, EXCLUDED.next_offset),
                updated_at = now()
            """,
            [(sink, topic, p, o) for p, o in sorted(positions.items())],
        )
