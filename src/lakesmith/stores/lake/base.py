"""The lake table interface every table format implements (Iceberg, Delta Lake).

A dataset's bronze, quarantine and silver tables are ``LakeTable``s; nothing outside
``stores/lake`` imports pyiceberg or deltalake. Exactly-once: ``append`` commits the rows
*and* the batch's source positions atomically, after dropping rows at or below positions
already committed (re-read inside the commit loop), so a replayed or zombie batch never
lands twice. ``positions`` reads them back.

Filters are tiny and storage-neutral: a list of ``(column, op, value)`` predicates, ANDed,
``op`` in ``==  >=  <  in``; each backend translates them to its own pushdown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, Protocol

import polars as pl
import pyarrow as pa

from lakesmith.core.columns import Column
from lakesmith.core.positions import Positions

LakeFormat = Literal["iceberg", "delta"]
Op = Literal["==", ">=", "<", "in"]
Filter = Sequence[tuple[str, Op, Any]]
SCHEMA_VERSION_PROP = "lakesmith.schema_version"
MB = 1024 * 1024

# Serialises the *commit* step of one table across every worker writing it (data files are
# written outside it), so optimistic catalog commits stop conflicting as workers are added;
# ``stores.meta.AdvisoryLock`` in production, ``contextlib.nullcontext()`` alone. Only an
# optimisation: a commit that still races (a tool not taking the lock) fails the catalog's
# own check and is retried, so exactly-once never depends on it.
CommitLock = AbstractContextManager[object]


@dataclass(frozen=True)
class CompactOptions:
    min_files: int = 4  # rewrite a partition once it has this many small files
    target_bytes: int = 128 * MB
    expire_older_than: timedelta = timedelta(hours=1)  # snapshots / removed files kept this long
    retain_last: int = 5  # snapshots always kept (Iceberg)
    dry_run: bool = False
    attempts: int = 60
    dedupe_keys: Sequence[str] = ()  # silver: keep the first row per natural key
    # Iceberg: delete data files no snapshot references (staged by a run killed before its
    # commit) once older than this; None: leave them (the worker's automatic compaction)
    orphans_older_than: timedelta | None = None


@dataclass
class CompactReport:
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


class LakeTable(Protocol):
    """One table of a dataset in the lake (``namespace.name``)."""

    format: LakeFormat
    namespace: str
    name: str
    conflicts: int  # commits this handle had to redo because another writer won

    @property
    def label(self) -> str:
        """``namespace.name`` for messages."""
        ...

    @property
    def location(self) -> str:
        """Where outside readers find it: Iceberg metadata JSON path, Delta table URI."""
        ...

    def exists(self) -> bool: ...

    def ensure(
        self,
        columns: Sequence[Column],
        partition_by: Sequence[tuple[str, str]] = (),  # (column, identity|day|hour|month)
        sort_by: Sequence[str] = (),
        properties: dict[str, str] | None = None,
    ) -> None:
        """Create the table if missing (safe when several workers race)."""
        ...

    def add_columns(
        self, columns: Sequence[Column], properties: dict[str, str] | None = None
    ) -> list[str]:
        """Add the columns the table lacks (old rows read null); set ``properties``."""
        ...

    def properties(self) -> dict[str, str]: ...

    def column_names(self) -> list[str]: ...

    def positions(self, streams: Iterable[str]) -> Positions:
        """Committed positions of ``streams`` (streams never committed are absent)."""
        ...

    def append(self, data: pa.Table, positions: Positions) -> int:
        """Append the rows of ``data`` (with ``_stream``/``_seq``) beyond the committed
        positions, together with ``positions``, atomically; returns the rows written.
        With empty ``positions`` the rows are appended as they are (maintenance jobs)
        and the committed positions are kept."""
        ...

    def delete(self, where: Filter) -> None:
        """Delete matching rows, keeping the committed positions."""
        ...

    def version(self) -> str:
        """An opaque token of the table's current state ("" before the first commit)."""
        ...

    def replace(
        self,
        data: pa.Table,
        where: Filter | None,
        positions: Positions,
        expect: str | None = None,
    ) -> int:
        """Delete the rows matching ``where`` (None: none; ``()``: all) and add ``data``
        in one commit, merging ``positions`` into the committed ones; with ``expect``, only
        if the table is still at that ``version`` (else ``merge.StaleTableError``). Rows are
        not filtered by positions (the caller did). Returns the rows written."""
        ...

    def scan(self, columns: Sequence[str] | None = None, where: Filter = ()) -> pl.DataFrame:
        """Matching rows, all in memory (small reads: tests, replay, dedupe priming)."""
        ...

    def batches(
        self, columns: Sequence[str] | None = None, where: Filter = ()
    ) -> Iterator[pa.Table]:
        """Matching rows in pieces of about one data file (bounded memory)."""
        ...

    def day_counts(self, column: str) -> dict[date, int] | None:
        """Rows per UTC day of ``column``, from metadata when the table is partitioned by
        day on it; None when only a scan could tell."""
        ...

    def compact(
        self, options: CompactOptions, progress: Callable[[str], None] | None = None
    ) -> CompactReport:
        """Rewrite small files (dry-run: only plan), then expire old snapshots / vacuum."""
        ...


def predicate_expr(where: Filter) -> pl.Expr:
    """The filter as a Polars expression (for backends that filter after reading)."""
    expr = pl.lit(True)
    for col, op, value in where:
        c = pl.col(col)
        if op == "==":
            expr &= c == value
        elif op == ">=":
            expr &= c >= value
        elif op == "<":
            expr &= c < value
        elif op == "in":
            expr &= c.is_in(list(value))
        else:
            raise ValueError(f"unsupported filter op {op!r}")
    return expr
