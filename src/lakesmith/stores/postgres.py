"""PostgreSQL connections (psycopg 3) for the time-series store and the warehouse."""

from __future__ import annotations

import os
import re
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from lakesmith.config import Settings
from lakesmith.core.errors import ConfigError, ServiceUnavailableError

START_HINT = "start it with 'lakesmith local up postgres', or set LAKESMITH__POSTGRES__DSN"

# SQLSTATEs (and libpq texts, which carry no SQLSTATE at connect time) of a refused login
_AUTH_SQLSTATES = {"28000", "28P01"}
_AUTH_TEXTS = ("authentication failed", "no password supplied", "no pg_hba.conf entry")
# how libpq's messages for a failed connection attempt begin (psycopg >= 3.2, then older)
_CONNECT_FAILED = (
    "connection failed:",
    "connection is bad:",
    "failed to resolve host",
    "connection to server",
)
_SERVER_AT = re.compile(r'server (?:at "([^"]+)"(?: \([^)]*\))?, port (\d+)|on socket "([^"]+)")')


def connect(settings: Settings, **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """A new connection to the configured database (the local one when unset).

    Raises ``ServiceUnavailableError`` (one line and a fix, no password) when PostgreSQL is
    not reachable, refuses the login or lacks the database; ``ConfigError`` for a DSN that
    is not a connection string."""
    dsn = settings.effective_postgres_dsn()
    try:
        return psycopg.connect(dsn, **kwargs)
    except psycopg.OperationalError as exc:
        raise unavailable_error(settings, dsn, exc) from exc
    except psycopg.ProgrammingError:
        try:
            conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            # libpq's reason quotes the part it cannot parse: it may be (part of) a password
            raise ConfigError(
                "LAKESMITH__POSTGRES__DSN is not a PostgreSQL connection string",
                hint="use postgresql://user:password@host:port/database "
                "(percent-encode special characters in the password)",
            ) from None
        raise


def unavailable_error(
    settings: Settings, dsn: str, exc: psycopg.OperationalError
) -> ServiceUnavailableError:
    """The user-facing error for a failed connection attempt to ``dsn``."""
    if settings.postgres.dsn is None:
        secret = settings.state_dir / "secrets" / "postgres_password"
        auth_hint = (
            f"the local password lives in the state dir's secrets ({secret}); run from the "
            "folder where you ran 'lakesmith local up' (another folder may use another state "
            "dir), or set LAKESMITH__STATE_DIR to that state dir"
        )
    else:
        auth_hint = "check the user and password in LAKESMITH__POSTGRES__DSN"
    return _unavailable(server_address(dsn), exc, _reason(exc, dsn), auth_hint)


def connect_failure(exc: BaseException) -> ServiceUnavailableError | None:
    """The error ``connect`` would give for ``exc`` when ``exc`` is a failed connection
    attempt made elsewhere (SQLAlchemy's lake catalog, …); None for any other error."""
    if not isinstance(exc, psycopg.OperationalError):
        return None
    text = str(exc).strip()
    if not text.startswith(_CONNECT_FAILED):
        return None
    found = _SERVER_AT.search(text)  # libpq names the server; the DSN is not at hand here
    where = "the configured address"
    if found:
        host = f"[{found[1]}]" if found[1] and ":" in found[1] else found[1]
        where = f"{host}:{found[2]}" if host else found[3]
    auth_hint = (
        "check the password: a local one lives in the state dir's secrets "
        "(.lakesmith/secrets/postgres_password) and another folder may use another state "
        "dir; else check LAKESMITH__POSTGRES__DSN"
    )
    return _unavailable(where, exc, _reason(exc, ""), auth_hint)


def _unavailable(
    where: str, exc: psycopg.OperationalError, reason: str, auth_hint: str
) -> ServiceUnavailableError:
    text = str(exc).lower()
    if exc.sqlstate in _AUTH_SQLSTATES or any(t in text for t in _AUTH_TEXTS):
        return ServiceUnavailableError(
            f"PostgreSQL at {where} refused the login ({reason})", hint=auth_hint
        )
    if exc.sqlstate == "3D000" or ("database" in text and "does not exist" in text):
        return ServiceUnavailableError(
            f"PostgreSQL at {where} has no such database ({reason})",
            hint="'lakesmith local up postgres' creates it locally; otherwise create it or "
            "fix the database name in LAKESMITH__POSTGRES__DSN",
        )
    return ServiceUnavailableError(
        f"PostgreSQL is not reachable at {where} ({reason})", hint=START_HINT
    )


def server_address(dsn: str) -> str:
    """``host:port`` of a DSN (never its password); libpq's defaults where it names none."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the configured address"
    default_port = os.environ.get("PGPORT") or "5432"
    hosts = str(info.get("host") or os.environ.get("PGHOST") or "localhost").split(",")
    ports = str(info.get("port") or default_port).split(",")
    if len(ports) == 1:
        ports = ports * len(hosts)
    return ", ".join(
        f"[{h}]:{p or default_port}" if ":" in h else f"{h or 'localhost'}:{p or default_port}"
        for h, p in zip(hosts, ports, strict=False)
    )


def _reason(exc: Exception, dsn: str) -> str:
    """The first line of libpq's message, without the server part ``server at … failed:``
    (the message names the address already) and without the password."""
    lines = str(exc).strip().splitlines()
    line = lines[0].strip() if lines else type(exc).__name__
    if "failed: " in line:
        line = line.rsplit("failed: ", 1)[1].strip() or line
    line = " ".join(line.removeprefix("FATAL:").split())
    for password in _passwords(dsn):
        line = line.replace(password, "***")
    return line


def _passwords(dsn: str) -> list[str]:
    """The password a DSN holds (to redact it from a message)."""
    try:
        found = conninfo_to_dict(dsn).get("password") if dsn else None
    except psycopg.ProgrammingError:
        return []
    return [str(found)] if found else []
