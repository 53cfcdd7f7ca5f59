"""Compaction of one Iceberg table (``IcebergTable.compact``).

The worker commits a snapshot per micro-batch per table, so small files pile up. Per
partition the small files are read (one partition at a time), sorted by the table's sort
order (with ``dedupe_keys``, e.g. silver's natural key, only the first row per key by
``_ingested_at, _record_id`` is kept) and replaced *by exact file* in one overwrite
commit, so files a running worker appends meanwhile are never touched.

Concurrency: the rewrite uses pyiceberg's public overwrite producer. The table runs
under ``snapshot`` isolation for deletes/overwrites, so pyiceberg does not refuse a
rewrite because rows were appended concurrently (the serializable default would starve
compaction under a busy worker); a replaced file that is no longer live still fails the
commit (``Missing required files to delete``). pyiceberg's own commit retries are off on
lakesmith tables (``commit.retry.num-retries=0``): they would re-send the snapshot
properties of the first attempt, i.e. stale source positions. Our loop refreshes the
table and recomputes the carried ``lakesmith.stream-positions`` on every attempt; the
catalog commit asserts the parent those positions were read from.

Afterwards old snapshots are expired and the files only they referenced are deleted.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import polars as pl
import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io import FileIO

# No public pyiceberg (0.12) API writes data files without committing them (append /
# overwrite always commit, add_files needs finished Parquet files): the rewrite must
# write first and then swap exact files in its own commit, so this private helper stays.
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.table import FileScanTask, Table, TableProperties
from pyiceberg.table.snapshots import IsolationLevel, Snapshot, Summary, ancestors_of
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.transforms import IdentityTransform

from lakesmith.core.columns import INGESTED_AT, RECORD_ID
from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger
from lakesmith.stores.lake.base import CommitLock, CompactOptions, CompactReport
from lakesmith.stores.lake.iceberg_snapshots import (
    NO_INTERNAL_RETRY,
    POSITIONS_KEY,
    carry_positions,
)

log = get_logger(__name__)

COMPACTION_KEY = "lakesmith.compaction"
SMALL_FILE_RATIO = 0.75  # a file below 75 % of the target size is a candidate
DEDUPE_ORDER = (INGESTED_AT, RECORD_ID)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# What an exact-file rewrite needs from the table (set once, before the first rewrite,
# on tables created before ``IcebergTable.ensure`` set them at creation).
REWRITE_PROPERTIES = {
    TableProperties.WRITE_DELETE_ISOLATION_LEVEL: IsolationLevel.SNAPSHOT.value,
    TableProperties.WRITE_UPDATE_ISOLATION_LEVEL: IsolationLevel.SNAPSHOT.value,
    **NO_INTERNAL_RETRY,
}


class CompactTarget(Protocol):
    """What compaction needs of the table (``IcebergTable``)."""

    @property
    def label(self) -> str: ...

    @property
    def commit_lock(self) -> CommitLock:
        """Serialises commits with the table's other writers (``stores.lake.CommitLock``)."""
        ...

    def refresh(self) -> Table:
        """The pyiceberg table at its latest metadata."""
        ...


@dataclass(frozen=True)
class PartitionPlan:
    label: str  # e.g. timestamp_day=2024-05-01
    files: tuple[DataFile, ...]  # the small files to rewrite, in commit order

    @property
    def bytes(self) -> int:
        return sum(f.file_size_in_bytes for f in self.files)


@dataclass(frozen=True)
class TablePlan:
    partitions: tuple[PartitionPlan, ...]
    totals: tuple[int, int, int]  # live files, bytes, rows
    expire_ids: tuple[int, ...]


def compact_table(
    lt: CompactTarget,
    options: CompactOptions,
    progress: Callable[[str], None] | None = None,
    before_commit: Callable[[str], None] | None = None,
) -> CompactReport:
    """Rewrite the small files of every partition that has enough of them (dry run: only
    plan), then expire old snapshots. ``progress(label)`` follows every planned partition;
    ``before_commit(label)`` runs just before each rewrite commit attempt (tests)."""
    started = time.perf_counter()
    plan = plan_table(lt.refresh(), options)
    n, size, rows = plan.totals
    rep = CompactReport(lt.label, n, n, size, size, rows, rows)
    if plan.partitions and not options.dry_run:
        _ensure_properties(lt, options)
    for p in plan.partitions:
        if options.dry_run:
            out = max(1, math.ceil(p.bytes / options.target_bytes))
            rep.files_after -= len(p.files) - out
            rep.partitions_rewritten += 1
            rep.details.append(f"{p.label}: {len(p.files)} files → ~{out}")
        else:
            _rewrite(lt, p, options, rep, before_commit)
        if progress is not None:
            progress(p.label)
    if options.dry_run:
        rep.snapshots_expired = len(plan.expire_ids)
    else:
        rep.snapshots_expired, rep.files_deleted = _expire(lt, options)
        rep.files_after, rep.bytes_after, rep.rows_after = _totals(_live_files(lt.refresh()))
    rep.seconds = time.perf_counter() - started
    return rep


def plan_table(table: Table, options: CompactOptions, now: datetime | None = None) -> TablePlan:
    return TablePlan(
        partitions=tuple(_plan_partitions(table, options)),
        totals=_totals(_live_files(table)),
        expire_ids=tuple(_expire_before(table, options, now or datetime.now(UTC))[1]),
    )


# -- planning -------------------------------------------------------------------------


def _totals(files: Sequence[DataFile]) -> tuple[int, int, int]:
    return len(files), sum(f.file_size_in_bytes for f in files), sum(f.record_count for f in files)


def _live_files(table: Table) -> list[DataFile]:
    """Every live data file of the current snapshot, in commit (sequence) order."""
    snap = table.current_snapshot()
    if snap is None:
        return []
    out: list[tuple[int, DataFile]] = []
    for manifest in snap.manifests(table.io):
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.data_file.content != DataFileContent.DATA:
                raise SinkError(
                    f"{'.'.join(table.name())} has delete files; compaction of merge-on-read "
                    "tables is not supported"
                )
            out.append((entry.sequence_number or 0, entry.data_file))
    out.sort(key=lambda sf: (sf[0], sf[1].file_path))
    return [f for _, f in out]


def _plan_partitions(table: Table, options: CompactOptions) -> list[PartitionPlan]:
    groups: dict[tuple[int, tuple[object, ...]], list[DataFile]] = {}
    for f in _live_files(table):
        key = (f.spec_id, tuple(f.partition[i] for i in range(len(f.partition))))
        groups.setdefault(key, []).append(f)
    plans = []
    for (spec_id, _), files in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        small = [f for f in files if f.file_size_in_bytes < SMALL_FILE_RATIO * options.target_bytes]
        total = sum(f.file_size_in_bytes for f in small)
        if len(small) >= options.min_files or (len(small) >= 2 and total >= options.target_bytes):
            spec = table.specs()[spec_id]
            label = spec.partition_to_path(small[0].partition, table.schema()) or "(unpartitioned)"
            plans.append(PartitionPlan(label, tuple(small)))
    return plans


def _expire_before(table: Table, options: CompactOptions, now: datetime) -> tuple[int, list[int]]:
    """``(cutoff ms, ids)``: snapshots older than both the age limit and the oldest of
    the last ``retain_last`` ancestors of the current snapshot (branch/tag heads never)."""
    meta = table.metadata
    kept = itertools.islice(
        ancestors_of(table.current_snapshot(), meta), max(options.retain_last, 1)
    )
    cutoff = min(
        [int((now - options.expire_older_than).timestamp() * 1000), *(s.timestamp_ms for s in kept)]
    )
    heads = {ref.snapshot_id for ref in meta.refs.values()}
    ids = [
        s.snapshot_id
        for s in meta.snapshots
        if s.timestamp_ms < cutoff and s.snapshot_id not in heads
    ]
    return cutoff, ids


# -- ordering -------------------------------------------------------------------------


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


# -- one partition --------------------------------------------------------------------


def _ensure_properties(lt: CompactTarget, options: CompactOptions) -> None:
    """Set ``REWRITE_PROPERTIES`` the table lacks (a properties-only commit)."""
    for attempt in range(options.attempts):
        table = lt.refresh()
        missing = {k: v for k, v in REWRITE_PROPERTIES.items() if table.properties.get(k) != v}
        if not missing:
            return
        try:
            with table.transaction() as tx:
                tx.set_properties(missing)
            log.info("compact_table_properties", table=lt.label, properties=missing)
            return
        except CommitFailedException:
            time.sleep(random.uniform(0.01, 0.1) * min(attempt + 1, 5))
    raise SinkError(f"could not set the properties of {lt.label} after {options.attempts} attempts")


def _read(table: Table, files: Sequence[DataFile]) -> pa.Table:
    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    data = scan.to_table([FileScanTask(f) for f in files])
    expected = sum(f.record_count for f in files)
    if data.num_rows != expected:
        name = ".".join(table.name())
        raise SinkError(f"{name}: read {data.num_rows} rows, files say {expected}")
    return data


def _write(
    table: Table, data: pa.Table, disk_bytes: int, options: CompactOptions
) -> list[DataFile]:
    """Write ``data`` as new data files of ``table`` without committing them."""
    # pyiceberg bins by in-memory Arrow bytes; scale so files land near the on-disk target.
    ratio = max(data.nbytes / max(disk_bytes, 1), 1.0)
    props = {
        **table.metadata.properties,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES: str(int(options.target_bytes * ratio)),
    }
    meta = table.metadata.model_copy(update={"properties": props})
    return list(_dataframe_to_data_files(meta, data, table.io, write_uuid=uuid.uuid4()))


def _rewrite(
    lt: CompactTarget,
    plan: PartitionPlan,
    options: CompactOptions,
    rep: CompactReport,
    before_commit: Callable[[str], None] | None,
) -> None:
    where = f"{lt.label} {plan.label}"
    old = list(plan.files)
    new: list[DataFile] | None = None
    dupes = 0
    for attempt in range(options.attempts):
        table = lt.refresh()
        if new is None:
            data = _read(table, old)
            data, dupes = order_rows(data, _sort_keys(table), options.dedupe_keys)
            new = _write(table, data, sum(f.file_size_in_bytes for f in old), options)
            del data
            table = lt.refresh()
        if before_commit is not None:
            before_commit(plan.label)
        try:
            with lt.commit_lock:
                if attempt:  # a retry refreshes under the lock: writers cannot win again
                    table = lt.refresh()
                props = {
                    **carry_positions(table),  # this attempt's parent: the commit asserts it
                    COMPACTION_KEY: f"{plan.label}: {len(old)} files -> {len(new)}",
                }
                summary = _commit_rewrite(table, old, new, props)
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
        _check(summary, old, new, props, where)
        rep.partitions_rewritten += 1
        rep.duplicates_removed += dupes
        rep.details.append(f"{plan.label}: {len(old)} files → {len(new)}")
        log.info("compact_partition", partition=where, files=(len(old), len(new)), dupes=dupes)
        return
    raise SinkError(
        f"could not compact {where} after {options.attempts} attempts",
        hint="a writer keeps committing conflicting changes; retry later",
    )


def _commit_rewrite(
    table: Table, old: Sequence[DataFile], new: Sequence[DataFile], props: dict[str, str]
) -> Summary | None:
    """Replace exactly ``old`` by ``new`` in one snapshot; returns its summary."""
    with (
        table.transaction() as tx,
        tx.update_snapshot(snapshot_properties=props).overwrite() as rewrite,
    ):
        for f in old:
            rewrite.delete_data_file(f)
        for f in new:
            rewrite.append_data_file(f)
    snap = table.metadata.snapshot_by_id(rewrite.snapshot_id)
    return snap.summary if snap is not None else None


def _check(
    summary: Summary | None,
    old: Sequence[DataFile],
    new: Sequence[DataFile],
    props: dict[str, str],
    where: str,
) -> None:
    """The committed snapshot removed exactly the files read, added exactly ours and
    carried its parent's positions."""
    want = dict(zip(("deleted-data-files", "deleted-records"), _totals(old)[::2], strict=True))
    want |= dict(zip(("added-data-files", "added-records"), _totals(new)[::2], strict=True))
    got = {k: int(summary[k] or 0) if summary is not None else -1 for k in want}
    if got != want:
        raise SinkError(f"compaction of {where} committed {got}, expected {want}")
    carried = summary[POSITIONS_KEY] if summary is not None else None
    if carried != props.get(POSITIONS_KEY):
        raise SinkError(f"compaction of {where} did not carry the source positions")


# -- snapshots ------------------------------------------------------------------------


def _expire(lt: CompactTarget, options: CompactOptions) -> tuple[int, int]:
    """Expire old snapshots; delete files only they referenced. ``(expired, deleted)``."""
    for attempt in range(options.attempts):
        table = lt.refresh()
        before = table.metadata
        cutoff, ids = _expire_before(table, options, datetime.now(UTC))
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
        log.info("compact_expired", table=lt.label, snapshots=len(gone), files=len(orphans))
        return len(gone), len(orphans)
    raise SinkError(f"could not expire snapshots of {lt.label} after {options.attempts} attempts")


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
