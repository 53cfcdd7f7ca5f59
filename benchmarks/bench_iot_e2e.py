"""W-IOT end to end: pre-produce events to the local broker, then time `lakesmith run --until-idle`.

Prints the worker's events/s and peak RSS, with all sinks on
(bronze, quarantine and silver Iceberg tables, the PostgreSQL time-series table, DQ
stats), and — from the same run, on the same events — dlt loading into PostgreSQL with
its default settings: `write_disposition="merge"` on the natural key (the idempotent
load that matches ours) and `"append"` for reference. dlt runs on the first
--peer-rows events (it needs minutes for millions); rows/s is what is compared.

Two rates: ``events/s`` is the worker's own (records over its active time: reading,
processing and committing; a poll that filled its batch counts from its first records
to the full batch, waits for records to arrive do not), and the *span* rate, records
over the wall time from the first batch received to the last batch's writes ending (how
fast the backlog became committed data).

    uv run python benchmarks/bench_iot_e2e.py --events 2000000 --peer-rows 200000
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
from pathlib import Path

import orjson

from lakesmith.domains.iot.simulator import SimConfig, generate, produce_simulation
from lakesmith.local import LocalStack
from lakesmith.sources.kafka import kafka_spec
from lakesmith.testing import local_stack_settings, make_state_dir
from lakesmith.testing.pipeline import unique_contract


def run_dlt(dsn: str, payloads: list[bytes], disposition: str) -> float:
    """rows/s of a dlt pipeline loading the (valid, parsed) events into PostgreSQL."""
    import dlt

    rows = [orjson.loads(p) for p in payloads]

    @dlt.resource(
        name="iot_telemetry", write_disposition=disposition, primary_key=("device_id", "timestamp")
    )
    def events():  # type: ignore[no-untyped-def]
        yield rows

    pipelines_dir = tempfile.mkdtemp(prefix="dlt-bench-")
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{disposition}",
        destination=dlt.destinations.postgres(credentials=dsn),
        dataset_name=f"dlt_{disposition}",
        pipelines_dir=pipelines_dir,
    )
    t0 = time.perf_counter()
    pipeline.run(events())
    return len(rows) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--bad-ratio", type=float, default=0.01)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument(
        "--peer-rows", type=int, default=200_000, help="events given to dlt (0: skip the peer)"
    )
    ap.add_argument("--batch-size", type=int, default=200_000)
    ap.add_argument(
        "--trim-above-mib",
        type=int,
        help="worker.trim_above_mib (default: the setting's default; 0: trim after every batch)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a setting for the worker, e.g. worker.dedupe_window=10m (repeatable)",
    )
    ap.add_argument(
        "--profile",
        metavar="FILE",
        help="record the worker with py-spy (collapsed stacks per thread) into FILE",
    )
    args = ap.parse_args()

    state = make_state_dir("lakesmith-bench-")
    # the broker in memory: the worker is measured, not the broker's storage
    settings = local_stack_settings(state, local={"kafka_storage": "memory://tansu/"})
    stack = LocalStack(settings, ["postgres", "kafka"])
    stack.up()
    try:
        tmp = Path(tempfile.mkdtemp(prefix="bench-contract-"))
        contract, contract_path = unique_contract(tmp)
        config = SimConfig(
            devices=args.devices, rate=1000, duration=args.events / 1000, bad_ratio=args.bad_ratio,
            seed=2025, topic=kafka_spec(contract.source).topic,
        ).resolved()  # fmt: skip
        report = produce_simulation(settings, config, progress=False)
        print(
            f"produced              {report.total:,} events in {report.seconds:.1f}s ({report.rate:,.0f}/s)"
        )

        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LAKESMITH")},
            "LAKESMITH_CONFIG": "none",
            "LAKESMITH__STATE_DIR": str(state),
            "LAKESMITH__LOCAL__POSTGRES_PORT": str(settings.local.postgres_port),
            "LAKESMITH__LOCAL__KAFKA_PORT": str(settings.local.kafka_port),
            "LAKESMITH__WORKER__BATCH_SIZE": str(args.batch_size),
            "LAKESMITH__WORKER__IDLE_TIMEOUT_S": "2",
            "LAKESMITH__LOG_LEVEL": "WARNING",
        }
        for item in args.set:
            name, _, value = item.partition("=")
            env["LAKESMITH__" + name.upper().replace(".", "__")] = value
        if args.trim_above_mib is not None:
            env["LAKESMITH__WORKER__TRIM_ABOVE_MIB"] = str(args.trim_above_mib)
        stats_path = tmp / "stats.json"
        services0 = {name: stack.service(name).cpu_seconds() for name in ("postgres", "kafka")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = before.ru_utime + before.ru_stime
        t0 = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "lakesmith",
            "run",
            str(contract_path),
            "--until-idle",
            "--stats-json",
            str(stats_path),
        ]
        if args.profile:  # py-spy's own CPU is counted too: compare profiles, not figures
            spy = ["py-spy", "record", "--format", "raw", "--threads", "--nonblocking"]
            command = [*spy, "--rate", "100", "-o", args.profile, "--", *command]
        subprocess.run(command, env=env, check=True)  # fmt: skip
        wall = time.perf_counter() - t0
        stats = json.loads(stats_path.read_text())
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak = usage.ru_maxrss / 1024
        cpu = usage.ru_utime + usage.ru_stime - cpu_before
        print(
            f"worker                {stats['records']:,} events in {stats['active_seconds']:.1f}s "
            f"→ {stats['records_per_second']:,.0f} events/s (wall {wall:.1f}s incl. start-up, group join, idle wait)"
        )
        span = (stats.get("last_commit_at") or 0) - (stats.get("first_record_at") or 0)
        if span > 0:  # the same backlog as a wall-clock rate: first batch in → last commit
            print(
                f"worker span           {span:.1f}s from the first batch received to the last "
                f"commit → {stats['records'] / span:,.0f} events/s"
            )
        services = {n: stack.service(n).cpu_seconds() - c for n, c in services0.items()}
        print(
            f"services CPU          PostgreSQL {services['postgres']:,.1f}s, "
            f"broker {services['kafka']:,.1f}s (the same two cores)"
        )
        print(f"worker dispositions   {stats['by_disposition']}")
        print(f"worker peak RSS       {peak:,.0f} MiB")
        # CPU per event compares runs on a busy machine, where events/s does not
        print(
            f"worker CPU            {cpu:.1f} s user+sys (start-up included) "
            f"= {cpu / stats['records'] * 1e6:.1f} s per 1M events"
        )

        if args.peer_rows:
            peer_config = SimConfig(
                devices=args.devices, rate=1000, duration=args.events / 1000, bad_ratio=args.bad_ratio,
                seed=2025, topic=kafka_spec(contract.source).topic, start=config.start,
            )  # fmt: skip
            # dlt validates nothing: it gets the events our pipeline accepts (valid + re-sends).
            payloads: list[bytes] = []
            for m in generate(peer_config.resolved()):
                if m.expected in ("valid", "duplicate"):
                    payloads.append(m.value)
                    if len(payloads) >= args.peer_rows:
                        break
            dsn = settings.effective_postgres_dsn()
            merge = run_dlt(dsn, payloads, "merge")
            append = run_dlt(dsn, payloads, "append")
            print(
                f"dlt merge (peer)      {merge:,.0f} rows/s on the first {len(payloads):,} events"
            )
            print(f"dlt append (peer)     {append:,.0f} rows/s")
            ratio = f"lakesmith / dlt merge {stats['records_per_second'] / merge:,.1f}x"
            if span > 0:
                ratio += f" ({stats['records'] / span / merge:,.1f}x on the span rate)"
            print(ratio)
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)  # GBs of PostgreSQL and lake data


if __name__ == "__main__":
    main()
