"""Generated input files for ingest tests and benchmarks, and peak-RSS measurement of a
command in a subprocess.

``write_csv`` writes a CSV of a given size in bulk (NumPy + Polars, one block of rows at a
time, so memory stays one block whatever the size). Its shape, 7 columns, ~80 bytes a row::

    id,ts,user,country,amount,qty,ok
    0,2025-01-01T00:00:00.000+00:00,user_41,DE,123.45,3,true
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

CSV_COLUMNS = ["id", "ts", "user", "country", "amount", "qty", "ok"]
_COUNTRIES = ["DE", "FR", "GB", "US", "ES", "IT", "NL", "PL", "SE", "JP"]
_BLOCK_ROWS = 500_000


def _block(start: int, n: int, rng: np.random.Generator) -> pl.DataFrame:
    ids = np.arange(start, start + n, dtype=np.int64)
    base = np.datetime64("2025-01-01T00:00:00", "ms")
    return pl.DataFrame(
        {
            "id": ids,
            "ts": (base + ids * 1000).astype("datetime64[ms]"),
            "user": rng.integers(0, 100_000, n),
            "country": rng.integers(0, len(_COUNTRIES), n),
            "amount": np.round(rng.random(n) * 1000, 2),
            "qty": rng.integers(1, 20, n),
            "ok": rng.random(n) > 0.1,
        }
    ).with_columns(
        pl.col("ts").dt.replace_time_zone("UTC"),
        pl.format("user_{}", pl.col("user")).alias("user"),
        pl.col("country").replace_strict(dict(enumerate(_COUNTRIES)), return_dtype=pl.String),
    )


def write_csv(path: Path, target_bytes: int, seed: int = 7) -> int:
    """Write about ``target_bytes`` of CSV (7 columns, header first); returns the data rows."""
    rng = np.random.default_rng(seed)
    rows = 0
    with path.open("wb") as out:
        out.write((",".join(CSV_COLUMNS) + "\n").encode())
        while out.tell() < target_bytes:
            block = _block(rows, _BLOCK_ROWS, rng)
            text = block.write_csv(include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.3f%:z")
            left = target_bytes - out.tell()
            if len(text) > left:  # the last block: whole rows up to the target
                cut = text.encode()[:left]
                keep = cut[: cut.rfind(b"\n") + 1]
                out.write(keep)
                rows += keep.count(b"\n")
                break
            out.write(text.encode())
            rows += block.height
    return rows


@dataclass(frozen=True)
class Measured:
    returncode: int
    peak_rss_bytes: int  # the command's peak resident memory (ru_maxrss of its process tree)
    seconds: float
    stdout: str
    stderr: str
    cpu_seconds: float = 0.0  # user + system CPU of the command's process tree


_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.monotonic()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": p.returncode, "peak": use.ru_maxrss * 1024, "s": time.monotonic() - t,
                  "cpu": use.ru_utime + use.ru_stime, "out": p.stdout, "err": p.stderr}))
"""


def run_measured(
    cmd: Sequence[str], env: Mapping[str, str] | None = None, timeout: float | None = None
) -> Measured:
    """Run ``cmd`` under a fresh wrapper process, so its peak RSS is its own
    (``RUSAGE_CHILDREN`` of the wrapper), not the maximum of everything this process ran."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=timeout,
        check=True,
    )
    data = json.loads(done.stdout)
    return Measured(data["rc"], data["peak"], data["s"], data["out"], data["err"], data["cpu"])


def lakesmith_cmd(*args: str) -> list[str]:
    """``python -m lakesmith …`` with this interpreter."""
    return [sys.executable, "-m", "lakesmith", *args]


__all__ = ["CSV_COLUMNS", "Measured", "lakesmith_cmd", "run_measured", "write_csv"]
