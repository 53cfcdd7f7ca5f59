"""Compaction of one Delta table (``DeltaTable.compact``).

Per partition with enough small files, delta-rs OPTIMIZE (bin-packing; it never
conflicts with concurrent appends) or, with ``dedupe_keys``, an overwrite of the
partition by its rows minus duplicates (read whole into memory, one partition at a time).
That overwrite, like ``delete``, fails when a writer added rows to the partition after it
read it ("concurrent transactions added new data"); it is re-run then. VACUUM afterwards
deletes the files removed more than ``expire_older_than`` ago (the transaction log itself
is cleaned up by delta-rs after checkpoints, per ``delta.logRetentionDuration``). Every
maintenance commit re-carries the cursors found in the last ``CARRY_WINDOW`` commits (see
``stores.lake.delta_cursors``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Protocol

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, write_deltalake
from deltalake import DeltaTable as _Delta
from deltalake.exceptions import CommitFailedError

from lakesmith.core.columns import INGESTED_AT, RECORD_ID
from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Positions, dumps
from lakesmith.stores.lake.base import CompactOptions, CompactReport
from lakesmith.stores.lake.delta_arrow import arrow_predicate, sql_predicate
from lakesmith.stores.lake.delta_log import (
    CURSORS_APP,
    POSITIONS_KEY,
    add_actions,
    backoff,
    commit_positions,
    committed_versions,
)

log = get_logger(__name__)

COMPACTION_KEY = "lakesmith.compaction"
CARRY_WINDOW = 1024  # commits searched for the cursors to carry
SMALL_FILE_RATIO = 0.75  # a file below 75 % of the target size is a compaction candidate
DEDUPE_ORDER = (INGESTED_AT, RECORD_ID)


class CompactTarget(Protocol):
    """What compaction needs of the table (``DeltaTable``)."""

    @property
    def label(self) -> str: ...

    def refresh(self) -> _Delta:
        """The deltalake table at its latest version."""
        ...


def compact_table(
    table: CompactTarget,
    options: CompactOptions,
    progress: Callable[[str], None] | None = None,
) -> CompactReport:
    """Rewrite the small files of every partition that has enough of them (with
    ``dedupe_keys``: keep the first row per key, by ``_ingested_at, _record_id``), then
    vacuum files removed longer than ``expire_older_than`` ago. Dry run: only plan."""
    started = time.perf_counter()
    dt = table.refresh()
    files = add_actions(dt)
    n, size, rows = _totals(files)
    rep = CompactReport(table.label, n, n, size, size, rows, rows)
    plans = _plan(files, options)
    carried = {} if options.dry_run else _carried_cursors(dt)  # read once per run
    for label, filters, small in plans:
        if options.dry_run:
            small_bytes = sum(f["size_bytes"] for f in small)
            out = max(1, math.ceil(small_bytes / options.target_bytes))
            rep.files_after -= len(small) - out
            rep.partitions_rewritten += 1
            rep.details.append(f"{label}: {len(small)} files → ~{out}")
        else:
            _rewrite(table, label, filters, options, rep, carried)
        if progress is not None:
            progress(label)
    if options.dry_run:
        rep.files_deleted = len(_vacuum(table, options, {}, dry_run=True))
    else:
        rep.files_deleted = len(_vacuum(table, options, carried, dry_run=False))
        rep.files_after, rep.bytes_after, rep.rows_after = _totals(add_actions(table.refresh()))
    rep.seconds = time.perf_counter() - started
    return rep


def _carried_cursors(dt: _Delta) -> Positions:
    """Current positions with a cursor, found in the last ``CARRY_WINDOW`` commits:
    maintenance commits repeat them so they outlive the log retention."""
    if dt.transaction_version(CURSORS_APP) is None:
        return {}
    found: Positions = {}
    for commit in dt.history(CARRY_WINDOW):
        for s, p in commit_positions(commit).items():
            found.setdefault(s, p)
    current = committed_versions(dt, found)
    return {s: p for s, p in found.items() if p.cursor is not None and current.get(s) == p.next}


def _commit_props(carried: Positions, note: str) -> CommitProperties:
    meta = {COMPACTION_KEY: note}
    if carried:
        meta[POSITIONS_KEY] = dumps(carried)
    return CommitProperties(custom_metadata=meta)


def _rewrite(
    table: CompactTarget,
    label: str,
    filters: list[tuple[str, str, Any]],
    options: CompactOptions,
    rep: CompactReport,
    carried: Positions,
) -> None:
    for attempt in range(options.attempts):
        dt = table.refresh()
        try:
            if options.dedupe_keys:
                dupes = _rewrite_deduped(dt, label, filters, options, carried)
                rep.duplicates_removed += dupes
                label = f"{label}: rewritten, {dupes} duplicates removed"
            else:
                metrics = dt.optimize.compact(
                    partition_filters=[(c, op, "" if v is None else v) for c, op, v in filters]
                    or None,
                    target_size=options.target_bytes,
                    commit_properties=_commit_props(carried, f"{label}: optimize"),
                )
                label = (
                    f"{label}: {metrics.get('numFilesRemoved', 0)} files → "
                    f"{metrics.get('numFilesAdded', 0)}"
                )
        except CommitFailedError as exc:
            rep.conflicts += 1
            log.info("compact_conflict", table=table.label, partition=label, error=str(exc))
            backoff(attempt)
            continue
        rep.partitions_rewritten += 1
        rep.details.append(label)
        log.info("compact_partition", table=table.label, partition=label)
        return
    raise SinkError(
        f"could not compact {table.label} {label} after {options.attempts} attempts",
        hint="a writer keeps committing conflicting changes; retry later",
    )


def _rewrite_deduped(
    dt: _Delta,
    label: str,
    filters: list[tuple[str, str, Any]],
    options: CompactOptions,
    carried: Positions,
) -> int:
    """Replace the partition by its rows without duplicates, in one commit. When a
    writer added rows to the partition after it was read, the commit fails
    (``CommitFailedError``: "concurrent transactions added new data") and the caller
    runs it again, so those rows are never lost."""
    where: list[tuple[str, Any, Any]] = [(c, "==", v) for c, _, v in filters]
    ds = dt.to_pyarrow_dataset()
    data = ds.to_table(filter=arrow_predicate(where, ds.schema))
    data, dupes = first_per_key(data, options.dedupe_keys)
    write_deltalake(
        dt,
        data,
        mode="overwrite",
        predicate=sql_predicate(where) or "true",
        target_file_size=options.target_bytes,
        commit_properties=_commit_props(carried, f"{label}: rewrite, {dupes} duplicates"),
    )
    return dupes


def _vacuum(
    table: CompactTarget, options: CompactOptions, carried: Positions, dry_run: bool
) -> list[str]:
    hours = math.ceil(options.expire_older_than.total_seconds() / 3600)
    for attempt in range(options.attempts):
        dt = table.refresh()
        try:
            return dt.vacuum(
                retention_hours=hours,
                dry_run=dry_run,
                enforce_retention_duration=False,
                commit_properties=None if dry_run else _commit_props(carried, "vacuum"),
            )
        except CommitFailedError:
            backoff(attempt)
    raise SinkError(f"could not vacuum {table.label} after {options.attempts} attempts")


# -- helpers ------------------------------------------------------------------------------


def _totals(files: Sequence[Mapping[str, Any]]) -> tuple[int, int, int]:
    return (
        len(files),
        sum(int(f["size_bytes"]) for f in files),
        sum(int(f.get("num_records") or 0) for f in files),
    )


def _partition_value(value: Any) -> str:
    if value is None:
        return ""  # delta-rs: the empty string matches a null partition value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _plan(
    files: Sequence[Mapping[str, Any]], options: CompactOptions
) -> list[tuple[str, list[tuple[str, str, Any]], list[Mapping[str, Any]]]]:
    """``(label, partition filters, small files)`` of every partition worth rewriting: at
    least ``min_files`` small files, or at least two adding up to the target size."""
    groups: dict[tuple[tuple[str, Any], ...], list[Mapping[str, Any]]] = {}
    for f in files:
        key = tuple(sorted((k, v) for k, v in f.items() if k.startswith("partition.")))
        groups.setdefault(key, []).append(f)
    plans = []
    for key, group in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        small = [f for f in group if f["size_bytes"] < SMALL_FILE_RATIO * options.target_bytes]
        total = sum(int(f["size_bytes"]) for f in small)
        if len(small) >= options.min_files or (len(small) >= 2 and total >= options.target_bytes):
            filters = [(k.removeprefix("partition."), "=", v) for k, v in key]
            label = (
                "/".join(f"{c}={_partition_value(v)}" for c, _, v in filters) or "(unpartitioned)"
            )
            plans.append((label, filters, small))
    return plans


def first_per_key(data: pa.Table, keys: Sequence[str]) -> tuple[pa.Table, int]:
    """The first row per natural key (by ``_ingested_at, _record_id``), in input order;
    returns the rows and how many duplicates were dropped."""
    keys = [k for k in keys if k in data.column_names]
    if not keys or data.num_rows == 0:
        return data, 0
    order = [c for c in DEDUPE_ORDER if c in data.column_names]
    frame = pl.from_arrow(data.select(sorted({*keys, *order})))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_row_index("__row")
    if order:
        frame = frame.sort(order, nulls_last=True, maintain_order=True)
    frame = frame.filter(pl.struct(keys).is_first_distinct()).sort("__row")
    removed = data.num_rows - frame.height
    return (data.take(frame["__row"].to_arrow()), removed) if removed else (data, 0)
