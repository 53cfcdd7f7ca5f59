"""A dataset's tables in one place: built from its contract and the settings.

``Dataset`` owns naming, creating and evolving the bronze / quarantine / silver lake
tables (Iceberg or Delta, per ``contract.lake.format`` or ``lake.format``) and the
time-series table, records schema versions and primes the dedupe index;
``pipeline.sinks.build_sinks(dataset)`` builds its sinks. The worker, quarantine replay, compaction, backfill, the test
helpers and the benchmarks all use it; nothing else creates or names a table.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract, parse_duration
from lakesmith.core.columns import (
    BRONZE_COLUMNS,
    INGESTED_AT,
    QUARANTINE_COLUMNS,
    QUARANTINED_AT,
    RECORD_ID,
    SCHEMA_VERSION,
    SEQ,
    SOURCE,
    STREAM,
)
from lakesmith.core.logging import get_logger
from lakesmith.silver.dedupe import DedupeIndex
from lakesmith.silver.tables import partitioning, silver_columns
from lakesmith.stores.lake import SCHEMA_VERSION_PROP, LakeTable, open_table
from lakesmith.stores.timeseries import TimeseriesTable

if TYPE_CHECKING:
    import psycopg

    from lakesmith.pipeline.process import ProcessedBatch
    from lakesmith.stores.meta import AdvisoryLock
    from lakesmith.stores.schema_registry import SchemaRegistry

log = get_logger(__name__)

LAYERS = ("bronze", "quarantine", "silver")


class Dataset:
    """The tables of one dataset (not created until ``ensure``)."""

    def __init__(self, settings: Settings, contract: Contract) -> None:
        self.settings = settings
        self.contract = contract
        self.format = contract.lake.format or settings.lake.format
        self._locks = (
            {layer: self._commit_lock(layer) for layer in LAYERS}
            if settings.lake.commit_lock == "postgres"
            else {}
        )
        self.lake: dict[str, LakeTable] = {
            layer: open_table(
                settings, self.format, layer, contract.table_name, self._locks.get(layer)
            )
            for layer in LAYERS
        }
        self.timeseries = TimeseriesTable(settings, contract) if contract.timeseries else None
        self._conn: psycopg.Connection[Any] | None = None
        self._registry: SchemaRegistry | None = None
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
        return self.lake["silver"]

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
        self.bronze.ensure(BRONZE_COLUMNS, [(INGESTED_AT, "day")])
        self.quarantine.ensure(QUARANTINE_COLUMNS, [(QUARANTINED_AT, "day")])
        self.silver.ensure(
            silver_columns(c, 1), partitioning(c), c.lake.sort_by, {SCHEMA_VERSION_PROP: "1"}
        )
        if self.timeseries is not None:
            self.timeseries.ensure(c.fields_at(self.silver_version))
        return self

    @property
    def silver_version(self) -> int:
        """The schema version silver is laid out for (read once; ``evolve`` keeps it)."""
        if self._silver_version is None:
            self._silver_version = int(self.silver.properties().get(SCHEMA_VERSION_PROP, "1"))
        return self._silver_version

    def accepted_version(self) -> int | None:
        """The newest schema version accepted under freeze/discard_row (None: evolve)."""
        if self.contract.evolution == "evolve":
            return None
        return max(self.registry.known(), default=1)

    def evolve(self, batch: ProcessedBatch) -> None:
        """Record new schema versions; widen silver and the time-series table while running."""
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
            self.silver.add_columns(
                silver_columns(self.contract, wanted), {SCHEMA_VERSION_PROP: str(wanted)}
            )
            if self.timeseries is not None:
                self.timeseries.add_columns(self.contract.fields_at(wanted))
            self._silver_version = wanted

    def prime_dedupe(self, dedupe: DedupeIndex) -> None:
        """Load recent natural keys from silver so duplicates across restarts are caught."""
        dedupe.clear()
        event = self.contract.event_time
        times = self.silver.scan([event])
        newest = times[event].max() if times.height else None
        if not isinstance(newest, datetime):
            return
        since = newest - parse_duration(self.settings.worker.dedupe_window)
        frame = self.silver.scan([*self.contract.keys, RECORD_ID], [(event, ">=", since)])
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
