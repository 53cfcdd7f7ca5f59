"""The W-SALES domain's commands: ``simulate sales`` and ``demo sales``.

Registered through ``DOMAIN`` (see ``lakesmith.domains``); everything heavy is imported
inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lakesmith.domains import Domain

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.domains.sales.pipeline import SalesReport


def simulate(
    customers: int = typer.Option(1_000, "--customers", min=1, help="Customer rows."),
    orders: int = typer.Option(10_000, "--orders", min=1, help="Order lines."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same files."),
    out: Path = typer.Option(Path("sales-data"), "--out", file_okay=False, help="Folder."),
) -> None:
    """Write dirty customer_data.parquet and sales_data.csv.

    Duplicate customers under other ids (case, whitespace, typos), nulls, invalid emails,
    country spellings, dates in several formats, prices with currency symbols and
    separators, returns and negative quantities, orders of unknown customers, channel
    spellings, duplicate lines. The CSV is written in chunks (10M lines need no more
    memory than one chunk).
    """
    import time

    from lakesmith.cli.common import console
    from lakesmith.domains.sales.generator import SalesSimConfig, write_all

    started = time.perf_counter()
    n_customers, n_orders = write_all(
        SalesSimConfig(customers=customers, orders=orders, seed=seed), out
    )
    console.print(
        f"{out / 'customer_data.parquet'}: {n_customers:,} customers\n"
        f"{out / 'sales_data.csv'}: {n_orders:,} order lines "
        f"({time.perf_counter() - started:.1f}s)",
        highlight=False,
    )


def print_report(report: SalesReport) -> None:
    """The run's figures: accounting, rejects, gold rows, layout, stages."""
    from rich.table import Table

    from lakesmith.cli.common import console

    acc = Table("dataset", "rows in", "quarantined (ingest)", "clean", "quarantined (cleaning)")
    for a in report.accounting:
        acc.add_row(
            a.dataset,
            f"{a.bronze:,}",
            f"{a.quarantined_at_ingest:,}",
            f"{a.clean:,}",
            f"{a.quarantined_by_cleaning:,}",
        )
    console.print(acc)
    if report.customers_in:
        console.print(
            f"customers: {report.customers_in:,} rows → {report.customers_out:,} people "
            "(duplicates merged by fuzzy matching)",
            highlight=False,
        )
    if report.reasons:
        reasons = ", ".join(f"{k} {v:,}" for k, v in report.reasons.items())
        console.print(f"rejected order lines by reason: {reasons}", highlight=False)
    console.print(
        "gold rows: " + ", ".join(f"{k} {v:,}" for k, v in report.rows.items()), highlight=False
    )
    if report.layout is not None and report.files is not None:
        files = report.files
        console.print(
            f"gold.sales_enriched ({report.table_format}): {files.height} files in "
            f"{files['partition'].n_unique()} monthly partitions, "
            f"{int(files['bytes'].sum()) / 1e6:,.1f} MB; {report.layout.how}",
            highlight=False,
        )
    console.print(
        "stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.stages.items()),
        highlight=False,
    )


def show_queries(s: Settings, table_format: str) -> None:
    from rich.markup import escape

    from lakesmith.cli.common import console
    from lakesmith.domains.sales.queries import QUESTIONS, lake_answer, warehouse_answer

    for name, q in QUESTIONS.items():
        for where in ("lake", "warehouse"):
            engine = f"DuckDB on {table_format} files" if where == "lake" else "PostgreSQL"
            sql = q.lake if where == "lake" else q.warehouse.format(schema="sales")
            console.print(f"[bold]{q.title}[/] — {where} ({engine}):")
            console.print(f"[dim]{escape(sql)}[/]")
            frame = lake_answer(s, name, table_format) if where == "lake" else None
            if frame is None:
                frame = warehouse_answer(s, name)
            console.print(frame.head(12))


def demo(
    customers: int = typer.Option(2_000, help="Simulated customer rows."),
    orders: int = typer.Option(20_000, help="Simulated order lines."),
    seed: int = typer.Option(7, help="Simulation seed."),
    table_format: str = typer.Option(
        "iceberg", "--table-format", help="iceberg or delta: every table of the run."
    ),
    data: Path | None = typer.Option(
        None,
        "--data",
        file_okay=False,
        help="Use customer_data.parquet + sales_data.csv from this folder (no simulation).",
    ),
    retail: Path | None = typer.Option(
        None,
        "--retail",
        dir_okay=False,
        help="Run on UCI Online Retail II (its parquet file) instead of the simulation.",
    ),
) -> None:
    """Run the W-SALES workload end to end on the local PostgreSQL.

    Simulates dirty customers and orders (or uses --data / --retail), ingests both files
    through the ordinary ingest path (bronze, silver, quarantine), cleans, matches and
    integrates them, writes gold.sales_enriched (partitioned by order month, sorted by
    customer) and the sales star schema in the lake and the warehouse, checks that every
    input row is clean or quarantined, then runs the three analyst queries on both.
    """
    from lakesmith.cli.common import console
    from lakesmith.cli.demo import demo_settings
    from lakesmith.domains.sales.generator import SalesSimConfig, write_all
    from lakesmith.domains.sales.gold import MODEL, RETAIL_MODEL
    from lakesmith.domains.sales.pipeline import run_sales
    from lakesmith.local import LocalStack

    if table_format not in ("iceberg", "delta"):
        raise typer.BadParameter("use iceberg or delta", param_hint="--table-format")
    s = demo_settings()
    console.rule("1. local PostgreSQL")
    LocalStack(s, ["postgres"]).up()
    if retail is not None:
        console.rule(f"2. input: {retail}")
        report = run_sales(
            s, retail, table_format=table_format, model=RETAIL_MODEL, say=console.print
        )
    else:
        folder = data
        if folder is None:
            folder = Path(s.state_dir) / "sales-demo"
            console.rule("2. simulate dirty customers and orders")
            n_c, n_o = write_all(
                SalesSimConfig(customers=customers, orders=orders, seed=seed), folder
            )
            console.print(f"  {n_c:,} customers, {n_o:,} order lines in {folder}")
        report = run_sales(
            s,
            folder / "sales_data.csv",
            folder / "customer_data.parquet",
            table_format=table_format,
            model=MODEL,
            say=lambda m: console.print(f"  {m}", highlight=False),
        )
    console.rule("3. what went where")
    print_report(report)
    console.rule("4. analyst queries")
    show_queries(
        s.model_copy(update={"lake": s.lake.model_copy(update={"format": table_format})}),
        table_format,
    )
    console.print(
        "\nnext: `lakesmith quarantine show sales.orders`, `lakesmith local down`",
        highlight=False,
    )


DOMAIN = Domain(
    name="sales",
    description="W-SALES: dirty customers + orders cleaned into Delta/Iceberg and a star schema.",
    contracts=("sales.customers", "sales.orders", "sales.retail"),
    simulate=simulate,
    demo=demo,
)
