"""DQ statistics per batch (DQ-3), computed from the batch's record outcomes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl

from lakesmith.core.columns import DISPOSITION, EVENT_TIME, RULE_IDS, SCHEMA_VERSION


def batch_stats(outcomes: pl.DataFrame, processed_at: datetime) -> dict[str, Any]:
    """Counts in / valid / quarantined per rule / duplicates, versions, event-time range, lag."""
    by_disp = dict(outcomes[DISPOSITION].value_counts().iter_rows()) if outcomes.height else {}
    rules = outcomes.select(pl.col(RULE_IDS).explode().drop_nulls().value_counts()).unnest(RULE_IDS)
    versions = outcomes.select(pl.col(SCHEMA_VERSION).drop_nulls().value_counts()).unnest(
        SCHEMA_VERSION
    )
    valid_times = outcomes.filter(pl.col(DISPOSITION) == "valid")[EVENT_TIME]
    lo, hi = (valid_times.min(), valid_times.max()) if valid_times.len() else (None, None)
    lag = (processed_at - hi).total_seconds() if isinstance(hi, datetime) else None
    return {
        "records_in": outcomes.height,
        "valid": int(by_disp.get("valid", 0)),
        "quarantined": int(by_disp.get("quarantined", 0)),
        "duplicates": int(by_disp.get("duplicate", 0)),
        "rule_counts": json.dumps({str(r): int(c) for r, c in rules.iter_rows()}),
        "schema_versions": json.dumps({str(v): int(c) for v, c in versions.iter_rows()}),
        "min_event_time": lo,
        "max_event_time": hi,
        "lag_seconds": lag,
    }
