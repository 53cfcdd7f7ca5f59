"""The folder-drop ledger (``lakesmith.file_ledger`` in PostgreSQL): one row per file
*content* the watcher saw, keyed by the content's hash, so a file dropped again (another
name, a new modified time, after a restart) is recognised and not ingested twice.

``status``: ``started`` (ingest running or interrupted: resumed next time), ``done``
(every record committed), ``no_handler`` (nothing knows its type; recorded, left alone),
``handled`` (a handler hook took it), ``failed`` (the error is in ``detail``; retried at the
next start).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS lakesmith;
CREATE TABLE IF NOT EXISTS lakesmith.file_ledger (
    content_hash text PRIMARY KEY,
    path         text NOT NULL,
    size_bytes   bigint NOT NULL,
    dataset      text,
    status       text NOT NULL,
    records      bigint,
    detail       text,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
"""

FINAL = ("done", "no_handler", "handled")  # never picked up again


@dataclass(frozen=True)
class LedgerEntry:
    content_hash: str
    path: str
    size_bytes: int
    dataset: str | None
    status: str
    records: int | None
    detail: str | None
    updated_at: datetime


def ensure_ledger(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('lakesmith.file_ledger_ddl'))")
        conn.execute(LEDGER_DDL)


def lookup(conn: psycopg.Connection[Any], content_hash: str) -> LedgerEntry | None:
    row = conn.execute(
        "SELECT content_hash, path, size_bytes, dataset, status, records, detail, updated_at "
        "FROM lakesmith.file_ledger WHERE content_hash = %s",
        (content_hash,),
    ).fetchone()
    conn.commit()
    return LedgerEntry(*row) if row is not None else None


def record(
    conn: psycopg.Connection[Any],
    content_hash: str,
    path: str,
    size_bytes: int,
    status: str,
    *,
    dataset: str | None = None,
    records: int | None = None,
    detail: str | None = None,
) -> None:
    """Insert or update the content's row (the path is the latest it was seen at)."""
    with conn.transaction():
        conn.execute(
            """
            INSERT INTO lakesmith.file_ledger
                (content_hash, path, size_bytes, dataset, status, records, detail)
            VALUES (%s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (content_hash) DO UPDATE SET
                path = EXCLUDED.path, dataset = EXCLUDED.dataset, status = EXCLUDED.status,
                records = EXCLUDED.records, detail = EXCLUDED.detail, updated_at = now()
            """,
            (content_hash, path, size_bytes, dataset, status, records, detail),
        )


def entries(conn: psycopg.Connection[Any], limit: int = 1000) -> list[LedgerEntry]:
    rows = conn.execute(
        "SELECT content_hash, path, size_bytes, dataset, status, records, detail, updated_at "
        "FROM lakesmith.file_ledger ORDER BY updated_at DESC LIMIT %s",
        (limit,),
    ).fetchall()
    conn.commit()
    return [LedgerEntry(*r) for r in rows]
