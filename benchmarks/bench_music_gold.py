"""What the gold layer costs: the same simulated Eventsim files through
`lakesmith run --until-idle` (file source, JSON lines) twice on one local stack — once
with music.events as shipped (split silver + gold in the lake and the warehouse), once
with its `gold:` section removed — and the gold tables' sizes afterwards.

    uv run python benchmarks/bench_music_gold.py --users 1000 --days 2   # ~76k events
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time

from lakesmith.contracts import load_contract
from lakesmith.local import LocalStack
from lakesmith.pipeline.dataset import Dataset
from lakesmith.testing import local_stack_settings, make_state_dir
from lakesmith.testing.pipeline import unique_contract
from lakesmith.testing.stack import worker_env


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the workers; PostgreSQL's not
    included): steadier than wall time on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--days", type=float, default=2.0)
    ap.add_argument("--batch", type=int, default=20_000)
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
        data = state / "events"
        subprocess.run(
            [sys.executable, "-m", "lakesmith", "simulate", "music", "--users", str(args.users),
             "--days", str(args.days), "--seed", "3", "--out", str(data)],
            check=True, capture_output=True, env={**os.environ, "LAKESMITH_CONFIG": "none"},
        )  # fmt: skip
        events = sum(f.read_bytes().count(b"\n") + 1 for f in data.glob("*.json"))
        print(f"{events:,} events in {len(list(data.glob('*.json')))} files, {args.format}")
        base = load_contract("music.events")
        for gold in (False, True):
            changes: dict[str, object] = {"source": {"kind": "file", "path": str(data)}}
            contract, path = unique_contract(state, base, **changes)
            if not gold:
                contract, path = unique_contract(
                    state, contract.model_copy(update={"gold": None}), **changes
                )
            env = worker_env(
                settings,
                LAKESMITH__WORKER__BATCH_SIZE=str(args.batch),
                LAKESMITH__WORKER__MAX_WAIT_S="2",
            )
            t0, cpu0 = time.perf_counter(), _children_cpu()
            subprocess.run(
                [sys.executable, "-m", "lakesmith", "run", str(path), "--until-idle"],
                check=True, capture_output=True, env=env,
            )  # fmt: skip
            seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
            label = "with gold (lake + warehouse)" if gold else "without gold"
            print(
                f"{label:<30} {seconds:7.1f} s  {events / seconds:9,.0f} events/s (wall), "
                f"worker CPU {cpu:6.1f} s"
            )
            if gold:
                ds = Dataset(settings, contract)
                sizes = {n: t.scan().height for n, t in ds.gold.items() if "date" not in n}
                ds.close()
                print("gold rows:", ", ".join(f"{n} {v:,}" for n, v in sizes.items()))
                users = Dataset(settings, contract).gold["dim_user"].scan()
                versions = users.group_by("user_id").len()["len"]
                print(f"dim_user: {users.height:,} versions of {versions.len():,} users, "
                      f"{versions.filter(versions > 1).len():,} with a level change")  # fmt: skip
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)  # GBs of PostgreSQL and lake data


if __name__ == "__main__":
    main()
