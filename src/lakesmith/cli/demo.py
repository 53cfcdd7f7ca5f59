"""``lakesmith demo <domain>``: a domain's workload end to end on the local stack.

The sub-commands come from the domain registry (``lakesmith.domains``): ``DomainCommands``
lists the registered domains and imports one only when its command runs or its help is
shown. The helpers below are the demo steps every domain shares (start the stack, drain
a dataset's worker, print its DQ summary and the domain's example queries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar

import typer
from rich.markup import escape
from typer import _click as click  # Typer vendors Click; its groups take these types
from typer.core import TyperGroup

from lakesmith.cli.common import console, settings, state, tidy_text
from lakesmith.core.errors import LakesmithError
from lakesmith.domains import DOMAINS, load_domain

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.contracts import Contract
    from lakesmith.domains import DemoQuery, Domain
    from lakesmith.pipeline.dataset import Dataset


class DomainCommands(TyperGroup):
    """A command group with one sub-command per registered domain: ``<group> <domain>``
    runs the domain's ``kind`` command (``Domain.simulate`` or ``Domain.demo``)."""

    kind: ClassVar[str] = "demo"

    def _command_of(self, domain: Domain) -> Callable[..., None] | None:
        fn: Callable[..., None] | None = getattr(domain, self.kind)
        return fn

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Domains that have this kind of command (ones that fail to load are left out
        here; running them shows why)."""
        names = []
        for name in sorted(DOMAINS):
            try:
                domain = load_domain(name)
            except LakesmithError:
                continue
            if self._command_of(domain) is not None:
                names.append(name)
        return names

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        domain = load_domain(cmd_name)  # one clear error for an unknown domain
        fn = self._command_of(domain)
        if fn is None:
            having = self.list_commands(ctx)
            raise LakesmithError(
                f"domain {cmd_name!r} has no {self.kind} command; "
                f"domains with one: {', '.join(having) or 'none'}"
            )
        sub = typer.Typer(add_completion=False, rich_markup_mode=self.rich_markup_mode)
        sub.command(cmd_name, help=tidy_text(fn.__doc__), short_help=domain.description)(fn)
        return typer.main.get_command(sub)


app = typer.Typer(
    cls=DomainCommands,
    help="Run a domain's workload end to end on the local stack.",
    no_args_is_help=True,
)


# -- steps shared by the domains' demos -----------------------------------------------------


def demo_settings() -> Settings:
    """The settings, with JSON logs only for warnings (unless --log-level is given)."""
    from lakesmith.core.logging import configure_logging

    s = settings()
    if state.log_level is None:  # keep the demo readable
        configure_logging("WARNING")
    return s


def start_local_stack(s: Settings) -> None:
    """Start (or reuse) every local service, printing each as it comes up."""
    from lakesmith.local import LocalStack

    LocalStack(s).up(
        lambda name, event: console.print(f"  {name:<10} {event}") if event != "starting" else None
    )


def drain(s: Settings, contract: Contract) -> None:
    """Run the dataset's worker until its source is idle and print the figures."""
    from lakesmith.pipeline.worker import Worker

    worker = Worker(s, contract)
    try:
        stats = worker.run(until_idle=True)
    finally:
        worker.close()
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.by_disposition.items()))
    console.print(
        f"  worker: {stats.records:,} records in {stats.batches} batches "
        f"({stats.records_per_second:,.0f}/s while busy) — {counts}"
    )


def show_dq(s: Settings, contract: Contract) -> None:
    """Print the dataset's data-quality summary."""
    from lakesmith.quality.report import load_dq_summary, render_table
    from lakesmith.stores import meta
    from lakesmith.stores.postgres import connect

    with connect(s) as conn:
        meta.ensure_meta_schema(conn)
        console.print(render_table(load_dq_summary(conn, contract)))


def show_queries(s: Settings, queries: Iterable[DemoQuery]) -> None:
    """Run each example query on its dataset's tables: the query dimmed, then the result."""
    from lakesmith.contracts import load_contract
    from lakesmith.pipeline.dataset import Dataset

    datasets: dict[str, Dataset] = {}
    try:
        for query in queries:
            if query.dataset not in datasets:
                datasets[query.dataset] = Dataset(s, load_contract(query.dataset))
            output = query.run(datasets[query.dataset])
            console.print(f"[dim]{escape(output.text)}[/]")
            console.print(output.result)
    finally:
        for dataset in datasets.values():
            dataset.close()
