"""The one place that names lakesmith's own columns (the record envelope and lineage).

Every layer imports these names instead of spelling ``"_record_id"`` itself::

    bronze      every record: envelope + _schema_version
    quarantine  invalid records: envelope + _rule_ids / _messages / _quarantined_at
    silver      typed contract fields + lineage (record id, source URI, batch, version)

``Column`` is a storage-neutral column description; each store maps its types
(``stores.lake.iceberg``, ``stores.lake.delta``, ``stores.timeseries``).
"""

from __future__ import annotations

from dataclasses import dataclass

RECORD_ID = "_record_id"  # deterministic from the source coordinates (stream + seq)
SOURCE = "_source"  # the coordinates as a URI: kafka://t/3/1042, file:///x.csv#row=88
STREAM = "_stream"  # the source's unit of ordering: a partition, a file, an object version
SEQ = "_seq"  # position of the record inside its stream (offset, row, line)
KEY = "_key"
PAYLOAD = "_payload"
SOURCE_TS = "_source_ts"
INGESTED_AT = "_ingested_at"
BATCH_ID = "_batch_id"
SCHEMA_VERSION = "_schema_version"
RULE_IDS = "_rule_ids"
MESSAGES = "_messages"
QUARANTINED_AT = "_quarantined_at"
# in-memory only (per-batch outcomes, never stored in a table)
DISPOSITION = "_disposition"
EVENT_TIME = "_event_time"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # string | long | int | double | boolean | timestamp | binary | list<string>
    doc: str = ""


ENVELOPE_COLUMNS = [
    Column(RECORD_ID, "string", "deterministic id from the source coordinates"),
    Column(SOURCE, "string", "source coordinates as a URI"),
    Column(STREAM, "string", "the source stream (partition, file, object version, …)"),
    Column(SEQ, "long", "position inside the stream (offset, row, line)"),
    Column(KEY, "string", "message key as UTF-8 (null if absent or not UTF-8)"),
    Column(PAYLOAD, "binary", "the record exactly as received"),
    Column(SOURCE_TS, "timestamp", "source timestamp (broker time, file/object modified time)"),
    Column(INGESTED_AT, "timestamp"),
    Column(BATCH_ID, "string"),
]
ENVELOPE = [c.name for c in ENVELOPE_COLUMNS]

BRONZE_COLUMNS = [
    *ENVELOPE_COLUMNS,
    Column(SCHEMA_VERSION, "int", "detected schema version; null when unparseable"),
]

QUARANTINE_COLUMNS = [
    Column(RECORD_ID, "string"),
    Column(SOURCE, "string"),
    Column(STREAM, "string"),
    Column(SEQ, "long"),
    Column(KEY, "string"),
    Column(PAYLOAD, "binary", "the raw record, for replay"),
    Column(RULE_IDS, "list<string>", "every rule the record failed"),
    Column(MESSAGES, "list<string>", "one message per failed rule"),
    Column(SCHEMA_VERSION, "int"),
    Column(BATCH_ID, "string"),
    Column(QUARANTINED_AT, "timestamp"),
]

# Silver keeps the record id and URI; _stream/_seq travel with a batch (the sinks filter
# replays on them) but are not stored: _source spells them, bronze has them as columns.
LINEAGE_COLUMNS = [
    Column(RECORD_ID, "string", "the bronze record this row comes from"),
    Column(SOURCE, "string", "source coordinates as a URI"),
    Column(INGESTED_AT, "timestamp"),
    Column(BATCH_ID, "string"),
    Column(SCHEMA_VERSION, "int"),
]
