"""Benchmark ``lakesmith backfill``: N synthetic silver rows → the time-series table.

Starts its own throw-away PostgreSQL (free port, temporary state dir), writes N rows of
iot.telemetry silver history into the lake (the dataset's format, Iceberg by default;
~1000 devices over a few days, appended in chunks like a stream would), then times:

1. the backfill into an empty table (attach path), with per-phase seconds;
2. a second run (everything verified: skipped) and a ``--verify-only`` pass;
3. the streaming load path for comparison (time-series COPY path): ``TimeseriesTable.upsert`` of 100k-row frames.

Usage::

    uv run python benchmarks/bench_backfill.py --rows 2000000
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from lakesmith.config import Settings
from lakesmith.contracts import Contract, load_contract
from lakesmith.core.logging import configure_logging
from lakesmith.core.positions import Position
from lakesmith.local import LocalStack
from lakesmith.maintenance.backfill import Backfill, BackfillReport
from lakesmith.pipeline.dataset import Dataset
from lakesmith.silver.tables import partitioning, silver_columns
from lakesmith.sources.kafka import kafka_spec
from lakesmith.stores.lake import SCHEMA_VERSION_PROP
from lakesmith.stores.timeseries import TimeseriesTable
from lakesmith.testing import local_stack_settings, make_state_dir

FIRST_DAY = date(2024, 3, 1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def stream_of(contract: Contract) -> str:
    """The stream of the topic's partition 0 (what the Kafka source names it)."""
    return f"kafka://{kafka_spec(contract.source).topic}/0"


def synthetic(n: int, first: int, days: int, devices: int, seed: int, stream: str) -> pl.DataFrame:
    """``n`` silver rows (unique keys) of ``stream`` from seq ``first``: device
    ``i % devices``, evenly spread over the days."""
    rng = np.random.default_rng(seed)
    i = np.arange(first, first + n, dtype=np.int64)
    start = int(datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tzinfo=UTC).timestamp())
    span = days * 86_400_000_000
    micros = start * 1_000_000 + (i * 7_919 * 1_000_003) % span  # a permutation of slots
    v2 = rng.random(n) < 0.6
    return pl.DataFrame(
        {
            "device": i % devices,
            "timestamp": pl.Series(micros).cast(pl.Datetime("us", "UTC")),
            "temperature": rng.normal(21.5, 4.0, n).round(2),
            "humidity": rng.uniform(20, 80, n).round(1),
            "firmware_version": np.where(v2, "v1.3.0", "v1.2.4"),
            "pressure": np.where(v2, rng.normal(1013, 8, n).round(1), np.nan),
            "_seq": i,
        }
    ).select(
        pl.format("dev-{}", pl.col("device").cast(pl.String).str.zfill(5)).alias("device_id"),
        "timestamp",
        "temperature",
        "humidity",
        "firmware_version",
        pl.col("pressure").fill_nan(None),
        pl.format("k:1f2e3d4c:{}:{}", pl.col("_seq") % 6, "_seq").alias("_record_id"),
        pl.format(f"{stream}/{{}}", "_seq").alias("_source"),
        pl.lit(stream).alias("_stream"),
        (pl.col("timestamp") + pl.duration(seconds=1)).alias("_ingested_at"),
        pl.lit(f"bench-{first}").alias("_batch_id"),
        pl.when(pl.col("pressure").is_nan())
        .then(1)
        .otherwise(2)
        .cast(pl.Int32)
        .alias("_schema_version"),
        "_seq",
    )


def write_silver(
    settings: Settings, contract: Contract, rows: int, days: int, devices: int, chunk: int
) -> None:
    """Append the rows in chunks (each append: one file per day), as a stream would."""
    lake = Dataset(settings, contract).silver
    lake.ensure(
        silver_columns(contract, 2),
        partitioning(contract),
        contract.lake.sort_by,
        {SCHEMA_VERSION_PROP: "2"},
    )
    stream = stream_of(contract)
    for first in range(0, rows, chunk):
        frame = synthetic(min(chunk, rows - first), first, days, devices, first, stream)
        lake.append(frame.to_arrow(), {stream: Position(first + frame.height)})


def phase_totals(report: BackfillReport) -> dict[str, float]:
    totals: dict[str, float] = {}
    for day in report.days:
        for phase, seconds in day.phases.items():
            totals[phase] = totals.get(phase, 0.0) + seconds
    return totals


def run_backfill(
    settings: Settings, contract: Contract, jobs: int, verify_only: bool = False
) -> BackfillReport:
    job = Backfill(settings, contract, jobs=jobs, verify_only=verify_only)
    try:
        return job.run()
    finally:
        job.close()


def streaming_upsert(
    settings: Settings, contract: Contract, rows: int, days: int, devices: int
) -> tuple[int, float]:
    """The stream's own write path (binary COPY into the keyed table; upsert on conflict) per 100k rows."""
    table = TimeseriesTable(settings, contract)
    table.ensure(contract.fields)
    table.ensure_partitions([FIRST_DAY + timedelta(d) for d in range(days)])
    stream = stream_of(contract)
    frames = [
        synthetic(min(100_000, rows - f), f, days, devices, f, stream)
        for f in range(0, rows, 100_000)
    ]
    t0 = time.perf_counter()
    written = sum(table.upsert(frame) for frame in frames)
    seconds = time.perf_counter() - t0
    table.close()
    return written, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=250_000, help="rows per silver append")
    parser.add_argument("--jobs", type=int, default=2, help="days loaded concurrently")
    parser.add_argument(
        "--upsert-rows",
        type=int,
        default=1_000_000,
        help="rows for the streaming-upsert comparison (0: skip)",
    )
    args = parser.parse_args()
    configure_logging("WARNING")
    baseline = peak_rss_mb()
    state_dir = make_state_dir("lakesmith-bench-")
    settings = local_stack_settings(state_dir)
    stack = LocalStack(settings, ["postgres"])
    try:
        stack.up()
        contract = load_contract("iot.telemetry")
        print(f"writing {args.rows:,} silver rows ({args.devices} devices, {args.days} days) …")
        t0 = time.perf_counter()
        # in a child process, so this process's peak RSS is the backfill's own
        writer = multiprocessing.get_context("spawn").Process(
            target=write_silver,
            args=(settings, contract, args.rows, args.days, args.devices, args.chunk),
        )
        writer.start()
        writer.join()
        assert writer.exitcode == 0, "writing silver failed"
        print(f"  silver written in {time.perf_counter() - t0:.1f}s")

        report = run_backfill(settings, contract, args.jobs)
        assert not report.mismatched and report.rows == args.rows, report
        print(
            f"\nbackfill ({args.jobs} jobs): {report.rows:,} rows in {report.seconds:.2f}s "
            f"= {report.rows_per_second:,.0f} rows/s, {len(report.days)} days, all verified"
        )
        print(
            "  per phase, summed over days (lake = read+transform+checksum+encode, runs "
            "concurrently with copy):"
        )
        for phase, seconds in phase_totals(report).items():
            print(f"    {phase:<7} {seconds:7.2f}s")
        print(
            f"  peak RSS of this process {peak_rss_mb():.0f} MB (after imports: {baseline:.0f} MB)"
        )

        again = run_backfill(settings, contract, args.jobs)
        print(
            f"\nsecond run: {len(again.days)} days loaded, {len(again.skipped)} skipped, "
            f"{again.seconds:.2f}s"
        )
        verify = run_backfill(settings, contract, args.jobs, verify_only=True)
        print(
            f"verify-only: {verify.rows:,} rows in {verify.seconds:.2f}s "
            f"= {verify.rows_per_second:,.0f} rows/s, mismatched days: {len(verify.mismatched)}"
        )

        if args.upsert_rows:
            assert contract.timeseries is not None
            spec = contract.timeseries.model_copy(update={"table": "iot_telemetry_upsert"})
            other = contract.model_copy(update={"timeseries": spec})
            written, secs = streaming_upsert(
                settings, other, args.upsert_rows, args.days, args.devices
            )
            print(
                f"\nstreaming load (100k-row frames, binary COPY into the keyed table): {written:,} rows "
                f"in {secs:.2f}s = {written / secs:,.0f} rows/s"
            )
    finally:
        stack.down()
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
