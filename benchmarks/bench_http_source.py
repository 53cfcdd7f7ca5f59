"""REST API → lake: `lakesmith run helpdesk.tickets --until-idle` against the local test
API (``lakesmith.testing.http_service``, uvicorn in this process), twice: the full
extraction, then the incremental one after updating and adding tickets.

Prints records/s while there was data, requests, wall time and the worker's peak RSS, with
every sink of the contract (bronze, quarantine, silver with ``versions: latest``, DQ). The
API is a Python server on the same machine: the figures include serving the pages.

    uv run python benchmarks/bench_http_source.py                       # 100k tickets, pages of 1000
    uv run python benchmarks/bench_http_source.py --rows 20000 --page 500
    uv run python benchmarks/bench_http_source.py --silver first   # append-only silver
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lakesmith.local import LocalStack
from lakesmith.testing import local_stack_settings, make_state_dir, worker_env
from lakesmith.testing.http_service import TicketService
from lakesmith.testing.pipeline import read_sinks, unique_contract


def run(path: Path, env: dict[str, str], stats: Path) -> dict[str, Any]:
    started = time.monotonic()
    cmd = [sys.executable, "-m", "lakesmith", "--log-level", "WARNING", "run", str(path)]
    subprocess.run([*cmd, "--until-idle", "--stats-json", str(stats)], env=env, check=True)
    figures: dict[str, Any] = json.loads(stats.read_text())
    figures["wall_s"] = time.monotonic() - started
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--changed", type=float, default=0.1, help="share updated, and added")
    parser.add_argument(
        "--silver",
        choices=["latest", "first"],
        default="latest",
        help="latest: the contract's (newest version per ticket); first: one row per version "
        "(keys ticket_id + updated_at, append only)",
    )
    args = parser.parse_args()

    state = make_state_dir("lakesmith-bench-http-")
    settings = local_stack_settings(state)
    stack = LocalStack(settings)
    stack.up()
    tmp = Path(tempfile.mkdtemp())
    try:
        with TicketService(rows=args.rows, seed=1) as api:
            pagination = {"style": "cursor", "next_path": "meta.next_cursor"}
            source = {
                "kind": "http",
                "url": api.url + "/auth/bearer/cursor/tickets",
                "auth": {"type": "bearer", "token_env": "BENCH_TICKETS_TOKEN"},
                "records_path": "data.items",
                "pagination": {**pagination, "size": args.page, "size_param": "limit"},
                "incremental": {"field": "updated_at", "param": "updated_since", "type": "timestamp"},
            }  # fmt: skip
            changes: dict[str, Any] = {"source": source}
            if args.silver == "first":
                changes |= {"silver": {"versions": "first"}, "keys": ["ticket_id", "updated_at"]}
            contract, path = unique_contract(tmp, "helpdesk.tickets", **changes)
            env = worker_env(
                settings,
                BENCH_TICKETS_TOKEN=api.token,
                LAKESMITH__WORKER__BATCH_SIZE="50000",
                LAKESMITH__WORKER__MAX_WAIT_S="2",
            )
            rows = []
            asked = api.requests
            full = run(path, env, tmp / "full.json")
            rows.append(("full", full, api.requests - asked))
            n = int(args.rows * args.changed)
            api.update(list(range(1, args.rows + 1, max(1, args.rows // n))))
            api.insert(n)
            asked = api.requests
            incremental = run(path, env, tmp / "incremental.json")
            rows.append(("incremental", incremental, api.requests - asked))
        sinks = read_sinks(settings, contract)
        for name, f, requests in rows:
            print(
                f"{name:<12} {f['records']:>8,} records  {f['records_per_second']:>9,.0f}/s busy  "
                f"{requests:>4} requests  {f['wall_s']:6.1f}s wall (process start included)  "
                f"peak RSS {f['peak_rss_mb']:,.0f} MB"
            )
        print(
            f"bronze {sinks.bronze.height:,} records, silver {sinks.silver.height:,} tickets, "
            f"quarantine {sinks.quarantine.height:,}"
        )
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
