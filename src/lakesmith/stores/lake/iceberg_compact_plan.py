"""Planning the compaction of one Iceberg table (``stores.lake.iceberg_compact``): which
small files of which partitions to rewrite, which snapshots to expire, and the order
(with optional de-duplication by natural key) the rewritten rows are written in.

Planning only reads the table's metadata (and ``order_rows`` a partition's rows); it
commits nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.transforms import IdentityTransform

from lakesmith.core.columns import INGESTED_AT, RECORD_ID
from lakesmith.core.errors import SinkError
from lakesmith.stores.lake.base import CompactOptions

SMALL_FILE_RATIO = 0.75  # a file below 75 % of the target size is a candidate
DEDUPE_ORDER = (INGESTED_AT, RECORD_ID)


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


def plan_table(table: Table, options: CompactOptions, now: datetime | None = None) -> TablePlan:
    return TablePlan(
        partitions=tuple(_plan_partitions(table, options)),
        totals=file_totals(live_files(table)),
        expire_ids=tuple(expire_before(table, options, now or datetime.now(UTC))[1]),
    )


# -- planning -------------------------------------------------------------------------


def file_totals(files: Sequence[DataFile]) -> tuple[int, int, int]:
    return len(files), sum(f.file_size_in_bytes for f in files), sum(f.record_count for f in files)


def live_files(table: Table) -> list[DataFile]:
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
    for f in live_files(table):
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


def expire_before(table: Table, options: CompactOptions, now: datetime) -> tuple[int, list[int]]:
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


def sort_keys(table: Table) -> list[tuple[str, bool, bool]]:
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
