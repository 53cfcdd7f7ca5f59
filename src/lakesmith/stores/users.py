"""API users kept in PostgreSQL (``lakesmith.api_users``): name, argon2 hash, role.

Users may also come from the settings (``[api.users]``); this table is what
``lakesmith api user-add`` writes, so users can be added without editing the config."""

from __future__ import annotations

from typing import Any

import psycopg

_DDL = """
CREATE TABLE IF NOT EXISTS lakesmith.api_users (
    name text PRIMARY KEY,
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


def ensure_users_table(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute("CREATE SCHEMA IF NOT EXISTS lakesmith")
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('lakesmith.api_users_ddl'))")
        conn.execute(_DDL)


def upsert_user(conn: psycopg.Connection[Any], name: str, password_hash: str, role: str) -> None:
    ensure_users_table(conn)
    with conn.transaction():
        conn.execute(
            "INSERT INTO lakesmith.api_users (name, password_hash, role) VALUES (%s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, "
            "role = EXCLUDED.role",
            (name, password_hash, role),
        )


def delete_user(conn: psycopg.Connection[Any], name: str) -> bool:
    ensure_users_table(conn)
    with conn.transaction():
        cur = conn.execute("DELETE FROM lakesmith.api_users WHERE name = %s", (name,))
    return cur.rowcount > 0


def find_user(conn: psycopg.Connection[Any], name: str) -> tuple[str, str] | None:
    """``(password hash, role)`` of ``name``, None when unknown."""
    row = conn.execute(
        "SELECT password_hash, role FROM lakesmith.api_users WHERE name = %s", (name,)
    ).fetchone()
    return (str(row[0]), str(row[1])) if row is not None else None
