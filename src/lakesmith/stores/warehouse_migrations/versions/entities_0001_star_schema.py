"""entities: the device-fleet star schema (fact_maintenance, fact_device_day, seven
dimensions) and the mart mart_open_tickets

Revision ID: entities_0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "entities_0001"
down_revision = None
branch_labels = ("entities",)
depends_on = None

# column specs: name, then K (bigint primary key), B (bigint), T (text), D (double),
# Z (timestamptz), L (boolean), A (date); "!" not null, "u" unique
TABLES: dict[str, str] = {
    "dim_date": "date_key K, date A!, year B!, quarter B!, month B!, month_name T!, day B!, "
    "day_of_week B!, day_name T!, day_of_year B!, iso_week B!, is_weekend L!, year_month T!",
    "dim_manufacturer": "manufacturer_key K, manufacturer T!, models B!",
    "dim_model": "model_key K, model T!u, name T, manufacturer_key B, manufacturer T, family T, "
    "sensor_types T, ranges T, price D, currency T, ip_rating T, interval_s B, launched Z",
    "dim_site": "site_key K, site T!u, name T, kind T, city T, country T, lat D, lon D",
    "dim_firmware": "firmware_key K, model_key B, model T!, version T!, released_at Z!, "
    "released_date_key B!, channel T, critical L, notes T, is_latest L!",
    "dim_device": "device_key K, device_id T!u, model_key B, site_key B, manufacturer_key B, "
    "firmware_key B, model T!, site T!, install_date Z!, install_date_key B!, status T!, "
    "tags T, serial T, firmware_version T, updated_at Z!",
    "dim_document": "document_key K, sha256 T!u, file_name T!, doc_type T!, title T, pages B!, "
    "bytes B!, model_key B, device_key B, site_key B, manufacturer_key B, date_key B, "
    "ticket T, document_date Z, received_at Z!",
    "fact_maintenance": "maintenance_key K, ticket T!u, device_key B, model_key B, site_key B, "
    "manufacturer_key B, opened_date_key B!, closed_date_key B, device_id T!, opened Z!, "
    "closed Z, is_open L!, duration_hours D, category T!, priority T, technician T",
    "fact_device_day": "device_day_key K, device_key B, model_key B, site_key B, date_key B!, "
    "device_id T!, readings B!, temperature_avg D, temperature_min D, temperature_max D, "
    "humidity_avg D, pressure_avg D",
}
INDEXES = {
    "dim_device_site_key": ("dim_device", ["site_key"]),
    "fact_maintenance_opened_date_key": ("fact_maintenance", ["opened_date_key"]),
    "fact_maintenance_site_model": ("fact_maintenance", ["site_key", "model_key"]),
    "fact_device_day_date_key": ("fact_device_day", ["date_key"]),
}
_TYPES: dict[str, Callable[[], Any]] = {
    "K": sa.BigInteger,
    "B": sa.BigInteger,
    "T": sa.Text,
    "D": sa.Double,
    "Z": lambda: sa.DateTime(timezone=True),
    "L": sa.Boolean,
    "A": sa.Date,
}

MART_OPEN_TICKETS = """
    SELECT f.site_key, f.model_key, s.site, s.name AS site_name, s.city, s.country,
           m.model, m.manufacturer,
           count(*) AS open_tickets,
           count(*) FILTER (WHERE f.priority IN ('high', 'critical')) AS urgent_tickets,
           min(f.opened) AS oldest_opened
    FROM fact_maintenance f
    JOIN dim_site s ON s.site_key = f.site_key
    JOIN dim_model m ON m.model_key = f.model_key
    WHERE f.is_open
    GROUP BY f.site_key, f.model_key, s.site, s.name, s.city, s.country, m.model, m.manufacturer"""


def _column(spec: str) -> sa.Column[object]:
    name, kind = spec.split()
    t = _TYPES[kind[0]]()
    if kind[0] == "K":
        return sa.Column(name, t, primary_key=True, autoincrement=False)
    return sa.Column(name, t, nullable="!" not in kind, unique="u" in kind or None)


def upgrade() -> None:
    for table, spec in TABLES.items():
        op.create_table(table, *[_column(c.strip()) for c in spec.split(",")])
    for index, (table, columns) in INDEXES.items():
        op.create_index(index, table, columns)
    op.execute(f"CREATE MATERIALIZED VIEW mart_open_tickets AS {MART_OPEN_TICKETS}")
    op.execute(
        "CREATE UNIQUE INDEX mart_open_tickets_key ON mart_open_tickets (site_key, model_key)"
    )


def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW IF EXISTS mart_open_tickets")
    for table in reversed(TABLES):
        op.drop_table(table)
