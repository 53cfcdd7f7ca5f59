"""From the silver customers and order lines to the clean, integrated sales: the
golden customers, the clean order lines with their keys, the rejects (for quarantine),
the star schema's tables and the wide ``sales_enriched`` table. Plain Polars.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from lakesmith.core.columns import RECORD_ID, RULE_IDS
from lakesmith.domains.sales import clean
from lakesmith.domains.sales.standardise import country_attributes
from lakesmith.gold.calendar import date_key
from lakesmith.gold.keys import surrogate_key

UNKNOWN_CHANNEL = "Unknown"


@dataclass
class Integrated:
    customers: clean.Customers
    customer_rows: int  # input rows of the customer data (0: none given)
    orders: pl.DataFrame  # every standardised order row, with _rule_ids / _messages

    @property
    def clean_orders(self) -> pl.DataFrame:
        return self.orders.filter(pl.col(RULE_IDS).is_null())

    @property
    def rejected_orders(self) -> pl.DataFrame:
        return self.orders.filter(pl.col(RULE_IDS).is_not_null())

    def reasons(self) -> dict[str, int]:
        """Rejected order lines per rule (a line may break several)."""
        counts = self.rejected_orders.select(pl.col(RULE_IDS).explode().value_counts(sort=True))
        return {r[RULE_IDS]: int(r["count"]) for r in counts.unnest(RULE_IDS).iter_rows(named=True)}


def integrate(
    orders: pl.DataFrame, customers: pl.DataFrame | None, *, guests: bool = False
) -> Integrated:
    """Clean both inputs and match orders to golden customers. Without ``customers``
    the customers come from the orders; ``guests`` gives orders without a customer id
    to a ``GUEST`` customer instead of rejecting them."""
    o = clean.standardise_orders(clean.latest_streams(orders))
    if customers is not None:
        rows = clean.standardise_customers(clean.latest_streams(customers))
        people = clean.golden_customers(rows)
        o = clean.order_reasons(o, people.xref, guests)
        n = rows.height
    else:
        people = clean.customers_from_orders(o)
        o = clean.order_reasons(o, None, guests)
        n = 0
    if guests:
        golden = pl.concat([people.golden, clean.guest_row()], how="diagonal_relaxed")
        xref = pl.concat([people.xref, clean.guest_row().select("customer_id", "customer_key")])
        people = clean.Customers(golden, xref)
    return Integrated(people, n, o)


def _geography(frame: pl.DataFrame) -> pl.DataFrame:
    return surrogate_key(frame, ["country", "city"], "geography_key")


def product_counts(clean_lines: pl.DataFrame) -> pl.DataFrame:
    """Clean lines per (``product_id``, ``product_name``, ``category``) (column ``n``;
    the counts of chunks, concatenated, add up)."""
    return (
        clean_lines.drop_nulls("product_id")
        .group_by("product_id", "product_name", "category")
        .agg(pl.len().cast(pl.Int64).alias("n"))
    )


def _most_frequent(counts: pl.DataFrame, column: str) -> pl.DataFrame:
    """Per product id the non-null value of ``column`` with the most lines (ties: the
    smallest; null when it has none)."""
    return (
        counts.group_by("product_id", column)
        .agg(pl.col("n").sum())
        .filter(pl.col("n") > 0)  # a value only duplicates had (``chunked``) is none
        .sort(
            ["product_id", pl.col(column).is_null(), "n", column],
            descending=[False, False, True, False],
        )
        .group_by("product_id", maintain_order=True)
        .agg(pl.col(column).first())
    )


def products_from_counts(counts: pl.DataFrame) -> pl.DataFrame:
    """``dim_product`` from ``product_counts`` (of every chunk, concatenated)."""
    out = _most_frequent(counts, "product_name").join(
        _most_frequent(counts, "category"), on="product_id", how="left"
    )
    return surrogate_key(out, ["product_id"], "product_key").select(
        "product_key", "product_id", "product_name", "category"
    )


def products(clean_lines: pl.DataFrame) -> pl.DataFrame:
    """``dim_product``: per product id its most frequent name and category."""
    return products_from_counts(product_counts(clean_lines))


def customer_attributes(people: clean.Customers) -> pl.DataFrame:
    """The golden customers with their geography, for joining to order lines."""
    customers = _geography(people.golden.join(country_attributes(), on="country", how="left"))
    return customers.rename({"customer_id": "master_id"}).drop("source_rows", "source_ids")


def lines_of(
    clean_orders: pl.DataFrame,
    people: clean.Customers,
    product_dim: pl.DataFrame,
    customers: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The clean order lines (all of them or a chunk) with every key and the customer's
    and product's attributes (``customers``: ``customer_attributes(people)``)."""
    if customers is None:
        customers = customer_attributes(people)
    o = clean_orders.with_columns(
        pl.col("customer_id").fill_null(clean.GUEST_ID),
        pl.col("channel").fill_null(UNKNOWN_CHANNEL),
    )
    o = (
        o.drop("country")
        .join(people.xref, on="customer_id", how="left")
        .join(customers, on="customer_key", how="left")
    )
    o = o.drop("product_name", "category").join(
        product_dim.drop("product_key"), on="product_id", how="left"
    )
    o = o.join(product_dim.select("product_id", "product_key"), on="product_id", how="left")
    o = surrogate_key(o, ["channel"], "channel_key")
    return o.with_columns(
        pl.col("master_id").alias("customer_id"),
        pl.col(RECORD_ID).alias("sales_key"),
        date_key(pl.col("order_ts")).alias("date_key"),
        (pl.col("quantity") * pl.col("unit_price")).round(2).alias("amount"),
    )


def lines(data: Integrated) -> pl.DataFrame:
    """The clean order lines with every key and the customer's and product's attributes
    (the product's canonical name and category)."""
    return lines_of(data.clean_orders, data.customers, products(data.clean_orders))


def dimensions(
    people: clean.Customers, product_dim: pl.DataFrame, channels: pl.Series
) -> dict[str, pl.DataFrame]:
    """The star's dimensions but the static ``dim_date`` (``channels``: those of the
    clean lines, nulls being ``Unknown``)."""
    customers = _geography(people.golden)
    geo = customers.select("geography_key", "country", "city").unique("geography_key")
    geo = geo.join(country_attributes(), on="country", how="left")
    known = pl.Series("channel", ["Online", "Store", "Mobile", "Phone", UNKNOWN_CHANNEL])
    every = pl.concat([known, channels.alias("channel")]).unique(maintain_order=True)
    return {
        "dim_customer": customers,
        "dim_product": product_dim,
        "dim_geography": geo,
        "dim_channel": surrogate_key(every.to_frame(), ["channel"], "channel_key"),
    }


def star(data: Integrated, enriched: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """The star schema's tables (``dim_date`` is static: not built here)."""
    o = enriched if enriched is not None else lines(data)
    dims = dimensions(data.customers, products(data.clean_orders), o["channel"])
    return {**dims, "fact_sales": o}


def enriched(data: Integrated | pl.DataFrame) -> pl.DataFrame:
    """``gold.sales_enriched``: one wide row per clean order line (``lines``, or the
    frame it returned), sorted by order month then customer (the layout readers prune
    on)."""
    o = lines(data) if isinstance(data, Integrated) else data
    o = o.with_columns(pl.col("order_ts").dt.strftime("%Y-%m").alias("order_month"))
    return o.sort("order_month", "customer_key", "order_ts")


def quarantine(data: Integrated) -> pl.DataFrame:
    """The rejected order lines as quarantine rows (``clean.quarantine_rows``)."""
    return clean.quarantine_rows(data.rejected_orders, clean.ORDER_FIELDS)


__all__ = [
    "Integrated",
    "customer_attributes",
    "dimensions",
    "enriched",
    "integrate",
    "lines",
    "lines_of",
    "product_counts",
    "products",
    "products_from_counts",
    "quarantine",
    "star",
]
