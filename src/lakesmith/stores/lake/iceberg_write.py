"""Writing an Arrow table as data files of an Iceberg table, not committed.

pyiceberg splits a table by partition with one ``filter`` per partition value (a full
copy of the rows even when they all fall into one partition), after a ``group_by`` over
the whole table. A batch of a stream or of an ingest usually falls into one partition
(bronze is partitioned by the day it was ingested, silver by the month or day of its
event time), so ``data_files`` checks that first with one min/max per partition column
and then writes the rows as they are; any other batch goes through pyiceberg's own split.
Either way (and for compaction's rewrites) the files, their names and statistics are
pyiceberg's: the same ``WriteTask``s its ``_dataframe_to_data_files`` builds, minus the
copy, written by ``_write_tasks`` —
pyiceberg's ``write_file`` with one change to its Parquet writer: the envelope's columns
that hold a different value in every row (``_record_id``, ``_source``, ``_seq``,
``_payload``) are written without a dictionary. pyarrow tries one for every column and
gives up only once it outgrows the table's ``dict-size-bytes`` (256 KiB), a few thousand
rows into each; pyiceberg has no per-column setting, so the writer is its own here.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyiceberg.io.pyarrow as pyiceberg_arrow
from pyiceberg.io import FileIO, OutputFile
from pyiceberg.io.fileformat import FileFormatFactory
from pyiceberg.io.pyarrow import (
    ParquetFormatWriter,
    _get_field_from_arrow_table,
    _to_requested_schema,
    bin_pack_arrow_table,
    parquet_path_to_id_mapping,
    pyarrow_to_schema,
    write_file,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey, PartitionSpec
from pyiceberg.schema import Schema, sanitize_column_names
from pyiceberg.table import (
    DOWNCAST_NS_TIMESTAMP_TO_US_ON_WRITE,
    Table,
    TableProperties,
    WriteTask,
)
from pyiceberg.table.locations import load_location_provider
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.transforms import (
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    YearTransform,
)
from pyiceberg.typedef import Properties, Record
from pyiceberg.utils.concurrent import ExecutorFactory
from pyiceberg.utils.config import Config
from pyiceberg.utils.properties import property_as_int

from lakesmith.core.columns import PAYLOAD, RECORD_ID, SEQ, SOURCE

# Columns with a different value in every row: written without a dictionary. Measured by
# hand on batches of the ingest benchmark's CSV (130k rows, zstd 1, 20k-row write batches),
# pyarrow alone: ~9 ms less per bronze + silver batch (e.g. ``_record_id`` 7.4 → 5.3 ms,
# ``_payload`` 24.2 → 22.2 ms), files no larger.
UNIQUE_COLUMNS = frozenset({RECORD_ID, SOURCE, SEQ, PAYLOAD})

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
    return write_data_files(table.metadata, table.io, rows)


def write_data_files(metadata: TableMetadata, io: FileIO, rows: pa.Table) -> list[DataFile]:
    """``data_files`` for a table's ``metadata`` (compaction passes a copy with its own
    target file size): rows of one partition written as they are, rows of several split
    by pyiceberg, all written by ``_write_tasks``."""
    if rows.num_rows == 0:
        return []
    schema = metadata.schema()
    target = property_as_int(
        metadata.properties,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT,
    )
    key = single_partition(metadata.spec(), schema, rows)
    parts: Iterable[tuple[PartitionKey | None, pa.Table]]
    if key is not None or metadata.spec().is_unpartitioned():
        parts = [(key, rows)]
    else:  # rows of several partitions: pyiceberg's split (one filtered copy each)
        split = pyiceberg_arrow._determine_partitions(metadata.spec(), schema, rows)
        parts = ((p.partition_key, p.arrow_table_partition) for p in split)
    write_uuid = uuid.uuid4()
    task_schema = pyarrow_to_schema(
        rows.schema,
        name_mapping=schema.name_mapping,
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
            partition_key=part_key,
            schema=task_schema,
        )
        for part_key, part in parts
        for batches in bin_pack_arrow_table(part, target or 0)
    )
    if metadata.properties.get(TableProperties.WRITE_FILE_FORMAT, "parquet").lower() != "parquet":
        return list(write_file(io=io, table_metadata=metadata, tasks=tasks))
    return _write_tasks(metadata, io, tasks)


class _ParquetWriter(ParquetFormatWriter):
    """pyiceberg's Parquet writer, with no dictionary for ``UNIQUE_COLUMNS``."""

    def __init__(self, output: OutputFile, file_schema: Schema, properties: Properties) -> None:
        super().__init__(output, file_schema, properties)
        if any(f.name in UNIQUE_COLUMNS for f in file_schema.fields):
            # pyarrow: the leaf columns named (``rules.list.element`` for a list) are
            # dictionary-encoded, the others are not
            self._parquet_writer_kwargs["use_dictionary"] = [
                path
                for path in parquet_path_to_id_mapping(file_schema)
                if path.split(".", 1)[0] not in UNIQUE_COLUMNS
            ]


def _write_tasks(metadata: TableMetadata, io: FileIO, tasks: Iterable[WriteTask]) -> list[DataFile]:
    """pyiceberg's ``write_file`` (0.12) with ``_ParquetWriter``: the same batches cast to
    the table's schema, file locations, statistics and ``DataFile`` entries."""
    schema = metadata.schema()
    file_schema = sanitize_column_names(schema)
    locations = load_location_provider(
        table_location=metadata.location, table_properties=metadata.properties
    )
    downcast = Config().get_bool(DOWNCAST_NS_TIMESTAMP_TO_US_ON_WRITE) or False
    model = FileFormatFactory.get(FileFormat.PARQUET)

    def write(task: WriteTask) -> DataFile:
        batches = [
            _to_requested_schema(
                requested_schema=file_schema,
                file_schema=task.schema,
                batch=batch,
                downcast_ns_timestamp_to_us=downcast,
                include_field_ids=True,
                format_model=model,
            )
            for batch in task.record_batches
        ]
        path = locations.new_data_location(
            data_file_name=task.generate_data_file_filename("parquet"),
            partition_key=task.partition_key,
        )
        output = io.new_output(path)
        writer = _ParquetWriter(output, file_schema, metadata.properties)
        with writer:
            writer.write(pa.Table.from_batches(batches))
        return DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=path,
            file_format=FileFormat.PARQUET,
            partition=task.partition_key.partition if task.partition_key else Record(),
            file_size_in_bytes=len(output),
            sort_order_id=None,
            spec_id=metadata.default_spec_id,
            equality_ids=None,
            key_metadata=None,
            **writer.result().to_serialized_dict(),
        )

    return list(ExecutorFactory.get_or_create().map(write, tasks))
