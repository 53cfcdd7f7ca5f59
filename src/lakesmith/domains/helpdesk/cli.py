"""The helpdesk domain's command: ``lakesmith demo helpdesk``.

Registered through ``DOMAIN`` (see ``lakesmith.domains``); everything heavy is imported
inside the command, so listing the domains stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from lakesmith.domains import DemoQuery, Domain, QueryOutput

if TYPE_CHECKING:
    from lakesmith.pipeline.dataset import Dataset

TICKETS = "helpdesk.tickets"
TOKEN_ENV = "LAKESMITH_TICKETS_TOKEN"
URL_ENV = "LAKESMITH_TICKETS_URL"
DEMO_PORT = 8765  # the contract's url; another free port (through URL_ENV) when taken


def tickets_by_status(dataset: Dataset) -> QueryOutput:
    """The current state: silver holds each ticket's newest version (``versions: latest``)."""
    import polars as pl

    silver = dataset.scan_silver(["ticket_id", "status"])
    counts = silver.group_by("status").agg(pl.len().alias("tickets")).sort("status")
    return QueryOutput("silver.group_by('status').agg(pl.len())  -- one row per ticket", counts)


def changed_tickets(dataset: Dataset) -> QueryOutput:
    """Tickets changed after they were first read: bronze holds every version the API
    sent, silver the newest."""
    import polars as pl

    silver = dataset.scan_silver(["ticket_id", "status", "updated_at"])
    ids = dataset.bronze.scan(["_payload"]).select(
        pl.col("_payload").cast(pl.String).str.json_path_match("$.id").cast(pl.Int64)
    )
    versions = ids.to_series().rename("ticket_id").value_counts(name="versions")
    table = (
        versions.filter(pl.col("versions") > 1)
        .join(silver, on="ticket_id")
        .sort("updated_at", descending=True)
        .select("ticket_id", "status", "updated_at", "versions")
        .head(5)
    )
    text = "bronze versions per ticket (> 1) ⋈ silver, newest first"
    return QueryOutput(text, table)


def demo(
    tickets: int = typer.Option(500, help="Tickets the local API starts with."),
    updates: int = typer.Option(60, help="Tickets changed between the two extractions."),
    inserts: int = typer.Option(120, help="Tickets added between the two extractions."),
    bad: int = typer.Option(5, help="Added tickets the contract must quarantine."),
    seed: int = typer.Option(11, help="Seed of the generated tickets."),
) -> None:
    """Extract a paged REST API incrementally, twice, on the local stack.

    Starts the local stack and a local tickets API (bearer token, cursor pagination, a 429
    and a 500 injected), extracts everything, changes tickets and adds new ones (some
    invalid), extracts again — only the changes — and prints the counts, the committed
    cursor and the tickets' current state.
    """
    import os
    import random
    import socket

    from lakesmith.cli.common import console
    from lakesmith.cli.demo import demo_settings, drain, show_queries, start_local_stack
    from lakesmith.contracts import load_contract
    from lakesmith.pipeline.dataset import Dataset
    from lakesmith.testing.http_service import TicketService
    from lakesmith.testing.pipeline import read_sinks

    s = demo_settings()
    contract = load_contract(TICKETS)
    console.rule("1. local stack and the tickets API")
    start_local_stack(s)
    api = TicketService(rows=tickets, seed=seed)
    port = DEMO_PORT
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            port = 0  # taken: any free port, the contract pointed at it by URL_ENV
    api.start(port or None)
    os.environ[URL_ENV] = api.url
    os.environ[TOKEN_ENV] = api.token  # the contract names the variable, never the token
    console.print(f"  tickets API on {api.url} ({tickets:,} tickets, bearer token in ${TOKEN_ENV})")
    try:
        console.rule("2. first extraction (a 429 with Retry-After: 1 and a 500 on the way)")
        api.faults.script.extend([429, 500])
        drain(s, contract)
        console.rule(f"3. the API changes: {updates} updated, {inserts} new, {bad} invalid")
        rng = random.Random(seed)
        api.update(rng.sample(sorted(api.rows), min(updates, len(api.rows))))
        api.insert(inserts)
        api.insert_bad(bad)
        console.rule("4. second extraction: only what changed since the committed cursor")
        before = api.requests
        drain(s, contract)
        console.print(f"  {api.requests - before} requests")
    finally:
        api.stop()
    console.rule("5. counts")
    sinks = read_sinks(s, contract)
    stream = contract.source.uri
    dataset = Dataset(s, contract)
    try:
        position = dataset.silver.positions([stream]).get(stream)
    finally:
        dataset.close()
    console.print(f"  bronze     {sinks.bronze.height:,} records (every version the API sent)")
    console.print(f"  silver     {sinks.silver.height:,} tickets (the newest version of each)")
    console.print(f"  quarantine {sinks.quarantine.height:,} records")
    if position is not None:
        console.print(f"  committed position of {stream}: next={position.next} {position.cursor}")
    console.rule("6. example queries")
    show_queries(s, DOMAIN.demo_queries)
    console.print(
        f"\nnext: `lakesmith run {TICKETS} --until-idle` against your API "
        f"(${URL_ENV}, ${TOKEN_ENV}); docs/http-source.md"
    )


DOMAIN = Domain(
    name="helpdesk",
    description="Support tickets from a paged REST API, extracted incrementally by updated_at.",
    contracts=(TICKETS,),
    demo=demo,
    demo_queries=(
        DemoQuery(TICKETS, tickets_by_status),
        DemoQuery(TICKETS, changed_tickets),
    ),
)
