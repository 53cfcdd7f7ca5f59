"""A log shipper the way fluentd's S3 output writes: events cut into time slices of
``batch_seconds`` by their ``ts`` and written as one object per slice (more when a slice
holds over ``max_events`` events) under time-sliced keys::

    events/2025/01/20/10/events_20250120T1015_0.json.gz

``_0``, ``_1`` … number the objects of one slice (fluentd's ``%{index}``). Events come
from the simulator or from JSON-lines files (such as the real Eventsim logs), whose lines
are shipped byte for byte (blank or unparsable lines travel with the slice before them).
``speed`` paces the shipping like a live shipper, which writes a slice once it has closed:
slice N is written once ``(N + 1) · batch_seconds / speed`` wall seconds have passed
(0: as fast as possible; 1 with events starting now: live).
Compression and uploads run in a few threads (gzip and boto3 release the GIL).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from lakesmith.core.errors import InputError
from lakesmith.core.progress import progress_bar
from lakesmith.domains.music.badrecords import inject
from lakesmith.domains.music.simulator import to_jsonl

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_TS = r'"ts"\s*:\s*(\d+)'


@dataclass(frozen=True)
class ShipOptions:
    bucket: str
    prefix: str = "events/"
    batch_seconds: int = 60
    gzip: bool = True
    max_events: int = 100_000
    speed: float = 0.0  # simulated seconds per wall second; 0: as fast as possible
    threads: int = 4
    bad_ratio: float = 0.0  # simulated objects only: share of bad events (``badrecords``)


@dataclass
class ShipReport:
    objects: int = 0
    events: int = 0
    bytes: int = 0
    seconds: float = 0.0
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Slice:
    start_ms: int  # the slice's start (ts floor)
    body: bytes  # JSON lines, uncompressed
    events: int


def object_key(prefix: str, slice_start_ms: int, index: int, gzipped: bool) -> str:
    t = datetime.fromtimestamp(slice_start_ms / 1000, UTC)
    return f"{prefix}{t:%Y/%m/%d/%H}/events_{t:%Y%m%dT%H%M}_{index}.json" + (
        ".gz" if gzipped else ""
    )


def _bounds(slice_ids: np.ndarray, max_events: int) -> Iterator[tuple[int, int, int, int]]:
    """``(slice id, index, offset, length)`` of each object, ``slice_ids`` sorted."""
    starts = np.flatnonzero(np.r_[True, slice_ids[1:] != slice_ids[:-1]])
    ends = np.r_[starts[1:], len(slice_ids)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        for index, off in enumerate(range(a, b, max_events)):
            yield int(slice_ids[a]), index, off, min(max_events, b - off)


def slices_of_frame(frame: pl.DataFrame, options: ShipOptions) -> Iterator[_Slice]:
    """Simulated events (sorted by ``ts``) as JSON-lines slices."""
    width = options.batch_seconds * 1000
    ids = (frame["ts"].to_numpy() // width).astype(np.int64)
    for sid, _, off, n in _bounds(ids, options.max_events):
        data = to_jsonl(frame.slice(off, n))
        if options.bad_ratio > 0:
            data, bad = inject(data, options.bad_ratio, seed=int(sid) * 7919 + off)
            n += sum(kind == "duplicate" for _, kind in bad)
        yield _Slice(sid * width, data, n)


def slices_of_files(files: Sequence[Path], options: ShipOptions) -> Iterator[_Slice]:
    """The lines of JSON-lines files, in file order, cut where their ``ts`` enters a new
    slice; lines without a ``ts`` stay with the line before them."""
    width = options.batch_seconds * 1000
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        texts = pl.Series(lines, dtype=pl.Binary).cast(pl.String, strict=False)
        ts = texts.str.extract(_TS, 1).cast(pl.Int64, strict=False).forward_fill().backward_fill()
        if ts.null_count() == len(ts):  # no ts at all: the file's mtime names its slice
            ts = pl.Series([int(path.stat().st_mtime * 1000)] * len(lines))
        ids = (ts.to_numpy() // width).astype(np.int64)
        # keep file order: a new object whenever the slice changes
        change = np.r_[True, ids[1:] != ids[:-1]]
        runs = np.cumsum(change)
        for _, _, off, n in _bounds(runs, options.max_events):
            body = b"\n".join(lines[off : off + n]) + b"\n"
            yield _Slice(int(ids[off]) * width, body, n)


def ship(client: S3Client, slices: Iterator[_Slice], options: ShipOptions, total: int,
         progress: bool = True) -> ShipReport:  # fmt: skip
    """Write ``slices`` as objects; ``total`` events expected (for the progress bar)."""
    report = ShipReport()
    t0 = time.monotonic()
    first_ms: int | None = None
    used: dict[str, int] = {}  # key without index → next index (files may revisit a slice)

    def put(key: str, body: bytes) -> int:
        data = gzip.compress(body, compresslevel=1, mtime=0) if options.gzip else body
        client.put_object(Bucket=options.bucket, Key=key, Body=data)
        return len(data)

    with (
        progress_bar(progress) as bar,
        ThreadPoolExecutor(max_workers=options.threads, thread_name_prefix="ship") as pool,
    ):
        task = bar.add_task(f"ship → s3://{options.bucket}/{options.prefix}", total=total)
        futures: list[Future[int]] = []
        for s in slices:
            if options.speed > 0:
                first_ms = s.start_ms if first_ms is None else first_ms
                closes = s.start_ms - first_ms + options.batch_seconds * 1000
                due = closes / 1000 / options.speed
                time.sleep(max(0.0, due - (time.monotonic() - t0)))
            base = object_key(options.prefix, s.start_ms, 0, options.gzip)
            index = used.get(base, 0)
            used[base] = index + 1
            key = object_key(options.prefix, s.start_ms, index, options.gzip)
            futures.append(pool.submit(put, key, s.body))
            report.keys.append(key)
            report.objects += 1
            report.events += s.events
            bar.update(task, advance=s.events)
            if len(futures) >= options.threads * 2:  # bounded memory: wait for the oldest
                report.bytes += futures.pop(0).result()
        for f in futures:
            report.bytes += f.result()
    report.seconds = time.monotonic() - t0
    return report
