"""A dataset's tables in one place: built from its contract and the settings.

``Dataset`` owns naming, creating and evolving the bronze / quarantine / silver lake
tables (Iceberg or Delta, per ``contract.lake.format`` or ``lake.format``) and the
time-series table, records schema versions and primes the dedupe index. A contract with
``silver.split_by`` has one silver table per split (``silver.<table>_<split>``, e.g.
``silver.music_events_listen_events``) instead of one; a contract with ``gold:`` also
has its gold model's tables in the lake (``<namespace>.<table>``) and the warehouse;
``pipeline.sinks.build_sinks(dataset)`` builds its sinks. The worker, quarantine replay, compaction, backfill, the test
helpers and the benchmarks all use it; nothing else creates or names a table.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from lakesmith.bronze.decoded import bronze_columns, decoded_columns
from lakesmith.config import Settings
from lakesmith.contracts.model import Contract, parse_duration
from lakesmith.core.columns import (
    INGESTED_AT,
    QUARANTINE_COLUMNS,
    QUARANTINED_AT,
    RECORD_ID,
    SCHEMA_VERSION,
    SEQ,
    SOURCE,
    STREAM,
)
from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger
from lakesmith.silver.dedupe import DedupeIndex
from lakesmith.silver.tables import partitioning, silver_columns
from lakesmith.stores.lake import SCHEMA_VERSION_PROP, Filter, LakeTable, open_table
from lakesmith.stores.timeseries import TimeseriesTable

if TYPE_CHECKING:
    import psycopg

    from lakesmith.gold.model import GoldModel
    from lakesmith.pipeline.process import ProcessedBatch
    from lakesmith.stores.meta import AdvisoryLock
    from lakesmith.stores.schema_registry import SchemaRegistry
    from lakesmith.stores.stream_context import StreamContexts

log = get_logger(__name__)

LAYERS = ("bronze", "quarantine", "silver")


class Dataset:
    """The tables of one dataset (not created until ``ensure``)."""

    def __init__(self, settings: Settings, contract: Contract) -> None:
        self.settings = settings
        self.contract = contract
        self.format = contract.lake.format or settings.lake.format
        split = contract.silver.tables
        # lake key → (namespace, table name): silver.<split> keys when silver is split
        names = {
            "bronze": ("bronze", contract.table_name),
            "quarantine": ("quarantine", contract.table_name),
            **(
                {f"silver.{t}": ("silver", f"{contract.table_name}_{t}") for t in split}
                if split
                else {"silver": ("silver", contract.table_name)}
            ),
        }
        self._locks = (
            {key: self._commit_lock(key) for key in names}
            if settings.lake.commit_lock == "postgres"
            else {}
        )
        self.lake: dict[str, LakeTable] = {
            key: open_table(settings, self.format, ns, name, self._locks.get(key))
            for key, (ns, name) in names.items()
        }
        self._gold_model: GoldModel | None = None
        self._gold: dict[str, LakeTable] | None = None
        self.timeseries = TimeseriesTable(settings, contract) if contract.timeseries else None
        self._conn: psycopg.Connection[Any] | None = None
        self._registry: SchemaRegistry | None = None
        self._contexts: StreamContexts | None = None
        self._silver_version: int | None = None

    def _commit_lock(self, layer: str) -> AdvisoryLock:
        """One lock per table for every worker of the dataset (commits take turns)."""
        from lakesmith.stores.meta import AdvisoryLock

        where = self.settings.effective_warehouse()
        name = f"lakesmith.commit:{self.format}:{where}:{layer}.{self.contract.table_name}"
        return AdvisoryLock(self.settings, name)

    # -- naming --------------------------------------------------------------------------

    @property
    def bronze(self) -> LakeTable:
        return self.lake["bronze"]

    @property
    def quarantine(self) -> LakeTable:
        return self.lake["quarantine"]

    @property
    def silver(self) -> LakeTable:
        if "silver" not in self.lake:
            raise LakesmithError(
                f"{self.contract.name} splits its silver into "
                f"{', '.join(self.contract.silver.tables)}: use silver_tables or scan_silver"
            )
        return self.lake["silver"]

    @property
    def silver_tables(self) -> dict[str, LakeTable]:
        """Silver table(s) by name: ``{"silver": …}``, or one per split (``listen_events``)."""
        return {
            k.removeprefix("silver."): t for k, t in self.lake.items() if k.startswith("silver")
        }

    def split_filter(self, table: str) -> pl.Expr:
        """Which silver rows go to split ``table`` (``silver.split_by``): its values, or for
        the ``rest`` table every value no other table lists, null included."""
        spec = self.contract.silver
        if spec.split_by is None:
            return pl.lit(True)
        col, values = pl.col(spec.split_by), spec.tables[table]
        if isinstance(values, list):
            return col.is_in(values)
        listed = [v for vs in spec.tables.values() if isinstance(vs, list) for v in vs]
        return ~col.is_in(listed) | col.is_null()

    def scan_silver(self, columns: list[str] | None = None, where: Filter = ()) -> pl.DataFrame:
        """Matching rows of every silver table (small reads: tests, dedupe priming)."""
        frames = [t.scan(columns, where) for t in self.silver_tables.values()]
        return pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]

    # -- gold ----------------------------------------------------------------------------

    def _ensure_gold(self) -> None:
        """Create the gold model's lake tables (static ones, the calendars, filled once) and
        migrate the warehouse schema."""
        from lakesmith.gold.model import Change
        from lakesmith.stores.lake.merge import StaleTableError

        model, spec = self.gold_model, self.contract.gold
        assert model is not None and spec is not None
        for t in model.tables:
            if t.name not in self.gold:
                continue
            lake = self.gold[t.name]
            lake.ensure(t.columns, t.partition_by)
            if t.static and lake.scan([t.key]).height == 0:
                rows = Change(model.static_rows(t.name)).rows
                with contextlib.suppress(StaleTableError):  # another worker filled it
                    lake.replace(
                        rows.to_arrow(compat_level=pl.CompatLevel.oldest()), (), {}, lake.version()
                    )
        if spec.warehouse:
            from lakesmith.stores.warehouse import Warehouse

            wh = Warehouse(self.settings, model, spec.schema_name)
            try:
                wh.ensure()
            finally:
                wh.close()

    @property
    def gold_model(self) -> GoldModel | None:
        """The contract's gold model (imported on first use), None without ``gold:``."""
        if self._gold_model is None and self.contract.gold is not None:
            from lakesmith.gold.registry import load_model

            self._gold_model = load_model(self.contract.gold.model)
        return self._gold_model

    @property
    def gold(self) -> dict[str, LakeTable]:
        """The gold model's lake tables by name (``<namespace>.<table>``); empty without
        ``gold:`` or with ``gold.lake: false``."""
        if self._gold is None:
            model, spec = self.gold_model, self.contract.gold
            self._gold = {}
            if model is not None and spec is not None and spec.lake:
                for t in model.tables:
                    lock = None
                    if self.settings.lake.commit_lock == "postgres":
                        lock = self._locks[f"gold.{t.name}"] = self._commit_lock(f"gold.{t.name}")
                    self._gold[t.name] = open_table(
                        self.settings, self.format, spec.schema_name, t.name, lock
                    )
        return self._gold

    # -- bookkeeping in PostgreSQL (opened on first use) ------------------------------------

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            from lakesmith.stores.meta import connect_meta

            self._conn = connect_meta(self.settings)
        return self._conn

    @property
    def registry(self) -> SchemaRegistry:
        if self._registry is None or self._registry.conn is not self.conn:  # reconnected
            from lakesmith.stores.schema_registry import SchemaRegistry

            self._registry = SchemaRegistry(self.conn, self.contract)
        return self._registry

    # -- creating and evolving ------------------------------------------------------------

    def ensure(self) -> Dataset:
        """Create every table that is missing (safe when workers race)."""
        c = self.contract
        self.bronze.ensure(bronze_columns(c), [(INGESTED_AT, "day")])
        if c.payload.bronze_fields:  # a table made before they were listed gains them
            self.bronze.add_columns(decoded_columns(c))
        self.quarantine.ensure(QUARANTINE_COLUMNS, [(QUARANTINED_AT, "day")])
        for table in self.silver_tables.values():
            table.ensure(
                silver_columns(c, 1), partitioning(c), c.lake.sort_by, {SCHEMA_VERSION_PROP: "1"}
            )
        if self.timeseries is not None:
            self.timeseries.ensure(c.fields_at(self.silver_version))
        if self.gold_model is not None:
            self._ensure_gold()
        return self

    @property
    def silver_version(self) -> int:
        """The schema version silver is laid out for (read once; ``evolve`` keeps it)."""
        if self._silver_version is None:
            first = next(iter(self.silver_tables.values()))
            self._silver_version = int(first.properties().get(SCHEMA_VERSION_PROP, "1"))
        return self._silver_version

    def accepted_version(self) -> int | None:
        """The newest schema version accepted under freeze/discard_row (None: evolve)."""
        if self.contract.evolution == "evolve":
            return None
        return max(self.registry.known(), default=1)

    @property
    def stream_contexts(self) -> StreamContexts:
        if self._contexts is None or self._contexts.conn is not self.conn:  # reconnected
            from lakesmith.stores.stream_context import StreamContexts

            self._contexts = StreamContexts(self.conn, self.contract.name)
        return self._contexts

    def evolve(self, batch: ProcessedBatch) -> None:
        """Record new schema versions and the streams' decoding contexts (a CSV file's
        header: replay and reprocess decode bronze's rows with it); widen silver and the
        time-series table while running."""
        if batch.contexts:
            self.stream_contexts.save(batch.contexts)
        # Under freeze/discard_row only accepted rows may introduce a version.
        seen = batch.bronze if self.contract.evolution == "evolve" else batch.silver
        versions = seen.select(pl.col(SCHEMA_VERSION).drop_nulls().unique())[SCHEMA_VERSION]
        for v in sorted(versions.to_list()):
            if v not in self.registry.known():
                first = (
                    seen.filter(pl.col(SCHEMA_VERSION) == v).sort(STREAM, SEQ).row(0, named=True)
                )
                if self.registry.record(v, batch.processed_at, first[SOURCE]):
                    log.info(
                        "schema_version_registered",
                        dataset=self.contract.name,
                        version=v,
                        source=first[SOURCE],
                    )
        wanted = batch.max_version
        if wanted > self.silver_version:
            self._silver_version = None  # another worker may have widened it: read again
        if wanted > self.silver_version:
            for table in self.silver_tables.values():
                table.add_columns(
                    silver_columns(self.contract, wanted), {SCHEMA_VERSION_PROP: str(wanted)}
                )
            if self.timeseries is not None:
                self.timeseries.add_columns(self.contract.fields_at(wanted))
            self._silver_version = wanted

    def prime_dedupe(self, dedupe: DedupeIndex) -> None:
        """Load recent natural keys from silver so duplicates across restarts are caught."""
        dedupe.clear()
        if not dedupe.keys:  # no natural key (keys: []): nothing to load
            return
        event = self.contract.event_time
        times = self.scan_silver([event])
        newest = times[event].max() if times.height else None
        if not isinstance(newest, datetime):
            return
        since = newest - parse_duration(self.settings.worker.dedupe_window)
        frame = self.scan_silver(
            [*dict.fromkeys([*self.contract.keys, RECORD_ID, event])], [(event, ">=", since)]
        )
        dedupe.add(frame)
        log.info(
            "dedupe_primed", dataset=self.contract.name, keys=frame.height, since=since.isoformat()
        )

    def close(self) -> None:
        for lock in self._locks.values():
            lock.close()
        if self.timeseries is not None:
            self.timeseries.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
