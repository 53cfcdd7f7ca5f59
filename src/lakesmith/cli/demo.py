"""``lakesmith demo iot``: the W-IOT story end to end on the local stack."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import typer
from rich.table import Table

from lakesmith.cli.common import console, settings, state
from lakesmith.config import Settings
from lakesmith.contracts import Contract, load_contract
from lakesmith.core.logging import configure_logging
from lakesmith.local import LocalStack

app = typer.Typer(
    help="Run a built-in workload end to end on the local stack.", no_args_is_help=True
)

ENV_SENSOR_FILE = Path(
    "../shared/data/external/iot/environmental_sensor_telemetry/raw_data_large.json"
)


def _drain(s: Settings, contract: Contract) -> None:
    from lakesmith.pipeline.worker import Worker

    worker = Worker(s, contract)
    try:
        stats = worker.run(until_idle=True)
    finally:
        worker.close()
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.by_disposition.items()))
    console.print(
        f"  worker: {stats.records:,} records in {stats.batches} batches "
        f"({stats.records_per_second:,.0f}/s while busy) — {counts}"
    )


def _queries(s: Settings, contract: Contract) -> None:
    from lakesmith.pipeline.worker import lake_tables
    from lakesmith.stores.postgres import connect

    sql = """
        SELECT device_id, date_trunc('hour', ts) AS hour, count(*) AS readings,
               round(avg(temperature)::numeric, 2) AS avg_temp, round(avg(humidity)::numeric, 2) AS avg_hum,
               round(avg(pressure)::numeric, 1) AS avg_pressure
        FROM timeseries.iot_telemetry GROUP BY 1, 2 ORDER BY hour DESC, device_id LIMIT 8
    """
    with connect(s) as conn, conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
        cols = [d.name for d in cur.description or []]
    table = Table(title="time-series store (PostgreSQL): hourly average per device")
    for c in cols:
        table.add_column(c)
    for r in rows:
        table.add_row(*["" if v is None else str(v) for v in r])
    console.print(f"[dim]{' '.join(sql.split())}[/]")
    console.print(table)

    silver = lake_tables(s, contract)["silver"].table
    frame = silver.scan(
        selected_fields=("device_id", "timestamp", "temperature", "pressure")
    ).to_polars()
    hourly = (
        frame.sort("timestamp")
        .group_by_dynamic("timestamp", every="1h", group_by="device_id")
        .agg(pl.len().alias("readings"), pl.col("temperature").mean().round(2).alias("avg_temp"),
             pl.col("pressure").mean().round(1).alias("avg_pressure"))
        .sort(["timestamp", "device_id"], descending=[True, False])
        .head(8)
    )  # fmt: skip
    console.print(
        "[dim]silver Iceberg table via Polars: scan → group_by_dynamic('timestamp', every='1h', "
        "group_by='device_id')[/]"
    )
    console.print(hourly)


@app.command("iot")
def iot(
    devices: int = typer.Option(50, help="simulated devices"),
    events: int = typer.Option(120_000, help="events to simulate"),
    bad_ratio: float = typer.Option(0.02, help="fraction of bad records of every kind"),
    seed: int = typer.Option(7, help="simulation seed"),
) -> None:
    """Start the local stack, simulate a device fleet through a firmware upgrade (schema v2)
    with bad records, drain the worker, then show the DQ summary, the schema history and
    example queries on the time-series table and the Iceberg table."""
    from lakesmith.cli.datasets import history
    from lakesmith.domains.iot.simulator import SimConfig, produce_simulation
    from lakesmith.quality.report import load_dq_summary, render_table
    from lakesmith.sources.produce import produce_file
    from lakesmith.stores import meta
    from lakesmith.stores.postgres import connect

    s = settings()
    if state.log_level is None:  # keep the demo readable: JSON logs only for warnings
        configure_logging("WARNING")
    console.rule("1. local stack")
    LocalStack(s).up(
        lambda name, event: console.print(f"  {name:<10} {event}") if event != "starting" else None
    )
    console.rule("2. simulate the fleet (firmware v1.3.0 adds pressure half-way)")
    telemetry = load_contract("iot.telemetry")
    rate = devices / 5  # every device reports every 5 seconds of (simulated) time
    report = produce_simulation(
        s,
        SimConfig(
            devices=devices, rate=rate, duration=events / rate, bad_ratio=bad_ratio, seed=seed
        ),
    )
    console.print(f"  produced {report.total:,} events to {report.topic}: {report.by_expected}")
    environment = load_contract("iot.environment")
    if ENV_SENSOR_FILE.exists():
        produced = produce_file(s, ENV_SENSOR_FILE, environment.name)
        console.print(
            f"  replayed {produced.produced:,} real Raspberry Pi readings to {produced.topic}"
        )
    console.rule("3. drain the workers")
    _drain(s, telemetry)
    if ENV_SENSOR_FILE.exists():
        _drain(s, environment)
    console.rule("4. data quality")
    with connect(s) as conn:
        meta.ensure_meta_schema(conn)
        console.print(render_table(load_dq_summary(conn, telemetry)))
    console.rule("5. schema history")
    history(telemetry.name)
    console.rule("6. example queries")
    _queries(s, telemetry)
    console.print(
        "\nnext: `lakesmith dq report iot.telemetry --html dq.html`, "
        "`lakesmith backfill iot.telemetry --from lake --to timeseries`, `lakesmith local down`"
    )
