"""``lakesmith run DATASET``: the streaming worker."""

from __future__ import annotations

import json
import signal
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lakesmith.cli.common import console, settings

if TYPE_CHECKING:
    from lakesmith.pipeline.worker import RunStats


def _stop(signum: int, frame: object) -> None:
    """SIGTERM stops the worker like Ctrl-C: the batch in flight is written, then it exits.
    (Nothing is lost either way: uncommitted batches are re-read from the sinks' positions.)"""
    raise KeyboardInterrupt


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


def run(
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
    """Ingest a dataset's source into the lakehouse.

    Records go to bronze, quarantine (with the rules they failed), silver, the time-series
    table and the DQ statistics. Exactly-once: each batch's source positions are committed with its data in every sink,
    and a restarted worker resumes from them. Workers started with the same --group share
    a Kafka topic's partitions. Ctrl-C (or SIGTERM) finishes the batch in flight, prints
    what was done and exits 130.
    """
    from lakesmith.contracts import load_contract
    from lakesmith.pipeline.metrics import WorkerMetrics
    from lakesmith.pipeline.worker import Worker

    s = settings()
    signal.signal(signal.SIGTERM, _stop)
    contract = load_contract(dataset)
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
    except KeyboardInterrupt:
        if worker is None:  # interrupted while opening the tables
            console.print(f"{contract.name}: interrupted before the first batch", highlight=False)
        else:
            stats = worker.stats
            _write_stats(stats_json, stats, interrupted=True)
            console.print(summary(contract.name, stats, interrupted=True), highlight=False)
        raise typer.Exit(130) from None
    _write_stats(stats_json, stats)
    console.print(summary(contract.name, stats), highlight=False)


def _write_stats(path: Path | None, stats: RunStats, *, interrupted: bool = False) -> None:
    if path is not None:
        figures = {**asdict(stats), "records_per_second": stats.records_per_second}
        path.write_text(json.dumps({**figures, "interrupted": interrupted}))
