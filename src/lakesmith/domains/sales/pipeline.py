"""The W-SALES pipeline, end to end (``lakesmith run sales``, ``demo sales``,
``benchmarks/bench_sales.py``):

1. **ingest** each file through the ordinary ingest path (``pipeline.ingest``: the
   domain's contract, bronze → validate → silver/quarantine, resumable, exactly once,
   bounded memory);
2. **customers**: this run's silver customers standardised and fuzzy-matched into
   golden records, whole (``clean.golden_customers``; a million fit in memory);
3. **orders**, a chunk at a time (``chunked``: bounded memory whatever the line count):
   standardise and flag each chunk against the customers' id map, spill it to a
   temporary folder; find the duplicate lines and the products' canonical names over
   all of them; then per chunk: its rejects to the orders dataset's quarantine table
   with every reason (``_batch_id`` ``sales-clean``, replaced on each run), its clean
   lines to ``fact_sales`` (lake + warehouse ``COPY``) and ``gold.sales_enriched``
   (``star_writer``); then the dimensions;
4. **layout**: ``gold.sales_enriched`` (partitioned by order month) sorted by customer
   (Delta Z-order / Iceberg sorted compaction) and its file statistics;
5. **account**: per input file, bronze rows = rows quarantined at ingest + clean rows +
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

from lakesmith.core.columns import BATCH_ID, STREAM
from lakesmith.core.errors import LakesmithError
from lakesmith.domains.sales.chunked import CHUNK_ROWS, of_stream
from lakesmith.domains.sales.clean import CLEAN_BATCH
from lakesmith.domains.sales.gold import ENRICHED, ENRICHED_MODEL, MODEL, SORT_BY, SalesModel
from lakesmith.stores.lake.base import MB

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.domains.sales.chunked import Spill
    from lakesmith.domains.sales.clean import Customers
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


def _customers(
    settings: Settings, model: SalesModel, stream: str | None
) -> tuple[Customers | None, int]:
    """The golden customers of this run's customer file (None without one) and its rows."""
    from lakesmith.domains.sales import clean
    from lakesmith.gold.batch import read_silver

    if stream is None or model.customers_dataset is None:
        return None, 0
    silver = read_silver(settings, [model.customers_dataset])[model.customers_dataset]
    rows = clean.standardise_customers(clean.latest_streams(silver.filter(of_stream(stream))))
    del silver
    return clean.golden_customers(rows), rows.height


def _with_guest(people: Customers) -> Customers:
    from lakesmith.domains.sales import clean

    golden = pl.concat([people.golden, clean.guest_row()], how="diagonal_relaxed")
    xref = pl.concat([people.xref, clean.guest_row().select("customer_id", "customer_key")])
    return clean.Customers(golden, xref)


def _from_orders(spill: Spill) -> Customers:
    """The customers of the orders' ids (no customer file)."""
    from lakesmith.domains.sales import clean

    keys = {"customer_id": pl.String, "ship_country": pl.String}
    counts = pl.concat(
        [c.with_columns(pl.col("len").cast(pl.Int64)) for c in spill.countries]
        or [pl.DataFrame(schema={**keys, "len": pl.Int64})]
    )
    return clean.customers_from_counts(
        counts.group_by(*keys).agg(pl.col("len").sum()).with_columns(pl.col("len"))
    )


def _account(
    settings: Settings, dataset: str, stream: str, clean: int, cleaned_out: int
) -> Accounting:
    from lakesmith.contracts import load_contract
    from lakesmith.pipeline.dataset import Dataset

    ds = Dataset(settings, load_contract(dataset))
    try:
        # counted a data file at a time (10M stream names would not fit in a frame);
        # filtered here: a Delta scan's pushdown fails on a string_view column
        bronze = 0
        for batch in ds.bronze.batches([STREAM]):
            names = pl.Series(batch.column(STREAM))
            bronze += int((names == stream).sum())
        q = ds.quarantine.scan([STREAM, BATCH_ID]).filter(pl.col(STREAM) == stream)
    finally:
        ds.close()
    by_cleaning = q.filter(pl.col(BATCH_ID) == CLEAN_BATCH).height
    return Accounting(dataset, stream, bronze, q.height - by_cleaning, clean, by_cleaning)


def run_sales(
    settings: Settings,
    orders: Path,
    customers: Path | None = None,
    *,
    table_format: str | None = None,
    model: SalesModel = MODEL,
    memory_limit: int = 1024 * MB,
    warehouse: bool = True,
    chunk_rows: int = CHUNK_ROWS,
    say: Callable[[str], None] | None = None,
    detail: Callable[[str], None] | None = None,
) -> SalesReport:
    """Run the whole pipeline on ``orders`` (and ``customers``); see the module doc.
    ``say`` is told each stage as it starts, ``detail`` how far the stage got."""
    from lakesmith.domains.sales import chunked
    from lakesmith.domains.sales.integrate import dimensions
    from lakesmith.domains.sales.star_writer import StarWriter
    from lakesmith.stores.lake import open_table
    from lakesmith.stores.lake.layout import cluster, file_stats

    say = say or (lambda _m: None)
    detail = detail or (lambda _m: None)
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
    say("customers: standardise, match duplicates, golden records")
    # this run's files only (the datasets may hold other files ingested before)
    people, report.customers_in = _customers(
        settings, model, streams.get(model.customers_dataset or "")
    )
    stage("customers")
    stream = streams[model.orders_dataset]
    with chunked.spill_folder(settings) as tmp:
        say(f"orders: standardise in chunks of {chunk_rows:,} lines")
        spill = chunked.first_pass(
            chunked.silver_chunks(settings, model.orders_dataset, stream, chunk_rows),
            people.xref if people is not None else None,
            model.guests,
            Path(tmp),
            detail,
        )
        if people is None:
            people = _from_orders(spill)
        if model.guests:
            people = _with_guest(people)
        report.customers_out = people.golden.height
        stage("standardise")
        say("orders: duplicate lines, products")
        dups = chunked.duplicates(spill)
        products = chunked.dim_product(spill, dups)
        stage("duplicates")
        say(f"write: quarantine, star schema ({fmt} + warehouse), gold.sales_enriched")
        totals = chunked.Verdicts()
        with StarWriter(settings, model, fmt, warehouse=warehouse) as writer:
            for chunk in chunked.second_pass(spill, dups, people, products, model.guests, totals):
                writer.write(chunk)
                detail(f"{totals.clean + totals.rejected:,} of {spill.rows:,} order lines")
            writer.finish(dimensions(people, products, chunked.channels(totals)))
        report.rows = dict(sorted(writer.rows.items()))
        report.reasons = dict(totals.reasons.most_common())
        del spill, dups
    stage("write")
    say(f"gold.sales_enriched ({fmt}): clustered by customer within each month")
    table = open_table(settings, fmt, ENRICHED_MODEL.name, ENRICHED.name)
    report.layout = cluster(table, SORT_BY, TARGET_FILE_BYTES)
    report.files = file_stats(table, SORT_BY[0])
    stage("layout")
    say("account: every input row is clean or quarantined")
    counted = (totals.clean, totals.rejected)
    report.accounting.append(_account(settings, model.orders_dataset, stream, *counted))
    if model.customers_dataset in streams:
        s = streams[model.customers_dataset]
        merged = people.golden["source_rows"].sum()
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
