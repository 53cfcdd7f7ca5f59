"""What the REST API's ``/v1/pipelines`` reads: per dataset, the positions its DQ sink
committed with its last batches (the DQ sink commits with every batch, like the data)
and its batch totals (``lakesmith.dq_batches``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg


def recent_positions(
    conn: psycopg.Connection[Any], dataset: str, limit: int = 50
) -> dict[str, int]:
    """Stream → next position of the ``limit`` streams committed most recently."""
    rows = conn.execute(
        "SELECT stream, next_seq FROM lakesmith.stream_positions WHERE sink = %s "
        "ORDER BY updated_at DESC, stream LIMIT %s",
        (f"dq:{dataset}", limit),
    ).fetchall()
    return {str(s): int(n) for s, n in rows}


def dataset_activity(
    conn: psycopg.Connection[Any],
) -> dict[str, tuple[int, int, datetime | None, float | None]]:
    """Dataset → (records in, quarantined, last batch time, lag of the last batch in s)."""
    rows = conn.execute(
        """
        SELECT DISTINCT ON (dataset) dataset,
               sum(records_in) OVER w, sum(quarantined) OVER w, processed_at, lag_seconds
        FROM lakesmith.dq_batches
        WINDOW w AS (PARTITION BY dataset)
        ORDER BY dataset, processed_at DESC
        """
    ).fetchall()
    return {
        str(d): (int(n or 0), int(q or 0), t, float(lag) if lag is not None else None)
        for d, n, q, t, lag in rows
    }
