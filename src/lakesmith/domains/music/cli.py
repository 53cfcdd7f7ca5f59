"""The W-MUSIC domain's commands: ``simulate music``, ``ship music`` and ``demo music``.

Registered through ``DOMAIN`` (see ``lakesmith.domains``). Imported when the commands are
listed, so everything heavy is imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lakesmith.domains import Domain

if TYPE_CHECKING:
    from lakesmith.config import Settings
    from lakesmith.domains.music.shipper import ShipOptions, ShipReport

EVENTS = "music.events"
LAKE_BUCKET = "lakesmith-lake"


def _landing(bucket: str | None, prefix: str | None) -> tuple[str, str]:
    """The bucket and prefix to write to: the options, else the contract's source."""
    from lakesmith.contracts import load_contract
    from lakesmith.sources.objects_spec import ObjectSourceSpec

    spec = load_contract(EVENTS).source
    assert isinstance(spec, ObjectSourceSpec)
    return bucket or spec.bucket, spec.prefix if prefix is None else prefix


def ship_simulation(
    s: Settings,
    options: ShipOptions,
    users: int,
    days: float,
    seed: int,
    start: str | None = None,
    progress: bool = True,
) -> ShipReport:
    """Generate events and ship them as fluentd-style objects (bucket created if missing)."""
    from lakesmith.cli.simulate import parse_start
    from lakesmith.domains.music.shipper import ship, slices_of_frame
    from lakesmith.domains.music.simulator import MusicSimConfig, generate_frame
    from lakesmith.stores.objects import ensure_bucket, s3_client

    frame = generate_frame(
        MusicSimConfig(users=users, days=days, seed=seed, start=parse_start(start))
    )
    client = s3_client(s)
    ensure_bucket(client, options.bucket)
    return ship(client, slices_of_frame(frame, options), options, frame.height, progress)


def _print_report(report: ShipReport, options: ShipOptions) -> None:
    from lakesmith.cli.common import console

    rate = report.events / report.seconds if report.seconds else 0.0
    console.print(
        f"shipped {report.events:,} events in {report.objects:,} objects "
        f"({report.bytes / 1e6:,.1f} MB{' gzip' if options.gzip else ''}) to "
        f"s3://{options.bucket}/{options.prefix} in {report.seconds:.1f}s ({rate:,.0f} events/s)",
        highlight=False,
    )


def simulate(
    users: int = typer.Option(100, "--users", "-n", min=1, help="Listeners."),
    days: float = typer.Option(1.0, "--days", "-d", min=0.01, help="Days of activity."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same events."),
    start: str | None = typer.Option(
        None, "--start", help="First day, ISO-8601. Default: midnight UTC, DAYS days ago."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write daily files DIR/YYYY-MM-DD-events.json instead of shipping."
    ),
    bucket: str | None = typer.Option(
        None, "--bucket", help="Ship to this bucket. Default: the music.events contract's."
    ),
    prefix: str | None = typer.Option(
        None, "--prefix", help="Key prefix. Default: the contract's."
    ),
    bad_ratio: float = typer.Option(
        0.0,
        "--bad-ratio",
        min=0.0,
        max=1.0,
        help="Fraction of deliberately bad events, one kind of fault each (see docs/music.md).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Generate an Eventsim-like clickstream.

    Sessions Home → NextSong … Logout, free and paid levels with upgrades and downgrades,
    Zipf song popularity, US metro locations, logged-out visitors with userId "". Written
    as daily JSON-lines files (--out), or shipped to the landing bucket as one gzip object
    per minute (see `lakesmith ship music` for the options of a live shipper).
    """
    from lakesmith.cli.common import console, settings
    from lakesmith.cli.simulate import parse_start
    from lakesmith.domains.music.badrecords import inject
    from lakesmith.domains.music.shipper import ShipOptions
    from lakesmith.domains.music.simulator import MusicSimConfig, generate_frame, to_jsonl

    if out is not None:
        import polars as pl

        config = MusicSimConfig(users=users, days=days, seed=seed, start=parse_start(start))
        frame = generate_frame(config)
        out.mkdir(parents=True, exist_ok=True)
        day = pl.from_epoch("ts", time_unit="ms").dt.strftime("%Y-%m-%d")
        for (name,), part in frame.with_columns(day.alias("_day")).group_by(
            "_day", maintain_order=True
        ):
            path = out / f"{name}-events.json"
            data, bad = inject(to_jsonl(part.drop("_day")), bad_ratio, seed=seed + part.height)
            path.write_bytes(data)
            note = f" ({len(bad):,} bad)" if bad else ""
            console.print(f"{path}: {part.height:,} events{note}", highlight=False)
        return
    b, p = _landing(bucket, prefix)
    options = ShipOptions(bucket=b, prefix=p, bad_ratio=bad_ratio)
    _print_report(ship_simulation(settings(), options, users, days, seed, start, progress), options)


def ship(
    bucket: str | None = typer.Option(
        None, "--bucket", help="Landing bucket. Default: the music.events contract's."
    ),
    prefix: str | None = typer.Option(
        None, "--prefix", help="Key prefix. Default: the contract's."
    ),
    batch_seconds: int = typer.Option(
        60, "--batch-seconds", min=1, help="Seconds of events per object (by ts)."
    ),
    files: list[Path] = typer.Option(
        [], "--from", help="Ship these JSON-lines files (repeat --from, or list them after it)."
    ),
    more: list[Path] | None = typer.Argument(None, help="More files to ship.", show_default=False),
    gzip: bool = typer.Option(True, "--gzip/--no-gzip", help="Compress the objects."),
    max_events: int = typer.Option(
        100_000, "--max-events", min=1, help="Events per object at most."
    ),
    speed: float = typer.Option(
        0.0,
        "--speed",
        min=0.0,
        help="Event seconds per wall second (60: a minute's object every second); 0: at once.",
    ),
    live: bool = typer.Option(
        False,
        "--live",
        help="Generated events start now; each object is written when its "
        "slice closes (--speed 1), for --days.",
    ),
    users: int = typer.Option(100, "--users", "-n", min=1, help="Listeners (generated events)."),
    days: float = typer.Option(1.0, "--days", "-d", min=0.01, help="Days (generated events)."),
    seed: int = typer.Option(0, "--seed", help="Seed (generated events)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Ship events to the landing bucket as a log shipper would.

    Events are cut into time slices of --batch-seconds by their ts and written as
    fluentd-style objects, events/2025/01/20/10/events_20250120T1015_0.json.gz. Generated
    by the simulator, or read from JSON-lines files (--from, e.g. the real Eventsim logs),
    whose lines are shipped byte for byte. --live ships generated events in real time.
    """
    from lakesmith.cli.common import settings
    from lakesmith.core.errors import InputError
    from lakesmith.domains.music.shipper import ShipOptions, slices_of_files
    from lakesmith.domains.music.shipper import ship as ship_slices
    from lakesmith.stores.objects import ensure_bucket, s3_client

    b, p = _landing(bucket, prefix)
    paths = [*files, *(more or [])]
    start: str | None = None
    if live and not paths:
        from datetime import UTC, datetime

        now = int(datetime.now(UTC).timestamp()) // batch_seconds * batch_seconds
        start = datetime.fromtimestamp(now, UTC).isoformat()
        speed = speed or 1.0
    options = ShipOptions(b, p, batch_seconds, gzip, max_events, speed)
    s = settings()
    if not paths:
        _print_report(ship_simulation(s, options, users, days, seed, start, progress), options)
        return
    missing = [str(f) for f in paths if not f.is_file()]
    if missing:
        raise InputError(f"cannot read {', '.join(missing)}: no such file")
    total = sum(f.read_bytes().count(b"\n") + 1 for f in paths)
    client = s3_client(s)
    ensure_bucket(client, b)
    _print_report(
        ship_slices(client, slices_of_files(paths, options), options, total, progress), options
    )


def lake_on_s3(s: Settings) -> Settings:
    """The settings with the lake on the S3 server (unless a warehouse is configured)."""
    if s.lake.warehouse:
        return s
    from lakesmith.stores.objects import ensure_bucket, s3_client

    ensure_bucket(s3_client(s), LAKE_BUCKET)
    lake = s.lake.model_copy(update={"warehouse": f"s3://{LAKE_BUCKET}/warehouse"})
    return s.model_copy(update={"lake": lake})


def demo(
    users: int = typer.Option(300, help="Simulated listeners."),
    days: float = typer.Option(2.0, help="Days of activity."),
    seed: int = typer.Option(7, help="Simulation seed."),
    batch_seconds: int = typer.Option(300, min=1, help="Seconds of events per object."),
) -> None:
    """Run the W-MUSIC workload end to end on the local stack.

    Starts the local stack, ships a simulated clickstream into the landing bucket on the
    local S3 server (one gzip object per 5 minutes of events), drains the worker (bucket → bronze →
    silver, the lake on the same S3 server), then shows the DQ summary and the BI queries.
    """
    from lakesmith.cli.common import console
    from lakesmith.cli.demo import demo_settings, drain, show_dq, show_queries, start_local_stack
    from lakesmith.contracts import load_contract
    from lakesmith.domains.music.shipper import ShipOptions

    s = demo_settings()
    console.rule("1. local stack")
    start_local_stack(s)
    s = lake_on_s3(s)
    console.rule("2. ship the clickstream to the landing bucket")
    b, p = _landing(None, None)
    options = ShipOptions(bucket=b, prefix=p, batch_seconds=batch_seconds)
    _print_report(ship_simulation(s, options, users, days, seed), options)
    console.rule("3. drain the worker (bucket → bronze → silver)")
    contract = load_contract(EVENTS)
    drain(s, contract)
    console.rule("4. data quality")
    show_dq(s, contract)
    console.rule("5. BI queries")
    try:
        from lakesmith.domains.music.queries import DEMO_QUERIES  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        console.print("  (the BI queries, lakesmith.domains.music.queries, are not there yet)")
    else:
        show_queries(s, DEMO_QUERIES)
    console.print(
        f"\nnext: `lakesmith dq report {EVENTS}`, `lakesmith reprocess {EVENTS} --from bronze`, "
        "`lakesmith local down`"
    )


DOMAIN = Domain(
    name="music",
    description="W-MUSIC clickstream: Eventsim events shipped to a bucket, read object by object.",
    contracts=(EVENTS,),
    simulate=simulate,
    demo=demo,
    ship=ship,
)
