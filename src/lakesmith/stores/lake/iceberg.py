"""Apache Iceberg tables (pyiceberg, SQL catalog) with source positions in snapshots.

Exactly-once: every append records the source positions it covers in the snapshot
summary (``lakesmith.stream-positions``, see ``core.positions``), merged with the
positions already committed. A writer re-reads them *inside* its commit loop and drops
rows below them, so a replayed or zombie batch can never land twice.

Many workers, one table: an append writes its data files first, outside any lock, then
takes the table's ``CommitLock`` (a PostgreSQL advisory lock shared by every worker) only
for the short commit: refresh, check that no one else advanced *its* streams meanwhile,
commit the files with the merged positions. Commits are serialised instead of racing, so
they do not turn into retries as workers are added; a commit that still races (a tool
without the lock) fails pyiceberg's optimistic check and the loop retries.

The catalog, the mapping of columns, partitioning and filters to pyiceberg, and table
creation are in ``stores.lake.iceberg_catalog``; the positions in snapshot summaries in
``stores.lake.iceberg_snapshots``; compaction in ``stores.lake.iceberg_compact``.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform

from lakesmith.config import Settings
from lakesmith.core import positions as pos
from lakesmith.core.columns import Column
from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger
from lakesmith.stores.lake.base import (
    CommitLock,
    CompactOptions,
    CompactReport,
    Filter,
    LakeFormat,
)
from lakesmith.stores.lake.iceberg_catalog import (
    catalog,
    create_table,
    iceberg_schema,
    iceberg_type,
    to_expression,
)
from lakesmith.stores.lake.iceberg_catalog import (
    conform as _conform,
)
from lakesmith.stores.lake.iceberg_compact import compact_table
from lakesmith.stores.lake.iceberg_rows import (
    commit_overwrite,
    read_batches,
    read_rows,
    rewrite_without,
)
from lakesmith.stores.lake.iceberg_snapshots import (
    COMMIT_RETRIES,
    NO_INTERNAL_RETRY,
    POSITIONS_KEY,
    carry_positions,
    read_positions,
)
from lakesmith.stores.lake.iceberg_write import data_files

log = get_logger(__name__)


@dataclass(frozen=True)
class StagedFiles:
    """Data files written by ``IcebergTable.stage``, not yet committed."""

    files: list[DataFile]
    rows: int
    base: pos.Positions  # the committed positions the rows were filtered against


def _fast_append(table: Table, files: Sequence[DataFile], positions: pos.Positions) -> None:
    """One snapshot adding ``files`` with ``positions`` in its summary (the catalog's own
    check raises ``CommitFailedException`` when the table moved)."""
    props = {POSITIONS_KEY: pos.dumps(positions)} if positions else {}
    with table.transaction() as tx:
        snapshot = tx.update_snapshot(snapshot_properties=props)
        with snapshot.fast_append() as append:
            for f in files:
                append.append_data_file(f)


class IcebergTable:
    """One Iceberg table of a dataset (bronze, silver or quarantine)."""

    format: LakeFormat = "iceberg"

    def __init__(
        self,
        settings: Settings,
        namespace: str,
        name: str,
        commit_lock: CommitLock | None = None,
    ) -> None:
        self.catalog = catalog(settings)
        self.namespace, self.name = namespace, name
        self.identifier = (namespace, name)
        self.commit_lock: CommitLock = commit_lock or contextlib.nullcontext()
        self.conflicts = 0  # commits that had to be redone (another writer got there first)
        self._table: Table | None = None

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def table(self) -> Table:
        """The pyiceberg table (for code inside ``stores/lake`` only)."""
        if self._table is None:
            self._table = self.catalog.load_table(self.identifier)
        return self._table

    @property
    def location(self) -> str:
        return str(self.refresh().metadata_location)

    def exists(self) -> bool:
        return self.catalog.table_exists(self.identifier)

    def ensure(
        self,
        columns: Sequence[Column],
        partition_by: Sequence[tuple[str, str]] = (),
        sort_by: Sequence[str] = (),
        properties: dict[str, str] | None = None,
    ) -> None:
        """Create the table if missing (partition spec and sort order included)."""
        create_table(self.catalog, self.identifier, columns, partition_by, sort_by, properties)
        self._table = self.catalog.load_table(self.identifier)

    def _catalog_location(self) -> str | None:
        """The table's current metadata file, straight from the SQL catalog's row (one
        indexed SELECT); None for other catalogs (Glue) or when the row is gone."""
        from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        if not isinstance(self.catalog, SqlCatalog):
            return None
        with Session(self.catalog.engine) as session:
            found = session.scalar(
                select(IcebergTables.metadata_location).where(
                    IcebergTables.catalog_name == self.catalog.name,
                    IcebergTables.table_namespace == self.namespace,
                    IcebergTables.table_name == self.name,
                )
            )
        return None if found is None else str(found)

    def refresh(self) -> Table:
        """The table as committed now. Reading and parsing its metadata file (pydantic,
        growing with the snapshots) was ~5 % of the music worker's CPU, several times per
        commit: with a SQL catalog the file is read only when its location moved."""
        if self._table is not None:
            current = self._catalog_location()
            if current is not None and current == self._table.metadata_location:
                return self._table
        try:
            self._table = self.table.refresh()
        except ValueError as exc:  # pyiceberg: "Table UUID does not match"
            if "UUID" not in str(exc):
                raise
            raise SinkError(
                f"{self.label} was dropped and created again while this process held it "
                "(a reprocess, a gold rebuild or `make clean` beside a running worker)",
                hint="stop the dataset's workers before rebuilding its tables, then start "
                "them again",
            ) from None
        return self._table

    def properties(self) -> dict[str, str]:
        return dict(self.refresh().properties)

    def column_names(self) -> list[str]:
        return [f.name for f in self.refresh().schema().fields]

    def positions(self, streams: Iterable[str]) -> pos.Positions:
        committed = read_positions(self.refresh())
        return {s: committed[s] for s in streams if s in committed}

    def add_columns(
        self, columns: Sequence[Column], properties: dict[str, str] | None = None
    ) -> list[str]:
        """Add missing columns (schema evolution while the stream runs; old rows read null)."""
        for attempt in range(10):
            with self.commit_lock:
                table = self.refresh()
                have = {f.name for f in table.schema().fields}
                missing = [c for c in columns if c.name not in have]
                if not missing and not properties:
                    return []
                try:
                    with table.transaction() as tx:
                        if missing:
                            with tx.update_schema() as upd:
                                for c in missing:
                                    upd.add_column(
                                        c.name, iceberg_type(c.type, lambda: 0), doc=c.doc or None
                                    )
                        if properties:
                            tx.set_properties(properties)
                    added = [c.name for c in missing]
                    log.info("lake_schema_evolved", table=self.label, added=added)
                    return added
                except CommitFailedException:
                    self.conflicts += 1
            time.sleep(random.uniform(0.01, 0.1) * (attempt + 1))
        raise SinkError(f"could not evolve {self.label} after 10 attempts")

    def append(self, data: pa.Table, positions: pos.Positions, attempts: int = 30) -> int:
        """Append the rows beyond the committed positions, with the new positions, atomically.

        ``data`` must carry ``_stream`` and ``_seq`` when ``positions`` is given; columns
        not in the table are dropped, missing ones are null. Returns the rows written.
        """
        for attempt in range(attempts):
            table = self.refresh()
            committed = read_positions(table)
            if positions and pos.covers(committed, positions):
                return 0  # everything already committed (a replay)
            rows = pos.unseen_arrow(data, committed) if positions else data
            rows = _conform(rows, table).select([f.name for f in table.schema().fields])
            files = self._write_files(table, rows)
            with self.commit_lock:
                table = self.refresh()
                now = read_positions(table)
                if any(now.get(s) != committed.get(s) for s in positions):
                    # another writer advanced our streams meanwhile (a rebalance, a zombie):
                    # drop what we wrote and start again from its positions
                    self._discard(table, files)
                    self._conflict(attempt, "streams advanced by another writer")
                    continue
                try:
                    _fast_append(table, files, pos.merge(now, positions))
                    return int(rows.num_rows)
                except CommitFailedException:
                    pass  # a commit that did not take the lock; the files are still valid
            self._conflict(attempt, "catalog commit failed")
        raise SinkError(f"could not commit to {self.label} after {attempts} attempts")

    def stage(self, data: pa.Table, positions: pos.Positions) -> StagedFiles:
        """Write the rows of ``data`` beyond the committed positions as data files of the
        table, *not* committed: ``commit_staged`` commits several of them at once with
        their merged positions (a long ingest commits every N rows, not every batch,
        without holding the rows in memory). Files never committed (a crash) are orphans
        no reader sees."""
        table = self.refresh()
        committed = read_positions(table)
        rows = pos.unseen_arrow(data, committed) if positions else data
        rows = _conform(rows, table).select([f.name for f in table.schema().fields])
        return StagedFiles(self._write_files(table, rows), int(rows.num_rows), committed)

    def commit_staged(
        self, staged: Sequence[StagedFiles], positions: pos.Positions, attempts: int = 30
    ) -> int:
        """Commit the files of ``staged`` with ``positions`` in one snapshot; returns their
        rows. The rows were filtered against the positions committed when they were
        written: if another writer advanced these streams since, they cannot be redone
        here (the rows are gone), so the files are dropped and the run stops with an error
        (the next run resumes from the committed positions)."""
        files = [f for s in staged for f in s.files]
        for attempt in range(attempts):
            with self.commit_lock:
                table = self.refresh()
                now = read_positions(table)
                if positions and pos.covers(now, positions):
                    self._discard(table, files)
                    return 0  # everything already committed (a replay)
                if any(now.get(st) != s.base.get(st) for s in staged for st in positions):
                    self._discard(table, files)
                    raise SinkError(
                        f"{self.label}: another writer advanced these streams while this one "
                        "held uncommitted files",
                        hint="run again: it resumes from the committed positions",
                    )
                try:
                    _fast_append(table, files, pos.merge(now, positions))
                    return sum(s.rows for s in staged)
                except CommitFailedException:
                    pass
            self._conflict(attempt, "catalog commit failed")
        raise SinkError(f"could not commit to {self.label} after {attempts} attempts")

    @staticmethod
    def _write_files(table: Table, rows: pa.Table) -> list[DataFile]:
        """Write ``rows`` as data files of ``table`` without committing them.

        pyiceberg has no public "write now, commit later" (``Transaction.append`` writes and
        stages in one step against the metadata it started from), so this writes the files
        the way ``append`` does (``iceberg_write.data_files``: pyiceberg's write tasks,
        without its per-partition copy when the rows share one partition); the commit then
        only adds these files' manifest."""
        return data_files(table, rows)

    @staticmethod
    def _fast_append(table: Table, files: Sequence[DataFile], positions: pos.Positions) -> None:
        _fast_append(table, files, positions)

    @staticmethod
    def _discard(table: Table, files: Sequence[DataFile]) -> None:
        for f in files:
            with contextlib.suppress(Exception):  # best effort: orphans are harmless
                table.io.delete(f.file_path)

    def _conflict(self, attempt: int, reason: str) -> None:
        self.conflicts += 1
        log.info("lake_commit_conflict", table=self.label, attempt=attempt, reason=reason)
        time.sleep(random.uniform(0.01, 0.2) * min(attempt + 1, 5))

    def version(self) -> str:
        """An opaque token of the table's current state (``stores.lake.merge``)."""
        from lakesmith.stores.lake.merge import iceberg_version

        return iceberg_version(self)

    def replace(
        self,
        data: pa.Table,
        where: Filter | None,
        positions: pos.Positions,
        expect: str | None = None,
    ) -> int:
        """Delete the rows matching ``where`` and add ``data`` in one commit with
        ``positions`` (``stores.lake.merge``)."""
        from lakesmith.stores.lake.merge import iceberg_replace

        return iceberg_replace(self, data, where, positions, expect)

    def delete(self, where: Filter) -> None:
        """Copy-on-write delete of the rows matching ``where`` in one overwrite snapshot,
        the committed positions carried over (``iceberg_rows.rewrite_without``)."""
        for attempt in range(30):
            with self.commit_lock:
                table = self.refresh()
                removed, rewritten = rewrite_without(table, where)
                if not removed:
                    return
                try:
                    commit_overwrite(table, removed, rewritten, carry_positions(table))
                    return
                except CommitFailedException:
                    self.conflicts += 1
                    self._discard(table, rewritten)
            time.sleep(random.uniform(0.01, 0.2) * min(attempt + 1, 5))
        raise SinkError(f"could not delete from {self.label} after 30 attempts")

    def scan(self, columns: Sequence[str] | None = None, where: Filter = ()) -> pl.DataFrame:
        table = self.refresh()
        if table.current_snapshot() is None:
            return pl.DataFrame(schema=_polars_schema(table, columns))
        frame = pl.from_arrow(read_rows(table, columns, where))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def batches(
        self, columns: Sequence[str] | None = None, where: Filter = ()
    ) -> Iterator[pa.Table]:
        """Matching rows, one data file at a time (pyiceberg's own batch reader reads every
        file of a scan eagerly on its thread pool; this keeps memory to about one file)."""
        return read_batches(self.refresh(), columns, where)

    def day_counts(self, column: str) -> dict[date, int] | None:
        table = self.refresh()
        if table.current_snapshot() is None:
            return {}
        source_id = table.schema().find_field(column).field_id
        day_fields = [
            f.name
            for f in table.spec().fields
            if f.source_id == source_id and isinstance(f.transform, DayTransform)
        ]
        if not day_fields:
            return None
        parts = table.inspect.partitions().to_pylist()
        if not all(isinstance(p["partition"].get(day_fields[0]), date) for p in parts):
            return None
        counts: dict[date, int] = {}
        for p in parts:
            d = p["partition"][day_fields[0]]
            counts[d] = counts.get(d, 0) + int(p["record_count"])
        return dict(sorted(counts.items()))

    def compact(
        self, options: CompactOptions, progress: Callable[[str], None] | None = None
    ) -> CompactReport:
        return compact_table(self, options, progress)


def _polars_schema(table: Table, columns: Sequence[str] | None) -> dict[str, Any]:
    frame = pl.from_arrow(table.schema().as_arrow().empty_table())
    assert isinstance(frame, pl.DataFrame)
    return dict(frame.select(columns).schema if columns else frame.schema)


__all__ = [  # with the positions helpers of iceberg_snapshots, for callers of this module
    "COMMIT_RETRIES",
    "NO_INTERNAL_RETRY",
    "POSITIONS_KEY",
    "IcebergTable",
    "carry_positions",
    "catalog",
    "iceberg_schema",
    "read_positions",
    "to_expression",
]
