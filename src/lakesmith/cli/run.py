"""``lakesmith run``: a dataset's streaming worker, or a workload's batch pipeline.

``lakesmith run DATASET [options]`` is the worker of a dataset (a contract name or YAML
path): it reads the dataset's source and runs until stopped (or idle). ``lakesmith run
NAME [options]`` where NAME is a registered batch pipeline (a domain's ``Domain.run``,
e.g. ``sales``) runs that job to its end. ``RunCommands`` picks one by the first
argument: a domain with a batch pipeline, else a dataset. Dataset names have a dot or
are paths, domain names have neither, so the two never collide.
"""

from __future__ import annotations

import functools
import json
import signal
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer import _click as click

from lakesmith.cli.common import console, settings, tidy_text
from lakesmith.cli.demo import DomainCommands

if TYPE_CHECKING:
    from lakesmith.pipeline.worker import RunStats


def summary(name: str, stats: RunStats, *, interrupted: bool = False) -> str:
    """One line: records, batches, throughput and the records per disposition."""
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.by_disposition.items()))
    head = f"{name}: interrupted after " if interrupted else f"{name}: "
    rest = counts or ("nothing committed yet" if interrupted else "nothing to do")
    return (
        f"{head}{stats.records:,} records in {stats.batches} batches, "
        f"{stats.active_seconds:.1f}s of processing ({stats.records_per_second:,.0f}/s), "
        f"{stats.seconds:.1f}s wall — {rest}"
    )


def worker(
    dataset: str = typer.Argument(
        ..., help="Dataset name (e.g. iot.telemetry) or a contract YAML path."
    ),
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Drain what the source holds now, then exit (demos, tests)."
    ),
    group_id: str | None = typer.Option(
        None,
        "--group",
        help="Workers in the same group share the source. Default: lakesmith-DATASET.",
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics on this port."
    ),
    metrics_host: str | None = typer.Option(
        None,
        "--metrics-host",
        help="Interface for --metrics-port (default worker.metrics_host: 127.0.0.1).",
    ),
    max_batches: int | None = typer.Option(
        None, "--max-batches", min=1, help="Stop after this many batches."
    ),
    stats_json: Path | None = typer.Option(
        None, "--stats-json", help="Write the run's figures as JSON to this file."
    ),
) -> None:
    """Run a dataset's streaming worker: ingest its source into the lakehouse.

    Records go to bronze, quarantine (with the rules they failed), silver, the time-series
    table and the DQ statistics. Exactly-once: each batch's source positions are committed with its data in every sink,
    and a restarted worker resumes from them. Workers started with the same --group share
    a Kafka topic's partitions. Ctrl-C (or SIGTERM) finishes the batch in flight, prints
    what was done and exits 130; a second Ctrl-C stops at once.
    """
    from lakesmith.contracts import load_contract
    from lakesmith.core.transient import stop_after_batch
    from lakesmith.pipeline.metrics import WorkerMetrics
    from lakesmith.pipeline.worker import Worker

    s = settings()
    # Ctrl-C or SIGTERM: the batch in flight is written, then the worker exits; a second one
    # stops at once (nothing is lost either way: uncommitted batches are read again)
    signal.signal(signal.SIGINT, stop_after_batch)
    signal.signal(signal.SIGTERM, stop_after_batch)
    contract = load_contract(dataset, s.state_dir)
    metrics = WorkerMetrics(contract.name)
    if metrics_port:
        host = metrics_host or s.worker.metrics_host
        metrics.serve(metrics_port, host)
        console.print(f"metrics on http://{host}:{metrics_port}/metrics")
    worker: Worker | None = None
    try:
        worker = Worker(s, contract, group_id=group_id, metrics=metrics)
        try:
            stats = worker.run(until_idle=until_idle, max_batches=max_batches)
        finally:
            worker.close()
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once
        if worker is None:  # interrupted while opening the tables
            console.print(f"{contract.name}: interrupted before the first batch", highlight=False)
            raise typer.Exit(130) from None
        stats = worker.stats
        stats.interrupted = True
    _write_stats(stats_json, stats)
    console.print(summary(contract.name, stats, interrupted=stats.interrupted), highlight=False)
    if stats.interrupted:
        raise typer.Exit(130)


def _write_stats(path: Path | None, stats: RunStats) -> None:
    if path is not None:
        figures = {**asdict(stats), "records_per_second": stats.records_per_second}
        path.write_text(json.dumps(figures))


class RunCommands(DomainCommands):
    """``run NAME``: the batch pipeline of the domain NAME (``Domain.run``) when there is
    one, else NAME is a dataset and its worker runs (``worker``)."""

    kind = "run"

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name.startswith("-") or name in self.list_commands(ctx):
            return super().resolve_command(ctx, args)
        return name, _worker_command(name), args[1:]


def _worker_command(dataset: str) -> click.Command:
    """``worker`` as the command ``run DATASET`` (the name taken by ``resolve_command``)."""
    sub = typer.Typer(add_completion=False, rich_markup_mode="rich")
    sub.command("run", help=tidy_text(worker.__doc__))(worker)
    cmd = typer.main.get_command(sub)
    cmd.params = [p for p in cmd.params if p.name != "dataset"]
    assert cmd.callback is not None
    cmd.callback = functools.partial(cmd.callback, dataset=dataset)
    return cmd


app = typer.Typer(
    cls=RunCommands,
    help=tidy_text(
        """Run a dataset's streaming worker, or a workload's batch pipeline.

        lakesmith run DATASET \\[--until-idle …]: the worker of DATASET (a contract name
        such as iot.telemetry, or a contract YAML path) reads its source into bronze,
        quarantine, silver and gold until stopped (with --until-idle: until the source is
        drained).

        lakesmith run NAME \\[options]: the batch pipeline NAME (the commands below, e.g.
        lakesmith run sales --data DIR) runs once over its input files, shows its stages and
        prints a summary.

        Options of each: lakesmith run DATASET --help, lakesmith run NAME --help."""
    ),
    no_args_is_help=True,
)
