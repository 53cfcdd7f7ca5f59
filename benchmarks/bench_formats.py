"""Payload formats: split a file into records (``read``) and decode them (``decode``).

The same 1M IoT readings as JSON lines, CSV and Parquet; per format the read rate, the
decode rate and the peak RSS, with Polars' own bulk reader of the same file beside it
as the reference peer (what a plain "load the file" costs, without raw records for
bronze or per-record errors).

    uv run python benchmarks/bench_formats.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from lakesmith.contracts import load_contract
from lakesmith.contracts.model import Contract
from lakesmith.core.records import RawBatch
from lakesmith.formats import get_format
from lakesmith.formats.csv import CsvFormat
from lakesmith.formats.records import decode_records


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=100_000)
    args = ap.parse_args()
    base = load_contract("iot.telemetry")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    n = args.rows
    frame = pl.DataFrame(
        {
            "device_id": [f"sensor-{i % 1000:04d}" for i in range(n)],
            "timestamp": [(start + timedelta(seconds=i)).isoformat() for i in range(n)],
            "temperature": [20.0 + (i % 97) / 10 for i in range(n)],
            "humidity": [40.0 + (i % 53) / 10 for i in range(n)],
            "firmware_version": ["v1.2.0"] * n,
        }
    )
    print(f"{n:,} IoT readings, batches of {args.batch:,}; Polars threads: "
          f"{os.environ.get('POLARS_MAX_THREADS', 'all')}")  # fmt: skip
    print(f"{'format':8} {'file MB':>8} {'read rows/s':>13} {'decode rows/s':>14} "
          f"{'peer rows/s':>12} {'peak RSS MiB':>13}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "jsonl": (Path(tmp) / "r.jsonl", frame.write_ndjson, pl.read_ndjson),
            "csv": (Path(tmp) / "r.csv", frame.write_csv, pl.read_csv),
            "parquet": (Path(tmp) / "r.parquet", frame.write_parquet, pl.read_parquet),
        }
        for name, (path, write, peer_read) in files.items():
            write(path)
            contract = base.model_copy(
                update={"payload": base.payload.model_copy(update={"format": name})}
            )
            fmt = get_format(name)
            t0 = time.perf_counter()
            with path.open("rb") as f:
                chunks = list(fmt.read(f, args.batch, 4096))
            t_read = time.perf_counter() - t0
            stream = f"file://{path}"
            batches = []
            for c in chunks:
                raw = RawBatch(source="bench://", uri_sep="#row=")
                raw.extend(
                    stream, list(range(c.first_seq, c.first_seq + len(c.payloads))), c.payloads
                )
                if c.context is not None:
                    raw.context[stream] = c.context
                batches.append(raw)
            records = sum(len(b) for b in batches)
            assert records == n, (name, records)
            t0 = time.perf_counter()
            for b in batches:
                fmt.decode(b, contract)
            t_decode = time.perf_counter() - t0
            t_peer = _timed(lambda peer_read=peer_read, path=path: peer_read(path))
            size = path.stat().st_size / 1e6
            print(f"{name:8} {size:8.1f} {n / t_read:13,.0f} {n / t_decode:14,.0f} "
                  f"{n / t_peer:12,.0f} {_rss_mib():13,.0f}")  # fmt: skip
            del chunks, batches
            if name == "csv":  # the file source's path: clean blocks as columns
                t_read, t_decode = _columns(path, contract, args.batch, n)
                print(f"{'csv cols':8} {size:8.1f} {n / t_read:13,.0f} {n / t_decode:14,.0f} "
                      f"{n / t_peer:12,.0f} {_rss_mib():13,.0f}")  # fmt: skip


def _columns(path: Path, contract: Contract, batch: int, n: int) -> tuple[float, float]:
    """Read and decode seconds of ``CsvFormat.read_columns`` (``formats.csv_blocks``)."""
    fmt = get_format("csv")
    assert isinstance(fmt, CsvFormat)
    t0 = time.perf_counter()
    with path.open("rb") as f:
        chunks = list(fmt.read_columns(f, batch, 4096))
    t_read = time.perf_counter() - t0
    stream = f"file://{path}"
    batches = []
    for c in chunks:
        raw = RawBatch(source="bench://", uri_sep="#row=")
        if c.columns is not None:
            cols = c.columns
            raw.add_records(stream, c.first_seq, cols.frame, cols.payloads, records_format="csv")
        else:
            raw.extend(stream, list(range(c.first_seq, c.first_seq + len(c))), c.payloads)
        raw.context[stream] = c.context or b""
        batches.append(raw)
    assert sum(len(b) for b in batches) == n
    t0 = time.perf_counter()
    for b in batches:
        decode_records(b, contract) if b.records is not None else fmt.decode(b, contract)
    return t_read, time.perf_counter() - t0


if __name__ == "__main__":
    main()
