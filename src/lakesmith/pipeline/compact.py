"""Compaction of a dataset's Iceberg tables: ``lakesmith compact DATASET``.

The worker commits a snapshot per micro-batch per table, so small files pile up. Per
partition the small files are read (one partition at a time), sorted by the table's sort
order (silver also keeps only the first row per natural key by ``_ingested_at,
_record_id``) and replaced *by exact file* in one commit, so files a running worker
appends meanwhile are never touched; appends do not even conflict. Each rewrite snapshot
carries its parent's ``lakesmith.positions`` (recomputed on every commit retry). Then old
snapshots are expired and the files only they referenced are deleted.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.table import FileScanTask, Table, TableProperties
from pyiceberg.table.snapshots import Operation, Snapshot, Summary, ancestors_of
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.table.update.snapshot import _OverwriteFiles
from pyiceberg.transforms import IdentityTransform

from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.errors import LakesmithError, SinkError
from lakesmith.core.logging import get_logger
from lakesmith.pipeline.worker import lake_tables
from lakesmith.stores.iceberg import POSITIONS_KEY, LakeTable

log = get_logger(__name__)

TABLES = ("bronze", "quarantine", "silver")
COMPACTION_KEY = "lakesmith.compaction"
SMALL_FILE_RATIO = 0.75  # a file below 75 % of the target size is a candidate
DEDUPE_ORDER = ("_ingested_at", "_record_id")
MB = 1024 * 1024
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CompactionError(LakesmithError):
    """A table cannot be compacted (missing, or unknown table name)."""


@dataclass(frozen=True)
class CompactOptions:
    tables: Sequence[str] | None = None  # None: every table of the dataset that exists
    min_files: int = 4
    target_bytes: int = 128 * MB
    expire_older_than: timedelta = timedelta(hours=1)
    retain_last: int = 5
    dry_run: bool = False
    attempts: int = 60


@dataclass(frozen=True)
class PartitionPlan:
    table: str
    label: str  # e.g. timestamp_day=2024-05-01
    files: tuple[DataFile, ...]  # the small files to rewrite, in commit order

    @property
    def bytes(self) -> int:
        return sum(f.file_size_in_bytes for f in self.files)


@dataclass(frozen=True)
class TablePlan:
    name: str
    partitions: tuple[PartitionPlan, ...]
    totals: tuple[int, int, int]  # live files, bytes, rows
    expire_ids: tuple[int, ...]


def _totals(files: Sequence[DataFile]) -> tuple[int, int, int]:
    return len(files), sum(f.file_size_in_bytes for f in files), sum(f.record_count for f in files)


@dataclass
class TableReport:
    table: str
    files_before: int = 0
    files_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    rows_before: int = 0
    rows_after: int = 0
    partitions_rewritten: int = 0
    duplicates_removed: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0
    conflicts: int = 0
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)


class _RewriteFiles(_OverwriteFiles):
    """Exact-file replacement whose summary carries the parent's source positions.

    pyiceberg retries a conflicting commit internally against the refreshed table; the
    positions are taken from the parent of *that* attempt, never from a stale one.
    """

    def _summary(self, snapshot_properties: dict[str, str] | None = None) -> Summary:
        props = {k: v for k, v in (snapshot_properties or {}).items() if k != POSITIONS_KEY}
        parent = self._transaction.table_metadata.snapshot_by_id(self._parent_snapshot_id or -1)
        raw = parent.summary[POSITIONS_KEY] if parent is not None and parent.summary else None
        if raw:
            props[POSITIONS_KEY] = raw
        return super()._summary(props)

    def _validate_concurrency(self) -> None:
        """No-op: appends never conflict with an exact-file rewrite (the serializable
        default refuses any concurrent append and starves compaction under a busy worker).
        A replaced file gone from the parent still fails every (re)build, in
        ``_deleted_entries``; the catalog commit asserts that parent."""


def _live_files(table: Table) -> list[DataFile]:
    """Every live data file of the current snapshot, in commit (sequence) order."""
    snap = table.current_snapshot()
    if snap is None:
        return []
    out: list[tuple[int, DataFile]] = []
    for manifest in snap.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.data_file.content != DataFileContent.DATA:
                raise CompactionError(
                    f"{table.name()} has delete files; compaction of merge-on-read tables "
                    "is not supported"
                )
            out.append((entry.sequence_number or 0, entry.data_file))
    out.sort(key=lambda sf: (sf[0], sf[1].file_path))
    return [f for _, f in out]


def _plan_partitions(name: str, table: Table, opts: CompactOptions) -> list[PartitionPlan]:
    groups: dict[tuple[int, tuple[object, ...]], list[DataFile]] = {}
    for f in _live_files(table):
        key = (f.spec_id, tuple(f.partition[i] for i in range(len(f.partition))))
        groups.setdefault(key, []).append(f)
    plans = []
    for (spec_id, _), files in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        small = [f for f in files if f.file_size_in_bytes < SMALL_FILE_RATIO * opts.target_bytes]
        total = sum(f.file_size_in_bytes for f in small)
        if len(small) >= opts.min_files or (len(small) >= 2 and total >= opts.target_bytes):
            spec = table.specs()[spec_id]
            label = spec.partition_to_path(small[0].partition, table.schema()) or "(unpartitioned)"
            plans.append(PartitionPlan(name, label, tuple(small)))
    return plans


def _expire_before(table: Table, opts: CompactOptions, now: datetime) -> tuple[int, list[int]]:
    """``(cutoff ms, ids)``: snapshots older than both the age limit and the oldest of
    the last ``retain_last`` ancestors of the current snapshot (branch/tag heads never)."""
    meta = table.metadata
    kept = itertools.islice(ancestors_of(table.current_snapshot(), meta), max(opts.retain_last, 1))
    cutoff = min(
        [int((now - opts.expire_older_than).timestamp() * 1000), *(s.timestamp_ms for s in kept)]
    )
    heads = {ref.snapshot_id for ref in meta.refs.values()}
    ids = [
        s.snapshot_id
        for s in meta.snapshots
        if s.timestamp_ms < cutoff and s.snapshot_id not in heads
    ]
    return cutoff, ids


def _sort_keys(table: Table) -> list[tuple[str, bool, bool]]:
    """``(column, descending, nulls_last)`` of the table's sort order (identity fields)."""
    out = []
    for f in table.sort_order().fields:
        name = table.schema().find_column_name(f.source_id)
        if name is not None and isinstance(f.transform, IdentityTransform):
            desc = f.direction == SortDirection.DESC
            out.append((name, desc, f.null_order == NullOrder.NULLS_LAST))
    return out


def order_rows(
    data: pa.Table, sort: Sequence[tuple[str, bool, bool]], keys: Sequence[str] = ()
) -> tuple[pa.Table, int]:
    """Sort ``data`` and, given natural ``keys``, keep the first row per key by
    ``_ingested_at, _record_id``. Returns the rows and how many duplicates were dropped."""
    keys = [k for k in keys if k in data.column_names]
    dedupe = bool(keys) and all(c in data.column_names for c in DEDUPE_ORDER)
    cols = {c for c, _, _ in sort} | (set(keys) | set(DEDUPE_ORDER) if dedupe else set())
    if not cols or data.num_rows == 0:
        return data, 0
    frame = pl.from_arrow(data.select(sorted(cols)))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_row_index("__row")
    if dedupe:
        frame = frame.sort(list(DEDUPE_ORDER), nulls_last=True, maintain_order=True)
        frame = frame.filter(pl.struct(keys).is_first_distinct())
    if sort:
        frame = frame.sort(
            [c for c, _, _ in sort],
            descending=[d for _, d, _ in sort],
            nulls_last=[n for _, _, n in sort],
            maintain_order=True,
        )
    else:
        frame = frame.sort("__row")
    removed = data.num_rows - frame.height
    return data.take(frame["__row"].to_arrow()), removed


class Compactor:
    """Plans and runs the compaction of one dataset's lake tables."""

    def __init__(self, settings: Settings, contract: Contract, options: CompactOptions) -> None:
        self.contract = contract
        self.opts = options
        self.lake = lake_tables(settings, contract)
        # Test/diagnostic hook: called just before each rewrite commit.
        self.before_commit: Callable[[PartitionPlan], None] | None = None
        unknown = sorted(set(options.tables or ()) - set(TABLES))
        if unknown:
            raise CompactionError(
                f"unknown table(s) {', '.join(unknown)}", hint=f"choose from {', '.join(TABLES)}"
            )
        wanted = list(options.tables or TABLES)
        missing = [t for t in wanted if not self.lake[t].exists()]
        if (options.tables and missing) or len(missing) == len(wanted):
            ids = ", ".join(".".join(self.lake[t].identifier) for t in missing)
            raise CompactionError(
                f"{contract.name}: no lake table {ids}",
                hint=f"run `lakesmith run {contract.name}` first to create the tables",
            )
        self.tables = [t for t in wanted if t not in missing]

    def plan(self, name: str, now: datetime | None = None) -> TablePlan:
        table = self.lake[name].refresh()
        return TablePlan(
            name=name,
            partitions=tuple(_plan_partitions(name, table, self.opts)),
            totals=_totals(_live_files(table)),
            expire_ids=tuple(_expire_before(table, self.opts, now or datetime.now(UTC))[1]),
        )

    def execute(
        self, plan: TablePlan, progress: Callable[[PartitionPlan], None] | None = None
    ) -> TableReport:
        started = time.perf_counter()
        n, size, rows = plan.totals
        rep = TableReport(plan.name, n, n, size, size, rows, rows)
        for p in plan.partitions:
            if self.opts.dry_run:
                out = max(1, math.ceil(p.bytes / self.opts.target_bytes))
                rep.files_after -= len(p.files) - out
                rep.partitions_rewritten += 1
                rep.details.append(f"{p.label}: {len(p.files)} files → ~{out}")
            else:
                self._rewrite(p, rep)
            if progress:
                progress(p)
        if self.opts.dry_run:
            rep.snapshots_expired = len(plan.expire_ids)
        else:
            rep.snapshots_expired, rep.files_deleted = self._expire(plan.name)
            after = _totals(_live_files(self.lake[plan.name].refresh()))
            rep.files_after, rep.bytes_after, rep.rows_after = after
        rep.seconds = time.perf_counter() - started
        return rep

    # -- one partition ----------------------------------------------------------------

    def _read(self, table: Table, files: Sequence[DataFile]) -> pa.Table:
        scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
        data = scan.to_table([FileScanTask(f) for f in files])
        expected = sum(f.record_count for f in files)
        if data.num_rows != expected:
            raise SinkError(f"{table.name()}: read {data.num_rows} rows, files say {expected}")
        return data

    def _write(self, table: Table, data: pa.Table, disk_bytes: int) -> list[DataFile]:
        # pyiceberg bins by in-memory Arrow bytes; scale so files land near the on-disk target.
        ratio = max(data.nbytes / max(disk_bytes, 1), 1.0)
        props = {
            **table.metadata.properties,
            TableProperties.WRITE_TARGET_FILE_SIZE_BYTES: str(int(self.opts.target_bytes * ratio)),
        }
        meta = table.metadata.model_copy(update={"properties": props})
        return list(_dataframe_to_data_files(meta, data, table.io, write_uuid=uuid.uuid4()))

    def _rewrite(self, plan: PartitionPlan, rep: TableReport) -> None:
        lt: LakeTable = self.lake[plan.table]
        where = f"{plan.table} {plan.label}"
        old = list(plan.files)
        new: list[DataFile] | None = None
        dupes = 0
        for attempt in range(self.opts.attempts):
            table = lt.refresh()
            if new is None:
                data = self._read(table, old)
                keys = self.contract.keys if plan.table == "silver" else ()
                data, dupes = order_rows(data, _sort_keys(table), keys)
                new = self._write(table, data, sum(f.file_size_in_bytes for f in old))
                del data
                table = lt.refresh()
            if self.before_commit is not None:
                self.before_commit(plan)
            try:
                summary = _commit_rewrite(table, old, new, plan)
            except (CommitFailedException, ValidationException) as exc:
                rep.conflicts += 1
                log.info("compact_conflict", partition=where, attempt=attempt, error=str(exc)[:200])
                live = {f.file_path for f in _live_files(lt.refresh())}
                if not all(f.file_path in live for f in old):  # replaced by someone else
                    _delete_quietly(table.io, [f.file_path for f in new])
                    new = None
                    old = [f for f in old if f.file_path in live]
                    if len(old) < 2:
                        return
                # the new files are ready: retry at once (a writer commits every few
                # hundred ms; long back-offs would let it win every time)
                time.sleep(random.uniform(0.0, 0.03))
                continue
            _check(summary, old, new, plan)
            rep.partitions_rewritten += 1
            rep.duplicates_removed += dupes
            rep.details.append(f"{plan.label}: {len(old)} files → {len(new)}")
            log.info("compact_partition", partition=where, files=(len(old), len(new)), dupes=dupes)
            return
        raise SinkError(
            f"could not compact {where} after {self.opts.attempts} attempts",
            hint="a writer keeps committing conflicting changes; retry later",
        )

    # -- snapshots --------------------------------------------------------------------

    def _expire(self, name: str) -> tuple[int, int]:
        """Expire old snapshots; delete files only they referenced. ``(expired, deleted)``."""
        lt = self.lake[name]
        for attempt in range(self.opts.attempts):
            table = lt.refresh()
            before = table.metadata
            cutoff, ids = _expire_before(table, self.opts, datetime.now(UTC))
            if not ids:
                return 0, 0
            try:  # older_than, not by_ids: by_id copies the whole metadata per snapshot
                older = EPOCH + timedelta(milliseconds=cutoff)
                table.maintenance.expire_snapshots().older_than(older).commit()
            except CommitFailedException:
                time.sleep(random.uniform(0.05, 0.2) * min(attempt + 1, 5))
                continue
            after = lt.refresh().metadata
            kept = {s.snapshot_id for s in after.snapshots}
            gone = [s for s in before.snapshots if s.snapshot_id not in kept]
            orphans = _reachable(table.io, gone) - _reachable(table.io, after.snapshots)
            _delete_quietly(table.io, sorted(orphans))
            log.info("compact_expired", table=name, snapshots=len(gone), files=len(orphans))
            return len(gone), len(orphans)
        raise SinkError(f"could not expire snapshots of {name} after {self.opts.attempts} attempts")


def _commit_rewrite(
    table: Table, old: Sequence[DataFile], new: Sequence[DataFile], plan: PartitionPlan
) -> Summary | None:
    """Replace exactly ``old`` by ``new`` in one snapshot; returns its summary."""
    with table.transaction() as tx:
        props = {COMPACTION_KEY: f"{plan.label}: {len(old)} files -> {len(new)}"}
        with _RewriteFiles(
            operation=Operation.OVERWRITE, transaction=tx, io=table.io, snapshot_properties=props
        ) as rewrite:
            for f in old:
                rewrite.delete_data_file(f)
            for f in new:
                rewrite.append_data_file(f)
    snap = table.metadata.snapshot_by_id(rewrite.snapshot_id)  # the id is stable over retries
    return snap.summary if snap is not None else None


def _check(
    summary: Summary | None, old: Sequence[DataFile], new: Sequence[DataFile], plan: PartitionPlan
) -> None:
    """The committed snapshot removed exactly the files read and added exactly ours."""
    want = dict(zip(("deleted-data-files", "deleted-records"), _totals(old)[::2], strict=True))
    want |= dict(zip(("added-data-files", "added-records"), _totals(new)[::2], strict=True))
    got = {k: int(summary[k] or 0) if summary is not None else -1 for k in want}
    if got != want:
        raise SinkError(f"compaction of {plan.table} {plan.label} committed {got}, expected {want}")


def _reachable(io: FileIO, snapshots: Sequence[Snapshot]) -> set[str]:
    """Manifest lists, manifests and live data files of ``snapshots``."""
    paths: set[str] = set()
    seen: set[str] = set()
    for snap in snapshots:
        paths.add(snap.manifest_list)
        for manifest in snap.manifests(io):
            paths.add(manifest.manifest_path)
            if manifest.manifest_path in seen:
                continue
            seen.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                paths.add(entry.data_file.file_path)
    return paths


def _delete_quietly(io: FileIO, paths: Sequence[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            io.delete(path)


def compact(
    settings: Settings,
    contract: Contract,
    options: CompactOptions,
    progress: Callable[[PartitionPlan], None] | None = None,
) -> list[TableReport]:
    """Compact (or with ``dry_run`` only plan) every requested table of the dataset."""
    compactor = Compactor(settings, contract, options)
    return [compactor.execute(compactor.plan(t), progress) for t in compactor.tables]
