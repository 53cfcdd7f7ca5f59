"""Ingest of a large CSV: lakesmith vs a bare Polars conversion vs a pandas chunk loop.

Generates a CSV of ``--gb`` GB (default 1; ``--gb 5`` for the full target) with
``lakesmith.testing.files.write_csv``: 7 columns (id long, ts ISO 8601 with zone, user
text, country code, amount 2-decimal, qty small int, ok boolean), ~67 bytes a row, so
1 GB ≈ 16.1M rows. Then, from one run, each in its own subprocess (peak RSS is that
process tree's ``ru_maxrss``):

1. ``lakesmith ingest FILE --dataset … --memory-limit 1GiB`` into a throw-away PostgreSQL
   and a local Iceberg (or ``--table-format delta``) warehouse: envelope, decode,
   validation against the inferred contract, bronze + silver + quarantine commits with
   positions — the whole pipeline;
2. ``polars.scan_csv(FILE).sink_parquet(OUT)`` (streaming; the practical upper bound);
3. ``pandas.read_csv(FILE, chunksize=…)`` → one Parquet file per chunk (what most
   pipelines do);
4. "polars, same tables": Polars alone writing what lakesmith's bronze and silver tables
   hold, with no validation, quarantine, commit, resume or memory ceiling — the floor of
   the architecture's tables (``FLOOR``). Bronze: every raw line as ``_payload`` with its
   lineage (``_record_id``, ``_source`` URI, ``_stream``, ``_seq``, ``_batch_id``,
   ``_schema_version``); silver: the typed columns (``ts`` parsed to a UTC timestamp,
   which the bare conversion leaves as text) with the same lineage; zstd level 1, as the
   lake tables write. Both from one ``collect_all`` of two streaming scans;
5. "polars, raw file + typed": the same without per-row raw lines and lineage strings —
   the file's bytes copied once (a raw-bytes store) and the typed columns with ``_seq``
   and ``_stream`` (``LEAN``): what a bronze that keeps a file whole instead of row by row
   would cost at least.

Prints MB/s, rows/s, peak RSS and lakesmith's ratio to Polars and to the floor, and with
``--json`` writes them for the README.

    uv run python benchmarks/bench_ingest_csv.py --gb 1
    uv run python benchmarks/bench_ingest_csv.py --gb 5 --keep /big/disk
    uv run python benchmarks/bench_ingest_csv.py --csv input.csv   # an existing file

``--baseline DIR`` also runs lakesmith from another checkout's ``src`` (``git archive
REV src | tar -x -C DIR``) on the same file: before/after from one run.

Bytecode: every run imports the same modules (lakesmith, Polars, PyArrow, pyiceberg …).
Where the environment forbids writing ``.pyc`` files (``PYTHONDONTWRITEBYTECODE``, as
in this dev container) each run would compile them again (~5 s of CPU per lakesmith
run), which a deployment does not do (the image compiles them: ``UV_COMPILE_BYTECODE``).
So the runs read and write bytecode under ``--pycache`` (default
``~/.cache/lakesmith-bench/pyc``), warmed by one import before anything is measured;
``--pycache none`` keeps the environment as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from lakesmith.core.logging import configure_logging
from lakesmith.local import LocalStack
from lakesmith.quality.typing import ISO8601_WITH_ZONE
from lakesmith.testing import local_stack_settings, make_state_dir
from lakesmith.testing.files import Measured, lakesmith_cmd, run_measured, write_csv
from lakesmith.testing.stack import worker_env

MiB = 1024 * 1024

WARM = (
    "import lakesmith.cli.ingest, lakesmith.pipeline.ingest, lakesmith.stores.lake.iceberg,"
    " lakesmith.stores.lake.delta, polars, pandas, pyarrow.parquet"
)


def _bytecode_env(pycache: str, env: dict[str, str]) -> dict[str, str]:
    """``env`` for a measured run: bytecode read from (and written to) a cache folder,
    unless ``pycache`` is ``none``."""
    env = dict(env)
    if pycache != "none":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(pycache).expanduser())
    return env


POLARS = """
import sys, polars as pl
pl.scan_csv(sys.argv[1]).sink_parquet(sys.argv[2])
"""

PANDAS = """
import sys, pandas as pd
for i, chunk in enumerate(pd.read_csv(sys.argv[1], chunksize=int(sys.argv[3]))):
    chunk.to_parquet(f"{sys.argv[2]}/part-{i:05d}.parquet", index=False)
"""


FLOOR = """
import os, sys, polars as pl
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
st = os.stat(src)
stream = f"file://{os.path.abspath(src)}@{st.st_size}-{st.st_mtime_ns}"
lineage = [
    pl.format("3f2a9c1e04b7:{}", "_seq").alias("_record_id"),
    pl.format(stream + "#row={}", "_seq").alias("_source"),
    pl.lit(stream).alias("_stream"),
    pl.lit("0123456789abcdef0123").alias("_batch_id"),
    pl.lit(1, pl.Int32).alias("_schema_version"),
]
lines = pl.scan_csv(
    src, has_header=False, separator="\\x1f", quote_char=None, skip_rows=1,
    schema={"_payload": pl.String},
).with_row_index("_seq")
{TS}
typed = pl.scan_csv(src).with_row_index("_seq").with_columns(ts)
kw = dict(compression="zstd", compression_level=1, lazy=True)
pl.collect_all([
    lines.with_columns(pl.col("_payload").cast(pl.Binary), *lineage)
    .sink_parquet(f"{out}/bronze.parquet", **kw),
    typed.with_columns(*lineage).sink_parquet(f"{out}/silver.parquet", **kw),
])
"""
LEAN = """
import os, shutil, sys, polars as pl
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
shutil.copyfile(src, f"{out}/raw.csv")
{TS}
stream = pl.lit(f"file://{os.path.abspath(src)}").alias("_stream")
pl.scan_csv(src).with_row_index("_seq").with_columns(ts, stream).sink_parquet(
    f"{out}/silver.parquet", compression="zstd", compression_level=1
)
"""
# the benchmark file's timestamp column typed the way Polars reads it fastest, with the
# format the pipeline's typing falls back to (``quality.typing.ISO8601_WITH_ZONE``)
_TS = f'ts = pl.col("ts").str.to_datetime("{ISO8601_WITH_ZONE}", time_zone="UTC", time_unit="us")'
FLOOR, LEAN = (script.replace("{TS}", _TS) for script in (FLOOR, LEAN))
POLARS_RUN = "polars sink_parquet"
FLOOR_RUN = "polars, same tables"


def _line(
    name: str, m: Measured, size: int, rows: int, base: float | None, floor: float | None
) -> str:
    mbs = size / m.seconds / 1e6
    ratio = f"  {mbs / base:5.0%} of polars" if base else ""
    ratio += f", {mbs / floor:4.0%} of its tables" if floor else ""
    return (
        f"{name:<25} {m.seconds:7.1f} s {mbs:8.1f} MB/s {rows / m.seconds:12,.0f} rows/s "
        f"{m.peak_rss_bytes / MiB:7.0f} MiB peak {m.cpu_seconds:7.1f} s CPU{ratio}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=1.0, help="size of the generated CSV (GB)")
    ap.add_argument("--table-format", choices=["iceberg", "delta"], default="iceberg")
    ap.add_argument("--memory-limit", default="1GiB")
    ap.add_argument("--pandas-chunk", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="folder for the CSV and outputs (default: tmp)")
    ap.add_argument("--csv", type=Path, help="use this CSV (write_csv's shape) instead of --gb")
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=["lakesmith", "polars", "pandas", "floor", "lean"]
    )
    ap.add_argument("--json", type=Path, help="write the figures here")
    ap.add_argument("--baseline", type=Path, help="a checkout whose src/ to compare with")
    ap.add_argument(
        "--pycache",
        default="~/.cache/lakesmith-bench/pyc",
        help="bytecode cache of the runs ('none': as the environment says)",
    )
    args = ap.parse_args()
    configure_logging("WARNING")
    work = Path(tempfile.mkdtemp(prefix="lakesmith-bench-csv-", dir=args.keep))
    state = make_state_dir("lakesmith-bench-")
    settings = local_stack_settings(state, lake={"format": args.table_format})
    stack = LocalStack(settings, ["postgres"])
    figures: dict[str, dict[str, float]] = {}
    try:
        if args.csv is not None:
            csv = args.csv
            with csv.open("rb") as handle:
                rows = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
            rows -= 1  # the header
        else:
            csv = work / "input.csv"
            print(f"generating {args.gb:g} GB of CSV in {csv} …", flush=True)
            rows = write_csv(csv, int(args.gb * 1e9))
        size = csv.stat().st_size
        print(f"{size / 1e9:.2f} GB, {rows:,} rows, 7 columns\n", flush=True)
        runs: dict[str, Measured] = {}
        bytecode = _bytecode_env(args.pycache, dict(os.environ))
        lake_env = _bytecode_env(args.pycache, worker_env(settings))
        base_env = None
        if args.baseline is not None:
            base_env = {**lake_env, "PYTHONPATH": str(args.baseline / "src")}
        for env in (bytecode, lake_env, base_env):
            if env is not None:  # compile (or check) the bytecode once, outside the runs
                subprocess.run([sys.executable, "-c", WARM], env=env, check=True)
        if "polars" not in args.skip:
            py = [sys.executable, "-c", POLARS, str(csv), str(work / "polars.parquet")]
            runs[POLARS_RUN] = run_measured(py, env=bytecode)
        if "floor" not in args.skip:
            py = [sys.executable, "-c", FLOOR, str(csv), str(work / "floor")]
            runs[FLOOR_RUN] = run_measured(py, env=bytecode)
        if "lean" not in args.skip:
            py = [sys.executable, "-c", LEAN, str(csv), str(work / "lean")]
            runs["polars, raw file + typed"] = run_measured(py, env=bytecode)
        if "pandas" not in args.skip:
            (work / "pandas").mkdir()
            py = [
                sys.executable,
                "-c",
                PANDAS,
                str(csv),
                str(work / "pandas"),
                str(args.pandas_chunk),
            ]
            runs["pandas chunks"] = run_measured(py, env=bytecode)
        if "lakesmith" not in args.skip:
            stack.up()

            def cmd() -> list[str]:
                return lakesmith_cmd(
                    "--log-level", "WARNING", "ingest", str(csv), "--dataset",
                    f"bench.csv_{uuid.uuid4().hex[:6]}", "--memory-limit", args.memory_limit,
                    "--no-progress",
                )  # fmt: skip

            if base_env is not None:
                runs["lakesmith (baseline)"] = run_measured(cmd(), env=base_env)
            runs["lakesmith ingest"] = run_measured(cmd(), env=lake_env)
        for name, m in runs.items():
            if m.returncode != 0:
                print(f"{name} failed:\n{m.stderr[-3000:]}")
        polars_mbs, floor_mbs = (
            size / runs[run].seconds / 1e6 if run in runs else None
            for run in (POLARS_RUN, FLOOR_RUN)
        )
        for name, m in runs.items():
            lake = name.startswith("lakesmith")
            base = polars_mbs if name != POLARS_RUN else None
            print(_line(name, m, size, rows, base, floor_mbs if lake else None))
            figures[name] = {
                "seconds": m.seconds,
                "mb_per_s": size / m.seconds / 1e6,
                "rows_per_s": rows / m.seconds,
                "peak_rss_mib": m.peak_rss_bytes / MiB,
                "cpu_seconds": m.cpu_seconds,
            }
        for name in ("lakesmith (baseline)", "lakesmith ingest"):
            if name in runs:
                print(f"\n{name}:\n" + runs[name].stdout.strip())
        if args.json:
            args.json.write_text(
                json.dumps({"gb": size / 1e9, "rows": rows, "runs": figures}, indent=2)
            )
    finally:
        stack.down()
        shutil.rmtree(state, ignore_errors=True)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)  # (a --csv file is not in it)


if __name__ == "__main__":
    main()
