"""sales: star schema (fact_sales and five dimensions: date, customer, product, geography,
channel)

Revision ID: sales_0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sales_0001"
down_revision = None
branch_labels = ("sales",)
depends_on = None

TZ = sa.DateTime(timezone=True)


def _key(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), primary_key=True, autoincrement=False)


def _big(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dim_date",
        _key("date_key"),
        sa.Column("date", sa.Date(), nullable=False),
        *[_big(c) for c in ("year", "quarter", "month")],
        _text("month_name", False),
        _big("day"),
        _big("day_of_week"),
        _text("day_name", False),
        _big("day_of_year"),
        _big("iso_week"),
        sa.Column("is_weekend", sa.Boolean(), nullable=False),
        _text("year_month", False),
    )
    op.create_table(
        "dim_customer",
        _key("customer_key"),
        _text("customer_id", False),
        _text("name"),
        _text("email"),
        _text("email_status", False),
        _text("segment"),
        _big("geography_key", True),
        sa.Column("signup_date", sa.Date(), nullable=True),
        _big("source_rows"),
        _text("source_ids", False),
    )
    op.create_table(
        "dim_product",
        _key("product_key"),
        _text("product_id", False),
        _text("product_name"),
        _text("category"),
    )
    op.create_table(
        "dim_geography",
        _key("geography_key"),
        _text("country"),
        _text("iso2"),
        _text("region"),
        _text("city"),
    )
    op.create_table("dim_channel", _key("channel_key"), _text("channel", False))
    op.create_table(
        "fact_sales",
        sa.Column("sales_key", sa.Text(), primary_key=True),
        _text("order_id", False),
        sa.Column("order_ts", TZ, nullable=False),
        _big("date_key"),
        _big("customer_key"),
        _big("product_key"),
        _big("geography_key", True),
        _big("channel_key"),
        _big("quantity"),
        sa.Column("unit_price", sa.Double(), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        sa.Column("is_return", sa.Boolean(), nullable=False),
    )
    op.create_index("fact_sales_date_key", "fact_sales", ["date_key"])
    op.create_index("fact_sales_customer_key", "fact_sales", ["customer_key"])


def downgrade() -> None:
    for table in (
        "fact_sales",
        "dim_channel",
        "dim_geography",
        "dim_product",
        "dim_customer",
        "dim_date",
    ):
        op.drop_table(table)
