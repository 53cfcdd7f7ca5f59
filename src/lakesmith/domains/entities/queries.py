"""The entity domain's demo questions, on the PostgreSQL warehouse (schema ``entities``):
open tickets per site and model (the mart), repair time per category and manufacturer,
and the PDF documents by type."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from lakesmith.config import Settings

SCHEMA = "entities"
QUERIES: dict[str, tuple[str, str]] = {
    "open_tickets": (
        "open maintenance tickets per site and model (mart_open_tickets, top 10)",
        """SELECT site, city, model, manufacturer, open_tickets, urgent_tickets,
       oldest_opened::date AS oldest
FROM {schema}.mart_open_tickets
ORDER BY open_tickets DESC, urgent_tickets DESC, site, model LIMIT 10""",
    ),
    "repair_hours": (
        "median hours to close a ticket, per category and manufacturer (top 10)",
        """SELECT f.category, m.manufacturer, count(*) AS tickets,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY f.duration_hours)::numeric, 1)
         AS median_hours
FROM {schema}.fact_maintenance f
JOIN {schema}.dim_manufacturer m ON m.manufacturer_key = f.manufacturer_key
WHERE NOT f.is_open
GROUP BY f.category, m.manufacturer
ORDER BY median_hours DESC LIMIT 10""",
    ),
    "documents": (
        "PDF documents by type",
        """SELECT doc_type, count(*) AS documents, sum(pages) AS pages,
       round(avg(bytes) / 1024.0, 1) AS avg_kib
FROM {schema}.dim_document GROUP BY doc_type ORDER BY documents DESC""",
    ),
}


def answer(settings: Settings, name: str, schema: str = SCHEMA) -> pl.DataFrame:
    """The result of question ``name`` as a Polars frame."""
    from lakesmith.stores.postgres import connect

    sql = QUERIES[name][1].format(schema=schema)
    with connect(settings) as conn:
        cur = conn.execute(sql)  # a constant query of QUERIES
        cols = [d.name for d in cur.description or ()]
        rows = cur.fetchall()
    return pl.DataFrame(rows, schema=cols, orient="row")


def show(settings: Settings, schema: str = SCHEMA) -> None:
    """Print each question, its SQL (dimmed) and its answer."""
    from rich.markup import escape

    from lakesmith.cli.common import console

    for name, (title, sql) in QUERIES.items():
        console.print(f"[bold]{title}[/]")
        console.print(f"[dim]{escape(sql.format(schema=schema))}[/]")
        console.print(answer(settings, name, schema))
