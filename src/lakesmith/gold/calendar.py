"""Calendar dimensions every star schema shares: ``dim_date`` (a full calendar, one row
per day, key ``yyyymmdd``) and ``dim_time_of_day`` (one row per minute, key ``hhmm``);
facts find their keys with ``date_key`` / ``time_key`` of their timestamp."""

from __future__ import annotations

from datetime import date

import polars as pl

from lakesmith.core.columns import Column

CALENDAR_START = date(2000, 1, 1)
CALENDAR_END = date(2040, 12, 31)

DIM_DATE_COLUMNS = [
    Column("date_key", "long", "yyyymmdd"),
    Column("date", "date"),
    Column("year", "long"),
    Column("quarter", "long"),
    Column("month", "long"),
    Column("month_name", "string"),
    Column("day", "long"),
    Column("day_of_week", "long", "1 = Monday … 7 = Sunday (ISO)"),
    Column("day_name", "string"),
    Column("day_of_year", "long"),
    Column("iso_week", "long"),
    Column("is_weekend", "boolean"),
    Column("year_month", "string", "yyyy-mm"),
]
DIM_TIME_COLUMNS = [
    Column("time_key", "long", "hhmm"),
    Column("hour", "long"),
    Column("minute", "long"),
    Column("day_part", "string", "night, morning, afternoon, evening"),
    Column("label", "string", "hh:mm"),
]


def date_key(ts: pl.Expr) -> pl.Expr:
    """The ``dim_date`` key of a timestamp (its UTC day)."""
    return ts.dt.strftime("%Y%m%d").cast(pl.Int64)


def time_key(ts: pl.Expr) -> pl.Expr:
    """The ``dim_time_of_day`` key of a timestamp (its UTC minute)."""
    return (ts.dt.hour().cast(pl.Int64) * 100 + ts.dt.minute().cast(pl.Int64)).cast(pl.Int64)


def dim_date(start: date = CALENDAR_START, end: date = CALENDAR_END) -> pl.DataFrame:
    """Every day from ``start`` to ``end``."""
    d = pl.col("date")
    return (
        pl.DataFrame({"date": pl.date_range(start, end, "1d", eager=True)})
        .with_columns(
            d.dt.strftime("%Y%m%d").cast(pl.Int64).alias("date_key"),
            d.dt.year().cast(pl.Int64).alias("year"),
            d.dt.quarter().cast(pl.Int64).alias("quarter"),
            d.dt.month().cast(pl.Int64).alias("month"),
            d.dt.strftime("%B").alias("month_name"),
            d.dt.day().cast(pl.Int64).alias("day"),
            d.dt.weekday().cast(pl.Int64).alias("day_of_week"),
            d.dt.strftime("%A").alias("day_name"),
            d.dt.ordinal_day().cast(pl.Int64).alias("day_of_year"),
            d.dt.week().cast(pl.Int64).alias("iso_week"),
            (d.dt.weekday() >= 6).alias("is_weekend"),
            d.dt.strftime("%Y-%m").alias("year_month"),
        )
        .select([c.name for c in DIM_DATE_COLUMNS])
    )


def dim_time_of_day() -> pl.DataFrame:
    """Every minute of a day."""
    minutes = pl.DataFrame({"m": pl.int_range(0, 24 * 60, eager=True)})
    hour, minute = (pl.col("m") // 60).cast(pl.Int64), (pl.col("m") % 60).cast(pl.Int64)
    return minutes.select(
        (hour * 100 + minute).alias("time_key"),
        hour.alias("hour"),
        minute.alias("minute"),
        pl.when(hour < 6)
        .then(pl.lit("night"))
        .when(hour < 12)
        .then(pl.lit("morning"))
        .when(hour < 18)
        .then(pl.lit("afternoon"))
        .otherwise(pl.lit("evening"))
        .alias("day_part"),
        pl.format(
            "{}:{}", hour.cast(pl.String).str.zfill(2), minute.cast(pl.String).str.zfill(2)
        ).alias("label"),
    )
