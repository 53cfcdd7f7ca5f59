"""``lakesmith quarantine replay``: re-validate quarantined records after a fix (DQ-2).

The quarantined records are rebuilt into a batch from their raw payloads and source
coordinates (so they keep their ``_record_id``) and run through the same processing as
the stream, with the *current* contract. Records that now pass are written to silver and
the time-series table and, when the contract names a gold model, applied to its gold
tables (lake and warehouse, like a batch of the stream: facts and dimensions merge on
their keys), then removed from quarantine; the rest stay, untouched.

Re-running is safe: rows whose ``_record_id`` is already in silver are not appended again
(a crash between the silver commit and the quarantine delete), and the time-series load is
an upsert. Gold takes the recovered rows *before* silver does: a crash in between gives
them to gold again on the re-run, where they merge on their keys (the other order would
leave them in silver and never in gold).

Every recovered record is recorded in ``lakesmith.dq_recovered`` (``stores.dq``: record id,
the batch that quarantined it, the rules it had failed) before it leaves quarantine, so
the DQ report counts it as recovered rather than still quarantined; the record id is the
key, so a re-run after a crash never counts a record twice.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from lakesmith.bronze.envelope import as_stored
from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.columns import (
    BATCH_ID,
    DISPOSITION,
    KEY,
    PAYLOAD,
    RECORD_ID,
    RULE_IDS,
    SEQ,
    STREAM,
)
from lakesmith.core.errors import LakesmithError
from lakesmith.core.logging import get_logger
from lakesmith.core.records import RawBatch
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.process import ProcessedBatch, process_batch
from lakesmith.silver.dedupe import DedupeIndex
from lakesmith.stores import dq as dq_store
from lakesmith.stores.postgres import connect

log = get_logger(__name__)


@dataclass(frozen=True)
class ReplayReport:
    examined: int
    recovered: int
    still_invalid: int
    duplicates: int


# Rule ids the payload decoders and the evolution policies give (``formats.*``,
# ``pipeline.process``); the contract's own rules come from ``quality.rules``.
DECODE_RULES: dict[str, tuple[str, ...]] = {
    "json": ("invalid_json", "not_an_object", "payload_too_large"),
    "jsonl": ("invalid_json", "not_an_object", "payload_too_large"),
    "parquet": ("invalid_json", "not_an_object", "payload_too_large"),
    "csv": ("invalid_csv", "payload_too_large"),
}
POLICY_RULES = {"freeze": "schema_frozen", "discard_row": "schema_discarded"}


def known_rule_ids(contract: Contract) -> list[str]:
    """Every rule id a record of ``contract`` can be quarantined for, in contract order:
    the fields' implicit rules, the contract's rules, then decoding and policy ids."""
    from lakesmith.quality.rules import compile_rules

    ids = [r.id for r in compile_rules(contract, datetime.now(UTC))]
    ids += DECODE_RULES.get(contract.payload.format, ("payload_too_large",))
    if contract.evolution in POLICY_RULES:
        ids.append(POLICY_RULES[contract.evolution])
    return list(dict.fromkeys(ids))


def check_rule(contract: Contract, rule: str | None, quarantined: pl.DataFrame | None) -> None:
    """Reject a ``--rule`` that is neither a rule of ``contract`` nor one the quarantined
    rows (``quarantined``, with ``_rule_ids``; rules since removed from the contract)
    failed."""
    if rule is None:
        return
    known = known_rule_ids(contract)
    if rule in known:
        return
    if quarantined is not None and quarantined.height:
        seen = quarantined.select(pl.col(RULE_IDS).explode().drop_nulls().unique())
        if rule in set(seen[RULE_IDS].to_list()):
            return
    close = difflib.get_close_matches(rule, known, n=1)
    maybe = f" (did you mean {close[0]!r}?)" if close else ""
    raise LakesmithError(
        f"unknown rule {rule!r} for {contract.name}{maybe}",
        hint=f"use one of its rule ids: {', '.join(known)}",
    )


def rebuild_batch(
    contract: Contract, rows: pl.DataFrame, contexts: dict[str, bytes] | None = None
) -> RawBatch:
    """Quarantined rows back into a raw batch with their original coordinates and their
    streams' decoding ``contexts`` (a CSV file's header: ``stores.stream_context``)."""
    raw = RawBatch(source=contract.source.uri, uri_sep=contract.source.uri_sep)
    for (stream,), part in rows.group_by(STREAM, maintain_order=True):
        raw.extend(
            str(stream),
            part[SEQ].to_list(),
            part[PAYLOAD].to_list(),
            keys=[k.encode() if k is not None else None for k in part[KEY].to_list()],
        )
        if contexts and (context := contexts.get(str(stream))) is not None:
            raw.context[str(stream)] = context
    return raw


def replay_quarantine(
    settings: Settings, contract: Contract, rule: str | None = None
) -> ReplayReport:
    dataset = Dataset(settings, contract).ensure()
    try:
        rows = dataset.quarantine.scan()
        if rule is not None:
            check_rule(contract, rule, rows)
            rows = rows.filter(pl.col(RULE_IDS).list.contains(rule))
        if rows.height == 0:
            return ReplayReport(0, 0, 0, 0)
        dedupe = DedupeIndex(contract.keys)
        dataset.prime_dedupe(dedupe)
        batch = process_batch(
            rebuild_batch(
                contract, rows, dataset.stream_contexts.load(rows[STREAM].unique().to_list())
            ),
            contract,
            datetime.now(UTC),
            dedupe,
            dataset.accepted_version(),
        )
        dataset.evolve(batch)
        recovered = batch.silver
        ids = recovered[RECORD_ID].to_list()
        if recovered.height:
            present = dataset.scan_silver([RECORD_ID], [(RECORD_ID, "in", ids)])
            fresh = recovered.filter(~pl.col(RECORD_ID).is_in(present[RECORD_ID].implode()))
            if fresh.height and dataset.gold_model is not None:
                _apply_to_gold(dataset, dataclasses.replace(batch, silver=fresh, positions={}))
            for name, table in dataset.silver_tables.items():  # each split table its rows
                part = fresh.filter(dataset.split_filter(name))
                if part.height:
                    table.append(as_stored(part), {})  # keeps the stream positions
            if dataset.timeseries is not None:
                dataset.timeseries.upsert(recovered)
            # recorded before the delete: a crash in between re-records the same ids (no-op)
            origin = rows.filter(pl.col(RECORD_ID).is_in(ids)).select(RECORD_ID, BATCH_ID, RULE_IDS)
            with connect(settings) as conn:  # its own transaction, committed here
                dq_store.record_recovered(conn, contract.name, origin.rows())
            dataset.quarantine.delete([(RECORD_ID, "in", ids)])
        report = ReplayReport(
            examined=rows.height,
            recovered=recovered.height,
            still_invalid=batch.quarantine.height,
            duplicates=batch.outcomes.filter(pl.col(DISPOSITION) == "duplicate").height,
        )
        log.info("quarantine_replayed", dataset=contract.name, **report.__dict__)
        return report
    finally:
        dataset.close()


def _apply_to_gold(dataset: Dataset, recovered: ProcessedBatch) -> None:
    """The recovered silver rows through the dataset's gold sinks (no positions: they
    belong to batches the stream committed long ago)."""
    from lakesmith.pipeline.gold_sinks import gold_sinks

    for sink in gold_sinks(dataset):
        try:
            sink.write(recovered)
            sink.flush(force=True)
        finally:
            sink.close()
