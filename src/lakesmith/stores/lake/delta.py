"""Delta Lake tables (delta-rs) with the source positions as application transactions.

Layout: ``<warehouse>/<namespace>/<name>`` (``file://`` or ``s3://``), no catalog: the
``_delta_log`` next to the data is the table.

Exactly-once. A stream's position is a Delta *application transaction* (``txn`` action)
``app_id = "lakesmith:<stream>"``, ``version = next seq``, committed in the same log entry
as the rows (``CommitProperties(app_transactions=…)``). ``append`` reads the committed
versions, drops rows below them (``unseen_arrow``) and only then writes; delta-rs' conflict
checker fails a commit whose app ids a concurrent winner also set (``CommitFailedError``:
"Concurrent transaction failed"), so two writers of one stream can never both land: the
loser reloads, re-filters and retries. Concurrent commits for *other* streams are resolved
by delta-rs' own commit retries (they cannot change the rows this batch keeps). Delta
keeps the newest ``txn`` per app id in every checkpoint: positions survive OPTIMIZE,
VACUUM, DELETE and log cleanup (``delta.setTransactionRetentionDuration`` must stay unset).

Cursors. A ``txn`` holds only a number, so a position's opaque ``cursor`` travels in the
commit info of the same commit (``lakesmith.positions``, ``positions.dumps`` of the streams
it advanced). ``positions`` finds it by ``(stream, next)`` in the history, newest commit
first, in growing windows, and caches the answer per ``(stream, next)`` (it never changes).
Tables that never saw a cursor skip the history entirely: the first commit that carries
one also sets the app transaction ``lakesmith.cursors``. Commit infos go away with expired
log files (``delta.logRetentionDuration``, 30 days): ``compact`` re-carries the cursors it
finds in the last ``CARRY_WINDOW`` commits, so a stream idle for longer than the log
retention *without* compaction in between resumes without its cursor (its ``next`` is
never lost; rows are still de-duplicated by ``seq``).

Partitioning. Delta partitions by column value only, so ``identity`` is native and a
``day`` / ``hour`` / ``month`` transform of a timestamp column becomes a plain generated
column ``<col>_<transform>`` (date, UTC timestamp truncated to the hour, date of the 1st of
the month) that ``append`` fills from the timestamp and the table is partitioned by. The
layout is kept in the ``lakesmith.partition_by`` property; ``column_names`` and scans
without ``columns`` hide the generated columns (outside readers see them).

Custom table properties (``lakesmith.schema_version``, …) are stored as Delta table
configuration: delta-rs rejects unknown keys unless asked not to, which we do. Delta has
no sort order: ``sort_by`` (``lakesmith.sort_by``) sorts each appended batch instead.

Compaction. Per partition with enough small files, delta-rs OPTIMIZE (bin-packing; it
never conflicts with concurrent appends) or, with ``dedupe_keys``, an overwrite of the
partition by its rows minus duplicates (read whole into memory, one partition at a time).
That overwrite, like ``delete``, fails when a writer added rows to the partition after it
read it ("concurrent transactions added new data"); it is re-run then. VACUUM afterwards
deletes the files removed more than ``expire_older_than`` ago (the transaction log itself
is cleaned up by delta-rs after checkpoints, per ``delta.logRetentionDuration``).

S3. delta-rs >= 1.0 commits with put-if-absent (``If-None-Match: *``, conditional writes:
AWS S3 since 2024-11, MinIO, R2, moto) and dropped the DynamoDB locking provider;
``AWS_S3_ALLOW_UNSAFE_RENAME`` is only read by older releases (it let a single writer
commit without a lock). In production with several writers use a store with conditional
writes (AWS S3, MinIO, R2) and set ``AWS_CONDITIONAL_PUT=etag`` if the store needs it
spelled out; with delta-rs < 1.0 configure ``AWS_S3_LOCKING_PROVIDER=dynamodb`` +
``DELTA_DYNAMO_TABLE_NAME`` instead of the unsafe rename.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, Transaction, write_deltalake
from deltalake import DeltaTable as _Delta
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from lakesmith.config import Settings
from lakesmith.core.columns import INGESTED_AT, RECORD_ID, Column
from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger
from lakesmith.core.positions import Position, Positions, covers, dumps, loads, unseen_arrow
from lakesmith.stores.lake.base import (
    CompactOptions,
    CompactReport,
    Filter,
    LakeFormat,
    LakeTable,
)

log = get_logger(__name__)

APP_PREFIX = "lakesmith:"  # app id of a stream: lakesmith:<stream>
CURSORS_APP = "lakesmith.cursors"  # set once by the first commit with a cursor (no stream
# app id can collide: those all start with "lakesmith:")
POSITIONS_KEY = "lakesmith.positions"  # commit info: the positions that commit advanced
COMPACTION_KEY = "lakesmith.compaction"
PARTITION_PROP = "lakesmith.partition_by"  # JSON [[column, transform], …]
SORT_PROP = "lakesmith.sort_by"  # JSON [column, …]: rows are sorted on write
ATTEMPTS = 30
HISTORY_WINDOWS = (64, 1024, None)  # commits read per pass when looking for cursors
CARRY_WINDOW = 1024
SMALL_FILE_RATIO = 0.75  # a file below 75 % of the target size is a compaction candidate
DEDUPE_ORDER = (INGESTED_AT, RECORD_ID)

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "long": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
    "list<string>": pa.list_(pa.string()),
}
_GENERATED_TYPES: dict[str, pa.DataType] = {
    "day": pa.date32(),
    "hour": pa.timestamp("us", tz="UTC"),
    "month": pa.date32(),
}


def arrow_type(t: str) -> pa.DataType:
    try:
        return _ARROW_TYPES[t]
    except KeyError:
        raise SinkError(f"unsupported column type {t!r} for a Delta table") from None


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, arrow_type(c.type), nullable=True) for c in columns])


def generated_name(column: str, transform: str) -> str:
    return f"{column}_{transform}"


def _transformed(values: pa.ChunkedArray, transform: str) -> pa.ChunkedArray:
    """The partition value of a UTC timestamp column under ``transform``."""
    if transform == "day":
        return pc.cast(values, pa.date32())
    if transform == "hour":
        return pc.floor_temporal(values, unit="hour")
    if transform == "month":
        return pc.cast(pc.floor_temporal(values, unit="month"), pa.date32())
    raise SinkError(f"unsupported partition transform {transform!r}")


def _app_id(stream: str) -> str:
    return APP_PREFIX + stream


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0.01, 0.2) * min(attempt + 1, 5))


# -- predicates -----------------------------------------------------------------------


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return f"'{value.astimezone(UTC).isoformat()}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise ValueError(f"unsupported filter value {value!r}")


def sql_predicate(where: Filter) -> str | None:
    """The filter as a delta-rs (DataFusion) SQL predicate; None matches everything."""
    parts = []
    for col, op, value in where:
        c = _sql_ident(col)
        if op == "==":
            parts.append(f"{c} IS NULL" if value is None else f"{c} = {_sql_literal(value)}")
        elif op in (">=", "<"):
            parts.append(f"{c} {op} {_sql_literal(value)}")
        elif op == "in":
            values = list(value)
            parts.append(
                f"{c} IN ({', '.join(_sql_literal(v) for v in values)})" if values else "false"
            )
        else:
            raise ValueError(f"unsupported filter op {op!r}")
    return " AND ".join(parts) if parts else None


def _scalar(value: Any, typ: pa.DataType) -> Any:
    if pa.types.is_timestamp(typ) and isinstance(value, date):
        if not isinstance(value, datetime):  # a day: its first instant, UTC
            value = datetime(value.year, value.month, value.day, tzinfo=UTC)
        elif value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
    try:
        return pa.scalar(value, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return value


def arrow_predicate(where: Filter, schema: pa.Schema) -> pc.Expression | None:
    """The filter as a pyarrow dataset expression (prunes files by partition and stats)."""
    expr: pc.Expression | None = None
    for col, op, value in where:
        field = pc.field(col)
        typ = schema.field(col).type
        if op == "==":
            term = field.is_null() if value is None else field == _scalar(value, typ)
        elif op == ">=":
            term = field >= _scalar(value, typ)
        elif op == "<":
            term = field < _scalar(value, typ)
        elif op == "in":
            term = field.isin(pa.array(list(value), type=typ))
        else:
            raise ValueError(f"unsupported filter op {op!r}")
        expr = term if expr is None else expr & term
    return expr


# -- the table --------------------------------------------------------------------------


class DeltaTable:
    """One Delta table of a dataset (bronze, quarantine or silver)."""

    format: LakeFormat = "delta"

    def __init__(self, settings: Settings, namespace: str, name: str) -> None:
        self.settings = settings
        self.namespace = namespace
        self.name = name
        self.uri = f"{settings.effective_warehouse()}/{namespace}/{name}"
        self.storage_options = storage_options(settings) if self.uri.startswith("s3") else None
        self._dt: _Delta | None = None
        self._cursors: dict[tuple[str, int], str | None] = {}  # (stream, next) → cursor

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

    def _table(self) -> _Delta:
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
        types = {c.name: c.type for c in columns}
        fields = [pa.field(c.name, arrow_type(c.type), nullable=True) for c in columns]
        parts = []
        for col, transform in partition_by:
            if transform == "identity":
                parts.append(col)
                continue
            if types.get(col) != "timestamp" or transform not in _GENERATED_TYPES:
                raise SinkError(
                    f"{self.label}: cannot partition by {transform}({col}) "
                    f"(needs a timestamp column and day, hour or month)"
                )
            gen = generated_name(col, transform)
            fields.append(pa.field(gen, _GENERATED_TYPES[transform], nullable=True))
            parts.append(gen)
        config: dict[str, str | None] = dict(properties or {})
        if partition_by:
            config[PARTITION_PROP] = json.dumps([list(p) for p in partition_by])
        if sort_by:
            config[SORT_PROP] = json.dumps(list(sort_by))
        try:
            _Delta.create(
                self.uri,
                pa.schema(fields),
                mode="error",
                partition_by=parts or None,
                configuration=config,
                storage_options=self.storage_options,
                raise_if_key_not_exists=False,  # our own lakesmith.* keys
            )
            log.info("delta_table_created", table=self.label, uri=self.uri)
        except DeltaError:  # another worker won the race (or a real error: load tells)
            if self._load() is None:
                raise
        self._load()

    def _ensure_bucket(self) -> None:
        from lakesmith.stores.objects import ensure_bucket, s3_client

        ensure_bucket(s3_client(self.settings), self.uri.removeprefix("s3://").split("/", 1)[0])

    # -- schema and properties ------------------------------------------------------------

    def properties(self) -> dict[str, str]:
        return {k: v for k, v in self._table().metadata().configuration.items() if v is not None}

    def _partitioning(self, dt: _Delta) -> list[tuple[str, str]]:
        raw = dt.metadata().configuration.get(PARTITION_PROP)
        return [(c, t) for c, t in json.loads(raw)] if raw else []

    def _generated(self, dt: _Delta) -> dict[str, tuple[str, str]]:
        """Generated partition column → (source column, transform)."""
        return {generated_name(c, t): (c, t) for c, t in self._partitioning(dt) if t != "identity"}

    def _schema(self, dt: _Delta) -> pa.Schema:
        return pa.schema(dt.schema().to_arrow())

    def column_names(self) -> list[str]:
        dt = self._table()
        hidden = self._generated(dt)
        return [f.name for f in self._schema(dt) if f.name not in hidden]

    def add_columns(
        self, columns: Sequence[Column], properties: dict[str, str] | None = None
    ) -> list[str]:
        """Add the columns the table lacks (old rows read null); set ``properties``."""
        added: list[str] = []
        for attempt in range(ATTEMPTS):
            dt = self._table()
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
            except CommitFailedError:
                _backoff(attempt)
        raise SinkError(f"could not evolve {self.label} after {ATTEMPTS} attempts")

    # -- positions ------------------------------------------------------------------------

    def positions(self, streams: Iterable[str]) -> Positions:
        """Committed positions of ``streams`` (streams never committed are absent)."""
        dt = self._load()
        if dt is None:
            return {}
        versions = self._versions(dt, streams)
        if not versions:
            return {}
        if dt.transaction_version(CURSORS_APP) is None:
            return {s: Position(v) for s, v in versions.items()}
        cursors = self._find_cursors(dt, versions)
        return {s: Position(v, cursors.get(s)) for s, v in versions.items()}

    @staticmethod
    def _versions(dt: _Delta, streams: Iterable[str]) -> dict[str, int]:
        out = {}
        for s in streams:
            v = dt.transaction_version(_app_id(s))
            if v is not None:
                out[s] = int(v)
        return out

    def _find_cursors(self, dt: _Delta, versions: Mapping[str, int]) -> dict[str, str | None]:
        """The cursor committed with each ``(stream, version)``, from the commit infos."""
        want = {(s, v) for s, v in versions.items() if (s, v) not in self._cursors}
        for limit in HISTORY_WINDOWS:
            if not want:
                break
            commits = dt.history(limit)
            for commit in commits:  # newest first: the first mention wins
                for s, p in _commit_positions(commit).items():
                    self._cursors.setdefault((s, p.next), p.cursor)
            want = {k for k in want if k not in self._cursors}
            if limit is None or len(commits) < limit:
                break
        for key in want:  # not in the log any more (expired log files): no cursor
            log.warning("delta_cursor_not_found", table=self.label, stream=key[0], next=key[1])
            self._cursors[key] = None
        return {s: self._cursors.get((s, v)) for s, v in versions.items()}

    def _carried_cursors(self, dt: _Delta) -> Positions:
        """Current positions with a cursor, found in the last ``CARRY_WINDOW`` commits:
        maintenance commits repeat them so they outlive the log retention."""
        if dt.transaction_version(CURSORS_APP) is None:
            return {}
        found: Positions = {}
        for commit in dt.history(CARRY_WINDOW):
            for s, p in _commit_positions(commit).items():
                found.setdefault(s, p)
        current = self._versions(dt, found)
        return {s: p for s, p in found.items() if p.cursor is not None and current.get(s) == p.next}

    # -- writing --------------------------------------------------------------------------

    def append(self, data: pa.Table, positions: Positions) -> int:
        """Append the rows beyond the committed positions together with ``positions``,
        atomically; with empty ``positions`` append as is. Returns the rows written."""
        for attempt in range(ATTEMPTS):
            dt = self._table()
            txns: list[Transaction] = []
            advanced: Positions = {}
            rows = data
            if positions:
                committed = {s: Position(v) for s, v in self._versions(dt, positions).items()}
                if covers(committed, positions):
                    return 0  # everything already committed (a replay)
                rows = unseen_arrow(data, committed)
                advanced = {
                    s: p
                    for s, p in positions.items()
                    if s not in committed or p.next > committed[s].next
                }
                txns = [Transaction(_app_id(s), p.next) for s, p in advanced.items()]
                if any(p.cursor is not None for p in advanced.values()) and (
                    dt.transaction_version(CURSORS_APP) is None
                ):
                    txns.append(Transaction(CURSORS_APP, 1))
            if rows.num_rows == 0 and not txns:
                return 0
            rows = self._conform(dt, rows)
            meta = {POSITIONS_KEY: dumps(advanced)} if advanced else None
            try:
                write_deltalake(
                    dt,
                    rows,
                    mode="append",
                    commit_properties=CommitProperties(
                        custom_metadata=meta, app_transactions=txns or None
                    ),
                )
            except CommitFailedError as exc:
                log.info("lake_commit_conflict", table=self.label, attempt=attempt, error=str(exc))
                _backoff(attempt)
                continue
            for s, p in advanced.items():
                self._cursors[(s, p.next)] = p.cursor
            return int(rows.num_rows)
        raise SinkError(f"could not commit to {self.label} after {ATTEMPTS} attempts")

    def _conform(self, dt: _Delta, data: pa.Table) -> pa.Table:
        """``data`` in the table's schema: missing columns null, unknown ones dropped,
        generated partition columns computed, rows sorted by the table's sort columns."""
        schema = self._schema(dt)
        generated = self._generated(dt)
        n = data.num_rows
        arrays: dict[str, Any] = {}
        for field in schema:
            if field.name in generated:
                continue
            if field.name in data.column_names:
                arrays[field.name] = _cast(data.column(field.name), field.type)
            else:
                arrays[field.name] = pa.nulls(n, field.type)
        for gen, (col, transform) in generated.items():
            values = arrays[col]
            if not isinstance(values, pa.ChunkedArray):
                values = pa.chunked_array([values], type=schema.field(col).type)
            arrays[gen] = _cast(_transformed(values, transform), schema.field(gen).type)
        out = pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)
        raw = dt.metadata().configuration.get(SORT_PROP)
        sort = [c for c in json.loads(raw) if c in schema.names] if raw else []
        if sort and n > 1:
            out = out.sort_by([(c, "ascending") for c in sort])
        return out

    def delete(self, where: Filter) -> None:
        """Delete matching rows, keeping the committed positions (``txn`` actions)."""
        predicate = sql_predicate(where)
        for attempt in range(ATTEMPTS):
            dt = self._table()
            try:
                dt.delete(predicate)
                return
            except CommitFailedError as exc:
                log.info("lake_delete_conflict", table=self.label, attempt=attempt, error=str(exc))
                _backoff(attempt)
        raise SinkError(f"could not delete from {self.label} after {ATTEMPTS} attempts")

    # -- reading --------------------------------------------------------------------------

    def _read_columns(self, dt: _Delta, columns: Sequence[str] | None) -> list[str]:
        if columns is not None:
            return list(columns)
        hidden = self._generated(dt)
        return [f.name for f in self._schema(dt) if f.name not in hidden]

    def scan(self, columns: Sequence[str] | None = None, where: Filter = ()) -> pl.DataFrame:
        """Matching rows, all in memory."""
        dt = self._table()
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
        dt = self._table()
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
        dt = self._table()
        if (column, "day") not in self._partitioning(dt):
            return None
        key = f"partition.{generated_name(column, 'day')}"
        counts: dict[date, int] = {}
        for f in _add_actions(dt):
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
        """Rewrite the small files of every partition that has enough of them (with
        ``dedupe_keys``: keep the first row per key, by ``_ingested_at, _record_id``), then
        vacuum files removed longer than ``expire_older_than`` ago. Dry run: only plan."""
        started = time.perf_counter()
        dt = self._table()
        files = _add_actions(dt)
        n, size, rows = _totals(files)
        rep = CompactReport(self.label, n, n, size, size, rows, rows)
        plans = _plan(files, options)
        carried = {} if options.dry_run else self._carried_cursors(dt)  # read once per run
        for label, filters, small in plans:
            if options.dry_run:
                small_bytes = sum(f["size_bytes"] for f in small)
                out = max(1, math.ceil(small_bytes / options.target_bytes))
                rep.files_after -= len(small) - out
                rep.partitions_rewritten += 1
                rep.details.append(f"{label}: {len(small)} files → ~{out}")
            else:
                self._rewrite(label, filters, options, rep, carried)
            if progress is not None:
                progress(label)
        if options.dry_run:
            rep.files_deleted = len(self._vacuum(options, {}, dry_run=True))
        else:
            rep.files_deleted = len(self._vacuum(options, carried, dry_run=False))
            rep.files_after, rep.bytes_after, rep.rows_after = _totals(_add_actions(self._table()))
        rep.seconds = time.perf_counter() - started
        return rep

    def _commit_props(self, carried: Positions, note: str) -> CommitProperties:
        meta = {COMPACTION_KEY: note}
        if carried:
            meta[POSITIONS_KEY] = dumps(carried)
        return CommitProperties(custom_metadata=meta)

    def _rewrite(
        self,
        label: str,
        filters: list[tuple[str, str, Any]],
        options: CompactOptions,
        rep: CompactReport,
        carried: Positions,
    ) -> None:
        for attempt in range(options.attempts):
            dt = self._table()
            try:
                if options.dedupe_keys:
                    dupes = self._rewrite_deduped(dt, label, filters, options, carried)
                    rep.duplicates_removed += dupes
                    label = f"{label}: rewritten, {dupes} duplicates removed"
                else:
                    metrics = dt.optimize.compact(
                        partition_filters=[(c, op, "" if v is None else v) for c, op, v in filters]
                        or None,
                        target_size=options.target_bytes,
                        commit_properties=self._commit_props(carried, f"{label}: optimize"),
                    )
                    label = (
                        f"{label}: {metrics.get('numFilesRemoved', 0)} files → "
                        f"{metrics.get('numFilesAdded', 0)}"
                    )
            except CommitFailedError as exc:
                rep.conflicts += 1
                log.info("compact_conflict", table=self.label, partition=label, error=str(exc))
                _backoff(attempt)
                continue
            rep.partitions_rewritten += 1
            rep.details.append(label)
            log.info("compact_partition", table=self.label, partition=label)
            return
        raise SinkError(
            f"could not compact {self.label} {label} after {options.attempts} attempts",
            hint="a writer keeps committing conflicting changes; retry later",
        )

    def _rewrite_deduped(
        self,
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
            commit_properties=self._commit_props(carried, f"{label}: rewrite, {dupes} duplicates"),
        )
        return dupes

    def _vacuum(self, options: CompactOptions, carried: Positions, dry_run: bool) -> list[str]:
        hours = math.ceil(options.expire_older_than.total_seconds() / 3600)
        for attempt in range(options.attempts):
            dt = self._table()
            try:
                return dt.vacuum(
                    retention_hours=hours,
                    dry_run=dry_run,
                    enforce_retention_duration=False,
                    commit_properties=None if dry_run else self._commit_props(carried, "vacuum"),
                )
            except CommitFailedError:
                _backoff(attempt)
        raise SinkError(f"could not vacuum {self.label} after {options.attempts} attempts")


# -- helpers ------------------------------------------------------------------------------


def storage_options(settings: Settings) -> dict[str, str]:
    """delta-rs (object_store) options for a warehouse on S3."""
    s3 = settings.lake_s3_options()
    opts = {
        "AWS_ENDPOINT_URL": s3["endpoint"],
        "AWS_REGION": s3["region"],
        "AWS_ACCESS_KEY_ID": s3["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": s3["secret_access_key"],
        # Read by delta-rs < 1.0 only (single writer without a lock; the local server
        # is moto). delta-rs >= 1.0 commits with conditional puts (If-None-Match), safe
        # for several writers on AWS S3 / MinIO / R2 / moto: see the module docstring.
        "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    }
    if s3["endpoint"].startswith("http://"):
        opts["AWS_ALLOW_HTTP"] = "true"
    return opts


def _cast(values: Any, typ: pa.DataType) -> Any:
    if values.type == typ:
        return values
    # timestamps: ns → us truncates instead of failing; everything else casts safely
    return pc.cast(values, typ, safe=not pa.types.is_timestamp(typ))


def _commit_positions(commit: Mapping[str, Any]) -> Positions:
    raw = commit.get(POSITIONS_KEY)
    if not isinstance(raw, str):
        return {}
    with contextlib.suppress(ValueError, TypeError, IndexError, KeyError):
        return loads(raw)
    return {}


def _add_actions(dt: _Delta) -> list[dict[str, Any]]:
    """One dict per live data file: path, size_bytes, num_records, partition.<col>."""
    rows: list[dict[str, Any]] = pa.table(dt.get_add_actions(flatten=True)).to_pylist()
    return rows


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


if TYPE_CHECKING:  # mypy checks that DeltaTable implements the LakeTable protocol

    def _implements_protocol(table: DeltaTable) -> LakeTable:
        return table


__all__ = ["DeltaTable", "arrow_predicate", "arrow_schema", "sql_predicate", "storage_options"]
