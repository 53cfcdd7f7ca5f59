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
What to rewrite and expire, and the order of the rewritten rows, are planned in
``stores.lake.iceberg_compact_plan``; this module commits.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pyarrow as pa
from pyarrow.fs import FileSelector, FileType
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io import FileIO

# No public pyiceberg (0.12) API writes data files without committing them (append /
# overwrite always commit, add_files needs finished Parquet files): the rewrite must
# write first and then swap exact files in its own commit, so this private helper stays.
from pyiceberg.io.pyarrow import ArrowScan, PyArrowFileIO
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table, TableProperties
from pyiceberg.table.snapshots import IsolationLevel, Snapshot, Summary

from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger
from lakesmith.stores.lake.base import CommitLock, CompactOptions, CompactReport
from lakesmith.stores.lake.iceberg_compact_plan import (
    DEDUPE_ORDER,
    SMALL_FILE_RATIO,
    PartitionPlan,
    TablePlan,
    expire_before,
    file_totals,
    live_files,
    order_rows,
    plan_table,
    sort_keys,
)
from lakesmith.stores.lake.iceberg_snapshots import (
    NO_INTERNAL_RETRY,
    POSITIONS_KEY,
    carry_positions,
)
from lakesmith.stores.lake.iceberg_write import write_data_files

log = get_logger(__name__)

COMPACTION_KEY = "lakesmith.compaction"
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
        if options.orphans_older_than is not None:
            orphans = _remove_orphans(lt, options.orphans_older_than)
            rep.files_deleted += orphans
            if orphans:
                rep.details.append(f"{orphans} orphan data files deleted")
        rep.files_after, rep.bytes_after, rep.rows_after = file_totals(live_files(lt.refresh()))
    rep.seconds = time.perf_counter() - started
    return rep


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
    return write_data_files(meta, table.io, data)


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
            data, dupes = order_rows(data, sort_keys(table), options.dedupe_keys)
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
            live = {f.file_path for f in live_files(lt.refresh())}
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
    want = dict(zip(("deleted-data-files", "deleted-records"), file_totals(old)[::2], strict=True))
    want |= dict(zip(("added-data-files", "added-records"), file_totals(new)[::2], strict=True))
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
        cutoff, ids = expire_before(table, options, datetime.now(UTC))
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


def _remove_orphans(lt: CompactTarget, older_than: timedelta) -> int:
    """Delete the data files under the table's data folder that no snapshot references
    and that are older than ``older_than``: files a run staged and was killed before
    committing (``IcebergTable.stage``), or a crashed rewrite's. A live writer's staged
    files are minutes old, so the age keeps them safe. Listing goes through the pyarrow
    filesystem of the table's FileIO (pyiceberg has no listing API; ``_initialize_fs`` is
    the cached constructor its own reads use). The number of files deleted."""
    table = lt.refresh()
    if not isinstance(table.io, PyArrowFileIO):
        return 0
    location = table.metadata.location.rstrip("/")
    folder = table.metadata.properties.get("write.data.path", f"{location}/data")
    scheme, netloc, root = PyArrowFileIO.parse_location(folder)
    fs = table.io._initialize_fs(scheme, netloc)
    listed = fs.get_file_info(FileSelector(root, recursive=True, allow_not_found=True))
    referenced = {
        PyArrowFileIO.parse_location(p)[2] for p in _reachable(table.io, table.metadata.snapshots)
    }
    cutoff_ns = int((datetime.now(UTC) - older_than).timestamp() * 1e9)
    orphans = [
        f.path
        for f in listed
        if f.type == FileType.File
        and f.path not in referenced
        and f.mtime_ns is not None
        and f.mtime_ns < cutoff_ns
    ]
    for path in orphans:
        with contextlib.suppress(OSError):
            fs.delete_file(path)
    log.info("compact_orphans", table=lt.label, listed=len(listed), deleted=len(orphans))
    return len(orphans)


def _delete_quietly(io: FileIO, paths: Sequence[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            io.delete(path)


__all__ = [  # with the planning names, for callers of this module
    "COMPACTION_KEY",
    "DEDUPE_ORDER",
    "REWRITE_PROPERTIES",
    "SMALL_FILE_RATIO",
    "CompactTarget",
    "PartitionPlan",
    "TablePlan",
    "compact_table",
    "order_rows",
    "plan_table",
]
