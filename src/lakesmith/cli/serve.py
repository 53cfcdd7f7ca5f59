"""``lakesmith serve`` (the REST API under uvicorn) and ``lakesmith api user-add`` /
``hash-password`` (API users)."""

from __future__ import annotations

import os

import typer

from lakesmith.cli.common import console, settings

api_app = typer.Typer(help="REST API users.", no_args_is_help=True)
ROLES = ("reader", "writer", "admin")


def serve(
    host: str | None = typer.Option(None, "--host", help="Interface (default: api.host)."),
    port: int | None = typer.Option(None, "--port", help="Port (default: api.port)."),
    reload: bool = typer.Option(False, "--reload", help="Restart on code changes (dev)."),
    workers: int = typer.Option(1, "--workers", min=1, help="uvicorn worker processes."),
) -> None:
    """Start the REST API (docs at /docs, OpenAPI at /v1/openapi.json).

    Applies the missing warehouse migrations first; refuses to start without a JWT
    secret (LAKESMITH__API__JWT_SECRET) unless the stack is the local one."""
    import uvicorn

    from lakesmith.api.auth import signing_secret
    from lakesmith.stores.postgres import connect

    cfg = settings()
    signing_secret(cfg)  # fail here, with the fix, not inside uvicorn
    connect(cfg).close()  # PostgreSQL down: the one-line error and its fix, not a traceback
    os.environ["LAKESMITH__STATE_DIR"] = str(cfg.state_dir)  # the app loads the same settings
    uvicorn.run(
        "lakesmith.api.main:app",
        host=host or cfg.api.host,
        port=port or cfg.api.port,
        reload=reload,
        workers=workers,
        log_level="warning",
    )


@api_app.command("user-add")
def user_add(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option("reader", "--role", help="reader, writer or admin."),
    password: str = typer.Option(
        ..., "--password", prompt=True, hide_input=True, confirmation_prompt=True
    ),
) -> None:
    """Add (or update) an API user in PostgreSQL (argon2 hash)."""
    from lakesmith.api.auth import hash_password
    from lakesmith.core.errors import InputError
    from lakesmith.stores.postgres import connect
    from lakesmith.stores.users import upsert_user

    if role not in ROLES:
        raise InputError(f"unknown role {role!r}", hint="use reader, writer or admin")
    cfg = settings()
    with connect(cfg) as conn:
        upsert_user(conn, name, hash_password(password), role)
    console.print(f"user {name} ({role}) saved")


@api_app.command("hash-password")
def hash_password_cmd(
    password: str = typer.Option(
        ..., "--password", prompt=True, hide_input=True, confirmation_prompt=True
    ),
) -> None:
    """Print an argon2 hash for \\[api.users] in lakesmith.toml."""
    from lakesmith.api.auth import hash_password

    typer.echo(hash_password(password))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(api_app, name="api")
