"""Three in-memory steps of every batch, alone, in CPU seconds (no services):

1. a CSV file read into batches of columns (``formats.read_chunks`` + ``add_chunk``) and
   its bronze envelope built (``bronze.envelope``: record ids, ``_source`` URIs, seqs,
   stream and source time from the batch's runs);
2. ``DedupeIndex.split`` on batches of keys, the index growing to ``--keys`` keys (with
   the worker's 2-day window, all inside it), and its size and peak (``tracemalloc``:
   NumPy's arrays, the chunk merges included);
3. the Kafka source's per-message field extraction (``Message.partition/offset/key/
   value/timestamp`` over ``--messages`` messages), mapped as ``KafkaSource.poll`` does and
   with list comprehensions (what it did before) for comparison.

``--baseline DIR`` also runs steps 1 and 2 with another checkout's ``src`` (``git archive
REV src | tar -x -C DIR``) in a subprocess, alternating with this one, so the two compare
on the same file in one run.

    uv run python benchmarks/bench_batch_steps.py
    uv run python benchmarks/bench_batch_steps.py --baseline /tmp/old --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path

import numpy as np
import polars as pl

STREAM = "file:///bench/input.csv@1-2"


def csv_steps(path: Path, batch_rows: int) -> dict[str, float]:
    from lakesmith.bronze.envelope import envelope
    from lakesmith.core.records import RawBatch
    from lakesmith.formats import get_format
    from lakesmith.formats.base import add_chunk, joins, read_chunks

    read_s = env_s = 0.0
    rows = 0

    def close(batch: RawBatch) -> None:
        nonlocal env_s, rows
        t0 = time.process_time()
        rows += envelope(batch, batch.batch_id(), datetime.now(UTC)).height
        batch.next_positions()
        env_s += time.process_time() - t0

    with path.open("rb") as handle:
        batch = RawBatch("file:///bench/input.csv", uri_sep="#row=")
        t0 = time.process_time()
        for chunk in read_chunks(get_format("csv"), handle, 50_000, 1 << 20):
            if not joins(batch, STREAM, chunk, False) or len(batch) >= batch_rows:
                read_s += time.process_time() - t0
                close(batch)
                batch = RawBatch("file:///bench/input.csv", uri_sep="#row=")
                t0 = time.process_time()
            add_chunk(batch, STREAM, chunk, 1_700_000_000_000)
        read_s += time.process_time() - t0
        if len(batch):
            close(batch)
    return {"rows": rows, "read_s": read_s, "envelope_s": env_s}


def dedupe_step(keys: int, batch_rows: int) -> dict[str, float]:
    from lakesmith.silver.dedupe import DedupeIndex

    try:  # as the worker builds it: keys older than the window are dropped when merging
        index = DedupeIndex(["device_id", "timestamp"], "timestamp", timedelta(days=2))
    except TypeError:  # a checkout from before the window
        index = DedupeIndex(["device_id", "timestamp"])
    spent = 0.0
    tracemalloc.start()  # NumPy reports its arrays to tracemalloc: the index's peak
    for base in range(0, keys, batch_rows):
        ids = np.arange(base, min(base + batch_rows, keys))
        frame = pl.DataFrame(
            {
                "device_id": pl.Series(ids % 1000).cast(pl.String),
                "timestamp": pl.Series(ids // 1000 * 1000).cast(pl.Datetime("us", "UTC")),
                "_record_id": pl.Series(ids).cast(pl.String),
            }
        )
        frame = pl.concat([frame, frame.head(batch_rows // 1000)])  # in-batch repeats
        t0 = time.process_time()
        index.split(frame)
        spent += time.process_time() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "keys": len(index),
        "split_s": spent,
        "index_mb": index.nbytes / 1e6,
        "peak_mb": peak / 1e6,
    }


def kafka_step(messages: int) -> dict[str, float]:
    from confluent_kafka import Message

    msgs = [
        Message(
            topic="t",
            partition=i % 6,
            offset=i,
            key=None,
            value=b"x" * 200,
            timestamp=(1, 1_700_000_000_000 + i),
        )
        for i in range(messages)
    ]
    t0 = time.process_time()
    for _ in range(5):
        _ = list(map(Message.error, msgs)).count(None)
        for getter in (Message.partition, Message.offset, Message.key, Message.value):
            _ = list(map(getter, msgs))
        _ = list(map(itemgetter(1), map(Message.timestamp, msgs)))
    mapped = (time.process_time() - t0) / 5
    t0 = time.process_time()
    for _ in range(5):
        _ = [m for m in msgs if m.error() is not None]
        _ = [m.partition() or 0 for m in msgs]
        _ = [m.offset() or 0 for m in msgs]
        _ = [m.key() for m in msgs]
        _ = [m.value() for m in msgs]
        _ = [m.timestamp()[1] for m in msgs]
    comprehensions = (time.process_time() - t0) / 5
    return {"messages": messages, "mapped_s": mapped, "comprehensions_s": comprehensions}


def _child(args: argparse.Namespace, src: Path | None) -> dict[str, float]:
    """Steps 1 and 2 in a fresh interpreter (``src`` first on the path, when given)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    command = [
        sys.executable, __file__, "--child", "--csv", str(args.csv),
        "--batch-rows", str(args.batch_rows), "--keys", str(args.keys),
    ]  # fmt: skip
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def _line(label: str, f: dict[str, float]) -> str:
    return (
        f"{label:10s} CSV {f['rows']:,.0f} rows: read+batch {f['read_s']:.2f} s, envelope "
        f"{f['envelope_s']:.2f} s CPU | dedupe {f['keys']:,.0f} keys: split {f['split_s']:.2f} s, "
        f"index {f['index_mb']:.0f} MB, peak {f['peak_mb']:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mb", type=float, default=300, help="size of the generated CSV (MB)")
    ap.add_argument("--csv", type=Path, help="an existing CSV of write_csv's shape")
    ap.add_argument("--batch-rows", type=int, default=200_000)
    ap.add_argument("--keys", type=int, default=2_000_000)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--baseline", type=Path, help="a checkout whose src/ to compare with")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        figures = {
            **csv_steps(args.csv, args.batch_rows),
            **dedupe_step(args.keys, args.batch_rows),
        }
        print(json.dumps(figures))
        return
    from lakesmith.testing.files import write_csv

    with tempfile.TemporaryDirectory(prefix="bench-steps-") as tmp:
        if args.csv is None:
            args.csv = Path(tmp) / "input.csv"
            rows = write_csv(args.csv, int(args.mb * 1e6))
            print(f"generated {args.csv.stat().st_size / 1e6:.0f} MB of CSV, {rows:,} rows")
        for r in range(args.rounds):
            if args.baseline is not None:
                print(_line(f"baseline {r + 1}", _child(args, args.baseline / "src")))
            print(_line(f"this {r + 1}", _child(args, None)))
    k = kafka_step(args.messages)
    print(
        f"kafka fields of {k['messages']:,.0f} messages: mapped {k['mapped_s'] * 1000:.0f} ms, "
        f"comprehensions {k['comprehensions_s'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
