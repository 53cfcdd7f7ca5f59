"""Read-modify-write commits for tables that are not append-only (gold star schemas):
``replace`` deletes the rows matching a filter and adds new ones in ONE commit, together
with the batch's source positions, and only if the table is still at the version the
caller read (``expect``) — else ``StaleTableError`` and the caller recomputes from the new
state. Commits take the table's ``CommitLock``, so the version check and the commit are
one step for every lakesmith writer. Iceberg: a transaction with ``delete`` + a fast
append (copy-on-write); Delta: ``write_deltalake(mode="overwrite", predicate=…)``
(``replaceWhere``) or an append, with the positions as app transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from lakesmith.core import positions as pos
from lakesmith.core.errors import SinkError
from lakesmith.stores.lake.base import CommitLock, Filter

if TYPE_CHECKING:
    from deltalake import DeltaTable as _Delta
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

    from lakesmith.stores.lake.delta_cursors import CursorCache


# What the table classes give these functions (structural types, so that this module does
# not import ``iceberg.py``/``delta.py``, which call it).
class IcebergTable(Protocol):
    commit_lock: CommitLock

    @property
    def label(self) -> str: ...

    def refresh(self) -> Table: ...

    @staticmethod
    def _write_files(table: Table, rows: pa.Table) -> list[DataFile]: ...

    @staticmethod
    def _fast_append(table: Table, files: Sequence[DataFile], positions: pos.Positions) -> None: ...

    @staticmethod
    def _discard(table: Table, files: Sequence[DataFile]) -> None: ...

    def _conflict(self, attempt: int, reason: str) -> None: ...


class DeltaTable(Protocol):
    commit_lock: CommitLock
    conflicts: int
    _cursors: CursorCache

    @property
    def label(self) -> str: ...

    def _load(self) -> _Delta | None: ...

    def refresh(self) -> _Delta: ...

    def _schema(self, dt: _Delta) -> pa.Schema: ...


ATTEMPTS = 30


class StaleTableError(SinkError):
    """The table changed since the caller read it: read again and recompute."""


def iceberg_version(table: IcebergTable) -> str:
    snap = table.refresh().current_snapshot()
    return "" if snap is None else str(snap.snapshot_id)


def iceberg_replace(
    lt: IcebergTable,
    data: pa.Table,
    where: Filter | None,
    positions: pos.Positions,
    expect: str | None,
) -> int:
    from pyiceberg.exceptions import CommitFailedException

    from lakesmith.stores.lake.iceberg_catalog import conform as _conform
    from lakesmith.stores.lake.iceberg_rows import commit_overwrite, rewrite_without
    from lakesmith.stores.lake.iceberg_snapshots import POSITIONS_KEY, read_positions

    for attempt in range(ATTEMPTS):
        with lt.commit_lock:
            table = lt.refresh()
            if expect is not None and iceberg_version(lt) != expect:
                raise StaleTableError(f"{lt.label} changed since it was read")
            merged = pos.merge(read_positions(table), positions)
            props = {POSITIONS_KEY: pos.dumps(merged)} if merged else {}
            rows = _conform(data, table).select([f.name for f in table.schema().fields])
            removed, rewritten = rewrite_without(table, where) if where is not None else ([], [])
            files = lt._write_files(table, rows) if rows.num_rows else []
            try:
                # one snapshot: the files with deleted rows out, their rewrites and the new
                # rows in (an append alone when nothing was deleted)
                if removed:
                    commit_overwrite(table, removed, [*rewritten, *files], props)
                elif files or positions:
                    lt._fast_append(table, files, merged)
                return int(rows.num_rows)
            except CommitFailedException:
                lt._discard(table, [*rewritten, *files])
        lt._conflict(attempt, "catalog commit failed")
    raise SinkError(f"could not commit to {lt.label} after {ATTEMPTS} attempts")


def delta_version(table: DeltaTable) -> str:
    dt = table._load()
    return "" if dt is None else str(dt.version())


def delta_replace(
    lt: DeltaTable,
    data: pa.Table,
    where: Filter | None,
    positions: pos.Positions,
    expect: str | None,
) -> int:
    from deltalake import write_deltalake
    from deltalake.exceptions import CommitFailedError

    from lakesmith.stores.lake.delta_arrow import conform
    from lakesmith.stores.lake.delta_layout import SORT_PROP, generated_columns
    from lakesmith.stores.lake.delta_log import backoff, position_commit

    for attempt in range(ATTEMPTS):
        with lt.commit_lock:
            dt = lt.refresh()
            if expect is not None and str(dt.version()) != expect:
                raise StaleTableError(f"{lt.label} changed since it was read")
            props, advanced = position_commit(dt, positions)  # the cursors too
            if data.num_rows == 0 and where is None and props is None:
                return 0
            sort_by = dt.metadata().configuration.get(SORT_PROP)
            rows = conform(data, lt._schema(dt), generated_columns(dt), sort_by)
            try:
                if where is None:
                    write_deltalake(dt, rows, mode="append", commit_properties=props)
                else:
                    # delete + insert in one commit: a merge nothing matches inserts every
                    # row and deletes the target rows the filter selects
                    merger = dt.merge(
                        rows,
                        predicate="false",
                        source_alias="s",
                        target_alias="t",
                        commit_properties=props,
                    )
                    merger.when_not_matched_insert_all().when_not_matched_by_source_delete(
                        _target_predicate(where)
                    ).execute()
                lt._cursors.remember(advanced)
                return int(rows.num_rows)
            except CommitFailedError:
                lt.conflicts += 1
        backoff(attempt)
    raise SinkError(f"could not commit to {lt.label} after {ATTEMPTS} attempts")


def _target_predicate(where: Filter) -> str | None:
    """The filter as a merge predicate on the target (``t.``) columns; None: every row."""
    from lakesmith.stores.lake.delta_arrow import sql_predicate

    # each single-term predicate starts with its quoted column name
    terms = [f"t.{sql_predicate([term])}" for term in where]
    return " AND ".join(terms) if terms else None
