"""The ``sql`` source kind's contract section (kept apart from the reader so a contract
loads without connecting anywhere or importing SQLAlchemy's dialects)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from lakesmith.contracts.model import SourceSpec, parse_duration
from lakesmith.core.errors import ConfigError

_NAME = re.compile(r"^[^\x00]{1,63}$")
_TABLE = re.compile(r"^[^\x00.]{1,63}(\.[^\x00.]{1,63})?$")
if TYPE_CHECKING:
    from lakesmith.config import Settings

DELETED = "_deleted"  # the payload field the source adds when ``soft_delete`` is set


class SqlSourceSpec(SourceSpec):
    """``source: {kind: sql, url_env: SHOP_DB_URL, table: public.orders, key: [id],
    mode: incremental, watermark: updated_at, lag: 5m}``

    ``url`` (or the environment variable ``url_env``, preferred: a contract is no place
    for a password) is any SQLAlchemy URL; PostgreSQL is read through a server-side
    cursor that builds each row's JSON on the server, other databases through SQLAlchemy's
    streamed results."""

    kind: Literal["sql"] = "sql"
    url: SecretStr | None = Field(None, description="SQLAlchemy URL (prefer url_env)")
    url_env: str | None = Field(None, description="environment variable holding the URL")
    postgres_database: str | None = Field(
        None,
        min_length=1,
        max_length=63,
        description="a database on the PostgreSQL server of the [postgres] settings (the "
        "local one when unset): its login, no URL to write down",
    )
    table: str | None = Field(None, description="table or view: name or schema.name")
    query: str | None = Field(None, description="a SELECT to read instead of a table")
    key: list[str] = Field(min_length=1, description="key columns: order and tiebreak")
    mode: Literal["full", "incremental"] = "incremental"
    watermark: str | None = Field(
        None, description="incremental: a column that grows on insert and update"
    )
    lag: str | int = Field(
        "5m",
        description="incremental: each run re-reads watermark >= last - lag (a duration "
        "such as 5m for time columns, a number for numeric ones), so rows committed late "
        "are not missed; silver drops the rows read twice",
    )
    soft_delete: str | None = Field(
        None,
        description="a column flagging deleted rows (true, or any non-null value that is "
        "not false): the payload gets _deleted true/false for a contract field to read",
    )
    chunk_rows: int = Field(100_000, ge=1, description="rows per poll at most")
    poll_interval_s: float = Field(
        30.0, gt=0, description="continuous runs: seconds between queries when caught up"
    )

    @field_validator("key")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _NAME.match(name):
                raise ValueError(f"column name {name!r} is empty, too long or holds NUL")
        return v

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        if v is not None and not _TABLE.match(v):
            raise ValueError(f"table {v!r}: give name or schema.name")
        return v

    @field_validator("lag")
    @classmethod
    def _lag(cls, v: str | int) -> str | int:
        if isinstance(v, str):
            parse_duration(v)
        elif v < 0:
            raise ValueError("lag must not be negative")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SqlSourceSpec:
        given = [self.url, self.url_env, self.postgres_database]
        if sum(v is not None for v in given) != 1:
            raise ValueError("give exactly one of url, url_env or postgres_database")
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        if self.mode == "incremental" and self.watermark is None:
            raise ValueError("mode incremental needs a watermark column (or use mode: full)")
        if self.query is not None and not self.query.lstrip().lower().startswith(
            ("select", "with")
        ):
            raise ValueError("query must be a SELECT (or WITH … SELECT)")
        return self

    # -- derived ----------------------------------------------------------------------

    def resolved_url(self, settings: Settings | None = None) -> str:
        """The URL with its password (never log it; ``uri`` is the loggable identity)."""
        if self.postgres_database is not None:
            if settings is None:
                raise ConfigError("postgres_database needs the settings to find the server")
            from lakesmith.stores.sql_source_db import server_url

            return server_url(settings, self.postgres_database)
        if self.url is not None:
            return self.url.get_secret_value()
        assert self.url_env is not None
        value = os.environ.get(self.url_env)
        if not value:
            raise ConfigError(
                f"the sql source's url_env {self.url_env} is not set",
                hint=f"export {self.url_env}=postgresql://user:password@host:port/db",
            )
        return value

    def lag_value(self) -> timedelta | Decimal:
        return parse_duration(self.lag) if isinstance(self.lag, str) else Decimal(self.lag)

    @property
    def relation(self) -> str:
        """What is read: the table name, or ``query`` for a query."""
        return self.table if self.table is not None else "query"

    @property
    def uri(self) -> str:
        """``postgresql://host:port/db/schema.table?wm=updated_at`` — no user, no password
        (``postgresql:///db/…`` for ``postgres_database``: the configured server)."""
        tail = f"?wm={self.watermark}" if self.mode == "incremental" else "?full"
        if self.postgres_database is not None:
            return f"postgresql:///{self.postgres_database}/{self.relation}{tail}"
        try:
            url = self.resolved_url()
        except ConfigError:
            return f"sql://{self.url_env}/{self.relation}"
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            u = make_url(url)
        except ArgumentError:
            return f"sql://invalid-url/{self.relation}"
        scheme = u.get_backend_name()
        where = f"{u.host or ''}{f':{u.port}' if u.port else ''}"
        base = f"{scheme}://{where}/{(u.database or '').lstrip('/')}/{self.relation}"
        return base + tail

    @property
    def uri_sep(self) -> str:
        return "#"
