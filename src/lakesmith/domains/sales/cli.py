"""The W-SALES domain's commands: ``simulate sales``, ``run sales`` (the batch pipeline)
and ``demo sales`` (simulate, the same pipeline, then the analyst queries).

Registered through ``DOMAIN`` (see ``lakesmith.domains``); everything heavy is imported
inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lakesmith.domains import Domain

if TYPE_CHECKING:
    from types import TracebackType

    from rich.progress import Progress, TaskID

    from lakesmith.config import Settings
    from lakesmith.domains.sales.pipeline import SalesReport

FORMATS = ("iceberg", "delta")


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
        console.print(f"rejected order lines by reason: {reasons}", highlight=False, soft_wrap=True)
    console.print(
        "gold rows: " + ", ".join(f"{k} {v:,}" for k, v in report.rows.items()),
        highlight=False,
        soft_wrap=True,  # one line whatever the terminal's width: scripts read it
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
        f"time: {sum(report.stages.values()):.1f}s (stages: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in report.stages.items())
        + ")",
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


class StageProgress:
    """A Rich line per pipeline stage: a spinner and its elapsed time while it runs, a
    tick and its time once the next one starts; ``detail`` updates the running line."""

    def __init__(self) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from lakesmith.cli.common import console

        self.progress: Progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task: TaskID | None = None
        self._stage = ""

    def __enter__(self) -> StageProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish()
        self.progress.stop()

    def _finish(self) -> None:
        if self._task is not None:
            self.progress.update(self._task, description=self._stage, total=1, completed=1)
            self.progress.stop_task(self._task)

    def stage(self, text: str) -> None:
        self._finish()
        self._stage = text
        self._task = self.progress.add_task(text, total=None)

    def detail(self, text: str) -> None:
        if self._task is not None:
            self.progress.update(self._task, description=f"{self._stage} [dim]({text})[/]")


def execute(
    s: Settings,
    *,
    data: Path | None,
    retail: Path | None,
    table_format: str,
    chunk_rows: int | None = None,
    warehouse: bool = True,
) -> SalesReport:
    """Check the inputs, run the pipeline with a progress line per stage, print the
    summary (``run sales`` and ``demo sales``)."""
    from lakesmith.core.errors import LakesmithError
    from lakesmith.domains.sales.chunked import CHUNK_ROWS
    from lakesmith.domains.sales.gold import MODEL, RETAIL_MODEL, SalesModel
    from lakesmith.domains.sales.pipeline import run_sales

    if table_format not in FORMATS:
        raise LakesmithError(f"--table-format {table_format!r}: use iceberg or delta")
    if (data is None) == (retail is None):
        raise LakesmithError("give either --data DIR or --retail FILE")
    model: SalesModel
    if retail is not None:
        if not retail.is_file():
            raise LakesmithError(f"--retail {retail}: no such file")
        orders, customers, model = retail, None, RETAIL_MODEL
    else:
        assert data is not None
        if not data.is_dir():
            raise LakesmithError(
                f"--data {data}: no such folder (make one: lakesmith simulate sales --out {data})"
            )
        orders, customers, model = data / "sales_data.csv", data / "customer_data.parquet", MODEL
        missing = [p.name for p in (orders, customers) if not p.is_file()]
        if missing:
            raise LakesmithError(f"--data {data}: no {' and no '.join(missing)} in it")
    with StageProgress() as progress:
        report = run_sales(
            s,
            orders,
            customers,
            table_format=table_format,
            model=model,
            warehouse=warehouse,
            chunk_rows=chunk_rows or CHUNK_ROWS,
            say=progress.stage,
            detail=progress.detail,
        )
    print_report(report)
    return report


def run(
    data: Path | None = typer.Option(
        None,
        "--data",
        file_okay=False,
        help="Folder with customer_data.parquet and sales_data.csv (lakesmith simulate sales).",
    ),
    retail: Path | None = typer.Option(
        None,
        "--retail",
        dir_okay=False,
        help="UCI Online Retail II (its parquet file), mapped by the sales.retail contract.",
    ),
    table_format: str = typer.Option(
        "iceberg", "--table-format", help="iceberg or delta: every table of the run."
    ),
    chunk_rows: int = typer.Option(
        1_000_000, "--chunk-rows", min=1_000, help="Order lines integrated at a time (memory)."
    ),
    warehouse: bool = typer.Option(
        True, "--warehouse/--no-warehouse", help="Also load the star into PostgreSQL."
    ),
) -> None:
    """Run the W-SALES pipeline on a folder of customers + orders (or the UCI retail file).

    Ingests the files (bronze, silver, quarantine), matches duplicate customers into golden
    records, cleans and integrates the order lines in chunks of --chunk-rows (bounded
    memory: 10M lines need no more than 1M), quarantines what cannot be fixed with its
    reasons, writes the star schema (fact_sales + five dimensions) to the lake and the
    PostgreSQL warehouse and gold.sales_enriched (partitioned by order month, sorted by
    customer), checks every input row is accounted for, and prints the summary. Needs
    PostgreSQL (lakesmith local up postgres).
    """
    from lakesmith.cli.common import settings

    execute(
        settings(),
        data=data,
        retail=retail,
        table_format=table_format,
        chunk_rows=chunk_rows,
        warehouse=warehouse,
    )


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

    Simulates dirty customers and orders (or uses --data / --retail), then runs what
    `lakesmith run sales` runs: ingests both files through the ordinary ingest path
    (bronze, silver, quarantine), cleans, matches and integrates them, writes
    gold.sales_enriched (partitioned by order month, sorted by customer) and the sales
    star schema in the lake and the warehouse, checks that every input row is clean or
    quarantined; then runs the three analyst queries on both.
    """
    from lakesmith.cli.common import console
    from lakesmith.cli.demo import demo_settings
    from lakesmith.domains.sales.generator import SalesSimConfig, write_all
    from lakesmith.local import LocalStack

    if table_format not in FORMATS:
        raise typer.BadParameter("use iceberg or delta", param_hint="--table-format")
    s = demo_settings()
    console.rule("1. local PostgreSQL")
    LocalStack(s, ["postgres"]).up()
    if retail is None and data is None:
        data = Path(s.state_dir) / "sales-demo"
        console.rule("2. simulate dirty customers and orders")
        n_c, n_o = write_all(SalesSimConfig(customers=customers, orders=orders, seed=seed), data)
        console.print(f"  {n_c:,} customers, {n_o:,} order lines in {data}")
    console.rule(f"3. lakesmith run sales {f'--retail {retail}' if retail else f'--data {data}'}")
    execute(s, data=data, retail=retail, table_format=table_format)
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
    run=run,
)
