"""Write the W-SALES outputs a chunk of order lines at a time (``chunked.second_pass``).

Per chunk: its rejects to the orders dataset's quarantine table (``_batch_id``
``sales-clean``; the first chunk replaces the previous run's), its fact rows to the lake
``sales.fact_sales`` and the warehouse's (``COPY`` through ``Warehouse.apply``), its
``gold.sales_enriched`` rows (sorted by month then customer). The first chunk replaces
each table's rows, the next ones append. Then ``finish`` writes the dimensions, small
and known only once every chunk was seen.

The warehouse gets everything in ONE transaction (its readers see the old star until
the new one is complete); the lake tables are one commit per chunk (a reader during
the run sees part of the new rows).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import polars as pl

from lakesmith.core.columns import BATCH_ID
from lakesmith.core.errors import LakesmithError
from lakesmith.domains.sales.clean import CLEAN_BATCH
from lakesmith.domains.sales.gold import ENRICHED, ENRICHED_MODEL, SORT_BY, SalesModel

if TYPE_CHECKING:
    from types import TracebackType

    from lakesmith.config import Settings
    from lakesmith.domains.sales.chunked import OrderChunk
    from lakesmith.stores.lake import LakeTable


def _arrow(rows: pl.DataFrame) -> Any:
    return rows.to_arrow(compat_level=pl.CompatLevel.oldest())


def checked(model: SalesModel, name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` conformed to the table; its key unique and never null."""
    from lakesmith.gold.model import conform

    t = model.table(name)
    rows = conform(frame, t)
    if rows[t.key].null_count() or rows[t.key].n_unique() != rows.height:
        raise LakesmithError(f"{model.name}.{name}: key {t.key} is not unique and not null")
    return rows


class StarWriter:
    """The run's writes (see the module doc). ``with StarWriter(...) as w``: an error
    rolls the warehouse back."""

    def __init__(
        self,
        settings: Settings,
        model: SalesModel,
        table_format: str,
        *,
        warehouse: bool = True,
    ) -> None:
        from lakesmith.contracts import load_contract
        from lakesmith.gold.model import conform
        from lakesmith.pipeline.dataset import Dataset
        from lakesmith.stores.lake import open_table

        self.settings, self.model, self.format = settings, model, table_format
        self.rows: dict[str, int] = {}
        self._conform = conform
        self._stack = ExitStack()
        fact = model.table("fact_sales")
        self.fact = open_table(settings, table_format, model.name, fact.name)
        self.fact.ensure(fact.columns, fact.partition_by)
        self.enriched = open_table(settings, table_format, ENRICHED_MODEL.name, ENRICHED.name)
        self.enriched.ensure(ENRICHED.columns, ENRICHED.partition_by, SORT_BY)
        self._orders = Dataset(settings, load_contract(model.orders_dataset))
        self._stack.callback(self._orders.close)
        self._written: set[str] = set()
        self.wh: Any = None
        if warehouse:
            from lakesmith.stores.warehouse import Warehouse

            self.wh = Warehouse(settings, model, model.name)  # type: ignore[arg-type]
            self._stack.callback(self.wh.close)
            self.wh.ensure()
            self._stack.enter_context(self.wh.conn.transaction())

    def __enter__(self) -> StarWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.__exit__(kind, exc, tb)  # the warehouse: commit, or roll back on error

    def _lake(self, table: LakeTable, name: str, rows: pl.DataFrame) -> None:
        if name in self._written:
            if rows.height:
                table.append(_arrow(rows), {})
        else:
            table.replace(_arrow(rows), (), {})
            self._written.add(name)
        self.rows[name] = self.rows.get(name, 0) + rows.height

    def _warehouse(self, name: str, rows: pl.DataFrame) -> None:
        from lakesmith.gold.model import Change

        if self.wh is None:
            return
        first = f"wh.{name}" not in self._written
        if first or rows.height:
            self.wh.apply(
                self.wh.conn,
                self.model.table(name),
                Change(rows, "replace" if first else "append", ()),
            )
        self._written.add(f"wh.{name}")

    def quarantine(self, rows: pl.DataFrame) -> None:
        """The rejects of a chunk (``clean.quarantine_rows``)."""
        q = self._orders.quarantine
        if "quarantine" not in self._written:
            q.replace(_arrow(rows), [(BATCH_ID, "==", CLEAN_BATCH)], {})
            self._written.add("quarantine")
        elif rows.height:
            q.append(_arrow(rows), {})

    def write(self, chunk: OrderChunk) -> None:
        """One chunk of rejects and clean lines."""
        from lakesmith.domains.sales.integrate import enriched

        self.quarantine(chunk.rejected)
        fact = checked(self.model, "fact_sales", chunk.lines)
        self._lake(self.fact, f"{self.model.name}.fact_sales", fact)
        self._warehouse("fact_sales", fact)
        del fact
        wide = self._conform(enriched(chunk.lines), ENRICHED)
        self._lake(self.enriched, f"gold.{ENRICHED.name}", wide)

    def finish(self, dims: dict[str, pl.DataFrame]) -> None:
        """The dimensions (lake + warehouse) and the tables no chunk reached emptied,
        then the warehouse committed and its marts refreshed."""
        from lakesmith.gold.batch import write_lake

        if "quarantine" not in self._written:  # no order line at all
            self.quarantine(_no_rejects())
        if f"{self.model.name}.fact_sales" not in self._written:
            fact = pl.DataFrame(schema=self.model.table("fact_sales").schema)
            self._lake(self.fact, f"{self.model.name}.fact_sales", fact)
            self._warehouse("fact_sales", fact)
            self._lake(self.enriched, f"gold.{ENRICHED.name}", pl.DataFrame(schema=ENRICHED.schema))
        tables = {k: checked(self.model, k, v) for k, v in dims.items()}
        write_lake(self.settings, self.model, tables, self.format)
        for name, rows in tables.items():
            self.rows[f"{self.model.name}.{name}"] = rows.height
            self._warehouse(name, rows)
        self._stack.close()  # commits the warehouse's transaction
        if self.wh is not None:
            self.wh.refresh_marts()
            self.wh.close()


def _no_rejects() -> pl.DataFrame:
    """No quarantine rows (in their schema)."""
    from lakesmith.core.columns import MESSAGES, RECORD_ID, RULE_IDS, SCHEMA_VERSION, SOURCE
    from lakesmith.domains.sales.clean import ORDER_FIELDS, quarantine_rows

    none = pl.DataFrame(
        schema={
            RECORD_ID: pl.String,
            SOURCE: pl.String,
            "order_id": pl.String,
            RULE_IDS: pl.List(pl.String),
            MESSAGES: pl.List(pl.String),
            SCHEMA_VERSION: pl.Int32,
        }
    )
    return quarantine_rows(none, ORDER_FIELDS)


__all__ = ["StarWriter", "checked"]
