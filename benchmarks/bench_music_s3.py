"""W-MUSIC bucket → lake: ship simulated Eventsim events to the local S3 server as
fluentd-style gzip objects, then time `lakesmith run music.events --until-idle`.

Prints events/s and objects/s while there was data, the wall time and peak RSS of the
worker, with every sink `build_sinks` makes for the contract as it stands (bronze,
quarantine, silver — split by page when the contract says so — gold and the warehouse
when it names a gold model, DQ stats). Peer, in the same run, on the same objects: dlt's
`filesystem` source + `read_jsonl` loading them into PostgreSQL (`append`, and `merge` on
the natural key, the idempotent load that matches ours), on the first --peer-objects
objects (dlt needs minutes for millions); events/s is what is compared.

    uv run python benchmarks/bench_music_s3.py                      # ~2.3M events, 864 objects
    uv run python benchmarks/bench_music_s3.py --users 2000 --days 1  # ~75k events, 288 objects
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lakesmith.config import Settings
from lakesmith.contracts import load_contract
from lakesmith.contracts.model import SilverSpec
from lakesmith.domains.music.shipper import ShipOptions, ship, slices_of_frame
from lakesmith.domains.music.simulator import MusicSimConfig, generate_frame
from lakesmith.local import LocalStack
from lakesmith.stores.objects import ensure_bucket, s3_client
from lakesmith.testing import local_stack_settings, make_state_dir
from lakesmith.testing.pipeline import unique_contract

BUCKET = "bench-landing"


def run_dlt(settings: Settings, keys: list[str], disposition: str) -> tuple[int, float]:
    """(rows, seconds) of dlt loading the objects ``keys`` into PostgreSQL."""
    import dlt
    from dlt.sources.filesystem import filesystem, read_jsonl

    key, secret = settings.effective_s3_credentials() or ("", "")  # the local server: keys
    chosen = {k.removeprefix("events/") for k in keys}
    files = filesystem(
        bucket_url=f"s3://{BUCKET}/events",
        file_glob="**/*.json.gz",
        credentials={
            "aws_access_key_id": key,
            "aws_secret_access_key": secret,
            "endpoint_url": settings.effective_s3_endpoint(),
            "region_name": settings.s3.region,
        },
    ).add_filter(lambda item: item["relative_path"] in chosen)
    hints: dict[str, Any] = {"write_disposition": disposition}
    if disposition == "merge":
        hints["primary_key"] = ("sessionId", "itemInSession", "ts")
    reader = (files | read_jsonl()).with_name("music_events")
    reader.apply_hints(**hints)
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_music_{disposition}",
        destination=dlt.destinations.postgres(credentials=settings.effective_postgres_dsn()),
        dataset_name=f"dlt_music_{disposition}",
        pipelines_dir=tempfile.mkdtemp(prefix="dlt-bench-"),
    )
    t0 = time.perf_counter()
    info = pipeline.run(reader)
    seconds = time.perf_counter() - t0
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("music_events", 0)
    del info
    return rows, seconds


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--days", type=float, default=3.0)
    ap.add_argument("--batch-seconds", type=int, default=300, help="seconds of events per object")
    ap.add_argument("--batch-size", type=int, default=200_000, help="worker batch size")
    ap.add_argument("--peer-objects", type=int, default=60, help="objects given to dlt (0: skip)")
    ap.add_argument("--lake-on-s3", action="store_true", help="the lake on the S3 server too")
    ap.add_argument(
        "--core-only",
        action="store_true",
        help="bronze, quarantine, one silver table and DQ only (no silver split, no gold)",
    )
    ap.add_argument(
        "--py-spy",
        metavar="OUT",
        help="record the worker with py-spy (`pip install py-spy`) into OUT, collapsed stacks per thread",
    )
    args = ap.parse_args()

    state = make_state_dir("lakesmith-bench-")
    settings = local_stack_settings(state, local={"s3_persist": False})
    stack = LocalStack(settings, ["postgres", "s3"])
    stack.up()
    try:
        client = s3_client(settings)
        ensure_bucket(client, BUCKET)
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start -= timedelta(days=int(args.days) + 1)
        t0 = time.perf_counter()
        frame = generate_frame(
            MusicSimConfig(users=args.users, days=args.days, seed=2025, start=start)
        )
        generated = time.perf_counter() - t0
        options = ShipOptions(bucket=BUCKET, batch_seconds=args.batch_seconds)
        report = ship(client, slices_of_frame(frame, options), options, frame.height, False)
        print(f"generated             {frame.height:,} events in {generated:.1f}s")
        print(
            f"shipped               {report.objects:,} gzip objects, {report.bytes / 1e6:,.0f} MB, "
            f"in {report.seconds:.1f}s ({report.events / report.seconds:,.0f} events/s)"
        )
        del frame

        tmp = Path(tempfile.mkdtemp(prefix="bench-contract-"))
        source = {"kind": "s3", "bucket": BUCKET, "prefix": "events/", "poll_interval_s": 1}
        base = load_contract("music.events")
        if args.core_only:
            base = base.model_copy(update={"silver": SilverSpec(), "gold": None})
        _, contract_path = unique_contract(tmp, base, source=source)
        sinks = "bronze, quarantine, silver, dq" if args.core_only else "every sink of the contract"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LAKESMITH")},
            "LAKESMITH_CONFIG": "none",
            "LAKESMITH__STATE_DIR": str(state),
            "LAKESMITH__LOCAL__POSTGRES_PORT": str(settings.local.postgres_port),
            "LAKESMITH__LOCAL__S3_PORT": str(settings.local.s3_port),
            "LAKESMITH__WORKER__BATCH_SIZE": str(args.batch_size),
            "LAKESMITH__WORKER__IDLE_TIMEOUT_S": "1",
            "LAKESMITH__LOG_LEVEL": "WARNING",
        }
        if args.lake_on_s3:
            ensure_bucket(client, "bench-lake")
            env["LAKESMITH__LAKE__WAREHOUSE"] = "s3://bench-lake/warehouse"
        stats_path = tmp / "stats.json"
        services0 = {name: stack.service(name).cpu_seconds() for name in ("postgres", "s3")}
        t0 = time.perf_counter()
        spy = [
            "py-spy",
            "record",
            "-r",
            "50",
            "-f",
            "raw",
            "--threads",
            "--nonblocking",
            "-o",
            args.py_spy,
            "--",
        ]
        subprocess.run(
            [*(spy if args.py_spy else []), sys.executable, "-m", "lakesmith", "run",
             str(contract_path), "--until-idle", "--stats-json", str(stats_path)],
            env=env, check=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        stats = json.loads(stats_path.read_text())
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = usage.ru_maxrss / 1024
        cpu = usage.ru_utime + usage.ru_stime  # the worker's (PostgreSQL's not included)
        busy = stats["active_seconds"]
        span = (stats["last_commit_at"] or 0) - (stats["first_record_at"] or 0)
        print(f"sinks                 {sinks}; lake on {'S3' if args.lake_on_s3 else 'disk'}")
        print(
            f"worker                {stats['records']:,} events in {busy:.1f}s busy "
            f"→ {stats['records_per_second']:,.0f} events/s, {report.objects / busy:,.1f} objects/s"
        )
        print(
            f"worker first→last     {span:.1f}s → {stats['records'] / span:,.0f} events/s "
            f"(wall {wall:.1f}s incl. start-up and the idle wait)"
        )
        services = {n: stack.service(n).cpu_seconds() - c for n, c in services0.items()}
        print(
            f"services CPU          PostgreSQL {services['postgres']:,.1f}s, "
            f"S3 server {services['s3']:,.1f}s (the same two cores)"
        )
        print(f"worker dispositions   {stats['by_disposition']}")
        print(f"worker peak RSS       {peak:,.0f} MiB")
        print(
            f"worker CPU            {cpu:,.1f}s user+sys → {stats['records'] / cpu:,.0f} events "
            "per CPU-second (less sensitive to a shared machine than events/s)"
        )

        if args.peer_objects:
            step = max(1, len(report.keys) // args.peer_objects)  # spread over the day
            keys = report.keys[::step][: args.peer_objects]
            for disposition in ("append", "merge"):
                rows, seconds = run_dlt(settings, keys, disposition)
                print(
                    f"dlt {disposition:<6} (peer)     {rows:,} events from {len(keys)} objects in "
                    f"{seconds:.1f}s → {rows / seconds:,.0f} events/s"
                )
                if disposition == "merge":
                    ours = stats["records_per_second"]
                    print(f"lakesmith / dlt merge {ours / (rows / seconds):,.1f}x")
                else:
                    ours = stats["records_per_second"]
                    print(f"lakesmith / dlt append {ours / (rows / seconds):,.1f}x")
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)  # GBs of PostgreSQL and lake data


if __name__ == "__main__":
    main()
