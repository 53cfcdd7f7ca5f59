"""SQL table → lake: full extraction of an N-row PostgreSQL table (the shop's ``orders``:
bigint, 2 text, numeric, integer, 3 timestamptz, jsonb) by the ``sql`` source kind into
bronze, quarantine, silver and the DQ statistics, with `lakesmith run --until-idle` in a
subprocess: rows/s while there was data, wall time, peak RSS.

Peer, in the same run, on the same table: dlt's ``sql_database`` source (backend
``pyarrow``, its fastest; ``--dlt-backend sqlalchemy`` for its default) loading the table
into PostgreSQL (another schema of the lake's server), ``append``; rows/s compared.

    uv run python benchmarks/bench_sql_source.py                  # 1,000,000 rows
    uv run python benchmarks/bench_sql_source.py --rows 200000 --peer-rows 200000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal, cast

from lakesmith.config import Settings
from lakesmith.contracts.loader import DOMAINS_DIR
from lakesmith.local import LocalStack
from lakesmith.stores.sql_source_db import create_database, execute, seed_orders
from lakesmith.testing import local_stack_settings, make_state_dir
from lakesmith.testing.pipeline import unique_contract

DATABASE = "bench_shop"
Backend = Literal["pyarrow", "sqlalchemy"]


def run_dlt(settings: Settings, url: str, table: str, backend: Backend) -> tuple[int, float]:
    """(rows, seconds) of dlt's sql_database source loading ``table`` into PostgreSQL."""
    import dlt
    from dlt.sources.sql_database import sql_database

    source = sql_database(
        credentials=url, schema="public", table_names=[table], backend=backend, chunk_size=50_000
    )
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_sql_{backend}",
        destination=dlt.destinations.postgres(credentials=settings.effective_postgres_dsn()),
        dataset_name=f"dlt_sql_{backend}",
        pipelines_dir=tempfile.mkdtemp(prefix="dlt-bench-"),
    )
    t0 = time.perf_counter()
    pipeline.run(source, write_disposition="append")
    seconds = time.perf_counter() - t0
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    rows = info.row_counts.get(table, 0) if info is not None else 0
    return rows, seconds


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=200_000, help="worker batch size")
    ap.add_argument("--peer-rows", type=int, default=1_000_000, help="rows given to dlt (0: skip)")
    ap.add_argument("--dlt-backend", default="pyarrow", choices=["pyarrow", "sqlalchemy"])
    args = ap.parse_args()

    state = make_state_dir("lakesmith-bench-")
    settings = local_stack_settings(state)
    stack = LocalStack(settings, ["postgres"])
    stack.up()
    try:
        url = create_database(settings, DATABASE, replace=True)
        t0 = time.perf_counter()
        seed_orders(url, args.rows)
        execute(url, "VACUUM ANALYZE public.orders")
        print(f"seeded                {args.rows:,} rows in {time.perf_counter() - t0:.1f}s")

        tmp = Path(tempfile.mkdtemp(prefix="bench-contract-"))
        source = {
            "kind": "sql",
            "postgres_database": DATABASE,
            "table": "public.orders",
            "key": ["id"],
            "mode": "full",
            "soft_delete": "deleted_at",
            "chunk_rows": args.batch_size,
        }
        _, contract_path = unique_contract(
            tmp, str(DOMAINS_DIR / "shop" / "orders.yaml"), source=source
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LAKESMITH")},
            "LAKESMITH_CONFIG": "none",
            "LAKESMITH__STATE_DIR": str(state),
            "LAKESMITH__LOCAL__POSTGRES_PORT": str(settings.local.postgres_port),
            "LAKESMITH__WORKER__BATCH_SIZE": str(args.batch_size),
            "LAKESMITH__WORKER__IDLE_TIMEOUT_S": "1",
            "LAKESMITH__LOG_LEVEL": "WARNING",
        }
        stats_path = tmp / "stats.json"
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "lakesmith", "run", str(contract_path), "--until-idle",
             "--stats-json", str(stats_path)],
            env=env, check=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        stats = json.loads(stats_path.read_text())
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        busy = stats["active_seconds"]
        span = (stats["last_commit_at"] or 0) - (stats["first_record_at"] or 0)
        ours = stats["records_per_second"]
        print("sinks                 bronze, quarantine, silver, dq; lake on disk (Iceberg)")
        print(
            f"lakesmith             {stats['records']:,} rows in {busy:.1f}s busy → {ours:,.0f} rows/s"
        )
        print(
            f"lakesmith first→last  {span:.1f}s → {stats['records'] / span:,.0f} rows/s "
            f"(wall {wall:.1f}s incl. start-up and the idle wait)"
        )
        print(f"lakesmith dispositions {stats['by_disposition']}")
        print(f"lakesmith peak RSS    {peak:,.0f} MiB")

        if args.peer_rows:
            table = "orders"
            if args.peer_rows < args.rows:
                table = "orders_peer"
                execute(
                    url,
                    f"CREATE TABLE public.orders_peer AS SELECT * FROM public.orders "
                    f"ORDER BY id LIMIT {int(args.peer_rows)}",
                )
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rows, seconds = run_dlt(settings, url, table, cast("Backend", args.dlt_backend))
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            theirs = rows / seconds
            print(
                f"dlt sql_database ({args.dlt_backend}, append to PostgreSQL) {rows:,} rows in "
                f"{seconds:.1f}s → {theirs:,.0f} rows/s (bench process peak RSS "
                f"{before:,.0f} → {after:,.0f} MiB)"
            )
            print(f"lakesmith busy / dlt  {ours / theirs:,.1f}x")
            print(f"lakesmith first→last / dlt {stats['records'] / span / theirs:,.1f}x")
    finally:
        stack.down()


if __name__ == "__main__":
    main()
