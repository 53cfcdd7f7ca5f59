"""One micro-batch through the flow, in memory: envelope → decode → validate → dedupe.

Pure (no I/O), so it is unit-tested without services. The worker then hands the
frames to the sinks. Every input record ends in exactly one disposition:
``valid`` (silver), ``quarantined`` (with its rule ids), or ``duplicate`` (its natural
key was already claimed by another record); bronze gets every record regardless.
Decoding is the payload format's (``formats``), whatever the source kind, or
``formats.records`` when the source handed its records already typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from lakesmith.bronze.decoded import bronze_names, decoded_values
from lakesmith.bronze.envelope import envelope
from lakesmith.contracts.model import Contract
from lakesmith.core.columns import (
    BATCH_ID,
    DISPOSITION,
    EVENT_TIME,
    INGESTED_AT,
    KEY,
    MESSAGES,
    PAYLOAD,
    QUARANTINED_AT,
    RECORD_ID,
    RULE_IDS,
    SCHEMA_VERSION,
    SEQ,
    SOURCE,
    STREAM,
)
from lakesmith.core.positions import Positions
from lakesmith.core.records import RawBatch
from lakesmith.formats import decode_batch
from lakesmith.quality.validate import validate
from lakesmith.silver.dedupe import DedupeIndex

_ROW = "__row"


@dataclass(frozen=True)
class ProcessedBatch:
    batch_id: str
    processed_at: datetime
    positions: Positions  # stream → next position after this batch
    bronze: pl.DataFrame  # every record: envelope (+ payload.bronze_fields) + _schema_version
    silver: pl.DataFrame  # valid first occurrences: typed fields + lineage
    quarantine: pl.DataFrame  # invalid records: envelope + _rule_ids/_messages
    outcomes: pl.DataFrame  # one row per record: _stream/_seq/_disposition/_rule_ids/…
    # stream → what decoding its records needed besides their bytes (a CSV header)
    contexts: dict[str, bytes] = field(default_factory=dict)

    @property
    def max_version(self) -> int:
        v = self.silver[SCHEMA_VERSION].max() if self.silver.height else None
        return int(v) if isinstance(v, int) else 0


def _release(raw: RawBatch) -> None:
    """Drop the record lists of ``raw`` (their objects are freed now, not with the batch)."""
    for records in (raw.stream_ids, raw.seqs, raw.keys, raw.payloads, raw.timestamps_ms):
        records.clear()
    raw.runs.clear()
    raw.records = raw.record_payloads = None


def reject_versions(
    valid: pl.DataFrame, above: int, rule_id: str, reason: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move rows whose schema version is above ``above`` to quarantine (freeze policies)."""
    mask = pl.col(SCHEMA_VERSION) > above
    rejected = valid.filter(mask).with_columns(
        pl.concat_list(pl.lit(rule_id)).alias(RULE_IDS),
        pl.concat_list(
            pl.format(f"schema v{{}} is not accepted: {reason}", pl.col(SCHEMA_VERSION))
        ).alias(MESSAGES),
    )
    return valid.filter(~mask), rejected


def process_batch(
    raw: RawBatch,
    contract: Contract,
    now: datetime,
    dedupe: DedupeIndex,
    accepted_version: int | None = None,
    release: bool = False,
) -> ProcessedBatch:
    """Run ``raw`` through decode, validation and dedupe.

    ``accepted_version``: with the ``freeze``/``discard_row`` policies, records of a newer
    schema version go to quarantine (rule ``schema_frozen``/``schema_discarded``).
    ``release``: empty ``raw``'s record lists once they are decoded (the worker's batches:
    the envelope holds the payloads from then on, so the Python objects of the messages —
    a third of a batch's memory — are not kept while the batch is validated and written).
    """
    batch_id = raw.batch_id()
    positions = raw.next_positions()
    env = envelope(raw, batch_id, now)
    decoded = decode_batch(raw, contract)
    if release:
        _release(raw)
    # The payload and key (the largest columns) stay out of validation and dedupe, so no
    # filter copies them: bronze takes them from the envelope as received, quarantine
    # gathers its few rows by row number.
    checked = validate(
        pl.concat([env.drop(PAYLOAD, KEY), decoded], how="horizontal").with_row_index(_ROW),
        contract,
        now,
    )
    valid, invalid = checked.valid, checked.invalid
    if accepted_version is not None and valid.height:
        rule = "schema_frozen" if contract.evolution == "freeze" else "schema_discarded"
        valid, rejected = reject_versions(
            valid, accepted_version, rule, f"evolution policy is {contract.evolution}"
        )
        if rejected.height:
            invalid = pl.concat([invalid, rejected], how="diagonal_relaxed")
    firsts, dups = dedupe.split(valid)
    rows = invalid.get_column(_ROW)
    invalid = invalid.with_columns(
        env.get_column(KEY).gather(rows), env.get_column(PAYLOAD).gather(rows)
    )

    field_names = [f.name for f in contract.fields]
    silver = firsts.select(
        *field_names, RECORD_ID, SOURCE, STREAM, SEQ, INGESTED_AT, BATCH_ID, SCHEMA_VERSION
    )
    quarantine = invalid.select(
        RECORD_ID, SOURCE, STREAM, SEQ, KEY, PAYLOAD, RULE_IDS, MESSAGES, SCHEMA_VERSION,
        BATCH_ID, pl.lit(now).alias(QUARANTINED_AT),
    )  # fmt: skip
    bronze = pl.concat(  # input order; with the contract's payload.bronze_fields
        [env.with_columns(checked.versions), decoded_values(decoded, contract)],
        how="horizontal",
    ).select(bronze_names(contract))
    empty_rules = pl.lit([], dtype=pl.List(pl.String))
    outcome_cols = [STREAM, SEQ, SCHEMA_VERSION]
    event = contract.event_time
    outcomes = pl.concat(
        [
            firsts.select(*outcome_cols, pl.col(event).alias(EVENT_TIME), pl.lit("valid").alias(DISPOSITION), empty_rules.alias(RULE_IDS)),
            dups.select(*outcome_cols, pl.col(event).alias(EVENT_TIME), pl.lit("duplicate").alias(DISPOSITION), empty_rules.alias(RULE_IDS)),
            invalid.select(*outcome_cols, pl.col(event).alias(EVENT_TIME), pl.lit("quarantined").alias(DISPOSITION), RULE_IDS),
        ]
    )  # fmt: skip
    return ProcessedBatch(
        batch_id=batch_id,
        processed_at=now,
        positions=positions,
        bronze=bronze,
        silver=silver,
        quarantine=quarantine,
        outcomes=outcomes,
        contexts=dict(raw.context),
    )
