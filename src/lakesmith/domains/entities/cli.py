"""The entity-search domain's commands: ``simulate entities`` and ``demo entities``.

Registered through ``DOMAIN`` (see ``lakesmith.domains``). Imported when the commands are
listed, so everything heavy is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from lakesmith.domains import Domain

CONTRACTS = (
    "entities.models",
    "entities.sites",
    "entities.devices",
    "entities.firmware",
    "entities.maintenance",
    "entities.documents",
)


def simulate(
    out: Path = typer.Option(..., "--out", help="Folder to write the files into."),
    seed: int = typer.Option(7, "--seed", help="Same seed, same bytes."),
    devices: int = typer.Option(200, "--devices", "-n", min=1, help="Fleet size."),
    models: int = typer.Option(20, "--models", min=1, help="Device models (one datasheet each)."),
    reports: int | None = typer.Option(
        None, "--reports", min=0, help="PDF maintenance reports (3 pages each). Default: 20."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes writing PDFs. Default: 1 below 200 PDFs."
    ),
) -> None:
    """Generate the device fleet behind W-IOT: structured files and PDFs.

    devices.json, models.csv, sites.csv, firmware_releases.json, maintenance_log.csv and
    pdf/ (a datasheet per model, a maintenance or inspection report per sampled ticket).
    Device ids are the IoT simulator's (sensor-0000 …). Ingest them with
    `lakesmith ingest OUT/devices.json --dataset entities.devices` (and so on), or drop
    them in a watched folder with the map in domains/entities/examples/map.yaml.
    """
    import time

    from lakesmith.cli.common import console
    from lakesmith.domains.entities.generator import EntitiesConfig
    from lakesmith.domains.entities.seed import generate

    t0 = time.monotonic()
    cfg = EntitiesConfig(seed=seed, devices=devices, models=models, reports=reports)
    files = generate(cfg, out, workers)
    console.print(
        f"{out}: {devices:,} devices, {models} models, {cfg.n_sites} sites, "
        f"{files['entities.documents']:,} PDFs in {time.monotonic() - t0:.1f}s",
        highlight=False,
    )


def demo(
    devices: int = typer.Option(200, help="Fleet size."),
    seed: int = typer.Option(7, help="Generator seed."),
    reports: int = typer.Option(20, help="PDF maintenance reports."),
    api: bool = typer.Option(
        True, "--api/--no-api", help="Index search and query the REST API over HTTP."
    ),
) -> None:
    """Run the entity-search domain end to end on the local stack.

    Starts the local stack, generates the fleet (structured files and PDFs), ingests
    every file into bronze/silver/quarantine with the shipped contracts, rebuilds the
    gold star schema in the lake and the warehouse, answers a few questions, indexes
    the search collections and uses the REST API over HTTP (search, gold, mart, seed job).
    """
    from lakesmith.cli.common import console
    from lakesmith.cli.demo import demo_settings, start_local_stack
    from lakesmith.domains.entities.queries import show
    from lakesmith.domains.entities.seed import seed as run_seed

    s = demo_settings()
    console.rule("1. local stack")
    start_local_stack(s)
    console.rule("2. generate, ingest, gold")
    report = run_seed(
        s,
        seed=seed,
        devices=devices,
        reports=reports,
        progress=lambda stage, _f: console.print(f"  {stage}", highlight=False),
        index=False,  # step 4 below, with its report
    )
    for dataset, counts in report.ingested.items():
        console.print(f"  {dataset}: {counts}", highlight=False)
    if report.gold is not None:
        console.print(f"  gold entities.*: {report.gold.rows}", highlight=False)
    console.print(f"  {report.seconds:.1f}s", highlight=False)
    console.rule("3. questions")
    show(s)
    if api:
        from lakesmith.domains.entities.api_demo import index_search, show_api

        console.rule("4. search index")
        index_search(s, console)
        console.rule("5. the REST API, over HTTP")
        show_api(s, console)
    console.print(
        "\nnext: `lakesmith quarantine show entities.maintenance`, `lakesmith serve`, "
        "`lakesmith local down`"
    )


DOMAIN = Domain(
    name="entities",
    description="W-ENTITY device fleet: devices, models, sites, firmware, tickets and PDFs.",
    contracts=CONTRACTS,
    simulate=simulate,
    demo=demo,
)
