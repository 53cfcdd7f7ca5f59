"""``lakesmith local up | down | status | logs``: the no-Docker local stack."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from lakesmith.cli.common import console, settings

if TYPE_CHECKING:
    from lakesmith.local import LocalStack

app = typer.Typer(
    help="Start, stop and inspect the local services (no Docker).", no_args_is_help=True
)

_SERVICES_OPT = typer.Argument(None, help="Services: postgres, s3, kafka, typesense. Default: all.")


@app.command()
def up(services: list[str] | None = _SERVICES_OPT) -> None:
    """Start the local services and wait until each answers.

    Services already running are left alone.
    """
    from lakesmith.local import LocalStack

    stack = LocalStack(settings(), services or None)
    t0 = {"t": time.monotonic()}

    def on_event(name: str, event: str) -> None:
        if event == "starting":
            t0["t"] = time.monotonic()
            console.print(f"  {name:<10} starting…", end="\r")
        else:
            console.print(f"  {name:<10} [green]{event}[/] ({time.monotonic() - t0['t']:.1f}s)   ")

    stack.up(on_event)
    _print_status(stack)


@app.command()
def down(services: list[str] | None = _SERVICES_OPT) -> None:
    """Stop the services this state dir started.

    Every child process they have is stopped too.
    """
    from lakesmith.local import LocalStack

    stack = LocalStack(settings(), services or None)
    for name, was_running in stack.down().items():
        console.print(f"  {name:<10} {'stopped' if was_running else 'not running'}")


@app.command()
def status(services: list[str] | None = _SERVICES_OPT) -> None:
    """Show each service's pid, port, health and data dir.

    Exits 1 if any service is unhealthy.
    """
    from lakesmith.local import LocalStack

    stack = LocalStack(settings(), services or None)
    if not _print_status(stack):
        raise typer.Exit(1)


@app.command()
def logs(
    service: str = typer.Argument(..., help="postgres, s3, kafka or typesense."),
    lines: int = typer.Option(50, "--lines", "-n", help="How many of the last lines."),
) -> None:
    """Print the last lines of a service's log file."""
    from lakesmith.local import LocalStack

    stack = LocalStack(settings())
    console.print(f"[dim]{stack.service(service).log_file}[/]")
    console.out(stack.logs(service, lines), end="")


def _print_status(stack: LocalStack) -> bool:
    table = Table(title="lakesmith local services")
    for col in ("service", "pid", "port", "healthy"):
        table.add_column(col, no_wrap=True)
    table.add_column("data dir", overflow="fold")  # a long path folds rather than being cut
    all_ok = True
    for st in stack.status():
        all_ok &= st.healthy
        healthy = (
            "[green]yes[/]" if st.healthy else ("[red]no[/]" if st.running else "[dim]stopped[/]")
        )
        table.add_row(st.name, str(st.pid or "-"), str(st.port), healthy, str(st.data_dir))
    console.print(table)
    return all_ok
