"""The W-SALES pipeline at size: generate N customers / M order lines (or reuse a folder
``lakesmith simulate sales`` wrote: ``--data DIR``), then run the whole pipeline (what
``lakesmith run sales`` runs: ingest both files → customers → orders in chunks → quarantine,
star schema in the lake and the warehouse, gold.sales_enriched → layout → accounting) on a
fresh local PostgreSQL, in a child process; prints the time of every stage and the
child's peak RSS (VmHWM), overall and as it stood at the end of each stage.

    uv run python benchmarks/bench_sales.py --customers 1000000 --orders 10000000
    uv run python benchmarks/bench_sales.py --data /tmp/sales-10m --chunk-rows 500000
    uv run python benchmarks/bench_sales.py --customers 100000 --orders 1000000 --format delta
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

CHILD = """
import json, sys, time
from pathlib import Path
from lakesmith.config import load_settings
from lakesmith.domains.sales.pipeline import run_sales
folder, fmt, memory, chunk = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
peaks = []
def say(stage):
    peaks.append(hwm())
    print(f"  {time.strftime('%H:%M:%S')} {stage} (peak so far {peaks[-1]} MiB)", file=sys.stderr, flush=True)
started = time.perf_counter()
r = run_sales(load_settings(), folder / "sales_data.csv", folder / "customer_data.parquet",
              table_format=fmt, memory_limit=memory, chunk_rows=chunk, say=say)
peaks.append(hwm())
print(json.dumps({"seconds": time.perf_counter() - started, "stages": r.stages,
                  "peak_mib": peaks[-1], "peak_after_stage": dict(zip(r.stages, peaks[1:])),
                  "rows": r.rows, "reasons": r.reasons, "customers_in": r.customers_in,
                  "customers_out": r.customers_out,
                  "accounting": [vars(a) for a in r.accounting],
                  "files": r.files.height if r.files is not None else 0}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", default="iceberg", choices=["iceberg", "delta"])
    ap.add_argument("--memory-limit", default="1GiB", help="the ingest's memory ceiling")
    ap.add_argument("--chunk-rows", type=int, default=1_000_000, help="order lines per chunk")
    ap.add_argument("--data", help="reuse this folder (customer_data.parquet, sales_data.csv)")
    args = ap.parse_args()

    from lakesmith.domains.sales.generator import SalesSimConfig, write_all
    from lakesmith.local import LocalStack
    from lakesmith.pipeline.ingest import parse_size
    from lakesmith.testing import local_stack_settings, make_state_dir
    from lakesmith.testing.stack import worker_env

    state = make_state_dir("lakesmith-bench-sales-")
    settings = local_stack_settings(state)
    stack = LocalStack(settings, ["postgres"])
    stack.up()
    try:
        if args.data:
            data = Path(args.data)
            n_c = pq.ParquetFile(data / "customer_data.parquet").metadata.num_rows
            n_o = sum(1 for _ in (data / "sales_data.csv").open("rb")) - 1
            gen = 0.0
        else:
            data = state / "input"
            t0 = time.perf_counter()
            n_c, n_o = write_all(
                SalesSimConfig(customers=args.customers, orders=args.orders, seed=args.seed),
                data,
            )
            gen = time.perf_counter() - t0
        size = (data / "sales_data.csv").stat().st_size
        print(
            f"{'generated' if gen else 'reusing'} {n_c:,} customers and {n_o:,} order lines "
            f"({size / 1e6:,.0f} MB CSV){f' in {gen:.1f}s' if gen else ''}",
            flush=True,
        )
        env = worker_env(settings, LAKESMITH__LAKE__FORMAT=args.format)
        env.pop("LAKESMITH__WORKER__BATCH_SIZE", None)
        env.pop("LAKESMITH__WORKER__MAX_WAIT_S", None)
        env.pop("LAKESMITH__WORKER__IDLE_TIMEOUT_S", None)
        memory = str(parse_size(args.memory_limit))
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(data), args.format, memory, str(args.chunk_rows)],
            env={**env, "LAKESMITH__LOG_LEVEL": "WARNING"},
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise SystemExit(out.returncode)
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        secs = figures["seconds"]
        print(
            f"pipeline ({args.format}, chunks of {args.chunk_rows:,} lines): {secs:,.1f}s total, "
            f"peak RSS {figures['peak_mib']:,} MiB"
        )
        print("  stages: " + ", ".join(f"{k} {v:,.1f}s" for k, v in figures["stages"].items()))
        print(
            "  peak RSS by the end of each stage (MiB): "
            + ", ".join(f"{k} {v:,}" for k, v in figures["peak_after_stage"].items())
        )
        print(f"  {n_o / secs:,.0f} order lines/s end to end")
        print(
            f"  customers: {figures['customers_in']:,} rows → {figures['customers_out']:,} people"
        )
        print("  gold rows: " + ", ".join(f"{k} {v:,}" for k, v in figures["rows"].items()))
        print("  rejected lines by reason: " + json.dumps(figures["reasons"]))
        for a in figures["accounting"]:
            print(
                f"  {a['dataset']}: {a['bronze']:,} in = {a['quarantined_at_ingest']:,} "
                f"quarantined at ingest + {a['clean']:,} clean + "
                f"{a['quarantined_by_cleaning']:,} quarantined by the cleaning"
            )
        print(f"  gold.sales_enriched: {figures['files']} data files")
        print(f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)  # GBs of lake and PostgreSQL data


if __name__ == "__main__":
    main()
