"""Batch gold models: a star schema rebuilt whole from several silver tables.

The streaming models (``gold.model.GoldModel``, e.g. music) update their tables batch by
batch from one dataset. A *batch* model instead reads the current silver tables of
several datasets and recomputes every table at once — the right shape for reference data
(devices, models, sites, products, customers) that arrives as files and is small next to
the events. Writing a model:

.. code-block:: python

    class SalesModel(BatchGoldModel):
        name = "sales"                      # lake namespace AND warehouse schema
        inputs = ("sales.orders", "sales.products")   # silver datasets it needs
        optional_inputs = ("iot.telemetry",)          # read when they exist
        tables = (GoldTable("dim_date", …, static=True), GoldTable("dim_product", …), …)
        marts = ("mart_daily_revenue",)               # materialised views to refresh
        sqlmodels = {"dim_product": DimProduct, …}    # warehouse classes, for readers

        def build(self, silver):            # Mapping[str, pl.LazyFrame] → tables
            orders = silver["sales.orders"]
            return {"fact_order": …, "dim_product": …}

``rebuild(settings, MODEL)`` then reads the inputs' silver tables (``pipeline.dataset``),
runs ``build``, and writes every returned table:

- to the lake (``<name>.<table>``, Iceberg or Delta): ``LakeTable.replace`` of all rows
  (one commit per table, retried when another writer won; static tables such as
  ``dim_date`` are filled once from ``static_rows`` when empty);
- to the PostgreSQL warehouse (schema ``<name>``, migrated with the Alembic branch
  ``<name>`` of ``stores/warehouse_migrations``): ``Warehouse.apply`` with a ``replace``
  ``Change`` for every table in ONE transaction (readers see the old star or the new
  one), then the materialised views in ``marts`` are refreshed.

``build`` returns frames with (at least) the table's columns; ``rebuild`` conforms them
(column order and types from the ``GoldTable``) and refuses duplicate keys. Tables the
mapping leaves out are not touched. Models are found by name through ``BATCH_MODELS`` /
``load_batch_model`` (imported lazily); the API lists a model's tables with
``model.tables`` and validates columns against ``model.sqlmodels``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl

from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger
from lakesmith.gold import calendar
from lakesmith.gold.model import Change, GoldState, GoldTable, conform

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.stores.lake import LakeTable

log = get_logger(__name__)

ATTEMPTS = 20

BATCH_MODELS: dict[str, str] = {
    "entities": "lakesmith.domains.entities.gold",
    "sales": "lakesmith.domains.sales.gold",
}
"""Batch model name → import path of the module that defines ``MODEL``."""


def register_batch_model(name: str, module: str) -> None:
    """Register (or replace) the module whose ``MODEL`` is the batch model ``name``."""
    BATCH_MODELS[name] = module


def load_batch_model(name: str) -> BatchGoldModel:
    """The batch model ``name`` (its module imported on first use)."""
    if name not in BATCH_MODELS:
        raise LakesmithError(
            f"unknown batch gold model {name!r}; known: {', '.join(sorted(BATCH_MODELS))}"
        )
    model = importlib.import_module(BATCH_MODELS[name]).MODEL
    if not isinstance(model, BatchGoldModel):
        raise LakesmithError(f"{BATCH_MODELS[name]}.MODEL is not a BatchGoldModel")
    return model


class BatchGoldModel:
    """A star schema rebuilt whole from silver (see the module doc). Subclasses set the
    class attributes and implement ``build``; ``static_rows`` knows the calendars."""

    name: ClassVar[str]
    inputs: ClassVar[Sequence[str]] = ()
    optional_inputs: ClassVar[Sequence[str]] = ()
    tables: ClassVar[Sequence[GoldTable]] = ()
    marts: ClassVar[Sequence[str]] = ()
    sqlmodels: ClassVar[Mapping[str, type]] = {}
    """Table (and mart) name → its SQLModel class in ``stores.warehouse_<name>``."""
    input_columns: ClassVar[Mapping[str, Sequence[str]]] = {}
    """The silver columns ``build`` needs, per input (absent: every column). Reading only
    these keeps a big input (telemetry, PDF texts) small; ``_ingested_at`` always comes."""

    def build(self, silver: Mapping[str, pl.LazyFrame]) -> Mapping[str, pl.DataFrame]:
        """Every (non-static) table's rows from the inputs' silver rows, by dataset name
        (``optional_inputs`` that do not exist yet are absent)."""
        raise NotImplementedError

    def table(self, name: str) -> GoldTable:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"{self.name} has no table {name!r}")

    def static_rows(self, table: str) -> pl.DataFrame:
        """The full content of a ``static`` table (``dim_date``, ``dim_time_of_day``)."""
        if table == "dim_date":
            rows = calendar.dim_date().with_columns(pl.col("date").cast(pl.Datetime("us", "UTC")))
        elif table == "dim_time_of_day":
            rows = calendar.dim_time_of_day()
        else:
            raise KeyError(f"{self.name}: no static rows for {table!r}")
        return conform(rows, self.table(table))

    def change(self, table: str, silver: pl.DataFrame, state: GoldState) -> Change | None:
        """Batch models are not streamed (``gold.model.GoldModel`` compatibility only)."""
        return None


@dataclass
class RebuildReport:
    model: str
    inputs: dict[str, int] = field(default_factory=dict)  # silver rows read per dataset
    rows: dict[str, int] = field(default_factory=dict)  # rows written per table
    lake_format: str | None = None
    warehouse: bool = False
    seconds: float = 0.0


def read_silver(
    settings: Settings,
    datasets: Sequence[str],
    *,
    required: bool = True,
    columns: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, pl.DataFrame]:
    """The current silver rows of ``datasets`` (every split table, concatenated). A dataset
    whose silver table does not exist is an error when ``required``, else absent. With
    ``columns``, a dataset listed there is read with those of its columns that exist
    (plus ``_ingested_at``)."""
    from lakesmith.contracts import load_contract
    from lakesmith.core.columns import INGESTED_AT
    from lakesmith.pipeline.dataset import Dataset

    out: dict[str, pl.DataFrame] = {}
    for name in datasets:
        try:
            contract = load_contract(name)
        except LakesmithError:
            if required:
                raise
            continue
        ds = Dataset(settings, contract)
        try:
            tables = [t for t in ds.silver_tables.values() if t.exists()]
            if not tables:
                if required:
                    raise LakesmithError(
                        f"{name} has no silver table yet",
                        hint=f"ingest it first (lakesmith ingest … --dataset {name})",
                    )
                continue
            wanted = (columns or {}).get(name)
            frames = []
            for t in tables:
                if wanted is None:
                    frames.append(t.scan())
                    continue
                have = set(t.column_names())
                cols = [c for c in dict.fromkeys([*wanted, INGESTED_AT]) if c in have]
                frames.append(t.scan(cols))
            out[name] = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        finally:
            ds.close()
    return out


def _checked(model: BatchGoldModel, built: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    out: dict[str, pl.DataFrame] = {}
    for name, frame in built.items():
        table = model.table(name)
        if table.static:
            raise LakesmithError(f"{model.name}.{name} is static: build must not return it")
        missing = [c.name for c in table.columns if c.name not in frame.columns]
        if missing:
            raise LakesmithError(f"{model.name}.{name}: build gave no {', '.join(missing)}")
        rows = conform(frame, table)
        dupes = rows.height - rows[table.key].n_unique()
        if dupes or rows[table.key].null_count():
            raise LakesmithError(
                f"{model.name}.{name}: key {table.key} has {dupes} duplicates and "
                f"{rows[table.key].null_count()} nulls"
            )
        out[name] = rows
    return out


def _lock(settings: Settings, fmt: str, model: str, table: str) -> Any:
    if settings.lake.commit_lock != "postgres":
        return None
    from lakesmith.stores.meta import AdvisoryLock

    where = settings.effective_warehouse()
    return AdvisoryLock(settings, f"lakesmith.commit:{fmt}:{where}:{model}.{table}")


def _replace(lake: LakeTable, rows: pl.DataFrame) -> int:
    from lakesmith.stores.lake.merge import StaleTableError

    data = rows.to_arrow(compat_level=pl.CompatLevel.oldest())
    for _ in range(ATTEMPTS):
        try:
            return lake.replace(data, (), {}, lake.version())
        except StaleTableError:
            log.info("gold_table_changed_meanwhile", table=lake.label)
    raise LakesmithError(f"{lake.label}: gave up after {ATTEMPTS} concurrent changes")


def write_lake(
    settings: Settings,
    model: BatchGoldModel,
    tables: Mapping[str, pl.DataFrame],
    table_format: str | None = None,
) -> str:
    """Create the model's lake tables (static ones filled once) and replace the rows of
    ``tables``; returns the table format used."""
    from lakesmith.stores.lake import open_table

    fmt = table_format or settings.lake.format
    for t in model.tables:
        lock = _lock(settings, fmt, model.name, t.name)
        try:
            lake = open_table(settings, fmt, model.name, t.name, lock)
            lake.ensure(t.columns, t.partition_by)
            if t.static:
                if lake.scan([t.key]).height == 0:
                    _replace(lake, model.static_rows(t.name))
            elif t.name in tables:
                _replace(lake, tables[t.name])
        finally:
            if lock is not None:
                lock.close()
    return fmt


def write_warehouse(
    settings: Settings, model: BatchGoldModel, tables: Mapping[str, pl.DataFrame]
) -> None:
    """Migrate the schema, replace every table of ``tables`` in one transaction, then
    refresh the marts."""
    from lakesmith.stores.warehouse import Warehouse

    wh = Warehouse(settings, model, model.name)  # type: ignore[arg-type]
    try:
        wh.ensure()
        conn = wh.conn
        with conn.transaction():
            for t in model.tables:
                if t.name in tables:
                    wh.apply(conn, t, Change(tables[t.name], "replace", ()))
        wh.refresh_marts()
    finally:
        wh.close()


def rebuild(
    settings: Settings,
    model: BatchGoldModel,
    *,
    table_format: str | None = None,
    lake: bool = True,
    warehouse: bool = True,
    progress: Callable[[str], None] | None = None,
) -> RebuildReport:
    """Recompute ``model`` from silver and replace its tables in the lake and warehouse."""
    t0 = time.monotonic()
    say = progress or (lambda _msg: None)
    report = RebuildReport(model.name)
    say(f"{model.name}: reading silver")
    cols = model.input_columns
    silver = read_silver(settings, model.inputs, columns=cols)
    silver.update(read_silver(settings, model.optional_inputs, required=False, columns=cols))
    report.inputs = {k: v.height for k, v in silver.items()}
    say(f"{model.name}: building {len(model.tables)} tables")
    tables = _checked(model, model.build({k: v.lazy() for k, v in silver.items()}))
    report.rows = {k: v.height for k, v in tables.items()}
    if lake:
        say(f"{model.name}: writing the lake")
        report.lake_format = write_lake(settings, model, tables, table_format)
    if warehouse:
        say(f"{model.name}: writing the warehouse")
        write_warehouse(settings, model, tables)
        report.warehouse = True
    report.seconds = time.monotonic() - t0
    log.info("gold_rebuilt", model=model.name, rows=report.rows, seconds=round(report.seconds, 2))
    return report


__all__ = [
    "BATCH_MODELS",
    "BatchGoldModel",
    "RebuildReport",
    "load_batch_model",
    "read_silver",
    "rebuild",
    "register_batch_model",
    "write_lake",
    "write_warehouse",
]
