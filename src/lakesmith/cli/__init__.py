"""The ``lakesmith`` command (Typer + Rich).

Each command group lives in its own module and is registered here. Errors that a user
can fix (``LakesmithError``) print one clear message and exit 2; no traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from lakesmith import __version__
from lakesmith.cli import backfill, compact, datasets, demo, dq, local, run, simulate
from lakesmith.cli.common import state
from lakesmith.core.errors import LakesmithError

app = typer.Typer(
    name="lakesmith",
    help="Lakehouse ingestion: sources → bronze → validate → silver → gold → serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(local.app, name="local")
app.command("run")(run.run)
app.add_typer(simulate.app, name="simulate")
app.command("produce")(simulate.produce)
app.add_typer(dq.app, name="dq")
app.add_typer(datasets.quarantine_app, name="quarantine")
app.add_typer(datasets.schema_app, name="schema")
app.add_typer(demo.app, name="demo")
app.command("backfill")(backfill.backfill)
app.command("compact")(compact.compact)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lakesmith {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", help="DEBUG, INFO, WARNING or ERROR (overrides config)."
    ),
) -> None:
    """lakesmith — configure with ./lakesmith.toml or LAKESMITH__SECTION__KEY env vars."""
    state.log_level = log_level


def main() -> None:
    try:
        app()
    except LakesmithError as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
        if exc.hint:
            Console(stderr=True).print(f"[yellow]fix:[/] {escape(exc.hint)}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM in `lakesmith run`: in-flight writes finished
        Console(stderr=True).print("interrupted", highlight=False)
        sys.exit(130)


__all__ = ["app", "main"]
