"""Writing an Arrow table as data files of an Iceberg table, not committed.

pyiceberg splits a table by partition with one ``filter`` per partition value (a full
copy of the rows even when they all fall into one partition), after a ``group_by`` over
the whole table. A batch of a stream or of an ingest usually falls into one partition
(bronze is partitioned by the day it was ingested, silver by the month or day of its
event time), so ``data_files`` checks that first with one min/max per partition column
and then writes the rows as they are; any other batch goes through pyiceberg's own split.
Either way the files, their names and statistics are pyiceberg's (``write_file``): the
same ``WriteTask``s its ``_dataframe_to_data_files`` builds, minus the copy.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io.pyarrow import (
    _dataframe_to_data_files,
    _get_field_from_arrow_table,
    bin_pack_arrow_table,
    pyarrow_to_schema,
    write_file,
)
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import (
    DOWNCAST_NS_TIMESTAMP_TO_US_ON_WRITE,
    Table,
    TableProperties,
    WriteTask,
)
from pyiceberg.transforms import (
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    YearTransform,
)
from pyiceberg.utils.config import Config
from pyiceberg.utils.properties import property_as_int

# Transforms that never decrease as their input grows: all rows share the partition of
# their smallest and largest value exactly when those two do, so only those two are
# transformed (pyiceberg's transforms of a whole column, in pyiceberg-core, cost more than
# writing it: ~70 ms for 120k timestamps).
_MONOTONIC = (IdentityTransform, YearTransform, MonthTransform, DayTransform, HourTransform)


def single_partition(spec: PartitionSpec, schema: Schema, rows: pa.Table) -> PartitionKey | None:
    """The partition key of ``rows`` when they all share one (None: they do not, or the
    table is not partitioned). The values are those pyiceberg's split would give: the
    partition transform's Arrow result, as Python values."""
    if spec.is_unpartitioned() or rows.num_rows == 0:
        return None
    values: list[PartitionFieldValue] = []
    for field in spec.fields:
        name = schema.find_column_name(field.source_id)
        if name is None:
            return None
        transform = field.transform.pyarrow_transform(schema.find_field(field.source_id).field_type)
        column = _get_field_from_arrow_table(rows, name)
        if isinstance(field.transform, _MONOTONIC) and column.null_count == 0:
            bounds = pc.min_max(column)
            column = pa.array([bounds["min"], bounds["max"]], type=column.type)
        transformed = transform(column)
        nulls = transformed.null_count
        value: Any = None
        if nulls == 0:
            bounds = pc.min_max(transformed)
            low, high = bounds["min"], bounds["max"]
            if low != high:
                return None
            value = low.as_py()
        elif nulls != len(transformed):
            return None
        values.append(PartitionFieldValue(field=field, value=value))
    return PartitionKey(field_values=values, partition_spec=spec, schema=schema)


def data_files(table: Table, rows: pa.Table) -> list[DataFile]:
    """Write ``rows`` as data files of ``table`` (not committed); none for no rows."""
    if rows.num_rows == 0:
        return []
    metadata = table.metadata
    write_uuid = uuid.uuid4()
    key = single_partition(metadata.spec(), metadata.schema(), rows)
    if key is None:  # unpartitioned, or rows of several partitions: pyiceberg's own split
        return list(
            _dataframe_to_data_files(
                table_metadata=metadata, df=rows, io=table.io, write_uuid=write_uuid
            )
        )
    target = property_as_int(
        metadata.properties,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT,
    )
    task_schema = pyarrow_to_schema(
        rows.schema,
        name_mapping=metadata.schema().name_mapping,
        downcast_ns_timestamp_to_us=Config().get_bool(DOWNCAST_NS_TIMESTAMP_TO_US_ON_WRITE)
        or False,
        format_version=metadata.format_version,
    )
    counter = itertools.count(0)
    tasks = (
        WriteTask(
            write_uuid=write_uuid,
            task_id=next(counter),
            record_batches=batches,
            partition_key=key,
            schema=task_schema,
        )
        for batches in bin_pack_arrow_table(rows, target or 0)
    )
    return list(write_file(io=table.io, table_metadata=metadata, tasks=tasks))
