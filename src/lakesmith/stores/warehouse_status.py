"""Which warehouse migrations are applied: the Alembic head of a model's branch against
the revision recorded in its schema (``/readyz`` of the REST API)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from lakesmith.config import Settings


def head_revision(settings: Settings, model: str, schema: str) -> str | None:
    """The newest revision of ``model``'s branch (None: the model has no migrations)."""
    from alembic.script import ScriptDirectory

    from lakesmith.stores.warehouse import alembic_config

    script = ScriptDirectory.from_config(alembic_config(settings, schema))
    try:
        rev = script.get_revision(f"{model}@head")
    except Exception:
        return None
    return rev.revision if rev is not None else None


def current_revision(conn: psycopg.Connection[Any], schema: str) -> str | None:
    """The revision recorded in ``schema`` (None: never migrated)."""
    exists = conn.execute(
        "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'alembic_version'",
        (schema,),
    ).fetchone()
    if exists is None:
        return None
    row = conn.execute(
        sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(schema, "alembic_version"))
    ).fetchone()
    return str(row[0]) if row is not None else None
