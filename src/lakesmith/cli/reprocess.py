"""``lakesmith reprocess DATASET --from bronze``: rebuild silver, quarantine, the DQ
statistics (and any gold sinks) from the raw records in bronze."""

from __future__ import annotations

from enum import StrEnum

import typer

from lakesmith.cli.common import console, settings


class From(StrEnum):
    bronze = "bronze"


def reprocess(
    dataset: str = typer.Argument(
        ..., help="Dataset name (e.g. music.events) or a contract YAML path."
    ),
    from_: From = typer.Option(..., "--from", help="The layer to rebuild from (bronze)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before emptying the tables."),
) -> None:
    """Rebuild every table downstream of bronze from bronze's raw records.

    Silver, quarantine and the DQ statistics (and gold tables built by the dataset's
    sinks) are emptied, then the worker reads bronze back with each record's original
    stream and position, so the rebuilt tables hold the same records with the same ids.
    Use it when the landing data is gone or a contract's rules changed.
    """
    from lakesmith.cli.run import summary
    from lakesmith.contracts import load_contract
    from lakesmith.maintenance.reprocess import reprocess_from_bronze

    s = settings()
    contract = load_contract(dataset, s.state_dir)
    if not yes:
        typer.confirm(
            f"empty every table of {contract.name} except bronze and rebuild it?", abort=True
        )
    reset, stats = reprocess_from_bronze(s, contract)
    console.print(f"reset: {', '.join(reset)}", highlight=False)
    console.print(summary(contract.name, stats), highlight=False)
