"""The W-SALES star schema in the PostgreSQL warehouse (SQLModel table classes; the lake
has the same columns, ``domains.sales.gold``). Created by the Alembic branch ``sales``
(``stores/warehouse_migrations/versions/sales_0001_star_schema.py``). Keys are 63-bit
hashes of natural keys (``gold.keys``); ``fact_sales`` has one row per clean order line.
``dim_date`` is the calendar every model shares (``warehouse_music.DimDate``: one class
per table name in SQLModel's metadata; the table itself lives in each model's schema)."""

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from lakesmith.stores.warehouse_music import DimDate as DimDate

TZ = sa.DateTime(timezone=True)


def _key(doc: str = "") -> object:
    """A surrogate key column (``doc`` says what it hashes; kept out of the database)."""
    return Field(sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})


class DimCustomer(SQLModel, table=True):
    """One row per person (duplicates under other ids merged by the fuzzy matching)."""

    __tablename__ = "dim_customer"
    customer_key: int = _key("hash of the master customer_id")  # type: ignore[assignment]
    customer_id: str = Field(sa_type=sa.Text, description="master id (of the best row)")
    name: str | None = Field(default=None, sa_type=sa.Text)
    email: str | None = Field(default=None, sa_type=sa.Text)
    email_status: str = Field(sa_type=sa.Text, description="valid, invalid or missing")
    segment: str | None = Field(default=None, sa_type=sa.Text)
    geography_key: int | None = Field(default=None, sa_type=sa.BigInteger)
    signup_date: dt.date | None = Field(default=None, sa_type=sa.Date)
    source_rows: int = Field(sa_type=sa.BigInteger, description="input rows merged")
    source_ids: str = Field(sa_type=sa.Text, description="every source id, comma-separated")


class DimProduct(SQLModel, table=True):
    __tablename__ = "dim_product"
    product_key: int = _key("hash of product_id")  # type: ignore[assignment]
    product_id: str = Field(sa_type=sa.Text)
    product_name: str | None = Field(default=None, sa_type=sa.Text)
    category: str | None = Field(default=None, sa_type=sa.Text)


class DimGeography(SQLModel, table=True):
    __tablename__ = "dim_geography"
    geography_key: int = _key("hash of country + city")  # type: ignore[assignment]
    country: str | None = Field(default=None, sa_type=sa.Text)
    iso2: str | None = Field(default=None, sa_type=sa.Text)
    region: str | None = Field(default=None, sa_type=sa.Text)
    city: str | None = Field(default=None, sa_type=sa.Text)


class DimChannel(SQLModel, table=True):
    __tablename__ = "dim_channel"
    channel_key: int = _key("hash of channel")  # type: ignore[assignment]
    channel: str = Field(sa_type=sa.Text, description="Online, Store, Mobile, Phone, Unknown")


class FactSales(SQLModel, table=True):
    """One row per clean order line (returns have negative quantities)."""

    __tablename__ = "fact_sales"
    __table_args__ = (
        sa.Index("fact_sales_date_key", "date_key"),
        sa.Index("fact_sales_customer_key", "customer_key"),
    )
    sales_key: str = Field(sa_type=sa.Text, primary_key=True, description="silver _record_id")
    order_id: str = Field(sa_type=sa.Text)
    order_ts: dt.datetime = Field(sa_type=TZ)
    date_key: int = Field(sa_type=sa.BigInteger)
    customer_key: int = Field(sa_type=sa.BigInteger)
    product_key: int = Field(sa_type=sa.BigInteger)
    geography_key: int | None = Field(default=None, sa_type=sa.BigInteger)
    channel_key: int = Field(sa_type=sa.BigInteger)
    quantity: int = Field(sa_type=sa.BigInteger)
    unit_price: float = Field(sa_type=sa.Double)
    amount: float = Field(sa_type=sa.Double, description="quantity * unit_price")
    is_return: bool


TABLES: tuple[type[SQLModel], ...] = (
    DimDate,
    DimCustomer,
    DimProduct,
    DimGeography,
    DimChannel,
    FactSales,
)
