"""``lakesmith quarantine replay``: re-validate quarantined records after a fix (DQ-2).

The quarantined records are rebuilt into a batch from their raw payloads and source
coordinates (so they keep their ``_record_id``) and run through the same processing as
the stream, with the *current* contract. Records that now pass are written to silver and
the time-series table, then removed from quarantine; the rest stay, untouched.

Re-running is safe: rows whose ``_record_id`` is already in silver are not appended again
(a crash between the silver commit and the quarantine delete), and the time-series load is
an upsert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from lakesmith.bronze.envelope import as_stored
from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.columns import DISPOSITION, KEY, PAYLOAD, RECORD_ID, RULE_IDS, SEQ, STREAM
from lakesmith.core.logging import get_logger
from lakesmith.core.records import RawBatch
from lakesmith.pipeline.dataset import Dataset
from lakesmith.pipeline.process import process_batch
from lakesmith.silver.dedupe import DedupeIndex

log = get_logger(__name__)


@dataclass(frozen=True)
class ReplayReport:
    examined: int
    recovered: int
    still_invalid: int
    duplicates: int


def rebuild_batch(contract: Contract, rows: pl.DataFrame) -> RawBatch:
    """Quarantined rows back into a raw batch with their original coordinates."""
    raw = RawBatch(source=contract.source.uri, uri_sep=contract.source.uri_sep)
    for (stream,), part in rows.group_by(STREAM, maintain_order=True):
        raw.extend(
            str(stream),
            part[SEQ].to_list(),
            part[PAYLOAD].to_list(),
            keys=[k.encode() if k is not None else None for k in part[KEY].to_list()],
        )
    return raw


def replay_quarantine(
    settings: Settings, contract: Contract, rule: str | None = None
) -> ReplayReport:
    dataset = Dataset(settings, contract).ensure()
    try:
        rows = dataset.quarantine.scan()
        if rule is not None:
            rows = rows.filter(pl.col(RULE_IDS).list.contains(rule))
        if rows.height == 0:
            return ReplayReport(0, 0, 0, 0)
        dedupe = DedupeIndex(contract.keys)
        dataset.prime_dedupe(dedupe)
        batch = process_batch(
            rebuild_batch(contract, rows),
            contract,
            datetime.now(UTC),
            dedupe,
            dataset.accepted_version(),
        )
        dataset.evolve(batch)
        recovered = batch.silver
        ids = recovered[RECORD_ID].to_list()
        if recovered.height:
            present = dataset.silver.scan([RECORD_ID], [(RECORD_ID, "in", ids)])
            fresh = recovered.filter(~pl.col(RECORD_ID).is_in(present[RECORD_ID].implode()))
            if fresh.height:
                dataset.silver.append(as_stored(fresh), {})  # keeps the stream positions
            if dataset.timeseries is not None:
                dataset.timeseries.upsert(recovered)
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
