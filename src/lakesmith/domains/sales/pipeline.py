"""The W-SALES pipeline, end to end (``lakesmith demo sales``, ``benchmarks/bench_sales.py``):

1. **ingest** each file through the ordinary ingest path (``pipeline.ingest``: the
   domain's contract, bronze → validate → silver/quarantine, resumable, exactly once);
2. **integrate** the silver rows (``integrate``: standardise, fuzzy-match customers,
   reject what cannot be fixed);
3. **quarantine** the rejected order lines in the dataset's quarantine table with every
   reason (``_batch_id`` ``sales-clean``, replaced on each run);
4. **star**: the star schema in the lake and the PostgreSQL warehouse through
   ``gold.batch.write_lake`` / ``write_warehouse``;
5. **enriched**: ``gold.sales_enriched`` (partitioned by order month, sorted by
   customer; Delta Z-ordered / Iceberg compacted) and its file statistics;
6. **account**: per input file, bronze rows = rows quarantined at ingest + clean rows +
   rows quarantined by the cleaning (customers: + rows merged into a golden record) —
   checked from the stored tables; a mismatch raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from lakesmith.core.columns import BATCH_ID, RULE_IDS, SOURCE, STREAM
from lakesmith.core.errors import LakesmithError
from lakesmith.domains.sales.clean import CLEAN_BATCH
from lakesmith.domains.sales.gold import ENRICHED, ENRICHED_MODEL, MODEL, SORT_BY, SalesModel
from lakesmith.stores.lake.base import MB

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.domains.sales.integrate import Integrated
    from lakesmith.stores.lake import LakeTable
    from lakesmith.stores.lake.layout import ClusterReport

HERE = Path(__file__).resolve().parent
TARGET_FILE_BYTES = 128 * MB


@dataclass
class Accounting:
    dataset: str
    stream: str
    bronze: int
    quarantined_at_ingest: int
    clean: int
    quarantined_by_cleaning: int

    @property
    def balanced(self) -> bool:
        return self.bronze == self.quarantined_at_ingest + self.clean + self.quarantined_by_cleaning


@dataclass
class SalesReport:
    table_format: str
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage
    rows: dict[str, int] = field(default_factory=dict)  # gold rows per table
    reasons: dict[str, int] = field(default_factory=dict)  # rejected order lines per rule
    accounting: list[Accounting] = field(default_factory=list)
    customers_in: int = 0
    customers_out: int = 0
    layout: ClusterReport | None = None
    files: pl.DataFrame | None = None  # sales_enriched's data files


def _ingest(
    settings: Settings, path: Path, dataset: str, contract: str, fmt: str | None, memory: int
) -> str:
    """Ingest ``path`` into ``dataset`` with the domain contract; returns its stream."""
    from lakesmith.pipeline.ingest import ingest, prepare

    job = prepare(
        settings,
        str(path),
        dataset,
        table_format=fmt,
        memory_limit=memory,
        contract_path=HERE / f"{contract}.yaml",
    )
    ingest(settings, job)
    return job.files[0].stream


def _conform(model: SalesModel, tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    from lakesmith.gold.model import conform

    out = {}
    for name, frame in tables.items():
        t = model.table(name)
        rows = conform(frame, t)
        if rows[t.key].null_count() or rows[t.key].n_unique() != rows.height:
            raise LakesmithError(f"sales.{name}: key {t.key} is not unique and not null")
        out[name] = rows
    return out


def _quarantine(settings: Settings, dataset: str, data: Integrated) -> None:
    """Replace the cleaning's rejects in the orders dataset's quarantine table."""
    from lakesmith.contracts import load_contract
    from lakesmith.domains.sales.integrate import quarantine
    from lakesmith.pipeline.dataset import Dataset

    ds = Dataset(settings, load_contract(dataset))
    try:
        rows = quarantine(data).to_arrow(compat_level=pl.CompatLevel.oldest())
        ds.quarantine.replace(rows, [(BATCH_ID, "==", CLEAN_BATCH)], {})
    finally:
        ds.close()


def _enriched(
    settings: Settings, clean_lines: pl.DataFrame, fmt: str, report: SalesReport
) -> LakeTable:
    from lakesmith.domains.sales.integrate import enriched
    from lakesmith.gold.batch import write_lake
    from lakesmith.gold.model import conform
    from lakesmith.stores.lake import open_table

    table = open_table(settings, fmt, ENRICHED_MODEL.name, ENRICHED.name)
    table.ensure(ENRICHED.columns, ENRICHED.partition_by, SORT_BY)  # with its sort order
    rows = conform(enriched(clean_lines), ENRICHED)
    write_lake(settings, ENRICHED_MODEL, {ENRICHED.name: rows}, fmt)
    report.rows[f"gold.{ENRICHED.name}"] = rows.height
    return table


def _account(
    settings: Settings, dataset: str, stream: str, clean: int, cleaned_out: int
) -> Accounting:
    from lakesmith.contracts import load_contract
    from lakesmith.pipeline.dataset import Dataset

    ds = Dataset(settings, load_contract(dataset))
    try:
        bronze = ds.bronze.scan([STREAM], [(STREAM, "==", stream)]).height
        # filtered here: a Delta scan's pushdown fails on a string_view column
        q = ds.quarantine.scan([STREAM, BATCH_ID]).filter(pl.col(STREAM) == stream)
    finally:
        ds.close()
    by_cleaning = q.filter(pl.col(BATCH_ID) == CLEAN_BATCH).height
    return Accounting(dataset, stream, bronze, q.height - by_cleaning, clean, by_cleaning)


def _of_stream(stream: str) -> pl.Expr:
    return pl.col(SOURCE).str.starts_with(stream + "#")


def run_sales(
    settings: Settings,
    orders: Path,
    customers: Path | None = None,
    *,
    table_format: str | None = None,
    model: SalesModel = MODEL,
    memory_limit: int = 1024 * MB,
    warehouse: bool = True,
    say: Callable[[str], None] | None = None,
) -> SalesReport:
    """Run the whole pipeline on ``orders`` (and ``customers``); see the module doc."""
    from lakesmith.gold.batch import read_silver, write_lake, write_warehouse
    from lakesmith.stores.lake.layout import cluster, file_stats

    say = say or (lambda _m: None)
    fmt = table_format or settings.lake.format
    # every table of the run (bronze … gold) in the chosen format
    settings = settings.model_copy(
        update={"lake": settings.lake.model_copy(update={"format": fmt})}
    )
    report = SalesReport(fmt)
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.stages[name] = round(now - clock, 2)
        clock = now

    say("ingest: files → bronze → silver (+ quarantine)")
    contract_of = {
        "sales.orders": "orders",
        "sales.customers": "customers",
        "sales.retail": "retail",
    }
    streams = {
        model.orders_dataset: _ingest(
            settings,
            orders,
            model.orders_dataset,
            contract_of[model.orders_dataset],
            fmt,
            memory_limit,
        )
    }
    if customers is not None and model.customers_dataset is not None:
        streams[model.customers_dataset] = _ingest(
            settings, customers, model.customers_dataset, "customers", fmt, memory_limit
        )
    stage("ingest")
    say("integrate: clean, standardise, match customers, reject")
    silver = read_silver(settings, list(streams))
    # this run's files only (the datasets may hold other files ingested before)
    data = model.integrate({k: v.lazy().filter(_of_stream(streams[k])) for k, v in silver.items()})
    del silver
    from lakesmith.domains.sales.integrate import Integrated, lines, star

    assert isinstance(data, Integrated)
    report.reasons = data.reasons()
    stream = streams[model.orders_dataset]
    mine = data.orders.filter(_of_stream(stream))
    rejected = mine.filter(pl.col(RULE_IDS).is_not_null()).height
    counted = (mine.height - rejected, rejected)
    del mine
    report.customers_in = data.customer_rows
    report.customers_out = data.customers.golden.height
    stage("integrate")
    say("quarantine: rejected order lines with their reasons")
    _quarantine(settings, model.orders_dataset, data)
    data.orders = data.clean_orders  # the rejects are stored: free them
    stage("quarantine")
    say(f"star schema → lake ({fmt}) and warehouse")
    clean_lines = lines(data)
    tables = _conform(model, star(data, clean_lines))
    report.rows.update({f"{model.name}.{k}": v.height for k, v in tables.items()})
    write_lake(settings, model, tables, fmt)
    stage("star_lake")
    if warehouse:
        write_warehouse(settings, model, tables)
        stage("star_warehouse")
    del tables
    say(f"gold.sales_enriched ({fmt}): partitioned by month, sorted by customer")
    table = _enriched(settings, clean_lines, fmt, report)
    del clean_lines
    stage("enriched")
    report.layout = cluster(table, SORT_BY, TARGET_FILE_BYTES)
    report.files = file_stats(table, SORT_BY[0])
    stage("layout")
    say("account: every input row is clean or quarantined")
    report.accounting.append(_account(settings, model.orders_dataset, stream, *counted))
    if model.customers_dataset in streams:
        s = streams[model.customers_dataset]
        merged = data.customers.golden["source_rows"].sum()
        report.accounting.append(_account(settings, model.customers_dataset, s, int(merged), 0))
    stage("account")
    for a in report.accounting:
        if not a.balanced:
            raise LakesmithError(
                f"{a.dataset}: {a.bronze:,} rows in but {a.quarantined_at_ingest:,} + "
                f"{a.clean:,} + {a.quarantined_by_cleaning:,} accounted for",
                hint="a bug: please report it with the input files",
            )
    return report
