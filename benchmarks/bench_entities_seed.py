"""What seeding the entity domain costs at the search benchmark's size: generate the
fleet (or reuse a folder written by `lakesmith simulate entities`), ingest every file
through `lakesmith ingest`'s path on a fresh local stack, rebuild gold; time per step,
PDF pages per second, peak memory of this process.

    uv run python benchmarks/bench_entities_seed.py --devices 100000 --reports 6700
    uv run python benchmarks/bench_entities_seed.py --devices 100000 --reports 6700 \\
        --files /tmp/ent_big     # reuse files written by simulate with the same options
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

from lakesmith.domains.entities.generator import FILES, EntitiesConfig
from lakesmith.domains.entities.gold import MODEL
from lakesmith.domains.entities.seed import ORDER, generate, ingest_dataset
from lakesmith.gold.batch import rebuild
from lakesmith.local import LocalStack
from lakesmith.testing import local_stack_settings, make_state_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--reports", type=int, default=6_700)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--files", type=Path, default=None, help="reuse this generated folder")
    ap.add_argument("--format", default="iceberg", choices=["iceberg", "delta"])
    args = ap.parse_args()
    state = make_state_dir()
    settings = local_stack_settings(state)
    settings = settings.model_copy(
        update={"lake": settings.lake.model_copy(update={"format": args.format})}
    )
    stack = LocalStack(settings)
    stack.up()
    try:
        out = args.files or state / "files"
        if args.files is None:
            t0 = time.monotonic()
            cfg = EntitiesConfig(seed=args.seed, devices=args.devices, reports=args.reports)
            files = generate(cfg, out)
            print(f"generate: {files} in {time.monotonic() - t0:.1f}s")
        for dataset in ORDER:
            target = out / FILES[dataset]
            size = sum(
                p.stat().st_size for p in ([target] if target.is_file() else target.iterdir())
            )
            t0 = time.monotonic()
            counts = ingest_dataset(settings, dataset, target)
            secs = time.monotonic() - t0
            print(f"ingest {dataset}: {counts} {size / 1e6:,.1f} MB in {secs:.1f}s")
        t0 = time.monotonic()
        report = rebuild(settings, MODEL)
        print(f"gold: {report.rows} in {time.monotonic() - t0:.1f}s")
        from lakesmith.gold.batch import read_silver

        docs = read_silver(settings, ["entities.documents"])["entities.documents"]
        print(f"documents: {docs.height:,}, pages: {docs['pages'].sum():,}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {peak:,.0f} MiB")
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
