"""``lakesmith compact DATASET``: rewrite small files, expire old snapshots (STO-2)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from lakesmith.cli.common import console, settings

if TYPE_CHECKING:
    from lakesmith.stores.lake import CompactReport


MB = 1024 * 1024  # as lakesmith.stores.lake.base.MB (not imported: it loads Polars)


def _duration(value: str, option: str) -> timedelta:
    from lakesmith.contracts.model import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _tables(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    from lakesmith.maintenance.compact import CHOICES

    names = tuple(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in names if t not in CHOICES]
    if unknown or not names:
        raise typer.BadParameter(
            f"{', '.join(unknown) or value!r}: choose from {', '.join(CHOICES)}",
            param_hint="--tables",
        )
    return names


def _size(n: int) -> str:
    return f"{n / MB:,.1f} MB" if n >= MB else f"{n / 1024:,.0f} KB"


def _cells(r: CompactReport, dry_run: bool) -> dict[str, str]:
    """One table's figures, by column name (``-``: not applicable to a dry run)."""
    arrow = "→ ~" if dry_run else "→ "
    done = not dry_run
    return {
        "partitions": f"{r.partitions_rewritten:,}",
        "files": f"{r.files_before:,} {arrow}{r.files_after:,}",
        "size": f"{_size(r.bytes_before)} → {_size(r.bytes_after)}"
        if done
        else _size(r.bytes_before),
        "rows": f"{r.rows_before:,} → {r.rows_after:,}" if done else f"{r.rows_before:,}",
        "duplicates": f"{r.duplicates_removed:,}" if done else "-",
        "snapshots expired": f"{r.snapshots_expired:,}",
        "files deleted": f"{r.files_deleted:,}" if done else "-",
        "conflicts": f"{r.conflicts:,}" if done else "-",
        "seconds": f"{r.seconds:.2f}",
    }


def render(reports: list[CompactReport], dry_run: bool, width: int = 200) -> Table:
    """The figures per lake table: a row per table when that fits ``width`` columns, else
    a column per table (fits 80 columns)."""
    title = "compaction (dry run: nothing written)" if dry_run else "compaction"
    cells = [_cells(r, dry_run) for r in reports]
    names = list(cells[0]) if cells else []
    # bronze.iot_telemetry, silver.iot_telemetry, …: the layer per table, the name in the title
    layers = [r.table.partition(".") for r in reports]
    if len({name for _, _, name in layers}) == 1 and all(sep for _, sep, _ in layers):
        labels = [layer for layer, _, _ in layers]
        title = title.replace("compaction", f"compaction of {layers[0][2]}", 1)
    else:
        labels = [r.table for r in reports]
    wide = Table(title=Text(title))
    wide.add_column("table", no_wrap=True)
    for name in names:
        wide.add_column(name, justify="right", no_wrap=True)
    for label, row in zip(labels, cells, strict=True):
        wide.add_row(Text(label), *row.values())
    measuring = Console(width=10_000)  # the natural width, unclamped
    if Measurement.get(measuring, measuring.options, wide).maximum <= width:
        return wide
    tall = Table(title=Text(title))
    tall.add_column("", style="bold", no_wrap=True)
    for label in labels:
        tall.add_column(Text(label), justify="right")
    for name in names:  # a long "before → after" on two lines rather than cut anywhere
        tall.add_row(
            name,
            *(v.replace(" → ", " →\n") if len(v) > 14 else v for v in (row[name] for row in cells)),
        )
    return tall


def compact(
    dataset: str = typer.Argument(
        ..., help="Dataset name (e.g. iot.telemetry) or a contract YAML path."
    ),
    tables: str | None = typer.Option(
        None, "--tables", help="Comma-separated subset of bronze,silver,quarantine. Default: all."
    ),
    min_files: int = typer.Option(
        4, "--min-files", min=2, help="Rewrite a partition with at least this many small files."
    ),
    target_mb: int = typer.Option(128, "--target-mb", min=1, help="Target data file size (MB)."),
    expire_older_than: str = typer.Option(
        "1h", "--expire-older-than", help="Expire snapshots older than this (30m, 1h, 7d)."
    ),
    retain_last: int = typer.Option(
        5, "--retain-last", min=1, help="Always keep this many of the latest snapshots."
    ),
    orphans_older_than: str = typer.Option(
        "1d",
        "--orphans-older-than",
        help="Iceberg: delete data files no snapshot references (left by a run killed "
        "before its commit) once older than this; younger ones may be a live writer's.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be done."),
) -> None:
    """Compact a dataset's lake tables and expire old snapshots.

    Small files are rewritten into fewer, sorted ones. Safe while the worker runs: only the files read are replaced (one commit per
    partition), conflicts are retried, and the source positions carry forward.
    """
    from lakesmith.contracts import load_contract
    from lakesmith.core.progress import progress_bar
    from lakesmith.maintenance.compact import compact as compact_dataset
    from lakesmith.stores.lake import CompactOptions

    cfg = settings()
    contract = load_contract(dataset, cfg.state_dir)
    wanted = _tables(tables)
    opts = CompactOptions(
        min_files=min_files,
        target_bytes=target_mb * MB,
        expire_older_than=_duration(expire_older_than, "--expire-older-than"),
        retain_last=retain_last,
        orphans_older_than=_duration(orphans_older_than, "--orphans-older-than"),
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
    console.print(render(reports, dry_run, console.width))
    if dry_run:
        for r in reports:
            for line in r.details:
                console.print(f"  {r.table}: {escape(line)}", highlight=False)
    elif planned == 0 and not any(r.snapshots_expired for r in reports):
        console.print(f"{contract.name}: nothing to compact or expire.", highlight=False)
