"""``lakesmith backfill DATASET --from lake --to timeseries``: silver history → time-series table."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import TYPE_CHECKING

import typer
from rich.console import JustifyMethod
from rich.table import Table

from lakesmith.cli.common import console, settings
from lakesmith.core.errors import LakesmithError

if TYPE_CHECKING:
    from lakesmith.maintenance.backfill import Backfill, BackfillReport, DayResult


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def backfill(
    dataset: str = typer.Argument(
        ..., help="Dataset name (e.g. iot.telemetry) or a contract YAML path."
    ),
    source: str = typer.Option("lake", "--from", help="Where the history is: lake (silver)."),
    target: str = typer.Option("timeseries", "--to", help="Where it goes: timeseries."),
    since: datetime | None = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], help="First day (UTC), inclusive."
    ),
    until: datetime | None = typer.Option(
        None, "--until", formats=["%Y-%m-%d"], help="Last day (UTC), inclusive."
    ),
    force: bool = typer.Option(False, "--force", help="Redo days that are already verified."),
    verify_only: bool = typer.Option(
        False, "--verify-only", help="Compare lake and target per day; load nothing."
    ),
    jobs: int = typer.Option(2, "--jobs", min=1, help="Days loaded concurrently."),
) -> None:
    """Load a dataset's silver history into its time-series table.

    Day by day, each verified (row count and checksum). Each day is one transaction (data + checkpoint); verified days are skipped on the next
    run, so an interrupted backfill resumes where it stopped. Exits 1 if any day's row
    count or checksum differs between the lake and PostgreSQL.
    """
    if (source, target) != ("lake", "timeseries"):
        raise LakesmithError(
            f"cannot backfill from {source!r} to {target!r}", hint="use --from lake --to timeseries"
        )
    if since and until and since > until:
        raise LakesmithError(f"--since {since:%Y-%m-%d} is after --until {until:%Y-%m-%d}")
    from lakesmith.contracts import load_contract
    from lakesmith.maintenance.backfill import Backfill

    s = settings()
    contract = load_contract(dataset, s.state_dir)
    job = Backfill(
        s, contract, since=_day(since), until=_day(until), force=force,
        verify_only=verify_only, jobs=jobs,
    )  # fmt: skip
    try:
        plan = job.plan()
        todo = [p for p in plan if not p.skip]
        if not todo:
            console.print(
                f"{contract.name}: nothing to do — {len(plan)} day(s) already verified"
                + ("" if plan else " (no silver rows in the range)")
            )
            return
        report = _run_with_progress(job, len(todo), sum(p.lake_rows or 0 for p in todo))
    finally:
        job.close()
    _print_report(report, verify_only)
    if report.mismatched:
        raise typer.Exit(1)


def _run_with_progress(job: Backfill, days: int, rows_hint: int) -> BackfillReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    verb = "verifying" if job.verify_only else "loading"
    lock, moved, started = threading.Lock(), [0], time.perf_counter()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days · {task.fields[rows]} rows · {task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"{verb} {job.contract.name}", total=days, rows="0", rate="-")

        def on_rows(n: int) -> None:  # from the loader threads
            with lock:
                moved[0] += n
                total, elapsed = moved[0], time.perf_counter() - started
            shown = f"{total:,}" + (f"/{rows_hint:,}" if rows_hint else "")
            progress.update(task, rows=shown, rate=f"{total / max(elapsed, 1e-9):,.0f}")

        def on_day(result: DayResult) -> None:
            progress.advance(task)
            if not result.ok:
                progress.console.print(f"[red]{result.day}: lake and target differ[/]")

        return job.run(on_rows=on_rows, on_day=on_day)


def _print_report(report: BackfillReport, verify_only: bool) -> None:
    table = Table(title=f"{report.dataset} → {report.target}")
    columns: list[tuple[str, JustifyMethod]] = [
        ("day", "left"), ("path", "left"), ("rows", "right"),
        ("written", "right"), ("checksum ok", "center"), ("seconds", "right"),
    ]  # fmt: skip
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for d in report.days:
        table.add_row(
            d.day.isoformat(), d.path, f"{d.rows:,}", "-" if verify_only else f"{d.written:,}",
            "[green]yes[/]" if d.ok else "[red]NO[/]", f"{d.seconds:.2f}",
        )  # fmt: skip
    console.print(table)
    skipped = f", {len(report.skipped)} day(s) skipped (already verified)" if report.skipped else ""
    console.print(
        f"{report.rows:,} rows in {len(report.days)} day(s), {report.seconds:.1f}s "
        f"({report.rows_per_second:,.0f} rows/s){skipped}"
    )
    for d in report.mismatched:
        what = ", ".join(d.lake.differences(d.target))
        console.print(
            f"[red]{d.day}: lake {d.lake.rows:,} rows, target {d.target.rows:,} rows — "
            f"differs in: {what}[/]"
        )
