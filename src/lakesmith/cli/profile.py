"""``lakesmith profile PATH [--html report.html]``: column statistics of a file, one pass."""

from __future__ import annotations

from pathlib import Path

import typer

from lakesmith.cli.common import console, settings


def profile(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="A CSV, JSON-lines, JSON or Parquet file."
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="csv, jsonl, json or parquet (default: from the name)."
    ),
    html: Path | None = typer.Option(
        None, "--html", dir_okay=False, help="Also write a self-contained HTML report with plots."
    ),
) -> None:
    """Profile a file in one bounded-memory pass: per column its type, nulls, distinct
    values (estimate), min/max/mean, quantiles, top values and histogram, plus the row
    count and duplicate rows."""
    from rich.table import Table

    from lakesmith.quality.profile import fmt_value, profile_file

    settings()  # logging as every command
    p = profile_file(path, fmt)
    table = Table(
        title=f"{path.name}: {p.rows:,} rows, {len(p.columns)} columns", title_justify="left"
    )
    for head in ("column", "type", "null %", "distinct≈", "min", "max", "mean", "p50"):
        table.add_column(
            head, justify="left" if head in ("column", "type") else "right", overflow="fold"
        )
    for c in p.columns:
        q = c.quantiles()
        table.add_row(
            c.name, c.type, f"{c.null_pct:.1f}", f"{c.distinct_estimate:,}",
            fmt_value(c.minimum), fmt_value(c.maximum), fmt_value(c.mean), fmt_value(q.get(0.5)),
        )  # fmt: skip
    console.print(table)
    dup = f"{p.duplicate_rows:,}" + ("" if p.duplicates_exact else " (estimate)")
    console.print(
        f"duplicate rows: {dup}; {p.size_bytes / 1e6:,.1f} MB in {p.seconds:.1f}s", highlight=False
    )
    if html is not None:
        from lakesmith.quality.profile_html import write_html

        console.print(f"report written to {write_html(p, html)}", highlight=False)
