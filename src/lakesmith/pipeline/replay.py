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
from pyiceberg.expressions import BooleanExpression, In

from lakesmith.bronze.envelope import RawBatch
from lakesmith.config import Settings
from lakesmith.contracts.model import Contract
from lakesmith.core.logging import get_logger
from lakesmith.pipeline.process import process_batch
from lakesmith.pipeline.worker import Worker
from lakesmith.stores.iceberg import carry_positions

log = get_logger(__name__)


@dataclass(frozen=True)
class ReplayReport:
    examined: int
    recovered: int
    still_invalid: int
    duplicates: int


def replay_quarantine(
    settings: Settings, contract: Contract, rule: str | None = None
) -> ReplayReport:
    worker = Worker(settings, contract)
    try:
        quarantine = worker.lake["quarantine"]
        rows = pl.from_arrow(quarantine.refresh().scan().to_arrow())
        assert isinstance(rows, pl.DataFrame)
        if rule is not None:
            rows = rows.filter(pl.col("_rule_ids").list.contains(rule))
        if rows.height == 0:
            return ReplayReport(0, 0, 0, 0)
        raw = RawBatch(
            topic=contract.source.topic,
            partitions=rows["_partition"].to_list(),
            offsets=rows["_offset"].to_list(),
            keys=[k.encode() if k is not None else None for k in rows["_key"].to_list()],
            payloads=rows["_payload"].to_list(),
            timestamps_ms=[0] * rows.height,
        )
        worker.start_positions([])  # primes the dedupe index from silver
        batch = process_batch(
            raw, contract, datetime.now(UTC), worker.dedupe, worker._accepted_version()
        )
        worker._evolve(batch)
        recovered = batch.silver
        ids = recovered["_record_id"].to_list()
        # pyiceberg's expression constructors use __new__ tricks mypy cannot follow
        by_id: BooleanExpression = In("_record_id", ids)  # type: ignore[call-arg,misc,unused-ignore]
        if recovered.height:
            silver = worker.lake["silver"]
            present = (
                silver.refresh().scan(row_filter=by_id, selected_fields=("_record_id",)).to_arrow()
            )
            fresh = recovered.filter(
                ~pl.col("_record_id").is_in(present.column("_record_id").to_pylist())
            )
            if fresh.height:
                table = silver.refresh()
                conformed = fresh.to_arrow()
                names = [f.name for f in table.schema().fields]
                table.append(
                    conformed.select([n for n in names if n in conformed.column_names]),
                    carry_positions(table),
                )
            if worker.timeseries is not None:
                days = recovered.select(pl.col(contract.event_time).dt.date().unique())[
                    contract.event_time
                ].to_list()
                worker.timeseries.ensure_partitions(days)
                worker.timeseries.upsert(recovered)
            qt = quarantine.refresh()
            qt.delete(by_id, snapshot_properties=carry_positions(qt))
        report = ReplayReport(
            examined=rows.height,
            recovered=recovered.height,
            still_invalid=batch.quarantine.height,
            duplicates=batch.outcomes.filter(pl.col("_disposition") == "duplicate").height,
        )
        log.info("quarantine_replayed", dataset=contract.name, **report.__dict__)
        return report
    finally:
        worker.close()
