"""``lakesmith simulate iot`` and ``lakesmith produce FILE``: put test data on Kafka.

``simulate`` generates the W-IOT device fleet (valid telemetry, a firmware upgrade that
adds a field mid-stream, and labelled bad records); ``produce`` replays recorded data,
such as the Raspberry Pi sensor dumps, onto a dataset's topic. Both create the topic
from the dataset's contract first.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from lakesmith.cli.common import console, settings
from lakesmith.core.errors import LakesmithError
from lakesmith.domains.iot.simulator import DEFAULT_TOPIC, SimConfig, produce_simulation
from lakesmith.sources.produce import produce_file

app = typer.Typer(help="Simulate device fleets onto Kafka.", no_args_is_help=True)


def _parse_start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise LakesmithError(
            f"--start {text!r} is not an ISO-8601 time", hint="e.g. --start 2025-01-20T10:00:00Z"
        ) from None


@app.command()
def iot(
    devices: int = typer.Option(100, "--devices", "-n", min=1, help="fleet size"),
    rate: float = typer.Option(100.0, "--rate", "-r", help="messages per second, whole fleet"),
    duration: float = typer.Option(60.0, "--duration", "-d", help="seconds of stream time"),
    evolve_after: float | None = typer.Option(
        None,
        "--evolve-after",
        help="seconds after start when firmware v1.3.0 adds pressure (default: half the "
        "duration; negative: never)",
    ),
    bad_ratio: float = typer.Option(
        0.0, "--bad-ratio", min=0.0, max=1.0, help="fraction of deliberately bad messages"
    ),
    seed: int = typer.Option(0, "--seed", help="same seed and start → same bytes"),
    topic: str = typer.Option(DEFAULT_TOPIC, "--topic", help="Kafka topic"),
    start: str | None = typer.Option(
        None, "--start", help="event time of the first message, ISO-8601 (default: now - duration)"
    ),
    realtime: bool = typer.Option(
        False, "--realtime", help="send at the wall-clock rate instead of as fast as possible"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Produce W-IOT telemetry (v1, then v2 with pressure) with labelled bad records."""
    config = SimConfig(
        devices=devices,
        rate=rate,
        duration=duration,
        evolve_after=evolve_after,
        bad_ratio=bad_ratio,
        seed=seed,
        topic=topic,
        start=_parse_start(start),
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


def produce(
    file: Path = typer.Argument(..., help="a JSON array or JSON-lines file"),
    dataset: str = typer.Option(..., "--dataset", help="contract name, e.g. iot.environment"),
    limit: int | None = typer.Option(None, "--limit", min=0, help="produce at most N elements"),
    topic: str | None = typer.Option(None, "--topic", help="default: the contract's topic"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Produce every element of FILE to the dataset's topic, keyed like its devices."""
    report = produce_file(settings(), file, dataset, limit=limit, topic=topic, progress=progress)
    extra = []
    if report.not_objects:
        extra.append(f"{report.not_objects:,} not objects")
    if report.unparsed:
        extra.append(f"{report.unparsed:,} unparsable lines")
    note = f" ({', '.join(extra)}; the pipeline will quarantine them)" if extra else ""
    console.print(
        f"produced {report.produced:,} messages to {report.topic} in {report.seconds:.2f}s{note}"
    )
