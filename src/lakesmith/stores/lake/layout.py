"""Read-optimised layout of a finished table, and the statistics readers prune with.

``cluster`` lays a table's rows out for pruning on ``columns`` within each partition:
Delta runs delta-rs ``optimize.z_order`` (files of about ``target_bytes``, rows
interleaved by the Z-order curve of the columns — one column: sorted); Iceberg rewrites
small files per partition sorted by the table's sort order (``LakeTable.compact``,
which also expires old snapshots). ``file_stats`` lists the live data files with their
partition, rows, bytes and the min/max of one column from the table's metadata (Delta:
the log's per-file statistics; Iceberg: the manifests' bounds) — what DuckDB, Spark or
Trino use to skip files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from lakesmith.stores.lake.base import MB, CompactOptions, LakeTable


@dataclass
class ClusterReport:
    table: str
    how: str  # "z-order" (Delta) or "compaction" (Iceberg)
    files_before: int
    files_after: int
    seconds: float


def cluster(
    table: LakeTable, columns: Sequence[str], target_bytes: int = 128 * MB
) -> ClusterReport:
    """Lay ``table`` out for pruning on ``columns`` (see the module doc)."""
    import time

    started = time.perf_counter()
    before = file_stats(table).height
    if table.format == "delta":
        delta: Any = table.refresh()  # type: ignore[attr-defined]
        delta.optimize.z_order(list(columns), target_size=target_bytes)
        how = "z-order"
    else:
        table.compact(
            CompactOptions(
                min_files=2, target_bytes=target_bytes, expire_older_than=dt.timedelta(0)
            )
        )
        how = "compaction (sorted by the table's sort order)"
    after = file_stats(table).height
    return ClusterReport(table.label, how, before, after, time.perf_counter() - started)


def _delta_files(table: LakeTable, column: str | None) -> pl.DataFrame:
    delta: Any = table.refresh()  # type: ignore[attr-defined]
    actions = pl.from_arrow(pa.table(delta.get_add_actions(flatten=True)))
    assert isinstance(actions, pl.DataFrame)
    parts = [c for c in actions.columns if c.startswith("partition.")]
    out = actions.select(
        pl.col("path"),
        (
            pl.concat_str([pl.col(c).cast(pl.String) for c in parts], separator="/")
            if parts
            else pl.lit("")
        ).alias("partition"),
        pl.col("num_records").cast(pl.Int64).alias("rows"),
        pl.col("size_bytes").cast(pl.Int64).alias("bytes"),
    )
    if column is not None and f"min.{column}" in actions.columns:
        out = out.with_columns(
            actions[f"min.{column}"].cast(pl.String).alias("min"),
            actions[f"max.{column}"].cast(pl.String).alias("max"),
        )
    return out


def _iceberg_files(table: LakeTable, column: str | None) -> pl.DataFrame:
    from pyiceberg.conversions import from_bytes

    ice: Any = table.refresh()  # type: ignore[attr-defined]
    if ice.current_snapshot() is None:
        return pl.DataFrame(
            schema={"path": pl.String, "partition": pl.String, "rows": pl.Int64, "bytes": pl.Int64}
        )
    files = ice.inspect.files().to_pylist()
    transforms = [str(p.transform) for p in ice.spec().fields]
    field = ice.schema().find_field(column) if column is not None else None
    rows = []
    for f in files:
        row: dict[str, Any] = {
            "path": f["file_path"],
            "partition": "/".join(
                _readable(t, v)
                for t, v in zip(transforms, (f.get("partition") or {}).values(), strict=False)
            ),
            "rows": int(f["record_count"]),
            "bytes": int(f["file_size_in_bytes"]),
        }
        if field is not None:
            lower = dict(f.get("lower_bounds") or [])
            upper = dict(f.get("upper_bounds") or [])
            for name, bounds in (("min", lower), ("max", upper)):
                raw = bounds.get(field.field_id)
                row[name] = None if raw is None else str(from_bytes(field.field_type, raw))
        rows.append(row)
    return pl.DataFrame(rows)


def _readable(transform: str, value: Any) -> str:
    """An Iceberg partition value as people read it (``month`` 636 → ``2023-01``)."""
    if transform == "month" and isinstance(value, int):
        return f"{1970 + value // 12}-{value % 12 + 1:02d}"
    if transform == "day" and isinstance(value, int):
        return str(dt.date(1970, 1, 1) + dt.timedelta(days=value))
    return str(value)


def file_stats(table: LakeTable, column: str | None = None) -> pl.DataFrame:
    """One row per live data file: ``path, partition, rows, bytes`` (+ ``min, max`` of
    ``column`` when the metadata has them)."""
    if table.format == "delta":
        return _delta_files(table, column)
    return _iceberg_files(table, column)
