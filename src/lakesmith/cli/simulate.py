"""``lakesmith simulate <domain>`` and ``lakesmith produce FILE``: put test data on Kafka.

``simulate`` runs a registered domain's generator (``lakesmith.domains``; the domain
module is imported only when its command runs or its help is shown); ``produce``
replays recorded data, such as the Raspberry Pi sensor dumps, onto a dataset's topic.
Both create the topic from the dataset's contract first.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

import typer

from lakesmith.cli.common import console, settings
from lakesmith.cli.demo import DomainCommands
from lakesmith.core.errors import LakesmithError


class SimulateCommands(DomainCommands):
    """``simulate <domain>``: the domain's ``Domain.simulate`` command."""

    kind: ClassVar[str] = "simulate"


app = typer.Typer(
    cls=SimulateCommands,
    help="Generate a domain's test data onto Kafka.",
    no_args_is_help=True,
)


def parse_start(text: str | None) -> datetime | None:
    """A ``--start`` option's ISO-8601 time (``Z`` allowed); ``None`` stays ``None``."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise LakesmithError(
            f"--start {text!r} is not an ISO-8601 time", hint="e.g. --start 2025-01-20T10:00:00Z"
        ) from None


def produce(
    file: Path = typer.Argument(..., help="A JSON array or JSON-lines file."),
    dataset: str = typer.Option(
        ..., "--dataset", help="Dataset name (e.g. iot.environment) or a contract YAML path."
    ),
    limit: int | None = typer.Option(None, "--limit", min=0, help="Produce at most N elements."),
    topic: str | None = typer.Option(None, "--topic", help="Kafka topic. Default: the contract's."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Produce a JSON or JSON-lines file to a dataset's Kafka topic.

    Every element of FILE becomes one message, keyed by the contract's source.key_field.
    """
    from lakesmith.sources.produce import produce_file

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
