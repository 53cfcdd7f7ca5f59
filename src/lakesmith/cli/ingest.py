"""``lakesmith ingest PATH_OR_URL --dataset NAME``: load files once, in bounded memory."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lakesmith.cli.common import console, err_console, settings

if TYPE_CHECKING:
    from lakesmith.pipeline.ingest import IngestJob, IngestResult


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def summary(job: IngestJob, result: IngestResult, lake_format: str) -> str:
    """What went where: rows to silver and to quarantine (with the reasons), duplicates."""
    s = result.stats
    d = s.by_disposition
    secs = s.seconds or s.active_seconds
    rate = f"{s.records / secs:,.0f} rows/s" if secs else ""
    if secs and result.bytes_total:  # (objects' sizes are not summed before reading)
        rate += f", {result.bytes_total / secs / 1e6:,.1f} MB/s"
    reasons = ", ".join(f"{rule} {n:,}" for rule, n in result.rules.most_common(5))
    quarantine = f"{d.get('quarantined', 0):,} to quarantine" + (f" ({reasons})" if reasons else "")
    lines = [
        f"{job.contract.name}: {s.records:,} rows in {secs:.1f}s ({rate})"
        if s.records
        else f"{job.contract.name}: no new rows (the input has no data rows, or an earlier run "
        "committed them all)",
        f"  {d.get('valid', 0):,} to silver, {quarantine}"
        + (f", {d['duplicate']:,} duplicates" if d.get("duplicate") else ""),
    ]
    table = job.contract.table_name
    fmt = job.contract.lake.format or lake_format
    lines.append(f"  tables: bronze.{table}, silver.{table}, quarantine.{table} ({fmt})")
    if d.get("quarantined"):
        lines.append(f"  see why: lakesmith quarantine show {job.contract.name}")
    return "\n".join(lines)


def ingest(
    target: str = typer.Argument(
        ..., metavar="PATH_OR_URL", help="A file, folder, glob or s3:// URL."
    ),
    dataset: str = typer.Option(
        ..., "--dataset", "-d", help="Dataset name (files.NAME when no dot)."
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="csv, jsonl, json or parquet (default: from the name)."
    ),
    table_format: str | None = typer.Option(
        None, "--table-format", help="iceberg or delta (default: lake.format)."
    ),
    memory_limit: str = typer.Option(
        "1GiB", "--memory-limit", help="Memory ceiling; sets the batch size."
    ),
    contract: Path | None = typer.Option(
        None,
        "--contract",
        exists=True,
        dir_okay=False,
        help="Map and validate with this contract instead of inferring one.",
    ),
    write_contract: Path | None = typer.Option(
        None,
        "--write-contract",
        dir_okay=False,
        help="Write the contract used (inferred or given) as YAML for review.",
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show a progress bar (on a terminal)."
    ),
) -> None:
    """Load files into bronze, silver and quarantine, in batches, with a fixed memory ceiling.

    Without --contract, a contract is inferred from a sample (types, nullability) and kept
    for the dataset; later files that bring new columns widen it (a new schema version).
    Rows that fail to parse or break a rule go to quarantine with their row number and
    reason. Killed and restarted with the same command, it continues where it stopped,
    without duplicates.
    """
    from lakesmith.pipeline.ingest import parse_size, prepare
    from lakesmith.pipeline.ingest import write_contract as save

    if table_format not in (None, "iceberg", "delta"):
        raise typer.BadParameter("use iceberg or delta", param_hint="--table-format")
    s = settings()
    signal.signal(signal.SIGTERM, _stop)
    job = prepare(
        s, target, dataset, fmt=fmt, table_format=table_format,
        memory_limit=parse_size(memory_limit), contract_path=contract,
    )  # fmt: skip
    if write_contract is not None:
        save(job.contract, write_contract)
        err_console.print(f"contract written to {write_contract}", highlight=False)
    if job.new_fields:
        err_console.print(
            f"new columns (schema widened): {', '.join(job.new_fields)}", highlight=False
        )
    result = _run(s, job, progress)
    console.print(summary(job, result, s.lake.format), highlight=False)


def _run(s: object, job: IngestJob, show: bool) -> IngestResult:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from lakesmith.config import Settings
    from lakesmith.core.transient import stop_after_batch
    from lakesmith.pipeline.ingest import ingest as run_ingest
    from lakesmith.pipeline.ingest import ingest_trim
    from lakesmith.pipeline.worker import RunStats

    assert isinstance(s, Settings)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"),
        TimeRemainingColumn(),
        console=err_console,
        disable=not show or not err_console.is_terminal,
    )
    task = bar.add_task(job.contract.name, total=job.total_bytes or None, rows=0, rate=0.0)

    def update(done: int, total: int, stats: RunStats) -> None:
        bar.update(
            task,
            completed=done,
            total=total or None,
            rows=stats.records,
            rate=stats.records_per_second,
        )

    # from here Ctrl-C / SIGTERM end the ingest after the batch in flight (a second one
    # at once); before, they stop it at once (hashing the file, opening the tables)
    signal.signal(signal.SIGINT, stop_after_batch)
    signal.signal(signal.SIGTERM, stop_after_batch)
    with bar:
        try:
            # freed memory reused between trims every few batches (the process exits after
            # the files): never trimming cut ~30 % of the CPU but the peak grew with the
            # file; trimming after every batch paid for page zeroing each time
            result = run_ingest(s, job, update, trim_memory=ingest_trim(job))
        except KeyboardInterrupt:
            result = None
        if result is None or result.stats.interrupted:
            bar.stop()
            err_console.print(
                f"{job.contract.name}: interrupted; run the same command again to continue",
                highlight=False,
            )
            raise typer.Exit(130)
        return result
