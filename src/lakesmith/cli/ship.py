"""``lakesmith ship <domain>``: write a domain's events to its landing place the way a log
shipper does (the music domain: fluentd-style objects in an S3 bucket). The sub-commands
come from the domain registry (``Domain.ship``), like ``simulate`` and ``demo``."""

from __future__ import annotations

from typing import ClassVar

import typer

from lakesmith.cli.demo import DomainCommands


class ShipCommands(DomainCommands):
    """``ship <domain>``: the domain's ``Domain.ship`` command."""

    kind: ClassVar[str] = "ship"


app = typer.Typer(
    cls=ShipCommands,
    help="Ship a domain's events to its landing bucket, as a log shipper would.",
    no_args_is_help=True,
)
