"""The entities (device fleet) star schema in the PostgreSQL warehouse: SQLModel table
classes, created by the Alembic branch ``entities`` (``stores/warehouse_migrations``,
schema ``entities``). The lake has the same columns (``domains.entities.gold``). Keys
are 63-bit hashes of natural keys (``gold.keys``); no foreign-key constraints (the
rebuild keeps them: a fact's key is null when its dimension has no such member).
``dim_date`` is the calendar class shared with music (one table per schema)."""

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from lakesmith.stores.warehouse_music import DimDate

__all__ = [
    "MARTS",
    "TABLES",
    "DimDate",
    "DimDevice",
    "DimDocument",
    "DimFirmware",
    "DimManufacturer",
    "DimModel",
    "DimSite",
    "FactDeviceDay",
    "FactMaintenance",
    "MartOpenTickets",
]

TZ = sa.DateTime(timezone=True)


def _key() -> Any:
    return Field(sa_type=sa.BigInteger, primary_key=True, sa_column_kwargs={"autoincrement": False})


def _ref() -> Any:
    return Field(default=None, sa_type=sa.BigInteger)


def _text() -> Any:
    return Field(default=None, sa_type=sa.Text)


class DimManufacturer(SQLModel, table=True):
    __tablename__ = "dim_manufacturer"
    manufacturer_key: int = _key()
    manufacturer: str = Field(sa_type=sa.Text)
    models: int = Field(sa_type=sa.BigInteger, description="models in the catalogue")


class DimModel(SQLModel, table=True):
    __tablename__ = "dim_model"
    model_key: int = _key()
    model: str = Field(sa_type=sa.Text, sa_column_kwargs={"unique": True})
    name: str | None = _text()
    manufacturer_key: int | None = _ref()
    manufacturer: str | None = _text()
    family: str | None = _text()
    sensor_types: str | None = _text()
    ranges: str | None = _text()
    price: float | None = Field(default=None, sa_type=sa.Double)
    currency: str | None = _text()
    ip_rating: str | None = _text()
    interval_s: int | None = _ref()
    launched: dt.datetime | None = Field(default=None, sa_type=TZ)


class DimSite(SQLModel, table=True):
    __tablename__ = "dim_site"
    site_key: int = _key()
    site: str = Field(sa_type=sa.Text, sa_column_kwargs={"unique": True})
    name: str | None = _text()
    kind: str | None = _text()
    city: str | None = _text()
    country: str | None = _text()
    lat: float | None = Field(default=None, sa_type=sa.Double)
    lon: float | None = Field(default=None, sa_type=sa.Double)


class DimFirmware(SQLModel, table=True):
    __tablename__ = "dim_firmware"
    firmware_key: int = _key()
    model_key: int | None = _ref()
    model: str = Field(sa_type=sa.Text)
    version: str = Field(sa_type=sa.Text)
    released_at: dt.datetime = Field(sa_type=TZ)
    released_date_key: int = Field(sa_type=sa.BigInteger)
    channel: str | None = _text()
    critical: bool | None = Field(default=None)
    notes: str | None = _text()
    is_latest: bool = Field(description="the model's newest release")


class DimDevice(SQLModel, table=True):
    __tablename__ = "dim_device"
    __table_args__ = (
        sa.Index("dim_device_site_key", "site_key"),
        # the gold API's "status, installed since, newest first" query; the order is the
        # API's (DESC NULLS LAST, then the key): see migration entities_0002
        sa.Index(
            "dim_device_status_install_date",
            "status",
            sa.text("install_date DESC NULLS LAST"),
            "device_key",
        ),
    )
    device_key: int = _key()
    device_id: str = Field(sa_type=sa.Text, sa_column_kwargs={"unique": True})
    model_key: int | None = _ref()
    site_key: int | None = _ref()
    manufacturer_key: int | None = _ref()
    firmware_key: int | None = _ref()
    model: str = Field(sa_type=sa.Text)
    site: str = Field(sa_type=sa.Text)
    install_date: dt.datetime = Field(sa_type=TZ)
    install_date_key: int = Field(sa_type=sa.BigInteger)
    status: str = Field(sa_type=sa.Text)
    tags: str | None = _text()
    serial: str | None = _text()
    firmware_version: str | None = _text()
    updated_at: dt.datetime = Field(sa_type=TZ)


class DimDocument(SQLModel, table=True):
    """One row per PDF (silver ``entities.documents``), with the keys of what it is about."""

    __tablename__ = "dim_document"
    document_key: int = _key()
    sha256: str = Field(sa_type=sa.Text, sa_column_kwargs={"unique": True})
    file_name: str = Field(sa_type=sa.Text)
    doc_type: str = Field(sa_type=sa.Text, description="datasheet, …_report, or other")
    title: str | None = _text()
    pages: int = Field(sa_type=sa.BigInteger)
    bytes: int = Field(sa_type=sa.BigInteger)
    model_key: int | None = _ref()
    device_key: int | None = _ref()
    site_key: int | None = _ref()
    manufacturer_key: int | None = _ref()
    date_key: int | None = _ref()
    ticket: str | None = _text()
    document_date: dt.datetime | None = Field(default=None, sa_type=TZ)
    received_at: dt.datetime = Field(sa_type=TZ)


class FactMaintenance(SQLModel, table=True):
    """One row per maintenance ticket (its newest version)."""

    __tablename__ = "fact_maintenance"
    __table_args__ = (
        sa.Index("fact_maintenance_opened_date_key", "opened_date_key"),
        sa.Index("fact_maintenance_site_model", "site_key", "model_key"),
    )
    maintenance_key: int = _key()
    ticket: str = Field(sa_type=sa.Text, sa_column_kwargs={"unique": True})
    device_key: int | None = _ref()
    model_key: int | None = _ref()
    site_key: int | None = _ref()
    manufacturer_key: int | None = _ref()
    opened_date_key: int = Field(sa_type=sa.BigInteger)
    closed_date_key: int | None = _ref()
    device_id: str = Field(sa_type=sa.Text)
    opened: dt.datetime = Field(sa_type=TZ)
    closed: dt.datetime | None = Field(default=None, sa_type=TZ)
    is_open: bool
    duration_hours: float | None = Field(default=None, sa_type=sa.Double)
    category: str = Field(sa_type=sa.Text)
    priority: str | None = _text()
    technician: str | None = _text()


class FactDeviceDay(SQLModel, table=True):
    """One row per device and UTC day of telemetry (``iot.telemetry`` silver)."""

    __tablename__ = "fact_device_day"
    __table_args__ = (sa.Index("fact_device_day_date_key", "date_key"),)
    device_day_key: int = _key()
    device_key: int | None = _ref()
    model_key: int | None = _ref()
    site_key: int | None = _ref()
    date_key: int = Field(sa_type=sa.BigInteger)
    device_id: str = Field(sa_type=sa.Text)
    readings: int = Field(sa_type=sa.BigInteger)
    temperature_avg: float | None = Field(default=None, sa_type=sa.Double)
    temperature_min: float | None = Field(default=None, sa_type=sa.Double)
    temperature_max: float | None = Field(default=None, sa_type=sa.Double)
    humidity_avg: float | None = Field(default=None, sa_type=sa.Double)
    pressure_avg: float | None = Field(default=None, sa_type=sa.Double)


class MartOpenTickets(SQLModel, table=True):
    """The materialised view ``mart_open_tickets``: open maintenance tickets per site and
    model (declared for readers; created by the migration, not by ``create_all``)."""

    __tablename__ = "mart_open_tickets"
    __table_args__ = {"info": {"is_view": True}}
    site_key: int = Field(sa_type=sa.BigInteger, primary_key=True)
    model_key: int = Field(sa_type=sa.BigInteger, primary_key=True)
    site: str = Field(sa_type=sa.Text)
    site_name: str | None = _text()
    city: str | None = _text()
    country: str | None = _text()
    model: str = Field(sa_type=sa.Text)
    manufacturer: str | None = _text()
    open_tickets: int = Field(sa_type=sa.BigInteger)
    urgent_tickets: int = Field(sa_type=sa.BigInteger, description="priority high or critical")
    oldest_opened: dt.datetime = Field(sa_type=TZ)


TABLES: tuple[type[SQLModel], ...] = (
    DimDate,
    DimManufacturer,
    DimModel,
    DimSite,
    DimFirmware,
    DimDevice,
    DimDocument,
    FactMaintenance,
    FactDeviceDay,
)
"""The gold tables, in load order (the view is ``MARTS``)."""
MARTS: tuple[type[SQLModel], ...] = (MartOpenTickets,)
