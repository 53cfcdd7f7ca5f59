"""Many workers, one dataset: commit conflicts and aggregate throughput, 1 worker vs N.

Produces the same events once to a topic with --partitions partitions, then drains it
twice into two datasets with their own tables: once with one `lakesmith run --until-idle`
worker, once with --workers workers in one consumer group. Prints, per run, the aggregate
events/s while there was data (from the first record any worker received to the last
commit), the wall time from the first start to the last exit, the lake commits and how many of them had to be redone because another worker won
(``lake_conflicts``, summed from each worker's --stats-json), and the peak RSS of the
largest worker.

    uv run python benchmarks/bench_scale_workers.py --events 600000 --partitions 12 --workers 4

``--commit-lock none`` runs the N-worker case with optimistic, racing commits instead of
the PostgreSQL commit lock (the behaviour before it), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

from lakesmith.domains.iot.simulator import SimConfig, produce_simulation
from lakesmith.local import LocalStack
from lakesmith.sources.kafka import kafka_spec
from lakesmith.testing import local_stack_settings, make_state_dir, worker_env
from lakesmith.testing.pipeline import unique_contract


def drain(
    contract_path: Path, workers: int, env: dict[str, str], tmp: Path
) -> tuple[float, list[dict[str, float]], float]:
    """Start ``workers`` workers at once; (wall seconds, their stats, max peak RSS MiB)."""
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    t0 = time.perf_counter()
    for i in range(workers):
        stats = tmp / f"{contract_path.stem}-{i}.json"
        cmd = [sys.executable, "-m", "lakesmith", "run", str(contract_path), "--until-idle"]
        log = (tmp / f"{contract_path.stem}-{i}.log").open("wb")
        proc = subprocess.Popen([*cmd, "--stats-json", str(stats)], env=env, stderr=log)
        procs.append((proc, stats))
    peak = 0.0
    while any(p.poll() is None for p, _ in procs):
        for p, _ in procs:
            try:
                rss = psutil.Process(p.pid).memory_info().rss / 2**20
            except psutil.Error:
                continue
            peak = max(peak, rss)
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    failed = [p.returncode for p, _ in procs if p.returncode != 0]
    if failed:
        raise SystemExit(f"a worker failed: exit codes {failed}")
    return wall, [json.loads(s.read_text()) for _, s in procs], peak


def report(label: str, wall: float, stats: list[dict[str, float]], peak: float) -> float:
    records = sum(s["records"] for s in stats)
    commits = sum(s["lake_commits"] for s in stats)
    conflicts = sum(s["lake_conflicts"] for s in stats)
    share = 100 * conflicts / commits if commits else 0.0
    per_worker = ", ".join(f"{int(s['records']):,}" for s in stats)
    # while there was data: the first record any worker received → the last commit
    firsts = [s["first_record_at"] for s in stats if s.get("first_record_at")]
    lasts = [s["last_commit_at"] for s in stats if s.get("last_commit_at")]
    busy = max(lasts) - min(firsts)
    rate = records / busy
    print(
        f"{label:<22}{int(records):,} events: {rate:,.0f} events/s while there was data "
        f"({busy:.1f}s first record → last commit; {wall:.1f}s wall incl. start-up, group "
        f"join, idle wait); lake commits {int(commits):,}, conflicts {int(conflicts):,} "
        f"({share:.1f}%); peak RSS {peak:,.0f} MiB; per worker [{per_worker}]"
    )
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=600_000)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=20_000)
    ap.add_argument("--catalog", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--commit-lock", choices=["postgres", "none"], default="postgres")
    args = ap.parse_args()

    state = make_state_dir("lakesmith-bench-scale-")
    settings = local_stack_settings(
        state, lake={"catalog": args.catalog}, local={"kafka_storage": "memory://tansu/"}
    )
    stack = LocalStack(settings, ["postgres", "kafka"])
    stack.up()
    try:
        tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        one, one_path = unique_contract(tmp)
        source = {**one.source.model_dump(mode="json"), "partitions": args.partitions}
        one, one_path = unique_contract(tmp, source=source)
        many_data = yaml.safe_load(one_path.read_text())
        many_data["name"] = one.name + "_many"
        many_data["timeseries"]["table"] += "_many"
        many_path = tmp / "many.yaml"
        many_path.write_text(yaml.safe_dump(many_data))

        config = SimConfig(
            devices=1000, rate=1000, duration=args.events / 1000, bad_ratio=0.01,
            seed=2025, topic=kafka_spec(one.source).topic,
        ).resolved()  # fmt: skip
        produced = produce_simulation(settings, config, progress=False)
        print(f"produced              {produced.total:,} events to {args.partitions} partitions")

        env = worker_env(
            settings,
            LAKESMITH__WORKER__BATCH_SIZE=str(args.batch_size),
            LAKESMITH__WORKER__MAX_WAIT_S="2",
            LAKESMITH__WORKER__IDLE_TIMEOUT_S="2",
            LAKESMITH__LOG_LEVEL="WARNING",
        )
        base = report("1 worker", *drain(one_path, 1, env, tmp))
        env_many = {**env, "LAKESMITH__LAKE__COMMIT_LOCK": args.commit_lock}
        label = f"{args.workers} workers ({args.commit_lock})"
        many = report(label, *drain(many_path, args.workers, env_many, tmp))
        print(f"aggregate / 1 worker  {many / base:.2f}x on {os.cpu_count()} cores")
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)  # GBs of PostgreSQL and lake data


if __name__ == "__main__":
    main()
