"""Data quality and pipeline status: the summaries ``lakesmith dq report`` prints,
read by the same functions (``quality.report``, ``stores.dq``)."""

from __future__ import annotations

from lakesmith.api.schemas import DqReport, PipelineStatus
from lakesmith.api.services.datasets import find_contract, known_contracts
from lakesmith.config import Settings
from lakesmith.stores.pg_pool import ConnectionPool


class OpsService:
    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self.settings = settings
        self.pool = pool

    def dq(self, dataset: str) -> DqReport:
        from lakesmith.quality.report import load_dq_summary

        contract = find_contract(self.settings, dataset)
        with self.pool.connection() as conn:
            s = load_dq_summary(conn, contract, recent=1, max_points=1, max_entities=0)
        return DqReport(
            dataset=s.dataset,
            batches=s.batches,
            records_in=s.records_in,
            valid=s.valid,
            quarantined=s.quarantined,
            duplicates=s.duplicates,
            recovered=s.recovered,
            quarantine_rate=s.quarantine_rate,
            rule_counts=s.rule_counts,
            schema_versions={str(k): v for k, v in s.schema_versions.items()},
            first_processed_at=s.first_processed_at,
            last_processed_at=s.last_processed_at,
            newest_event_time=s.newest_event_time,
            last_lag_seconds=s.last_lag_seconds,
        )

    def pipelines(self) -> list[PipelineStatus]:
        from lakesmith.stores.pipeline_status import dataset_activity, recent_positions

        contracts = known_contracts(self.settings)
        out = []
        with self.pool.connection() as conn:
            activity = dataset_activity(conn)
            for name, c in sorted(contracts.items()):
                n, q, last, lag = activity.get(name, (0, 0, None, None))
                out.append(
                    PipelineStatus(
                        dataset=name,
                        source=c.source.uri,
                        records_in=n,
                        quarantined=q,
                        last_batch_at=last,
                        last_lag_seconds=lag,
                        positions=recent_positions(conn, name) if n else {},
                    )
                )
        return out
