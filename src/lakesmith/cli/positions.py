"""``lakesmith reset-positions DATASET --to earliest|latest``."""

from __future__ import annotations

from typing import Literal, cast

import typer

from lakesmith.cli.common import console, settings


def reset_positions(
    dataset: str = typer.Argument(
        ..., help="Dataset name (e.g. iot.telemetry) or a contract YAML path."
    ),
    to: str = typer.Option(
        ...,
        "--to",
        help="earliest: continue from the first record the source still holds; "
        "latest: only records that arrive from now on.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Move a dataset's source positions after the source lost records.

    Run it when `lakesmith run` stops because stored positions are outside what the source
    holds. Positions only move forward; the reset is recorded in lakesmith.position_resets.
    Stop the dataset's workers first.
    """
    from lakesmith.contracts import load_contract
    from lakesmith.maintenance.reset import plan_reset
    from lakesmith.maintenance.reset import reset_positions as do_reset

    if to not in ("earliest", "latest"):
        raise typer.BadParameter("choose earliest or latest", param_hint="--to")
    target = cast(Literal["earliest", "latest"], to)
    s = settings()
    contract = load_contract(dataset, s.state_dir)
    plan = plan_reset(s, contract, target)
    for stream, p in sorted(plan.items()):
        console.print(f"  {stream} → {p.next:,}", highlight=False)
    if not yes and not typer.confirm(
        f"move {contract.name}'s positions of {len(plan)} streams to {to}?"
    ):
        raise typer.Exit(1)
    do_reset(s, contract, target, plan)  # exactly the positions shown
    console.print(f"{contract.name}: positions reset to {to}; `lakesmith run` continues from there")
