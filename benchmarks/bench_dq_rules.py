"""DQ rule evaluation alone: every rule of iot.telemetry on typed batches, and typing +
rules (``validate``) on decoded batches.

Prints rows/s for both (and for the JSON decode step, for reference), with Polars
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
from lakesmith.formats.json import decode_json
from lakesmith.quality.rules import TYPE_ERROR_SUFFIX, compile_rules
from lakesmith.quality.typing import typed
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
    # Rule evaluation alone, on already-typed frames: every rule's violation mask, and the
    # rule ids of the failing rows (what quarantine needs).
    typed_frames = []
    for d in decoded:
        cols = [typed(f) for f in contract.fields]
        typed_frames.append(
            d.with_columns(
                *[
                    err.alias(f.name + TYPE_ERROR_SUFFIX)
                    for f, (_, err) in zip(contract.fields, cols, strict=True)
                ],
                *[value for value, _ in cols],
            )
        )
    rules = compile_rules(contract, now)
    best_rules = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for t in typed_frames:
            bad = t.filter(pl.any_horizontal(*[r.violated.fill_null(False) for r in rules]))
            bad.select(
                pl.concat_list(
                    [pl.when(r.violated.fill_null(False)).then(pl.lit(r.id)) for r in rules]
                ).list.drop_nulls()
            )
        best_rules = min(best_rules, time.perf_counter() - t0)
    threads = pl.thread_pool_size()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows                  {len(payloads):,} ({valid:,} valid, {invalid:,} quarantined)")
    print(
        f"polars threads        {threads} (POLARS_MAX_THREADS={os.environ.get('POLARS_MAX_THREADS', 'unset')})"
    )
    print(
        f"typing + rules        {len(payloads) / best:,.0f} rows/s  ({len(payloads) / best / threads:,.0f} rows/s per thread)"
    )
    print(
        f"rules alone (typed)   {len(payloads) / best_rules:,.0f} rows/s  ({len(payloads) / best_rules / threads:,.0f} rows/s per thread, {len(rules)} rules)"
    )
    print(f"decode (reference)    {len(payloads) / decode_s:,.0f} rows/s")
    print(f"peak RSS              {rss:,.0f} MiB")


if __name__ == "__main__":
    main()
