"""DQ rule evaluation alone: typing + every rule of iot.telemetry on pre-decoded batches.

Prints rows/s for validation (and for the JSON decode step, for reference), with Polars
on all cores and pinned to one thread (run it twice: the thread count is fixed at import).

    uv run python benchmarks/bench_dq_rules.py --rows 1000000
    POLARS_MAX_THREADS=1 uv run python benchmarks/bench_dq_rules.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from datetime import UTC, datetime

import polars as pl

from lakesmith.contracts import load_contract
from lakesmith.domains.iot.simulator import SimConfig, batches
from lakesmith.quality.decode import decode_json
from lakesmith.quality.validate import validate


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--bad-ratio", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    contract = load_contract("iot.telemetry")
    config = SimConfig(
        devices=1000, rate=1000, duration=args.rows / 1000, bad_ratio=args.bad_ratio, seed=1
    )
    payloads: list[bytes | None] = [
        v for b in batches(config.resolved(), args.batch) for v in b.values
    ]
    chunks = [payloads[i : i + args.batch] for i in range(0, len(payloads), args.batch)]
    now = datetime.now(UTC)

    t0 = time.perf_counter()
    decoded = [decode_json(c, contract).frame for c in chunks]
    decode_s = time.perf_counter() - t0
    best = float("inf")
    valid = invalid = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        results = [validate(d, contract, now) for d in decoded]
        best = min(best, time.perf_counter() - t0)
        valid = sum(r.valid.height for r in results)
        invalid = sum(r.invalid.height for r in results)
    threads = pl.thread_pool_size()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows                  {len(payloads):,} ({valid:,} valid, {invalid:,} quarantined)")
    print(
        f"polars threads        {threads} (POLARS_MAX_THREADS={os.environ.get('POLARS_MAX_THREADS', 'unset')})"
    )
    print(
        f"DQ rules (validate)   {len(payloads) / best:,.0f} rows/s  ({len(payloads) / best / threads:,.0f} rows/s per thread)"
    )
    print(f"decode (reference)    {len(payloads) / decode_s:,.0f} rows/s")
    print(f"peak RSS              {rss:,.0f} MiB")


if __name__ == "__main__":
    main()
