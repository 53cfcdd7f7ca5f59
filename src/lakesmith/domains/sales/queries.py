"""Three analyst questions on the sales data, each ONE SQL query, answered two ways:

- with DuckDB directly on the lake's files of ``gold.sales_enriched`` (``iceberg_scan``
  / ``delta_scan`` of a local lake when the DuckDB extensions are installed; else the
  table read by pyiceberg / delta-rs and handed to DuckDB as Arrow);
- with SQL on the PostgreSQL warehouse's star schema (``fact_sales`` + dimensions).

Both give the same rows (amounts rounded to cents). Guests (orders without a customer
id, in the retail data) are left out of the repeat-customer rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import duckdb

    from lakesmith.config import Settings


@dataclass(frozen=True)
class Question:
    name: str
    title: str
    lake: str  # DuckDB over sales_enriched
    warehouse: str  # PostgreSQL over the star schema in {schema}


QUESTIONS = {
    q.name: q
    for q in (
        Question(
            "revenue_by_month_segment",
            "revenue by month and customer segment",
            """SELECT order_month AS month, coalesce(segment, 'Unknown') AS segment,
       round(sum(amount), 2) AS revenue, count(DISTINCT order_id) AS orders
FROM sales_enriched
GROUP BY 1, 2 ORDER BY 1, 2""",
            """SELECT d.year_month AS month, coalesce(c.segment, 'Unknown') AS segment,
       round(sum(f.amount)::numeric, 2) AS revenue, count(DISTINCT f.order_id) AS orders
FROM {schema}.fact_sales f
JOIN {schema}.dim_date d ON d.date_key = f.date_key
JOIN {schema}.dim_customer c ON c.customer_key = f.customer_key
GROUP BY 1, 2 ORDER BY 1, 2""",
        ),
        Question(
            "top_products_by_country",
            "top 3 products by revenue in each country",
            """SELECT country, rank, product_id, product_name, revenue FROM (
  SELECT coalesce(country, 'Unknown') AS country, product_id,
         any_value(product_name) AS product_name, round(sum(amount), 2) AS revenue,
         row_number() OVER (PARTITION BY coalesce(country, 'Unknown')
                            ORDER BY sum(amount) DESC, product_id) AS rank
  FROM sales_enriched GROUP BY 1, 2) t
WHERE rank <= 3 ORDER BY country, rank""",
            """SELECT country, rank, product_id, product_name, revenue FROM (
  SELECT coalesce(g.country, 'Unknown') AS country, p.product_id,
         min(p.product_name) AS product_name, round(sum(f.amount)::numeric, 2) AS revenue,
         row_number() OVER (PARTITION BY coalesce(g.country, 'Unknown')
                            ORDER BY sum(f.amount) DESC, p.product_id) AS rank
  FROM {schema}.fact_sales f
  JOIN {schema}.dim_product p ON p.product_key = f.product_key
  LEFT JOIN {schema}.dim_geography g ON g.geography_key = f.geography_key
  GROUP BY 1, 2) t
WHERE rank <= 3 ORDER BY country, rank""",
        ),
        Question(
            "repeat_customer_rate",
            "repeat-customer rate by segment (customers with 2+ orders, returns left out)",
            """WITH per AS (
  SELECT customer_key, coalesce(segment, 'Unknown') AS segment,
         count(DISTINCT order_id) AS orders
  FROM sales_enriched WHERE NOT is_return AND customer_id <> 'GUEST' GROUP BY 1, 2)
SELECT segment, count(*) AS customers, count(*) FILTER (WHERE orders > 1) AS repeat_customers,
       round(100.0 * count(*) FILTER (WHERE orders > 1) / count(*), 1) AS repeat_pct
FROM per GROUP BY segment ORDER BY segment""",
            """WITH per AS (
  SELECT f.customer_key, coalesce(c.segment, 'Unknown') AS segment,
         count(DISTINCT f.order_id) AS orders
  FROM {schema}.fact_sales f JOIN {schema}.dim_customer c ON c.customer_key = f.customer_key
  WHERE NOT f.is_return AND c.customer_id <> 'GUEST' GROUP BY 1, 2)
SELECT segment, count(*) AS customers, count(*) FILTER (WHERE orders > 1) AS repeat_customers,
       round(100.0 * count(*) FILTER (WHERE orders > 1) / count(*), 1) AS repeat_pct
FROM per GROUP BY segment ORDER BY segment""",
        ),
    )
}


def _extensions() -> str | None:
    try:
        import duckdb_ext  # type: ignore[import-untyped]  # extension binaries (dev deps)
    except ImportError:
        return None
    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def lake_connection(settings: Settings, table_format: str) -> duckdb.DuckDBPyConnection:
    """DuckDB with ``sales_enriched`` as a view on the table's files (or an Arrow table
    when the lake is on S3 or the extensions are missing)."""
    import duckdb

    from lakesmith.domains.sales.gold import ENRICHED, ENRICHED_MODEL
    from lakesmith.stores.lake import open_table

    table = open_table(settings, table_format, ENRICHED_MODEL.name, ENRICHED.name)
    con = duckdb.connect()
    ext = _extensions()
    if ext is not None and not settings.effective_warehouse().startswith("s3://"):
        con.execute(f"SET extension_directory = '{ext}'")
        con.execute("LOAD iceberg; LOAD delta")
        scan = "iceberg_scan" if table_format == "iceberg" else "delta_scan"
        location = table.location.replace("'", "''")
        con.execute(f"CREATE VIEW sales_enriched AS SELECT * FROM {scan}('{location}')")
    else:
        con.register("sales_enriched", table.scan().to_arrow())
    return con


def lake_answer(settings: Settings, question: str, table_format: str) -> pl.DataFrame:
    """The answer from DuckDB on the lake's ``gold.sales_enriched``."""
    con = lake_connection(settings, table_format)
    try:
        return con.execute(QUESTIONS[question].lake).pl()
    finally:
        con.close()


def warehouse_answer(settings: Settings, question: str, schema: str = "sales") -> pl.DataFrame:
    """The answer from the warehouse's star schema (one SQL query)."""
    from psycopg import sql

    from lakesmith.stores.postgres import connect

    text = QUESTIONS[question].warehouse.format(schema=sql.Identifier(schema).as_string(None))
    with connect(settings) as conn:
        cur = conn.execute(text)
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
    frame = pl.DataFrame(rows, schema=names, orient="row")
    return frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
