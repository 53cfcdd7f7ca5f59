"""The DQ statistics in PostgreSQL: the queries behind ``quality.report.load_dq_summary``.

Everything is aggregated in SQL over ``lakesmith.dq_batches`` (totals, per-rule and
per-schema-version sums, a time series bucketed to at most ``points`` points), so the
cost does not depend on how many batches there are; per-entity freshness is one
``GROUP BY`` over the dataset's time-series table. Results are plain rows; the summary
model, formatting and rendering live in ``quality.report``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from lakesmith.stores.timeseries import SCHEMA

Conn = psycopg.Connection[Any]

# The selected batches; every query below starts with this CTE.
_SELECTED = """
WITH sel AS (
    SELECT * FROM lakesmith.dq_batches
    WHERE dataset = %(dataset)s
      AND (%(since)s::timestamptz IS NULL OR processed_at >= %(since)s::timestamptz)
    ORDER BY processed_at DESC, batch_id DESC
    LIMIT %(last)s
)
"""

_TOTALS = f"""{_SELECTED}
SELECT count(*) AS batches, coalesce(sum(records_in), 0) AS records_in,
       coalesce(sum(valid), 0) AS valid, coalesce(sum(quarantined), 0) AS quarantined,
       coalesce(sum(duplicates), 0) AS duplicates,
       min(processed_at) AS first_processed_at, max(processed_at) AS last_processed_at,
       min(min_event_time) AS oldest_event_time, max(max_event_time) AS newest_event_time
FROM sel
"""

_JSON_SUMS = """
SELECT j.key, sum(j.value::numeric)::bigint AS n
FROM sel CROSS JOIN LATERAL jsonb_each_text(
    CASE WHEN jsonb_typeof(sel.{col}) = 'object' THEN sel.{col} ELSE '{{}}'::jsonb END) AS j
WHERE j.value ~ '^-?[0-9]+(\\.[0-9]+)?$'
GROUP BY j.key
"""
_RULES = _SELECTED + _JSON_SUMS.format(col="rule_counts") + "ORDER BY n DESC, j.key"
_VERSIONS = (
    _SELECTED
    + _JSON_SUMS.format(col="schema_versions")
    + "ORDER BY CASE WHEN j.key ~ '^[0-9]{1,9}$' THEN j.key::integer END NULLS LAST, j.key"
)

_SERIES = f"""{_SELECTED}
, b AS (SELECT *, ntile(%(points)s) OVER (ORDER BY processed_at, batch_id) AS bucket FROM sel)
SELECT max(processed_at), count(*), sum(records_in), sum(quarantined), sum(duplicates),
       max(lag_seconds)
FROM b GROUP BY bucket ORDER BY bucket
"""

_RECENT = f"""{_SELECTED}
SELECT batch_id, processed_at, records_in, valid, quarantined, duplicates, max_event_time,
       lag_seconds
FROM sel ORDER BY processed_at DESC, batch_id DESC LIMIT %(recent)s
"""

_ENTITIES = """
WITH e AS (
    SELECT {entity}::text AS entity, max({ts}) AS last_event, count(*) AS n
    FROM {table} WHERE {ts} IS NOT NULL GROUP BY 1
)
SELECT entity, last_event, n,
       extract(epoch FROM (max(last_event) OVER () - last_event))::double precision,
       count(*) OVER (), max(last_event) OVER ()
FROM e ORDER BY last_event, entity LIMIT %(limit)s
"""


@dataclass(frozen=True)
class BatchAggregates:
    """The selected batches of one dataset, aggregated (column types as in SQL: bigint →
    int, double precision → float, timestamptz → aware datetime)."""

    # batches, records_in, valid, quarantined, duplicates, first_processed_at,
    # last_processed_at, oldest_event_time, newest_event_time
    totals: dict[str, Any]
    rule_counts: list[tuple[str, int]]  # most failures first, then by rule id
    schema_versions: list[tuple[str, int]]  # by version number
    # (processed_at of the bucket's last batch, batches, records_in, quarantined,
    #  duplicates, largest lag_seconds), oldest bucket first
    series: list[tuple[Any, ...]]
    # (batch_id, processed_at, records_in, valid, quarantined, duplicates, max_event_time,
    #  lag_seconds), newest first
    recent: list[tuple[Any, ...]]


def batch_aggregates(
    conn: Conn,
    dataset: str,
    since: datetime | None,
    last: int | None,
    *,
    points: int,
    recent: int,
) -> BatchAggregates:
    """Aggregate ``dataset``'s batches processed at/after ``since`` (the ``last`` N of them
    when given): totals, sums per rule and schema version, ≤ ``points`` series buckets and
    the ``recent`` newest batches."""
    params: dict[str, Any] = {
        "dataset": dataset,
        "since": since,
        "last": last,
        "points": points,
        "recent": recent,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        totals = cur.execute(_TOTALS, params).fetchone()
    assert totals is not None  # an aggregate always returns one row
    recent_rows = conn.execute(_RECENT, params).fetchall()
    return BatchAggregates(
        totals=totals,
        rule_counts=conn.execute(_RULES, params).fetchall(),
        schema_versions=conn.execute(_VERSIONS, params).fetchall(),
        series=conn.execute(_SERIES, params).fetchall(),
        recent=recent_rows,
    )


def timeseries_columns(conn: Conn, table: str) -> set[str]:
    """The columns of ``timeseries.<table>`` (empty: the table does not exist)."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s",
        (SCHEMA, table),
    ).fetchall()
    return {str(r[0]) for r in rows}


def entity_freshness(
    conn: Conn, table: str, entity: str, ts: str, limit: int
) -> list[tuple[Any, ...]]:
    """The newest event per ``entity`` in ``timeseries.<table>``, stalest first (at most
    ``limit``): ``(entity, last_event, rows, seconds behind the newest event overall,
    entities in total, the newest event overall)``."""
    query = sql.SQL(_ENTITIES).format(
        entity=sql.Identifier(entity),
        ts=sql.Identifier(ts),
        table=sql.Identifier(SCHEMA, table),
    )
    return conn.execute(query, {"limit": limit}).fetchall()


def dq_totals(conn: Conn, dataset: str) -> tuple[int, int, int, int] | None:
    """``(records in, valid, quarantined, duplicates)`` summed over every batch of the
    dataset; None before its first batch."""
    row = conn.execute(
        "SELECT sum(records_in), sum(valid), sum(quarantined), sum(duplicates) "
        "FROM lakesmith.dq_batches WHERE dataset = %s",
        (dataset,),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])
