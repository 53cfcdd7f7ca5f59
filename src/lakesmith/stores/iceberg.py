"""Apache Iceberg tables (pyiceberg, SQL catalog) with source positions in snapshots.

Exactly-once: every append records the source positions it covers (``topic →
partition → next offset``) in the snapshot summary (``lakesmith.positions``), merged
with the positions already committed. A writer re-reads them *inside* its commit loop
and drops rows at or below them, so a replayed or zombie batch can never land twice.
Concurrent commits (two workers) fail pyiceberg's optimistic check; the loop refreshes
and retries.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    TableAlreadyExistsError,
)
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import (
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
)
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DoubleType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

from lakesmith.config import Settings
from lakesmith.core.errors import SinkError
from lakesmith.core.logging import get_logger

log = get_logger(__name__)

POSITIONS_KEY = "lakesmith.positions"
SCHEMA_VERSION_PROP = "lakesmith.schema_version"
Positions = dict[str, dict[int, int]]  # topic → partition → next offset
# pyiceberg retries a failed commit by itself with the snapshot properties it was given:
# stale positions would then overwrite another worker's. Our own loop re-reads them.
COMMIT_RETRIES = "commit.retry.num-retries"
NO_INTERNAL_RETRY = {COMMIT_RETRIES: "0"}

_TYPES: dict[str, Callable[[], IcebergType]] = {
    "string": StringType,
    "long": LongType,
    "int": IntegerType,
    "double": DoubleType,
    "boolean": BooleanType,
    "timestamp": TimestamptzType,
    "binary": BinaryType,
}
_TRANSFORMS: dict[str, Callable[[], Transform[Any, Any]]] = {
    "identity": IdentityTransform,
    "day": DayTransform,
    "hour": HourTransform,
    "month": MonthTransform,
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # string | long | int | double | boolean | timestamp | binary | list<string>
    doc: str = ""


def _iceberg_type(t: str, next_id: Callable[[], int]) -> IcebergType:
    if t == "list<string>":
        return ListType(element_id=next_id(), element_type=StringType(), element_required=False)
    return _TYPES[t]()


def iceberg_schema(columns: Sequence[Column]) -> Schema:
    counter = iter(range(1, 10_000))
    fields = []
    for c in columns:
        field_id = next(counter)
        fields.append(
            NestedField(
                field_id,
                c.name,
                _iceberg_type(c.type, lambda: next(counter)),
                required=False,
                doc=c.doc or None,
            )
        )
    return Schema(*fields)


@cache
def _catalog(name: str, uri: str, warehouse: str) -> SqlCatalog:
    return SqlCatalog(name, uri=uri, warehouse=warehouse, init_catalog_tables="true")


def catalog(settings: Settings) -> Catalog:
    """The Iceberg catalog: SQL catalog (SQLite in the state dir locally)."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return _catalog(
        settings.lake.catalog_name, settings.effective_catalog_uri(), settings.effective_warehouse()
    )


def read_positions(table: Table) -> Positions:
    snap = table.current_snapshot()
    if snap is None:
        return {}
    raw = snap.summary[POSITIONS_KEY] if snap.summary is not None else None
    if not raw:
        return {}
    return {
        topic: {int(p): int(o) for p, o in parts.items()}
        for topic, parts in json.loads(raw).items()
    }


def merge_positions(base: Positions, new: Positions) -> Positions:
    merged = {t: dict(p) for t, p in base.items()}
    for topic, parts in new.items():
        into = merged.setdefault(topic, {})
        for p, o in parts.items():
            into[p] = max(into.get(p, 0), o)
    return merged


def _dump_positions(pos: Positions) -> str:
    return json.dumps(
        {t: {str(p): o for p, o in sorted(ps.items())} for t, ps in sorted(pos.items())}
    )


def unseen_rows(data: pa.Table, topic: str, committed: dict[int, int]) -> pa.Table:
    """Rows of ``data`` (with ``_partition``/``_offset``) beyond the committed positions."""
    if not committed or data.num_rows == 0:
        return data
    parts = data.column("_partition")
    floor = pc.fill_null(
        pc.take(
            pa.array(list(committed.values()), pa.int64()),
            pc.index_in(parts, value_set=pa.array(list(committed.keys()), parts.type)),
        ),
        0,
    )
    return data.filter(pc.greater_equal(data.column("_offset"), floor))


class LakeTable:
    """One Iceberg table of a dataset (bronze, silver or quarantine)."""

    def __init__(self, settings: Settings, namespace: str, name: str) -> None:
        self.catalog = catalog(settings)
        self.identifier = (namespace, name)
        self._table: Table | None = None

    @property
    def table(self) -> Table:
        if self._table is None:
            self._table = self.catalog.load_table(self.identifier)
        return self._table

    def exists(self) -> bool:
        return self.catalog.table_exists(self.identifier)

    def ensure(
        self,
        columns: Sequence[Column],
        partition_by: Sequence[tuple[str, str]] = (),
        sort_by: Sequence[str] = (),
        properties: dict[str, str] | None = None,
    ) -> Table:
        """Create the table if missing (partition spec and sort order included)."""
        with contextlib.suppress(NamespaceAlreadyExistsError):
            self.catalog.create_namespace(self.identifier[0])
        if not self.exists():
            schema = iceberg_schema(columns)
            spec = PartitionSpec(
                *[
                    PartitionField(
                        source_id=schema.find_field(col).field_id,
                        field_id=1000 + i,
                        transform=_TRANSFORMS[transform](),
                        name=f"{col}_{transform}",
                    )
                    for i, (col, transform) in enumerate(partition_by)
                ]
            )
            order = SortOrder(
                *[
                    SortField(
                        source_id=schema.find_field(c).field_id, transform=IdentityTransform()
                    )
                    for c in sort_by
                ]
            )
            with contextlib.suppress(TableAlreadyExistsError):  # another worker won the race
                self.catalog.create_table(
                    self.identifier,
                    schema=schema,
                    partition_spec=spec,
                    sort_order=order,
                    properties={
                        "write.target-file-size-bytes": str(128 * 1024 * 1024),
                        **NO_INTERNAL_RETRY,
                        **(properties or {}),
                    },
                )
        self._table = self.catalog.load_table(self.identifier)
        if self._table.properties.get(COMMIT_RETRIES) != "0":  # tables made by older versions
            with contextlib.suppress(CommitFailedException), self._table.transaction() as tx:
                tx.set_properties(NO_INTERNAL_RETRY)
            self._table = self.catalog.load_table(self.identifier)
        return self._table

    def refresh(self) -> Table:
        self._table = self.table.refresh()
        return self._table

    def positions(self, topic: str) -> dict[int, int]:
        return read_positions(self.refresh()).get(topic, {})

    def add_columns(
        self, columns: Sequence[Column], properties: dict[str, str] | None = None
    ) -> None:
        """Add missing columns (schema evolution while the stream runs; old rows read null)."""
        for attempt in range(10):
            table = self.refresh()
            missing = [c for c in columns if c.name not in {f.name for f in table.schema().fields}]
            if not missing and not properties:
                return
            try:
                with table.transaction() as tx:
                    if missing:
                        with tx.update_schema() as upd:
                            for c in missing:
                                upd.add_column(
                                    c.name, _iceberg_type(c.type, lambda: 0), doc=c.doc or None
                                )
                    if properties:
                        tx.set_properties(properties)
                log.info(
                    "lake_schema_evolved",
                    table=".".join(self.identifier),
                    added=[c.name for c in missing],
                )
                return
            except CommitFailedException:
                time.sleep(random.uniform(0.01, 0.1) * (attempt + 1))
        raise SinkError(f"could not evolve {'.'.join(self.identifier)} after 10 attempts")

    def append(
        self, data: pa.Table, topic: str, positions: dict[int, int], attempts: int = 30
    ) -> int:
        """Append the rows beyond the committed positions, with the new positions, atomically.

        ``data`` must carry ``_partition`` and ``_offset``; columns not in the table are
        dropped (lineage helpers), missing ones are null. Returns the rows written.
        """
        for attempt in range(attempts):
            table = self.refresh()
            committed = read_positions(table)
            rows = unseen_rows(data, topic, committed.get(topic, {}))
            if all(committed.get(topic, {}).get(p, 0) >= o for p, o in positions.items()):
                return 0  # everything already committed (a replay)
            names = [f.name for f in table.schema().fields]
            rows = _conform(rows, table)
            merged = merge_positions(committed, {topic: positions})
            try:
                table.append(
                    rows.select(names), snapshot_properties={POSITIONS_KEY: _dump_positions(merged)}
                )
                return int(rows.num_rows)
            except CommitFailedException:
                log.info("lake_commit_conflict", table=".".join(self.identifier), attempt=attempt)
                time.sleep(random.uniform(0.01, 0.2) * min(attempt + 1, 5))
        raise SinkError(
            f"could not commit to {'.'.join(self.identifier)} after {attempts} attempts"
        )


def _conform(data: pa.Table, table: Table) -> pa.Table:
    """Add null columns the table has and the data lacks (columns evolved by others)."""
    schema = table.schema().as_arrow()
    for field in schema:
        if field.name not in data.column_names:
            data = data.append_column(field, pa.nulls(data.num_rows, field.type))
    return data


def carry_positions(table: Table) -> dict[str, str]:
    """Snapshot properties that keep the current positions (for non-stream commits)."""
    current = read_positions(table)
    return {POSITIONS_KEY: _dump_positions(current)} if current else {}
