"""``lakesmith compact DATASET``: rewrite small files, expire old snapshots (STO-2)."""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.markup import escape
from rich.table import Table

from lakesmith.cli.common import console, settings
from lakesmith.contracts import load_contract
from lakesmith.contracts.model import parse_duration
from lakesmith.core.progress import progress_bar
from lakesmith.maintenance.compact import TABLES
from lakesmith.maintenance.compact import compact as compact_dataset
from lakesmith.stores.lake import CompactOptions, CompactReport
from lakesmith.stores.lake.base import MB


def _duration(value: str, option: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _tables(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in names if t not in TABLES]
    if unknown or not names:
        raise typer.BadParameter(
            f"{', '.join(unknown) or value!r}: choose from {', '.join(TABLES)}",
            param_hint="--tables",
        )
    return names


def _size(n: int) -> str:
    return f"{n / MB:,.1f} MB" if n >= MB else f"{n / 1024:,.0f} KB"


def render(reports: list[CompactReport], dry_run: bool) -> Table:
    arrow = "→ ~" if dry_run else "→ "
    out = Table(title="compaction (dry run: nothing written)" if dry_run else "compaction")
    for col in ("table", "partitions", "files", "size", "rows", "duplicates", "snapshots expired"):
        out.add_column(col, justify="left" if col == "table" else "right")
    out.add_column("files deleted", justify="right")
    out.add_column("conflicts", justify="right")
    out.add_column("seconds", justify="right")
    for r in reports:
        out.add_row(
            r.table,
            f"{r.partitions_rewritten:,}",
            f"{r.files_before:,} {arrow}{r.files_after:,}",
            _size(r.bytes_before)
            if dry_run
            else f"{_size(r.bytes_before)} → {_size(r.bytes_after)}",
            f"{r.rows_before:,}" if dry_run else f"{r.rows_before:,} → {r.rows_after:,}",
            "-" if dry_run else f"{r.duplicates_removed:,}",
            f"{r.snapshots_expired:,}",
            "-" if dry_run else f"{r.files_deleted:,}",
            "-" if dry_run else f"{r.conflicts:,}",
            f"{r.seconds:.2f}",
        )
    return out


def compact(
    dataset: str = typer.Argument(
        ..., help="dataset name (e.g. iot.telemetry) or a contract YAML path"
    ),
    tables: str | None = typer.Option(
        None, "--tables", help="comma-separated subset of bronze,silver,quarantine (default: all)"
    ),
    min_files: int = typer.Option(
        4, "--min-files", min=2, help="rewrite a partition with at least this many small files"
    ),
    target_mb: int = typer.Option(128, "--target-mb", min=1, help="target data file size (MB)"),
    expire_older_than: str = typer.Option(
        "1h", "--expire-older-than", help="expire snapshots older than this (30m, 1h, 7d)"
    ),
    retain_last: int = typer.Option(
        5, "--retain-last", min=1, help="always keep this many of the latest snapshots"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="only report what would be done"),
) -> None:
    """Compact a dataset's lake tables: fewer, sorted files; old snapshots expired.

    Safe while the worker runs: only the files read are replaced (one commit per
    partition), conflicts are retried, and the source positions carry forward.
    """
    cfg = settings()
    contract = load_contract(dataset)
    wanted = _tables(tables)
    opts = CompactOptions(
        min_files=min_files,
        target_bytes=target_mb * MB,
        expire_older_than=_duration(expire_older_than, "--expire-older-than"),
        retain_last=retain_last,
        dry_run=dry_run,
    )
    planned = 0
    with progress_bar(console=console, transient=True) as bar:
        task = bar.add_task("partitions", total=None)

        def advance(label: str) -> None:
            nonlocal planned
            planned += 1
            bar.update(task, advance=1, description=escape(label))

        reports = compact_dataset(cfg, contract, opts, wanted, advance)
    console.print(render(reports, dry_run))
    if dry_run:
        for r in reports:
            for line in r.details:
                console.print(f"  {r.table}: {escape(line)}", highlight=False)
    elif planned == 0 and not any(r.snapshots_expired for r in reports):
        console.print(f"{contract.name}: nothing to compact or expire.", highlight=False)
