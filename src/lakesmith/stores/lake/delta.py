"""Delta Lake tables (delta-rs) with the source positions as application transactions.

Exactly-once. A stream's position is a Delta *application transaction* (``txn`` action)
``app_id = "lakesmith:<stream>"``, ``version = next seq``, committed in the same log entry
as the rows (``CommitProperties(app_transactions=…)``). ``append`` reads the committed
versions, drops rows below them (``unseen_arrow``) and only then writes; delta-rs' conflict
checker fails a commit whose app ids a concurrent winner also set (``CommitFailedError``:
"Concurrent transaction failed"), so two writers of one stream can never both land: the
loser reloads, re-filters and retries. Concurrent commits for *other* streams are resolved
by delta-rs' own commit retries (they cannot change the rows this batch keeps), so appends
by many workers do not need the ``CommitLock``; schema changes and deletes take it. Delta
keeps the newest ``txn`` per app id in every checkpoint: positions survive OPTIMIZE,
VACUUM, DELETE and log cleanup (``delta.setTransactionRetentionDuration`` must stay unset).
A position's opaque ``cursor`` travels in the commit info of the same commit
(``stores.lake.delta_cursors``).

The rest of the Delta side, by module: ``delta_layout`` (location, S3 options,
partitioning by generated columns, sort order, creating a table), ``delta_arrow`` (schemas,
conforming batches, filters), ``delta_log`` (what lakesmith reads from and writes to the
transaction log), ``delta_cursors`` (finding the cursors) and ``delta_compact``
(per partition with enough small files, delta-rs OPTIMIZE or, with ``dedupe_keys``, an
overwrite of the partition; then VACUUM).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable as _Delta
from deltalake import Schema as DeltaSchema
from deltalake import write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from lakesmith.config import Settings
from lakesmith.core.columns import Column
from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Position, Positions, covers, unseen_arrow
from lakesmith.stores.lake.base import (
    CommitLock,
    CompactOptions,
    CompactReport,
    Filter,
    LakeFormat,
    LakeTable,
)
from lakesmith.stores.lake.delta_arrow import (
    arrow_predicate,
    arrow_schema,
    conform,
    generated_name,
    sql_predicate,
)
from lakesmith.stores.lake.delta_compact import compact_table
from lakesmith.stores.lake.delta_cursors import CursorCache
from lakesmith.stores.lake.delta_layout import (
    SORT_PROP,
    create_table,
    generated_columns,
    partitioning,
    storage_options,
    table_uri,
)
from lakesmith.stores.lake.delta_log import (
    CURSORS_APP,
    add_actions,
    backoff,
    committed_versions,
    position_commit,
)

log = get_logger(__name__)

ATTEMPTS = 30


# -- the table --------------------------------------------------------------------------


class DeltaTable:
    """One Delta table of a dataset (bronze, quarantine or silver)."""

    format: LakeFormat = "delta"

    def __init__(
        self,
        settings: Settings,
        namespace: str,
        name: str,
        commit_lock: CommitLock | None = None,
    ) -> None:
        self.settings = settings
        self.namespace = namespace
        self.name = name
        self.commit_lock: CommitLock = commit_lock or contextlib.nullcontext()
        self.conflicts = 0  # commits that had to be redone (another writer got there first)
        self.uri = table_uri(settings, namespace, name)
        self.storage_options = storage_options(settings) if self.uri.startswith("s3") else None
        self._dt: _Delta | None = None
        self._cursors = CursorCache(self.label)

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def location(self) -> str:
        return self.uri

    # -- loading ------------------------------------------------------------------------

    def _load(self) -> _Delta | None:
        """The table at its latest version; None when it does not exist."""
        if self._dt is None:
            try:
                self._dt = _Delta(self.uri, storage_options=self.storage_options)
            except TableNotFoundError:
                return None
        else:
            self._dt.update_incremental()
        return self._dt

    def refresh(self) -> _Delta:
        """The table at its latest version (it must exist)."""
        dt = self._load()
        if dt is None:
            raise SinkError(f"Delta table {self.label} does not exist at {self.uri}")
        return dt

    def exists(self) -> bool:
        return self._dt is not None or _Delta.is_deltatable(self.uri, self.storage_options)

    def ensure(
        self,
        columns: Sequence[Column],
        partition_by: Sequence[tuple[str, str]] = (),
        sort_by: Sequence[str] = (),
        properties: dict[str, str] | None = None,
    ) -> None:
        """Create the table if missing (safe when several workers race); on S3 also the
        bucket (a missing bucket reads as an S3 error, not as a missing table)."""
        try:
            if self._load() is not None:
                return
        except OSError:
            if not self.uri.startswith("s3://"):
                raise
            self._ensure_bucket()
            if self._load() is not None:
                return
        try:
            create_table(
                self.uri,
                self.storage_options,
                self.label,
                columns,
                partition_by,
                sort_by,
                properties,
            )
        except DeltaError:  # another worker won the race (or a real error: load tells)
            if self._load() is None:
                raise
        self._load()

    def _ensure_bucket(self) -> None:
        from lakesmith.stores.objects import ensure_bucket, s3_client

        ensure_bucket(s3_client(self.settings), self.uri.removeprefix("s3://").split("/", 1)[0])

    # -- schema and properties ------------------------------------------------------------

    def properties(self) -> dict[str, str]:
        return {k: v for k, v in self.refresh().metadata().configuration.items() if v is not None}

    def _schema(self, dt: _Delta) -> pa.Schema:
        return pa.schema(dt.schema().to_arrow())

    def column_names(self) -> list[str]:
        dt = self.refresh()
        hidden = generated_columns(dt)
        return [f.name for f in self._schema(dt) if f.name not in hidden]

    def add_columns(
        self, columns: Sequence[Column], properties: dict[str, str] | None = None
    ) -> list[str]:
        """Add the columns the table lacks (old rows read null); set ``properties``."""
        added: list[str] = []
        for attempt in range(ATTEMPTS):
            with self.commit_lock:
                dt = self.refresh()
                have = set(self._schema(dt).names)
                missing = [c for c in columns if c.name not in have]
                config = dt.metadata().configuration
                props = {k: v for k, v in (properties or {}).items() if config.get(k) != v}
                if not missing and not props:
                    return added
                try:
                    if missing:
                        new = DeltaSchema.from_arrow(arrow_schema(missing)).fields
                        dt.alter.add_columns(new)
                        added += [c.name for c in missing]
                        log.info("lake_schema_evolved", table=self.label, added=added)
                    if props:
                        dt.alter.set_table_properties(props, raise_if_not_exists=False)
                    continue
                except CommitFailedError:
                    pass
            backoff(attempt)
        raise SinkError(f"could not evolve {self.label} after {ATTEMPTS} attempts")

    # -- positions ------------------------------------------------------------------------

    def positions(self, streams: Iterable[str]) -> Positions:
        """Committed positions of ``streams`` (streams never committed are absent)."""
        dt = self._load()
        if dt is None:
            return {}
        versions = committed_versions(dt, streams)
        if not versions:
            return {}
        if dt.transaction_version(CURSORS_APP) is None:
            return {s: Position(v) for s, v in versions.items()}
        cursors = self._cursors.find(dt, versions)
        return {s: Position(v, cursors.get(s)) for s, v in versions.items()}

    # -- writing --------------------------------------------------------------------------

    def append(self, data: pa.Table, positions: Positions) -> int:
        """Append the rows beyond the committed positions together with ``positions``,
        atomically; with empty ``positions`` append as is. Returns the rows written."""
        for attempt in range(ATTEMPTS):
            dt = self.refresh()
            rows = data
            if positions:
                committed = {s: Position(v) for s, v in committed_versions(dt, positions).items()}
                if covers(committed, positions):
                    return 0  # everything already committed (a replay)
                rows = unseen_arrow(data, committed)
            props, advanced = position_commit(dt, positions)
            if rows.num_rows == 0 and props is None:
                return 0
            sort_by = dt.metadata().configuration.get(SORT_PROP)
            rows = conform(rows, self._schema(dt), generated_columns(dt), sort_by)
            try:
                write_deltalake(dt, rows, mode="append", commit_properties=props)
            except CommitFailedError as exc:
                self.conflicts += 1
                log.info("lake_commit_conflict", table=self.label, attempt=attempt, error=str(exc))
                backoff(attempt)
                continue
            self._cursors.remember(advanced)
            return int(rows.num_rows)
        raise SinkError(f"could not commit to {self.label} after {ATTEMPTS} attempts")

    def version(self) -> str:
        """An opaque token of the table's current state (``stores.lake.merge``)."""
        from lakesmith.stores.lake.merge import delta_version

        return delta_version(self)

    def replace(
        self,
        data: pa.Table,
        where: Filter | None,
        positions: Positions,
        expect: str | None = None,
    ) -> int:
        """Delete the rows matching ``where`` and add ``data`` in one commit with
        ``positions`` (``stores.lake.merge``)."""
        from lakesmith.stores.lake.merge import delta_replace

        return delta_replace(self, data, where, positions, expect)

    def delete(self, where: Filter) -> None:
        """Delete matching rows, keeping the committed positions (``txn`` actions)."""
        predicate = sql_predicate(where)
        for attempt in range(ATTEMPTS):
            with self.commit_lock:
                dt = self.refresh()
                try:
                    dt.delete(predicate)
                    return
                except CommitFailedError as exc:
                    log.info(
                        "lake_delete_conflict", table=self.label, attempt=attempt, error=str(exc)
                    )
            backoff(attempt)
        raise SinkError(f"could not delete from {self.label} after {ATTEMPTS} attempts")

    # -- reading --------------------------------------------------------------------------

    def _read_columns(self, dt: _Delta, columns: Sequence[str] | None) -> list[str]:
        if columns is not None:
            return list(columns)
        hidden = generated_columns(dt)
        return [f.name for f in self._schema(dt) if f.name not in hidden]

    def scan(self, columns: Sequence[str] | None = None, where: Filter = ()) -> pl.DataFrame:
        """Matching rows, all in memory."""
        dt = self.refresh()
        ds = dt.to_pyarrow_dataset()
        table = ds.to_table(
            columns=self._read_columns(dt, columns), filter=arrow_predicate(where, ds.schema)
        )
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def batches(
        self, columns: Sequence[str] | None = None, where: Filter = ()
    ) -> Iterator[pa.Table]:
        """Matching rows, one data file at a time (bounded memory)."""
        dt = self.refresh()
        ds = dt.to_pyarrow_dataset()
        cols = self._read_columns(dt, columns)
        expr = arrow_predicate(where, ds.schema)
        for fragment in ds.get_fragments(filter=expr):
            piece = fragment.to_table(schema=ds.schema, columns=cols, filter=expr)
            if piece.num_rows:
                yield piece

    def day_counts(self, column: str) -> dict[date, int] | None:
        """Rows per UTC day of ``column``, from the log's file statistics when the table is
        partitioned by day on it; None otherwise (or when a file has no row count)."""
        dt = self.refresh()
        if (column, "day") not in partitioning(dt):
            return None
        key = f"partition.{generated_name(column, 'day')}"
        counts: dict[date, int] = {}
        for f in add_actions(dt):
            day, rows = f.get(key), f.get("num_records")
            if rows is None:
                return None
            if isinstance(day, date):
                counts[day] = counts.get(day, 0) + int(rows)
        return dict(sorted(counts.items()))

    # -- maintenance ----------------------------------------------------------------------

    def compact(
        self, options: CompactOptions, progress: Callable[[str], None] | None = None
    ) -> CompactReport:
        return compact_table(self, options, progress)


if TYPE_CHECKING:  # mypy checks that DeltaTable implements the LakeTable protocol

    def _implements_protocol(table: DeltaTable) -> LakeTable:
        return table


__all__ = ["DeltaTable", "arrow_predicate", "arrow_schema", "sql_predicate", "storage_options"]
