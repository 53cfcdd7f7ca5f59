"""Silver and quarantine table layouts, derived from the contract."""

from __future__ import annotations

from lakesmith.contracts.model import Contract
from lakesmith.stores.iceberg import Column

LINEAGE_COLUMNS = [
    Column("_record_id", "string", "the bronze record this row comes from"),
    Column("_source", "string", "source coordinates (topic/partition/offset)"),
    Column("_ingested_at", "timestamp"),
    Column("_batch_id", "string"),
    Column("_schema_version", "int"),
]

QUARANTINE_COLUMNS = [
    Column("_record_id", "string"),
    Column("_source", "string"),
    Column("_topic", "string"),
    Column("_partition", "int"),
    Column("_offset", "long"),
    Column("_key", "string"),
    Column("_payload", "binary", "the raw record, for replay"),
    Column("_rule_ids", "list<string>", "every rule the record failed"),
    Column("_messages", "list<string>", "one message per failed rule"),
    Column("_schema_version", "int"),
    Column("_batch_id", "string"),
    Column("_quarantined_at", "timestamp"),
]


def silver_columns(contract: Contract, version: int) -> list[Column]:
    """The silver layout at schema ``version``: fields up to it, then lineage."""
    return [
        Column(f.name, f.type, f.description) for f in contract.fields_at(version)
    ] + LINEAGE_COLUMNS


def partitioning(contract: Contract) -> list[tuple[str, str]]:
    return [(p.field, p.transform) for p in contract.lake.partition_by]
