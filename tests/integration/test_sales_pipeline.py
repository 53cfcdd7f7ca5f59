"""W-SALES end to end on the real local PostgreSQL: generated dirty files → ingest →
integrate → quarantine → star schema (lake + warehouse) → gold.sales_enriched in Delta
and in Iceberg, read back by DuckDB and Polars; and the UCI retail file (a slice)."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from lakesmith.config import Settings
from lakesmith.contracts import load_contract
from lakesmith.core.columns import BATCH_ID, RULE_IDS, STREAM
from lakesmith.domains.sales import queries
from lakesmith.domains.sales.clean import CLEAN_BATCH
from lakesmith.domains.sales.generator import SalesSimConfig, write_all
from lakesmith.domains.sales.gold import ENRICHED, MODEL, RETAIL_MODEL, SalesModel
from lakesmith.domains.sales.pipeline import SalesReport, run_sales
from lakesmith.pipeline.dataset import Dataset
from lakesmith.stores.lake import open_table
from lakesmith.stores.postgres import connect

pytestmark = pytest.mark.integration

CONFIG = SalesSimConfig(customers=1_500, orders=12_000, seed=11, chunk_rows=5_000)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sales-files")
    write_all(CONFIG, out)
    return out


def _with_format(settings: Settings, fmt: str) -> Settings:
    return settings.model_copy(update={"lake": settings.lake.model_copy(update={"format": fmt})})


def _warehouse_count(settings: Settings, table: str) -> int:
    with connect(settings) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("sales", table))
        ).fetchone()
    assert row is not None
    return int(row[0])


def _check_star(settings: Settings, fmt: str, model: SalesModel) -> None:
    """Warehouse counts = lake counts; every fact key is in its dimension (warehouse)."""
    for t in model.tables:
        lake = open_table(settings, fmt, model.name, t.name).scan([t.key]).height
        assert lake == _warehouse_count(settings, t.name), t.name
    with connect(settings) as conn:
        for dim, key in (("dim_customer", "customer_key"), ("dim_product", "product_key"),
                         ("dim_geography", "geography_key"), ("dim_channel", "channel_key"),
                         ("dim_date", "date_key")):  # fmt: skip
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM sales.fact_sales f WHERE f.{k} IS NOT NULL AND "
                    "NOT EXISTS (SELECT 1 FROM {d} x WHERE x.{k} = f.{k})"
                ).format(k=sql.Identifier(key), d=sql.Identifier("sales", dim))
            ).fetchone()
            assert row == (0,), dim


def _same_answers(settings: Settings, fmt: str) -> None:
    for name in queries.QUESTIONS:
        lake = queries.lake_answer(settings, name, fmt)
        wh = queries.warehouse_answer(settings, name)
        assert lake.height == wh.height > 0, name
        assert lake.columns == wh.columns
        for col in lake.columns:
            a, b = lake[col].to_list(), wh[col].to_list()
            if lake[col].dtype.is_float():
                assert all(math.isclose(x, y, abs_tol=0.011) for x, y in zip(a, b, strict=True))
            else:
                assert a == b, (name, col)


def _check_enriched(settings: Settings, fmt: str, report: SalesReport) -> None:
    table = open_table(settings, fmt, "gold", ENRICHED.name)
    rows = report.rows["gold.sales_enriched"]
    if fmt == "delta":
        from deltalake import DeltaTable

        frame = pl.read_delta(table.location)
        assert DeltaTable(table.location).metadata().partition_columns == ["order_ts_month"]
    else:
        frame = pl.scan_iceberg(table.location).collect()
        ice = table.refresh()  # type: ignore[attr-defined]
        (part,) = ice.spec().fields
        assert str(part.transform) == "month"
        assert ice.schema().find_column_name(part.source_id) == "order_ts"
        (sort,) = ice.sort_order().fields
        assert ice.schema().find_column_name(sort.source_id) == "customer_key"
    assert frame.height == rows
    months = frame["order_ts"].dt.strftime("%Y-%m").n_unique()
    assert report.files is not None
    assert report.files["partition"].n_unique() == months  # one partition per order month
    con = queries.lake_connection(settings, fmt)
    try:
        assert con.execute("SELECT count(*) FROM sales_enriched").fetchone() == (rows,)
        one = con.execute(
            "SELECT count(DISTINCT order_month) FROM sales_enriched WHERE order_month = '2023-06'"
        ).fetchone()
        assert one == (1,)
    finally:
        con.close()


@pytest.mark.parametrize("fmt", ["iceberg", "delta"])
def test_sales_pipeline_end_to_end(stack_settings: Settings, files: Path, fmt: str) -> None:
    s = _with_format(stack_settings, fmt)
    report = run_sales(
        s, files / "sales_data.csv", files / "customer_data.parquet", table_format=fmt
    )
    orders, customers = report.accounting
    lines = pl.read_csv(files / "sales_data.csv", infer_schema=False).height
    people = pl.read_parquet(files / "customer_data.parquet")
    assert orders.balanced and customers.balanced
    assert orders.bronze == lines
    assert 0 < orders.quarantined_by_cleaning <= sum(report.reasons.values())
    assert customers.bronze == people.height
    assert customers.quarantined_at_ingest == people["customer_id"].null_count()
    assert report.customers_out < report.customers_in
    assert {"orphan_customer", "duplicate_line", "order_date_unparseable",
            "unit_price_unparseable", "negative_quantity_not_return"} <= set(report.reasons)  # fmt: skip
    ds = Dataset(s, load_contract("sales.orders"))
    try:
        q = ds.quarantine.scan().filter(
            (pl.col(BATCH_ID) == CLEAN_BATCH) & (pl.col(STREAM) == orders.stream)
        )
    finally:
        ds.close()
    assert q.height == orders.quarantined_by_cleaning
    assert q[RULE_IDS].list.len().min() >= 1  # every quarantined row says why
    _check_enriched(s, fmt, report)
    _check_star(s, fmt, MODEL)
    _same_answers(s, fmt)
    if fmt == "iceberg":  # the same files again: nothing doubles
        again = run_sales(s, files / "sales_data.csv", files / "customer_data.parquet")
        assert again.accounting == report.accounting
        assert again.rows == report.rows


def test_sales_pipeline_on_the_real_retail_data(
    stack_settings: Settings, external_data: Path, tmp_path: Path
) -> None:
    source = external_data / "retail" / "online_retail_ii_2009_2010.parquet"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    part = tmp_path / "online_retail_slice.parquet"  # a slice: the full file takes ~1 min
    pq.write_table(pq.read_table(source).slice(0, 40_000), part)
    s = _with_format(stack_settings, "iceberg")
    report = run_sales(s, part, table_format="iceberg", model=RETAIL_MODEL)
    (acc,) = report.accounting
    assert acc.balanced and acc.bronze == 40_000
    assert report.reasons.get("duplicate_line", 0) > 0
    assert report.reasons.get("negative_quantity_not_return", 0) > 0
    fact = open_table(s, "iceberg", "sales", "fact_sales").scan(["quantity", "is_return"])
    assert fact.filter(pl.col("is_return")).height > 0  # C-invoices: clean returns
    assert (fact.filter(pl.col("is_return"))["quantity"] < 0).all()
    dim = open_table(s, "iceberg", "sales", "dim_customer").scan(["customer_id"])
    assert "GUEST" in dim["customer_id"].to_list()  # null customer ids: guest purchases
    geo = open_table(s, "iceberg", "sales", "dim_geography").scan(["country"])
    assert "United Kingdom" in geo["country"].to_list()
    _check_star(s, "iceberg", RETAIL_MODEL)
    _same_answers(s, "iceberg")


def test_sales_migration_matches_the_sqlmodel_classes(stack_settings: Settings) -> None:
    from lakesmith.stores.warehouse import schema_diff, upgrade

    schema = "sales_migration_check"
    upgrade(stack_settings, "sales", schema)
    tables = [t.name for t in MODEL.tables]
    assert schema_diff(stack_settings, schema, tables) == []
