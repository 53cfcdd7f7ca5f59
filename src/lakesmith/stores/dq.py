"""The DQ statistics in PostgreSQL: the queries behind ``quality.report.load_dq_summary``.

Everything is aggregated in SQL over ``lakesmith.dq_batches`` (totals, per-rule and
per-schema-version sums, a time series bucketed to at most ``points`` points), so the
cost does not depend on how many batches there are; per-entity freshness is one
``GROUP BY`` over the dataset's time-series table. Results are plain rows; the summary
model, formatting and rendering live in ``quality.report``.

``lakesmith.dq_recovered`` holds every quarantined record that ``quarantine replay`` later
moved to silver (keyed by record id, so a re-run counts nothing twice), with the batch
that quarantined it: the report counts those as recovered, not still quarantined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from lakesmith.stores.timeseries import SCHEMA

Conn = psycopg.Connection[Any]

RECOVERED_DDL = """
CREATE SCHEMA IF NOT EXISTS lakesmith;
CREATE TABLE IF NOT EXISTS lakesmith.dq_recovered (
    dataset      text NOT NULL,
    record_id    text NOT NULL,
    batch_id     text NOT NULL,   -- the batch that quarantined the record
    rule_ids     text[] NOT NULL, -- the rules it had failed
    recovered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, record_id)
);
CREATE INDEX IF NOT EXISTS dq_recovered_batch ON lakesmith.dq_recovered (dataset, batch_id);
"""

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

# Records of the selected batches that a replay later recovered (total and per rule).
_RECOVERED = f"""{_SELECTED}
SELECT count(*) FROM lakesmith.dq_recovered r
JOIN sel ON sel.dataset = r.dataset AND sel.batch_id = r.batch_id
"""
_RECOVERED_RULES = f"""{_SELECTED}
SELECT rule, count(*) AS n FROM lakesmith.dq_recovered r
JOIN sel ON sel.dataset = r.dataset AND sel.batch_id = r.batch_id
CROSS JOIN LATERAL unnest(r.rule_ids) AS rule
GROUP BY rule ORDER BY n DESC, rule
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
    # quarantined records of the selected batches that a replay moved to silver since
    recovered: int = 0
    recovered_rules: list[tuple[str, int]] | None = None  # per rule they had failed


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
    recovered, recovered_rules = 0, []
    if _has_recovered_table(conn):
        row = conn.execute(_RECOVERED, params).fetchone()
        recovered = int(row[0]) if row is not None else 0
        if recovered:
            recovered_rules = [(str(r), int(n)) for r, n in conn.execute(_RECOVERED_RULES, params)]
    return BatchAggregates(
        totals=totals,
        rule_counts=conn.execute(_RULES, params).fetchall(),
        schema_versions=conn.execute(_VERSIONS, params).fetchall(),
        series=conn.execute(_SERIES, params).fetchall(),
        recent=recent_rows,
        recovered=recovered,
        recovered_rules=recovered_rules,
    )


def _has_recovered_table(conn: Conn) -> bool:
    """Whether ``lakesmith.dq_recovered`` exists (a reader creates no tables)."""
    row = conn.execute("SELECT to_regclass('lakesmith.dq_recovered') IS NOT NULL").fetchone()
    return bool(row and row[0])


def record_recovered(
    conn: Conn, dataset: str, records: Sequence[tuple[str, str, Sequence[str] | None]]
) -> int:
    """Record quarantined records a replay moved to silver: ``(record id, the batch that
    quarantined it, the rule ids it had failed)``. Idempotent on the record id; commits.
    Returns how many were new."""
    if not records:
        return 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('lakesmith.dq_recovered_ddl'))")
        conn.execute(RECOVERED_DDL)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _recovered (record_id text, batch_id text, "
            "rule_ids text[]) ON COMMIT DROP"
        )
        with cur.copy("COPY _recovered (record_id, batch_id, rule_ids) FROM STDIN") as copy:
            for record_id, batch_id, rules in records:
                copy.write_row((record_id, batch_id, list(rules or [])))
        cur.execute(
            "INSERT INTO lakesmith.dq_recovered (dataset, record_id, batch_id, rule_ids) "
            "SELECT %s, record_id, batch_id, rule_ids FROM _recovered "
            "ON CONFLICT (dataset, record_id) DO NOTHING",
            (dataset,),
        )
        return cur.rowcount


def recovered_total(conn: Conn, dataset: str) -> int:
    """Every record of ``dataset`` a replay recovered so far (0 before the first)."""
    if not _has_recovered_table(conn):
        return 0
    row = conn.execute(
        "SELECT count(*) FROM lakesmith.dq_recovered WHERE dataset = %s", (dataset,)
    ).fetchone()
    return int(row[0]) if row else 0


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
