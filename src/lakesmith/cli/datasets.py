"""``lakesmith quarantine replay`` and ``lakesmith schema history``."""

from __future__ import annotations

import typer
from rich.table import Table

from lakesmith.cli.common import console, settings
from lakesmith.contracts import load_contract
from lakesmith.contracts.registry import SchemaRegistry
from lakesmith.stores import meta
from lakesmith.stores.postgres import connect

quarantine_app = typer.Typer(help="Inspect and replay quarantined records.", no_args_is_help=True)
schema_app = typer.Typer(help="The schema registry.", no_args_is_help=True)


@quarantine_app.command("replay")
def replay(
    dataset: str = typer.Argument(..., help="dataset name or contract YAML path"),
    rule: str | None = typer.Option(None, "--rule", help="only records that failed this rule"),
) -> None:
    """Re-validate quarantined records with the current contract; move those that pass to silver."""
    from lakesmith.maintenance.replay import replay_quarantine

    report = replay_quarantine(settings(), load_contract(dataset), rule)
    console.print(
        f"examined {report.examined:,}: recovered {report.recovered:,} into silver, "
        f"{report.still_invalid:,} still invalid, {report.duplicates:,} duplicates"
    )


@schema_app.command("history")
def history(dataset: str = typer.Argument(..., help="dataset name or contract YAML path")) -> None:
    """Every schema version of DATASET with when and where it first appeared."""
    s = settings()
    contract = load_contract(dataset)
    with connect(s) as conn:
        meta.ensure_meta_schema(conn)
        versions = SchemaRegistry(conn, contract).versions()
    if not versions:
        console.print(f"no schema versions recorded for {contract.name} yet (run the worker first)")
        return
    table = Table(title=f"schema history of {contract.name} (policy: {contract.evolution})")
    for col in ("version", "fields added", "first seen at", "first source"):
        table.add_column(col)
    previous: set[str] = set()
    for v in versions:
        names = [f["name"] for f in v.fields]
        added = [n for n in names if n not in previous] if previous else names
        previous = set(names)
        table.add_row(
            str(v.version),
            ", ".join(added),
            v.first_seen_at.isoformat(timespec="seconds"),
            v.first_source or "",
        )
    console.print(table)
