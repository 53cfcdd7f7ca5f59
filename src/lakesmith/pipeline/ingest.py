"""One-shot ingestion of files (``lakesmith ingest``, and each file ``lakesmith watch``
picks up): the dataset's ``file`` (or ``s3``) source run through the worker's loop until
it is drained — the same Dataset, sinks, positions and exactly-once as ``lakesmith run``.

``prepare`` builds the contract (given, stored from an earlier run, or inferred from a
sample and widened when the files bring new columns) and sizes the batches from the
memory ceiling; ``ingest`` runs the worker with those settings and reports progress.
A killed ingest restarted with the same command resumes: a file's stream is its path,
size and modified time, and every sink committed its positions with its rows.
"""

from __future__ import annotations

import gc
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakesmith.config import Settings
from lakesmith.contracts.loader import builtin_contracts, load_contract_file
from lakesmith.contracts.model import Contract
from lakesmith.core.errors import InputError, ServiceUnavailableError
from lakesmith.core.logging import get_logger
from lakesmith.formats import get_format, guess_format, unknown_format_hint
from lakesmith.formats.base import open_input
from lakesmith.pipeline.memory import TrimPolicy
from lakesmith.pipeline.metrics import WorkerMetrics
from lakesmith.pipeline.worker import RunStats, Worker
from lakesmith.sources.file import InputFile, discover

log = get_logger(__name__)

MiB = 1024 * 1024
# Measured (a 7-column CSV of ~65-byte rows, testing.files.write_csv): a worker's peak
# resident memory is about BASE_BYTES plus, per record of a batch, PER_RECORD_FACTOR
# bytes per byte of raw text plus PER_RECORD_FIXED (Python objects, envelope strings, the
# Polars/Arrow frames of two batches in flight, allocator slack). Observed peaks: 10k-record
# batches 554 MiB, 69k 763 MiB, 164k 1,014 MiB (100 MB file) and 1,145 MiB (1 GB file:
# rare spikes make the peak creep up over a long run), 235k 1,156 MiB. The batch size is
# what fits the ceiling with that margin.
BASE_BYTES = 520 * MiB
PER_RECORD_FACTOR = 45
PER_RECORD_FIXED = 1500
MIN_BATCH, MAX_BATCH = 1_000, 500_000
COLLECT_EVERY_S = 2.0
COMMIT_BATCHES = 8  # the lake tables commit every this many batches (files written each)
COMMIT_INTERVAL_S = 120.0  # … or this often, whichever comes first
# ``lakesmith ingest`` hands freed memory back every this many batches, or after a batch
# that leaves the process above this fraction of its --memory-limit (``ingest_trim``)
TRIM_EVERY = 8
TRIM_ABOVE = 0.75

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"1GiB"``, ``"512MiB"``, ``"500MB"``, ``"2G"`` → bytes (binary multiples)."""
    m = _SIZE.match(text)
    if not m:
        raise InputError(f"cannot read the size {text!r}", hint="write it like 1GiB, 512MiB or 2G")
    power = " KMGT".index(m.group(2).upper() or " ")
    return int(float(m.group(1)) * 1024**power)


def batch_records(memory_limit: int, avg_record_bytes: float) -> int:
    """Records per batch so that two batches fit in ``memory_limit`` beside the worker."""
    per_record = PER_RECORD_FACTOR * avg_record_bytes + PER_RECORD_FIXED
    budget = max(memory_limit - BASE_BYTES, 16 * MiB)
    return int(min(MAX_BATCH, max(MIN_BATCH, budget / per_record)))


def _avg_record_bytes(path: Path, fmt: str) -> float:
    with open_input(path) as handle:
        try:
            chunk = next(get_format(fmt).read(handle, 2000, 1 << 20), None)
        except InputError as exc:
            if str(path) in exc.message:
                raise
            raise InputError(f"cannot read {path}: {exc.message}", hint=exc.hint) from None
    if chunk is None or not chunk.payloads:
        return 100.0
    return sum(len(p or b"") for p in chunk.payloads) / len(chunk.payloads)


def stored_contract_path(settings: Settings, dataset: str) -> Path:
    """Where an inferred contract is kept between runs (resume and evolution use it)."""
    from lakesmith.contracts.loader import stored_contract_path as stored

    return stored(settings.state_dir, dataset)


def dataset_name(name: str) -> str:
    """``sales`` → ``files.sales``; ``shop.sales`` stays (contracts name ``domain.name``)."""
    return name if "." in name else f"files.{name}"


@dataclass
class IngestJob:
    contract: Contract
    files: list[InputFile]
    batch_size: int
    inferred: bool  # the contract was inferred (or widened) here, not given
    new_fields: list[str] = field(default_factory=list)  # columns this run added
    memory_limit: int = 1024 * MiB  # the ceiling the batches were sized for

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _source_section(target: str, batch_size: int) -> tuple[dict[str, Any], list[InputFile]]:
    if target.startswith("s3://"):
        from lakesmith.contracts.plugins import known_kinds, source_module

        if "s3" not in known_kinds() or not hasattr(source_module("s3"), "SOURCE"):
            raise InputError(
                f"cannot ingest {target}: the s3 object-store source is not available yet",
                hint="copy the object to a local file and ingest that path",
            )
        bucket, _, prefix = target.removeprefix("s3://").partition("/")
        # one pass over what is there: no waiting out a streaming poll interval (5 s) at the end
        section = {"kind": "s3", "bucket": bucket, "prefix": prefix, "poll_interval_s": 0.2}
        return {**section, "chunk_records": batch_size}, []
    try:
        files = discover(target)
    except InputError as exc:
        raise InputError(exc.message, hint="check the path (a file, a folder or a glob)") from None
    if not files:
        raise InputError(f"no files found at {target}", hint="check the path or the glob")
    path = str(Path(target).expanduser().absolute())
    return {"kind": "file", "path": path, "chunk_records": batch_size}, files


def prepare(
    settings: Settings,
    target: str,
    dataset: str,
    *,
    fmt: str | None = None,
    table_format: str | None = None,
    memory_limit: int = 1024 * MiB,
    contract_path: Path | None = None,
) -> IngestJob:
    """The contract and batch size to ingest ``target`` (a file, folder, glob or s3 URL)."""
    from lakesmith.contracts.infer import infer_contract

    name = dataset_name(dataset)
    source, files = _source_section(target, MIN_BATCH)
    if fmt is None and files:
        fmt = guess_format(files[0].path)
    elif fmt is None and Path(target).suffix.lower() in (
        ".csv",
        ".tsv",
        ".jsonl",
        ".ndjson",
        ".parquet",
    ):
        fmt = (
            "jsonl" if Path(target).suffix.lower() == ".ndjson" else Path(target).suffix.lower()[1:]
        )
        fmt = "csv" if fmt == "tsv" else fmt
    given = load_contract_file(contract_path) if contract_path is not None else None
    if given is None:  # a dataset lakesmith ships (entities.devices …): its contract
        given = builtin_contracts().get(name)
    # no files and no contract: an s3 prefix, whose first objects are the sample
    sample = [f.path for f in files] or ([] if given else _sample_objects(settings, source, name))
    if fmt is None:
        fmt = given.payload.format if given is not None else guess_format(sample[0])
    if fmt is None:
        message, fix = unknown_format_hint(Path(sample[0]) if sample else Path(target), target)
        raise InputError(message, hint=fix)
    if memory_limit < BASE_BYTES + 64 * MiB:
        log.warning(
            "memory_limit_too_low",
            limit_mib=memory_limit // MiB,
            needs_mib=(BASE_BYTES + 64 * MiB) // MiB,
            hint="a worker needs about this much before its batches; small batches are used",
        )
    batch = batch_records(memory_limit, _avg_record_bytes(sample[0], fmt) if sample else 200.0)
    source["chunk_records"] = batch
    if given is not None:
        data = given.model_dump(mode="json", exclude_defaults=True, exclude_none=True)
        data.update(name=name, source=source)
        data["payload"] = {**data.get("payload", {}), "format": fmt}
        if table_format:
            data["lake"] = {**data.get("lake", {}), "format": table_format}
        contract = Contract.model_validate(data)
        # kept like an inferred one: the dataset commands (``quarantine show NAME`` …) find it
        save_contract(contract, stored_contract_path(settings, name))
        return IngestJob(contract, files, batch, inferred=False, memory_limit=memory_limit)
    stored_path = stored_contract_path(settings, name)
    base = load_contract_file(stored_path) if stored_path.exists() else None
    if base is not None and base.payload.format != fmt:
        raise InputError(
            f"dataset {name} holds {base.payload.format} records; {target} is {fmt}",
            hint="ingest it into another --dataset",
        )
    contract = infer_contract(
        name,
        sample,
        fmt,
        source=source,
        table_format=table_format,
        base=base,
    )
    before = {f.name for f in base.fields} if base is not None else set()
    added = [f.name for f in contract.fields if f.name not in before] if base else []
    save_contract(contract, stored_path)
    return IngestJob(
        contract, files, batch, inferred=True, new_fields=added, memory_limit=memory_limit
    )


def _sample_objects(settings: Settings, source: dict[str, Any], dataset: str) -> list[Path]:
    """Local copies of the first objects under an ``s3://`` prefix to infer a contract
    from (``sources.objects_io.sample_objects``), kept beside the dataset's contract."""
    from lakesmith.core.transient import transient
    from lakesmith.sources.objects_io import sample_objects
    from lakesmith.sources.objects_spec import ObjectSourceSpec
    from lakesmith.stores.objects import s3_client

    spec = ObjectSourceSpec.model_validate(source)
    where = f"s3://{spec.bucket}/{spec.prefix}"
    dest = stored_contract_path(settings, dataset).parent / f"{dataset}.sample"
    shutil.rmtree(dest, ignore_errors=True)
    try:
        found = sample_objects(s3_client(settings), spec, dest)
    except Exception as exc:
        if not transient(exc):
            raise
        raise ServiceUnavailableError(
            f"the S3 server is not reachable at {settings.effective_s3_endpoint()} ({exc})",
            hint="start it with 'lakesmith local up s3', or set LAKESMITH__S3__ENDPOINT_URL",
        ) from None
    if not found:
        raise InputError(
            f"cannot infer a contract for {where}: no object to sample there",
            hint="check the bucket and prefix, or pass --contract FILE",
        )
    return found


def save_contract(contract: Contract, path: Path) -> None:
    from lakesmith.contracts.infer import contract_yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(contract_yaml(contract))
    tmp.replace(path)


class IngestMetrics(WorkerMetrics):
    """The worker's metrics, plus the quarantine rule counts of this run (the summary)."""

    def __init__(self, dataset: str) -> None:
        super().__init__(dataset)
        self.rules: Counter[str] = Counter()

    def observe_batch(self, counts: dict[str, int], rules: dict[str, int], seconds: float) -> None:
        super().observe_batch(counts, rules, seconds)
        self.rules.update({k: int(v) for k, v in rules.items()})


@dataclass
class IngestResult:
    stats: RunStats
    rules: Counter[str]
    bytes_total: int


Progress = Callable[[int, int, RunStats], None]  # bytes read, bytes total, figures so far


def ingest_settings(settings: Settings, batch_size: int, commit_batches: int = 1) -> Settings:
    """The worker settings of a one-shot ingest: batches of ``batch_size`` records filled
    from the file (no time limit to speak of), stop as soon as the files are read. With
    ``commit_batches`` > 1 the lake tables commit every that many batches (or
    ``COMMIT_INTERVAL_S``), their files written batch by batch in between
    (``pipeline.lake_sink``): a commit costs about as much as writing a batch's files, and
    resuming redoes at most those batches."""
    worker = settings.worker.model_copy(
        update={"batch_size": batch_size, "max_wait_s": 60.0, "idle_timeout_s": 0.01}
    )
    if commit_batches <= 1 or settings.lake.commit_rows:
        return settings.model_copy(update={"worker": worker})
    lake = settings.lake.model_copy(
        update={
            "commit_rows": batch_size * commit_batches,
            "commit_interval_s": max(settings.lake.commit_interval_s, COMMIT_INTERVAL_S),
        }
    )
    return settings.model_copy(update={"worker": worker, "lake": lake})


def ingest_trim(job: IngestJob) -> TrimPolicy:
    """``lakesmith ingest``'s trimming: every ``TRIM_EVERY`` batches, or sooner when a
    batch leaves more than ``TRIM_ABOVE`` of the memory limit resident. Between trims the
    next batch reuses the freed pages instead of faulting them in zeroed again; the trims
    keep glibc's arenas from accumulating holes over a long file (never trimming, the
    resident size after a batch crept from ~540 to ~750 MiB over 500 MB of CSV)."""
    return TrimPolicy(every=TRIM_EVERY, above_bytes=int(job.memory_limit * TRIM_ABOVE))


def ingest(
    settings: Settings,
    job: IngestJob,
    progress: Progress | None = None,
    every_s: float = 0.5,
    trim_memory: bool | TrimPolicy = True,
) -> IngestResult:
    """Run ``job`` through the worker's loop until its files are read and committed.
    ``trim_memory``: True hands memory back to the system after every batch (long-running
    processes: ``watch``, the API's uploads); ``lakesmith ingest``, which exits after the
    files, passes ``ingest_trim(job)`` (every few batches) and reuses memory in between
    (Arrow on glibc's malloc: ``cli.allocator_defaults``); False never trims."""
    metrics = IngestMetrics(job.contract.name)
    # a gold model's sink holds its batches until the commit: not for several batches
    every = COMMIT_BATCHES if job.contract.gold is None else 1
    run_settings = ingest_settings(settings, job.batch_size, every)
    worker = Worker(
        run_settings,
        job.contract,
        metrics=metrics,
        overlap_lake=True,
        trim_memory=trim_memory,
        keep_all_keys=True,
    )
    stop = threading.Event()

    def report() -> None:
        collected = time.monotonic()
        while not stop.wait(every_s):
            if time.monotonic() - collected >= COLLECT_EVERY_S:
                # the worker collects garbage rarely (fast for streams); a long file would
                # let cyclic garbage of many batches pile up before a full pass
                gc.collect()
                collected = time.monotonic()
            source = worker.source
            done = int(getattr(source, "bytes_read", 0))
            total = int(getattr(source, "total_bytes", job.total_bytes))
            if progress is not None:
                progress(done, total, worker.stats)

    ticker = threading.Thread(target=report, name="ingest-progress", daemon=True)
    ticker.start()
    try:
        stats = worker.run(until_idle=True)
    finally:
        stop.set()
        ticker.join()
        worker.close()
    if progress is not None and not stats.interrupted:
        progress(job.total_bytes, job.total_bytes, stats)
    log.info(
        "ingest_stopped" if stats.interrupted else "ingest_finished",
        dataset=job.contract.name,
        records=stats.records,
        **{k: int(v) for k, v in stats.by_disposition.items()},
    )
    return IngestResult(stats, metrics.rules, job.total_bytes)


def write_contract(contract: Contract, path: Path) -> None:
    """``--write-contract``: the contract used, as YAML for review and reuse."""
    save_contract(contract, path)
