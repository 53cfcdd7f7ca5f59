"""The shop domain's command: ``lakesmith simulate shop`` (seed, then change, the orders
table in the database ``lakesmith_shop`` of the configured PostgreSQL server).

Registered through ``DOMAIN`` (see ``lakesmith.domains``); heavy imports stay inside."""

from __future__ import annotations

import typer

from lakesmith.domains import Domain

ORDERS = "shop.orders"
DATABASE = "lakesmith_shop"


def simulate(
    rows: int = typer.Option(10_000, "--rows", "-n", min=1, help="Orders to seed (first call)."),
    updates: int = typer.Option(500, "--updates", min=0, help="Orders changed per later call."),
    inserts: int = typer.Option(1_000, "--inserts", min=0, help="New orders per later call."),
    deletes: int = typer.Option(50, "--deletes", min=0, help="Orders soft-deleted per call."),
    reset: bool = typer.Option(False, "--reset", help="Drop the shop database first."),
) -> None:
    """Seed the shop's orders table (first call), or change it (later calls).

    The table lives in its own database, lakesmith_shop, on the configured PostgreSQL
    server; `lakesmith run shop.orders --until-idle` then reads what changed."""
    from lakesmith.cli.common import console, settings
    from lakesmith.stores.sql_source_db import change_orders, create_database, query, seed_orders

    s = settings()
    url = create_database(s, DATABASE, replace=reset)
    present = query(url, "SELECT to_regclass('public.orders') IS NOT NULL")[0][0]
    if not present or not query(url, "SELECT count(*) FROM public.orders")[0][0]:
        seed_orders(url, rows)
        console.print(f"{DATABASE}: seeded public.orders with {rows:,} orders")
        return
    done = change_orders(url, updates=updates, inserts=inserts, deletes=deletes)
    total = query(url, "SELECT count(*) FROM public.orders")[0][0]
    console.print(
        f"{DATABASE}: {done['updated']:,} orders updated, {done['inserted']:,} inserted, "
        f"{done['deleted']:,} soft-deleted ({total:,} rows)"
    )


DOMAIN = Domain(
    name="shop",
    description="Web-shop orders in a PostgreSQL table, read incrementally (sql source).",
    contracts=(ORDERS,),
    simulate=simulate,
)
