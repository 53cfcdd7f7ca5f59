"""Source databases on the configured PostgreSQL server: the URL of one of its databases,
creating and dropping them, and the ``shop`` domain's ``orders`` table, seeded and
changed in bulk on the server (``generate_series``: a million rows in seconds), which
the ``sql`` source kind's demo, tests and benchmark read.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from lakesmith.config import Settings
from lakesmith.core.errors import ConfigError
from lakesmith.stores.postgres import connect

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def server_url(settings: Settings, database: str) -> str:
    """A SQLAlchemy URL (password included: never log it) of ``database`` on the server
    of the ``[postgres]`` settings."""
    from sqlalchemy.engine import URL

    params: dict[str, Any] = dict(conninfo_to_dict(settings.effective_postgres_dsn()))
    port = params.pop("port", None)
    url = URL.create(
        "postgresql",
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=params.pop("host", None),
        port=int(port) if port else None,
        database=database,
        query={k: str(v) for k, v in params.items() if k != "dbname"},
    )
    return url.render_as_string(hide_password=False)


def _check(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ConfigError(f"database name {name!r} must be lower_snake_case (up to 63 chars)")
    return name


def create_database(settings: Settings, name: str, *, replace: bool = False) -> str:
    """Create database ``name`` on the configured server (kept when it exists, unless
    ``replace``); its URL."""
    with connect(settings, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [_check(name)]
        ).fetchone()
        if exists and replace:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        if not exists or replace:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server_url(settings, name)


def drop_database(settings: Settings, name: str) -> None:
    with connect(settings, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(_check(name)))
        )


def execute(url: str, statement: str, params: Any = None) -> None:
    """Run one statement (tests' hostile tables, late commits) in the database at ``url``."""
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement, params)


def query(url: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(statement, params).fetchall()


# -- the shop domain's orders table --------------------------------------------------------

ORDERS_DDL = """
CREATE TABLE IF NOT EXISTS public.orders (
    id          bigint PRIMARY KEY,
    customer    text NOT NULL,
    status      text NOT NULL,
    amount      numeric(12, 2) NOT NULL,
    quantity    integer NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    attrs       jsonb
);
CREATE INDEX IF NOT EXISTS orders_updated_at ON public.orders (updated_at, id);
"""

_STATUSES = "(ARRAY['new','paid','shipped','delivered','returned'])"


def seed_orders(url: str, rows: int, first_id: int = 1) -> None:
    """Insert ``rows`` orders with ids from ``first_id`` (the table is created if needed),
    updated over the last hours up to now."""
    execute(url, ORDERS_DDL)
    execute(
        url,
        f"""
        INSERT INTO public.orders
        SELECT i, 'customer-' || (i %% 5000), {_STATUSES}[1 + (i %% 5)],
               round(((i * 7919) %% 100000) / 100.0, 2), 1 + (i %% 9),
               now() - interval '3 hours' + (i - %(first)s) * interval '1 millisecond',
               now() - interval '2 hours' + (i - %(first)s) * interval '1 millisecond',
               NULL,
               jsonb_build_object('channel', CASE WHEN i %% 3 = 0 THEN 'web' ELSE 'store' END,
                                  'tags', jsonb_build_array('t' || (i %% 7)))
        FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
        """,
        {"first": first_id, "last": first_id + rows - 1},
    )


def change_orders(url: str, *, updates: int, inserts: int, deletes: int) -> dict[str, int]:
    """Between two runs: ``updates`` orders paid further, ``inserts`` new ones,
    ``deletes`` soft-deleted; every changed row's ``updated_at`` is now."""
    top = query(url, "SELECT coalesce(max(id), 0) FROM public.orders")[0][0]
    execute(
        url,
        "UPDATE public.orders SET status = 'paid', amount = amount + 1, updated_at = now() "
        "WHERE id IN (SELECT id FROM public.orders WHERE deleted_at IS NULL "
        "ORDER BY id LIMIT %s)",
        [updates],
    )
    execute(
        url,
        "UPDATE public.orders SET deleted_at = now(), updated_at = now() "
        "WHERE id IN (SELECT id FROM public.orders WHERE deleted_at IS NULL "
        "ORDER BY id DESC LIMIT %s)",
        [deletes],
    )
    if inserts:
        seed_orders(url, inserts, first_id=int(top) + 1)
        execute(url, "UPDATE public.orders SET updated_at = now() WHERE id > %s", [top])
    return {"updated": updates, "inserted": inserts, "deleted": deletes}
