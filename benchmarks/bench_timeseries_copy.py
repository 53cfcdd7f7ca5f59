"""The time-series COPY path alone: the stream's own load into the keyed, partitioned table.

Starts a throw-away PostgreSQL, then loads N synthetic iot.telemetry silver rows (~1000
devices over a few days, as ``bench_backfill.py`` makes them) with
``TimeseriesTable.upsert`` in frames of ``--frame-rows`` (binary COPY straight into the
table; upsert only on a key conflict), into a fresh table per round, and prints rows/s
per round and their median. Encoding is included (it is part of the path); building the
frames is not.

    uv run python benchmarks/bench_timeseries_copy.py --rows 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backfill import FIRST_DAY, stream_of, synthetic

from lakesmith.contracts import load_contract
from lakesmith.core.logging import configure_logging
from lakesmith.local import LocalStack
from lakesmith.stores.timeseries import TimeseriesTable
from lakesmith.testing import local_stack_settings, make_state_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--frame-rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--devices", type=int, default=1000)
    args = ap.parse_args()
    configure_logging("WARNING")
    state = make_state_dir("lakesmith-bench-")
    settings = local_stack_settings(state)
    stack = LocalStack(settings, ["postgres"])
    try:
        stack.up()
        base = load_contract("iot.telemetry")
        assert base.timeseries is not None
        stream = stream_of(base)
        step = args.frame_rows
        frames = [
            synthetic(min(step, args.rows - f), f, args.days, args.devices, f, stream)
            for f in range(0, args.rows, step)
        ]
        rates = []
        for r in range(args.rounds):
            spec = base.timeseries.model_copy(update={"table": f"iot_telemetry_copy_{r}"})
            table = TimeseriesTable(settings, base.model_copy(update={"timeseries": spec}))
            table.ensure(base.fields)
            table.ensure_partitions([FIRST_DAY + timedelta(d) for d in range(args.days)])
            t0 = time.perf_counter()
            written = sum(table.upsert(frame) for frame in frames)
            seconds = time.perf_counter() - t0
            table.close()
            assert written == args.rows, written
            rates.append(written / seconds)
            print(f"round {r + 1}: {written:,} rows in {seconds:.2f}s = {rates[-1]:,.0f} rows/s")
        print(
            f"time-series COPY path ({step:,}-row frames, keyed partitioned table): "
            f"median {statistics.median(rates):,.0f} rows/s"
        )
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
