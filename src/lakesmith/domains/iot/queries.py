"""The W-IOT demo's example queries: hourly averages per device, twice.

Once in SQL on the dataset's time-series table (PostgreSQL / TimescaleDB), once with
Polars on its silver lake table. Both read the tables through ``Dataset``, so the
names come from the contract. Heavy imports stay inside the functions: this module is
imported whenever the ``iot`` domain is listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakesmith.core.errors import LakesmithError
from lakesmith.domains import DemoQuery, QueryOutput

if TYPE_CHECKING:
    from lakesmith.pipeline.dataset import Dataset

TELEMETRY = "iot.telemetry"

# {table} is the dataset's time-series table; its time column is the contract's
# ``timeseries.time_column`` (``ts`` for iot.telemetry).
HOURLY_SQL = """
    SELECT device_id, date_trunc('hour', {ts}) AS hour, count(*) AS readings,
           round(avg(temperature)::numeric, 2) AS avg_temp, round(avg(humidity)::numeric, 2) AS avg_hum,
           round(avg(pressure)::numeric, 1) AS avg_pressure
    FROM {table} GROUP BY 1, 2 ORDER BY hour DESC, device_id LIMIT 8
"""


def hourly_timeseries(dataset: Dataset) -> QueryOutput:
    """The last eight device-hours in the time-series store, as a Rich table."""
    from psycopg import sql
    from rich.table import Table

    from lakesmith.stores.postgres import connect
    from lakesmith.stores.timeseries import SCHEMA

    ts = dataset.timeseries
    if ts is None:
        raise LakesmithError(f"{dataset.contract.name} has no time-series table")
    time_column = ts.spec.time_column
    query = sql.SQL(HOURLY_SQL).format(
        ts=sql.Identifier(time_column), table=sql.Identifier(SCHEMA, ts.table)
    )
    with connect(dataset.settings) as conn, conn.cursor() as cur:
        cur.execute(query)
        rows = cur.fetchall()
        cols = [d.name for d in cur.description or []]
    table = Table(title="time-series store (PostgreSQL): hourly average per device")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*["" if v is None else str(v) for v in r])
    text = HOURLY_SQL.format(ts=time_column, table=f"{SCHEMA}.{ts.table}")
    return QueryOutput(" ".join(text.split()), table)


def hourly_silver(dataset: Dataset) -> QueryOutput:
    """The same hourly averages computed with Polars from the silver lake table."""
    import polars as pl

    frame = dataset.silver.scan(["device_id", "timestamp", "temperature", "pressure"])
    hourly = (
        frame.sort("timestamp")
        .group_by_dynamic("timestamp", every="1h", group_by="device_id")
        .agg(pl.len().alias("readings"), pl.col("temperature").mean().round(2).alias("avg_temp"),
             pl.col("pressure").mean().round(1).alias("avg_pressure"))
        .sort(["timestamp", "device_id"], descending=[True, False])
        .head(8)
    )  # fmt: skip
    text = (
        f"silver {dataset.format.capitalize()} table via Polars: scan → "
        "group_by_dynamic('timestamp', every='1h', group_by='device_id')"
    )
    return QueryOutput(text, hourly)


QUERIES = (
    DemoQuery(TELEMETRY, hourly_timeseries),
    DemoQuery(TELEMETRY, hourly_silver),
)
