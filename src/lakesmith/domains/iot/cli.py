"""The W-IOT domain's commands: ``lakesmith simulate iot`` and ``lakesmith demo iot``.

Registered through ``DOMAIN`` (see ``lakesmith.domains``). This module is imported when
the ``iot`` commands are listed, so everything heavy is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from lakesmith.domains import Domain
from lakesmith.domains.iot.queries import QUERIES, TELEMETRY

ENVIRONMENT = "iot.environment"
ENV_SENSOR_FILE = Path(
    "../shared/data/external/iot/environmental_sensor_telemetry/raw_data_large.json"
)


def simulate(
    devices: int = typer.Option(100, "--devices", "-n", min=1, help="Fleet size."),
    rate: float = typer.Option(100.0, "--rate", "-r", help="Messages per second, whole fleet."),
    duration: float = typer.Option(60.0, "--duration", "-d", help="Seconds of stream time."),
    evolve_after: float | None = typer.Option(
        None,
        "--evolve-after",
        help="Seconds after the start when firmware v1.3.0 adds pressure. Default: half "
        "the duration; negative: never.",
    ),
    bad_ratio: float = typer.Option(
        0.0, "--bad-ratio", min=0.0, max=1.0, help="Fraction of deliberately bad messages."
    ),
    seed: int = typer.Option(0, "--seed", help="Same seed and start, same bytes."),
    topic: str | None = typer.Option(
        None, "--topic", help=f"Kafka topic. Default: the {TELEMETRY} contract's."
    ),
    start: str | None = typer.Option(
        None, "--start", help="Event time of the first message, ISO-8601. Default: now - duration."
    ),
    realtime: bool = typer.Option(
        False, "--realtime", help="Send at the wall-clock rate instead of as fast as possible."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Produce simulated W-IOT telemetry to Kafka.

    Schema v1, then v2 (with pressure) after a firmware upgrade, with labelled bad records.
    """
    from rich.table import Table

    from lakesmith.cli.common import console, settings
    from lakesmith.cli.simulate import parse_start
    from lakesmith.contracts import load_contract
    from lakesmith.domains.iot.simulator import SimConfig, produce_simulation
    from lakesmith.sources.kafka import kafka_spec

    config = SimConfig(
        devices=devices,
        rate=rate,
        duration=duration,
        evolve_after=evolve_after,
        bad_ratio=bad_ratio,
        seed=seed,
        topic=topic or kafka_spec(load_contract(TELEMETRY).source).topic,
        start=parse_start(start),
        realtime=realtime,
    )
    report = produce_simulation(settings(), config, progress=progress)
    table = Table(title=f"simulated → {report.topic}", show_header=False)
    table.add_row("produced", f"{report.total:,}")
    table.add_row("valid", f"{report.valid:,}")
    for kind, count in report.by_kind.items():
        if count:
            table.add_row(f"  {kind}", f"{count:,}")
    table.add_row("first event", report.first_event or "-")
    table.add_row("last event", report.last_event or "-")
    table.add_row("rate", f"{report.rate:,.0f} msg/s in {report.seconds:.2f}s")
    console.print(table)


def demo(
    devices: int = typer.Option(50, help="Simulated devices."),
    events: int = typer.Option(120_000, help="Events to simulate."),
    bad_ratio: float = typer.Option(0.02, help="Fraction of bad records of every kind."),
    seed: int = typer.Option(7, help="Simulation seed."),
) -> None:
    """Run the W-IOT workload end to end on the local stack.

    Starts the local stack, simulates a device fleet through a firmware upgrade (schema v2)
    with bad records, drains the worker, then shows the DQ summary, the schema history and
    example queries on the time-series table and the lake table.
    """
    from lakesmith.cli.common import console
    from lakesmith.cli.datasets import history
    from lakesmith.cli.demo import demo_settings, drain, show_dq, show_queries, start_local_stack
    from lakesmith.contracts import load_contract
    from lakesmith.domains.iot.simulator import SimConfig, produce_simulation
    from lakesmith.sources.produce import produce_file

    s = demo_settings()
    console.rule("1. local stack")
    start_local_stack(s)
    console.rule("2. simulate the fleet (firmware v1.3.0 adds pressure half-way)")
    telemetry = load_contract(TELEMETRY)
    rate = devices / 5  # every device reports every 5 seconds of (simulated) time
    report = produce_simulation(
        s,
        SimConfig(
            devices=devices, rate=rate, duration=events / rate, bad_ratio=bad_ratio, seed=seed
        ),
    )
    console.print(f"  produced {report.total:,} events to {report.topic}: {report.by_expected}")
    environment = load_contract(ENVIRONMENT)
    if ENV_SENSOR_FILE.exists():
        produced = produce_file(s, ENV_SENSOR_FILE, environment.name)
        console.print(
            f"  replayed {produced.produced:,} real Raspberry Pi readings to {produced.topic}"
        )
    console.rule("3. drain the workers")
    drain(s, telemetry)
    if ENV_SENSOR_FILE.exists():
        drain(s, environment)
    console.rule("4. data quality")
    show_dq(s, telemetry)
    console.rule("5. schema history")
    history(telemetry.name)
    console.rule("6. example queries")
    show_queries(s, DOMAIN.demo_queries)
    console.print(
        f"\nnext: `lakesmith dq report {TELEMETRY} --html dq.html`, "
        f"`lakesmith backfill {TELEMETRY} --from lake --to timeseries`, `lakesmith local down`"
    )


DOMAIN = Domain(
    name="iot",
    description="W-IOT device fleet: telemetry through a firmware upgrade, with labelled "
    "bad records.",
    contracts=(TELEMETRY, ENVIRONMENT),
    simulate=simulate,
    demo=demo,
    demo_queries=QUERIES,
)
