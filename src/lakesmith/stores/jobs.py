"""Background jobs of the REST API (``lakesmith.api_jobs``): seeding runs here so a
client polls ``GET /v1/jobs/{id}``, and a restarted server tells which jobs it lost.

Each server process has an ``instance`` id; on start, jobs still ``queued``/``running``
under another instance are marked ``interrupted`` (their thread died with the process)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

_DDL = """
CREATE TABLE IF NOT EXISTS lakesmith.api_jobs (
    id text PRIMARY KEY,
    kind text NOT NULL,
    status text NOT NULL,
    owner text NOT NULL,
    instance text NOT NULL,
    params jsonb NOT NULL DEFAULT '{}'::jsonb,
    progress jsonb,
    result jsonb,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""
ACTIVE = ("queued", "running")


def ensure_jobs_table(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute("CREATE SCHEMA IF NOT EXISTS lakesmith")
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('lakesmith.api_jobs_ddl'))")
        conn.execute(_DDL)


def mark_interrupted(conn: psycopg.Connection[Any], instance: str) -> int:
    """Jobs left active by other (dead) server instances become ``interrupted``."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE lakesmith.api_jobs SET status = 'interrupted', updated_at = now(), "
            "error = 'the server stopped while the job ran' "
            "WHERE status = ANY(%s) AND instance <> %s",
            (list(ACTIVE), instance),
        )
    return cur.rowcount


def create_job(
    conn: psycopg.Connection[Any],
    job_id: str,
    kind: str,
    owner: str,
    instance: str,
    params: dict[str, Any],
) -> None:
    with conn.transaction():
        conn.execute(
            "INSERT INTO lakesmith.api_jobs (id, kind, status, owner, instance, params) "
            "VALUES (%s, %s, 'queued', %s, %s, %s)",
            (job_id, kind, owner, instance, Jsonb(params)),
        )


def update_job(
    conn: psycopg.Connection[Any],
    job_id: str,
    *,
    status: str | None = None,
    progress: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE lakesmith.api_jobs SET status = coalesce(%s, status), "
            "progress = coalesce(%s, progress), result = coalesce(%s, result), "
            "error = coalesce(%s, error), updated_at = now() WHERE id = %s",
            (
                status,
                Jsonb(progress) if progress is not None else None,
                Jsonb(result) if result is not None else None,
                error,
                job_id,
            ),
        )


def get_job(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT id, kind, status, owner, params, progress, result, error, created_at, "
            "updated_at FROM lakesmith.api_jobs WHERE id = %s",
            (job_id,),
        ).fetchone()
    return dict(row) if row is not None else None
