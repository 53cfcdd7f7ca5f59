"""``lakesmith run DATASET``: the streaming worker."""

from __future__ import annotations

import json
import signal
from dataclasses import asdict
from pathlib import Path

import typer

from lakesmith.cli.common import console, settings
from lakesmith.contracts import load_contract
from lakesmith.pipeline.metrics import WorkerMetrics
from lakesmith.pipeline.worker import Worker


def _stop(signum: int, frame: object) -> None:
    """SIGTERM stops the worker like Ctrl-C: the batch in flight is written, then it exits.
    (Nothing is lost either way: uncommitted batches are re-read from the sinks' positions.)"""
    raise KeyboardInterrupt


def run(
    dataset: str = typer.Argument(
        ..., help="dataset name (e.g. iot.telemetry) or a contract YAML path"
    ),
    until_idle: bool = typer.Option(
        False, "--until-idle", help="drain what the source has now, then exit (demos, tests)"
    ),
    group_id: str | None = typer.Option(
        None,
        "--group",
        help="workers sharing a group share the source (default lakesmith-<dataset>)",
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="serve Prometheus metrics on this port"
    ),
    max_batches: int | None = typer.Option(
        None, "--max-batches", help="stop after this many batches"
    ),
    stats_json: Path | None = typer.Option(
        None, "--stats-json", help="write the run's figures as JSON to this file"
    ),
) -> None:
    """Ingest the dataset's source (Kafka topic, files, …) into bronze, quarantine, silver,
    the time-series table and DQ stats.

    Exactly-once: each batch's source positions are committed with its data in every
    sink; a restarted worker resumes from them. Run several workers with the same
    --group to share a Kafka topic's partitions.
    """
    s = settings()
    signal.signal(signal.SIGTERM, _stop)
    contract = load_contract(dataset)
    metrics = WorkerMetrics(contract.name)
    if metrics_port:
        metrics.serve(metrics_port)
        console.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics")
    worker = Worker(s, contract, group_id=group_id, metrics=metrics)
    try:
        stats = worker.run(until_idle=until_idle, max_batches=max_batches)
    finally:
        worker.close()
    if stats_json is not None:
        stats_json.write_text(
            json.dumps({**asdict(stats), "records_per_second": stats.records_per_second})
        )
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.by_disposition.items()))
    console.print(
        f"{contract.name}: {stats.records:,} records in {stats.batches} batches, "
        f"{stats.active_seconds:.1f}s of processing ({stats.records_per_second:,.0f}/s), "
        f"{stats.seconds:.1f}s wall — {counts or 'nothing to do'}"
    )
