"""ISO 8601 timestamp typing: ``quality.typing.iso_with_zone`` (Arrow's ISO cast for the
texts of the common shape, the chrono format for the others) against the chrono format
alone, on IoT-shaped texts (milliseconds, ``Z``) with a share of bad ones.

    uv run python benchmarks/bench_iso_timestamps.py --rows 200000 --bad 0.01

Prints CPU milliseconds per call (median of --repeat) for both, and checks they agree.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import polars as pl
from polars.testing import assert_series_equal

from lakesmith.quality.typing import ISO8601_WITH_ZONE, iso_with_zone


def texts(rows: int, bad: float) -> pl.Series:
    values = [
        f"2025-01-20T{i // 3_600_000 % 24:02d}:{i // 60_000 % 60:02d}:{i // 1000 % 60:02d}"
        f".{i % 1000:03d}Z"
        for i in range(rows)
    ]
    step = int(1 / bad) if bad > 0 else 0
    for i in range(0, rows, step or rows + 1):
        values[i] = "2025-01-2"  # a cut-off text, as the simulator's bad records have
    return pl.Series("timestamp", values)


def cpu_ms(call: Callable[[], object], repeat: int) -> float:
    call()  # warm-up
    runs = []
    for _ in range(repeat):
        t0 = time.process_time()
        call()
        runs.append((time.process_time() - t0) * 1000)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--bad", type=float, default=0.01, help="share of bad texts")
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    series = texts(args.rows, args.bad)

    def by_format() -> pl.Series:
        return series.str.to_datetime(
            ISO8601_WITH_ZONE, time_zone="UTC", time_unit="us", strict=False
        )

    assert_series_equal(iso_with_zone(series), by_format())
    fast, slow = cpu_ms(lambda: iso_with_zone(series), args.repeat), cpu_ms(by_format, args.repeat)
    print(f"{args.rows:,} texts, {args.bad:.1%} bad (same values from both)")
    print(f"iso_with_zone        {fast:7.1f} ms CPU")
    print(f"chrono format alone  {slow:7.1f} ms CPU  ({slow / fast:.1f}x)")


if __name__ == "__main__":
    main()
