"""The music BI questions, each ONE query, answered two ways:

- on the warehouse, with SQL over the marts — materialised views the Alembic migration
  ``music_0001`` creates over ``fact_listen`` and its dimensions, refreshed by the
  warehouse gold sink after loads (``pipeline.gold_sinks.WarehouseGoldSink``);
- on the lake, with DuckDB over the gold tables (``iceberg_scan`` / ``delta_scan`` of a
  local lake when the DuckDB extensions are installed, else the tables read by pyiceberg /
  delta-rs and handed to DuckDB as Arrow — DuckDB has no S3 reader here).

The questions: (a) usage by location, (b) the most played songs in a period, (c) hours
of music per user in a period. Periods are inclusive UTC dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from lakesmith.core.errors import LakesmithError

if TYPE_CHECKING:
    import duckdb

    from lakesmith.pipeline.dataset import Dataset

MARTS = {
    "mart_location_usage": "per location: plays, hours, distinct users and sessions",
    "mart_song_daily": "per song and day: plays and seconds played",
    "mart_user_daily": "per user and day: plays and seconds played",
}


@dataclass(frozen=True)
class Question:
    name: str
    title: str
    warehouse: str  # PostgreSQL over the marts; {schema}, %(start)s / %(end)s
    lake: str  # DuckDB over the gold tables (by their names); $start / $end
    period: bool


QUESTIONS = {
    q.name: q
    for q in (
        Question(
            "usage_by_location",
            "usage by location (top 10 by plays)",
            """SELECT city, state, plays, round(hours::numeric, 2) AS hours, users
FROM {schema}.mart_location_usage
ORDER BY plays DESC, location LIMIT 10""",
            """SELECT l.city, l.state, count(*) AS plays,
       round(sum(f.duration_s) / 3600, 2) AS hours, count(DISTINCT f.user_id) AS users
FROM fact_listen f JOIN dim_location l ON l.location_key = f.location_key
GROUP BY l.location, l.city, l.state
ORDER BY plays DESC, l.location LIMIT 10""",
            period=False,
        ),
        Question(
            "top_songs",
            "most played songs in the period",
            """SELECT title, artist_name AS artist, sum(plays)::bigint AS plays
FROM {schema}.mart_song_daily
WHERE date BETWEEN %(start)s AND %(end)s
GROUP BY song_key, title, artist_name
ORDER BY plays DESC, title, artist LIMIT 10""",
            """SELECT s.title, s.artist_name AS artist, count(*) AS plays
FROM fact_listen f JOIN dim_song s ON s.song_key = f.song_key
WHERE f.date_key BETWEEN $start AND $end
GROUP BY s.song_key, s.title, s.artist_name
ORDER BY plays DESC, s.title, artist LIMIT 10""",
            period=True,
        ),
        Question(
            "hours_per_user",
            "hours of music per user in the period (top 10)",
            """SELECT user_id, first_name, last_name,
       round(sum(seconds)::numeric / 3600, 2) AS hours, sum(plays)::bigint AS plays
FROM {schema}.mart_user_daily
WHERE date BETWEEN %(start)s AND %(end)s
GROUP BY user_id, first_name, last_name
ORDER BY hours DESC, user_id LIMIT 10""",
            """SELECT f.user_id, u.first_name, u.last_name,
       round(sum(f.duration_s) / 3600, 2) AS hours, count(*) AS plays
FROM fact_listen f JOIN dim_user u ON u.user_key = f.user_key
WHERE f.date_key BETWEEN $start AND $end
GROUP BY f.user_id, u.first_name, u.last_name
ORDER BY hours DESC, f.user_id LIMIT 10""",
            period=True,
        ),
    )
}
LAKE_TABLES = ("fact_listen", "dim_location", "dim_song", "dim_user")


def _schema(dataset: Dataset) -> str:
    if dataset.contract.gold is None:
        raise LakesmithError(f"{dataset.contract.name} has no gold model")
    return dataset.contract.gold.schema_name


def warehouse_answer(
    dataset: Dataset, question: str, start: date | None = None, end: date | None = None
) -> pl.DataFrame:
    """The answer from the warehouse's marts (one SQL query)."""
    from psycopg import sql

    from lakesmith.stores.postgres import connect

    q = QUESTIONS[question]
    text = q.warehouse.format(schema=sql.Identifier(_schema(dataset)).as_string(None))
    with connect(dataset.settings) as conn:
        cur = conn.execute(text, {"start": start, "end": end})
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
    frame = pl.DataFrame(rows, schema=names, orient="row")
    return frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))


def _duckdb(dataset: Dataset) -> duckdb.DuckDBPyConnection:
    """DuckDB with the gold tables as views (lake files) or Arrow tables (an S3 lake)."""
    import duckdb

    con = duckdb.connect()
    local = not dataset.settings.effective_warehouse().startswith("s3://")
    ext = _extensions()
    if local and ext is not None:
        con.execute(f"SET extension_directory = '{ext}'")
        con.execute("LOAD iceberg; LOAD delta")
        scan = "iceberg_scan" if dataset.format == "iceberg" else "delta_scan"
        for t in LAKE_TABLES:
            loc = dataset.gold[t].location.replace("'", "''")
            con.execute(f"CREATE VIEW {t} AS SELECT * FROM {scan}('{loc}')")
    else:
        for t in LAKE_TABLES:
            con.register(t, dataset.gold[t].scan().to_arrow())
    return con


def _extensions() -> str | None:
    try:
        import duckdb_ext  # type: ignore[import-untyped]  # extension binaries (dev deps)
    except ImportError:
        return None
    from pathlib import Path

    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


def lake_answer(
    dataset: Dataset, question: str, start: date | None = None, end: date | None = None
) -> pl.DataFrame:
    """The same answer computed by DuckDB on the lake's gold tables (one SQL query)."""
    q = QUESTIONS[question]
    params: dict[str, Any] = {}
    if q.period:
        params = {"start": _key(start), "end": _key(end)}
    con = _duckdb(dataset)
    try:
        return con.execute(q.lake, params).pl()
    finally:
        con.close()


def _key(day: date | None) -> int:
    if day is None:
        raise LakesmithError("this question needs a period (start and end dates)")
    return day.year * 10000 + day.month * 100 + day.day


def data_period(dataset: Dataset, days: int = 7) -> tuple[date, date]:
    """The last ``days`` days with plays in the warehouse (the demo's period)."""
    from psycopg import sql

    from lakesmith.stores.postgres import connect

    table = sql.Identifier(_schema(dataset), "fact_listen")
    with connect(dataset.settings) as conn:
        row = conn.execute(
            sql.SQL("SELECT max(ts AT TIME ZONE 'UTC')::date FROM {}").format(table)
        ).fetchone()
    last = row[0] if row else None
    if not isinstance(last, date):
        raise LakesmithError(f"{dataset.contract.name}: no plays in the warehouse yet")
    from datetime import timedelta

    return last - timedelta(days=days - 1), last
