"""PostgreSQL connections (psycopg 3) for the time-series store and the warehouse."""

from __future__ import annotations

from typing import Any

import psycopg

from lakesmith.config import Settings


def connect(settings: Settings, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """A new connection to the configured database (the local one when unset)."""
    return psycopg.connect(settings.effective_postgres_dsn(), **kwargs)
