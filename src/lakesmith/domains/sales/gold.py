"""The W-SALES gold layer on ``gold.batch``: the star schema (``SalesModel``, lake
namespace and warehouse schema ``sales``) and the wide, analyst-ready
``gold.sales_enriched`` (``EnrichedModel``, lake only), both rebuilt whole from silver.

| table | grain / key | notes |
|---|---|---|
| ``fact_sales`` | one clean order line; ``sales_key`` = silver ``_record_id`` | ``order_ts``, ``date_key``, ``customer_key``, ``product_key``, ``geography_key``, ``channel_key``, ``quantity`` (negative: a return), ``unit_price``, ``amount``, ``is_return``; lake partitioned by month of ``order_ts`` |
| ``dim_customer`` | a person (duplicates merged) | master ``customer_id``, ``source_ids``, ``source_rows``, ``email_status`` |
| ``dim_product`` | ``product_id`` | most frequent name and category |
| ``dim_geography`` | (country, city) | canonical country, ISO code, region |
| ``dim_channel`` | channel | Online, Store, Mobile, Phone, Unknown |
| ``dim_date`` | calendar day | static, 2000-2040 (``gold.calendar``) |

``SalesModel`` reads ``sales.orders`` + ``sales.customers``; ``RetailModel`` the same
star from ``sales.retail`` (the UCI Online Retail II contract; no customer file, guests
allowed). ``gold.batch.rebuild(settings, MODEL)`` works for both; ``pipeline`` calls the
same ``build`` pieces itself to also quarantine the rejects and write ``sales_enriched``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import polars as pl

from lakesmith.core.columns import Column
from lakesmith.gold.batch import BatchGoldModel
from lakesmith.gold.model import GoldTable
from lakesmith.stores.warehouse import columns_of
from lakesmith.stores.warehouse_sales import (
    DimChannel,
    DimCustomer,
    DimDate,
    DimGeography,
    DimProduct,
    FactSales,
)

MONTHLY = (("order_ts", "month"),)
ENRICHED_COLUMNS = [
    Column("sales_key", "string", "silver _record_id of the order line"),
    Column("order_id", "string"),
    Column("order_ts", "timestamp"),
    Column("order_month", "string", "yyyy-mm"),
    Column("date_key", "long"),
    Column("customer_key", "long"),
    Column("customer_id", "string", "master id"),
    Column("name", "string", "customer name"),
    Column("segment", "string"),
    Column("email_status", "string"),
    Column("country", "string"),
    Column("iso2", "string"),
    Column("region", "string"),
    Column("city", "string"),
    Column("geography_key", "long"),
    Column("product_key", "long"),
    Column("product_id", "string"),
    Column("product_name", "string"),
    Column("category", "string"),
    Column("channel_key", "long"),
    Column("channel", "string"),
    Column("quantity", "long"),
    Column("unit_price", "double"),
    Column("amount", "double"),
    Column("is_return", "boolean"),
    Column("_source", "string", "the input row (file#row=n)"),
]
ENRICHED = GoldTable("sales_enriched", ENRICHED_COLUMNS, "sales_key", MONTHLY)
SORT_BY = ("customer_key",)
"""``sales_enriched`` is sorted by customer within each month (Iceberg sort order,
Delta Z-order)."""


class SalesModel(BatchGoldModel):
    """The sales star schema from the synthetic (or any similar) customers + orders."""

    name = "sales"
    inputs: ClassVar[tuple[str, ...]] = ("sales.orders",)
    optional_inputs: ClassVar[tuple[str, ...]] = ("sales.customers",)
    orders_dataset: ClassVar[str] = "sales.orders"
    customers_dataset: ClassVar[str | None] = "sales.customers"
    guests: ClassVar[bool] = False
    """Orders without a customer id belong to a GUEST customer (else: quarantined)."""
    tables = (
        GoldTable("dim_date", columns_of(DimDate), "date_key", static=True),
        GoldTable("dim_customer", columns_of(DimCustomer), "customer_key"),
        GoldTable("dim_product", columns_of(DimProduct), "product_key"),
        GoldTable("dim_geography", columns_of(DimGeography), "geography_key"),
        GoldTable("dim_channel", columns_of(DimChannel), "channel_key"),
        GoldTable("fact_sales", columns_of(FactSales), "sales_key", MONTHLY),
    )
    sqlmodels: ClassVar[dict[str, type]] = {
        "dim_date": DimDate,
        "dim_customer": DimCustomer,
        "dim_product": DimProduct,
        "dim_geography": DimGeography,
        "dim_channel": DimChannel,
        "fact_sales": FactSales,
    }

    def integrate(self, silver: Mapping[str, pl.LazyFrame]) -> object:
        from lakesmith.domains.sales.integrate import integrate

        orders = silver[self.orders_dataset].collect()
        people = silver.get(self.customers_dataset) if self.customers_dataset else None
        return integrate(
            orders, people.collect() if people is not None else None, guests=self.guests
        )

    def build(self, silver: Mapping[str, pl.LazyFrame]) -> Mapping[str, pl.DataFrame]:
        from lakesmith.domains.sales.integrate import Integrated, star

        data = self.integrate(silver)
        assert isinstance(data, Integrated)
        return star(data)


class RetailModel(SalesModel):
    """The same star from UCI Online Retail II (``retail.yaml``)."""

    inputs = ("sales.retail",)
    optional_inputs = ()
    orders_dataset = "sales.retail"
    customers_dataset = None
    guests = True


class EnrichedModel(BatchGoldModel):
    """``gold.sales_enriched`` (lake only; written through ``gold.batch.write_lake``)."""

    name = "gold"
    tables = (ENRICHED,)


MODEL = SalesModel()
RETAIL_MODEL = RetailModel()
ENRICHED_MODEL = EnrichedModel()
