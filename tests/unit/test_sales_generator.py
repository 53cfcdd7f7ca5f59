"""The W-SALES generator writes every kind of dirt the issue lists, deterministically,
and every kind ends fixed or rejected with its reason by the integration."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lakesmith.core.columns import RECORD_ID, RULE_IDS, SCHEMA_VERSION, SOURCE
from lakesmith.domains.sales.generator import SalesSimConfig, generate_customers, write_all
from lakesmith.domains.sales.integrate import integrate, lines, star
from lakesmith.domains.sales.standardise import CHANNELS

CONFIG = SalesSimConfig(customers=3_000, orders=30_000, seed=5, chunk_rows=12_000)


def _silver(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """A generated file's rows as silver holds them (text fields + lineage)."""
    return frame.with_columns(
        pl.format("{}-{}", pl.lit(name), pl.int_range(pl.len())).alias(RECORD_ID),
        pl.format("file:///{}@1-1#row={}", pl.lit(name), pl.int_range(pl.len())).alias(SOURCE),
        pl.lit(1, pl.Int32).alias(SCHEMA_VERSION),
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sales")
    write_all(CONFIG, out)
    return out


@pytest.fixture(scope="module")
def inputs(files: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    customers = pl.read_parquet(files / "customer_data.parquet")
    orders = pl.read_csv(files / "sales_data.csv", infer_schema=False)
    return customers, orders


def test_same_seed_same_files(files: Path, tmp_path: Path) -> None:
    write_all(CONFIG, tmp_path)
    for name in ("customer_data.parquet", "sales_data.csv"):
        assert (tmp_path / name).read_bytes() == (files / name).read_bytes()


def test_every_kind_of_dirt_is_there(inputs: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    customers, orders = inputs
    truth = generate_customers(CONFIG)
    assert truth["_person"].n_unique() < truth.height * 0.95  # fuzzy duplicates
    assert customers.is_duplicated().any()  # exact duplicate rows
    assert customers["customer_id"].null_count() > 0
    for col in ("name", "email", "country", "city", "segment"):
        assert customers[col].null_count() > 0, col
    assert customers["name"].str.contains(r"^\s|\s\s|\s$").any()  # whitespace variants
    assert (customers["name"] == customers["name"].str.to_uppercase()).any()  # case variants
    assert customers["email"].str.contains(" at |@$").any()  # invalid emails
    assert customers["country"].is_in(["USA", "U.S.A.", "UK", "Deutschland"]).any()
    assert customers["country"].is_in(["Untied States", "Germnay", "Frnace", "Japn"]).any()
    for pattern in (
        r"^\d{4}-\d\d-\d\d$",
        r"^\d\d/\d\d/\d{4}$",
        r"^\d\d\.\d\d\.\d{4}$",
        r"^[A-Z][a-z]{2} ",
    ):
        assert customers["signup_date"].str.contains(pattern).any(), pattern
    prices = orders["unit_price"]
    for mark in ("$", "€", "£", "USD", ","):
        assert prices.str.contains(mark, literal=True).any(), mark
    assert prices.is_in(["N/A", "call us", "??", "free!"]).any()
    quantity = orders["quantity"].cast(pl.Float64, strict=False)
    assert ((quantity < 0) & orders["order_id"].str.starts_with("R")).any()  # returns
    assert ((quantity < 0) & orders["order_id"].str.starts_with("SO")).any()  # not returns
    assert orders["customer_id"].str.starts_with("C9").any()  # unknown customers
    assert orders["customer_id"].null_count() > 0
    assert orders.is_duplicated().any()  # duplicate lines
    assert orders["channel"].n_unique() > 10


def test_every_kind_of_dirt_ends_fixed_or_rejected_with_its_reason(
    inputs: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    customers, orders = inputs
    customers = customers.filter(pl.col("customer_id").is_not_null())  # ingest's rule
    data = integrate(_silver(orders, "s.csv"), _silver(customers, "c.parquet"))
    o = data.orders
    assert o.height == orders.height  # nothing lost: clean + rejected
    rules = o.with_columns(pl.col(RULE_IDS).fill_null([]))

    def rejected_for(rule: str) -> pl.Expr:
        return pl.col(RULE_IDS).list.contains(rule)

    bad_date = pl.col("raw_order_date").is_in(
        ["not a date", "31/02/2024", "2024-13-45", "yesterday", "00/00/0000"]
    )
    assert rules.filter(bad_date).select(rejected_for("order_date_unparseable").all()).item()
    bad_price = pl.col("raw_unit_price").is_in(["N/A", "call us", "??", "free!"])
    assert rules.filter(bad_price).select(rejected_for("unit_price_unparseable").all()).item()
    orphan = pl.col("customer_id").str.starts_with("C9")
    assert rules.filter(orphan).select(rejected_for("orphan_customer").all()).item()
    missing = pl.col("customer_id").is_null()
    assert rules.filter(missing).select(rejected_for("customer_missing").all()).item()
    not_return = (pl.col("quantity") < 0) & pl.col("order_id").str.starts_with("SO")
    assert (
        rules.filter(not_return).select(rejected_for("negative_quantity_not_return").all()).item()
    )
    assert (
        rules.filter(pl.col("raw_quantity").str.ends_with(".5"))
        .select(rejected_for("quantity_not_whole").all())
        .item()
    )
    assert rules.select(rejected_for("duplicate_line").sum()).item() > 0
    clean = data.clean_orders
    assert clean.filter(pl.col("is_return")).height > 0  # returns kept
    for col in ("order_ts", "quantity", "unit_price", "product_id", "customer_id"):
        assert clean[col].null_count() == 0, col
    assert set(clean["channel"].unique()) <= set(CHANNELS.values())
    line = ["order_id", "customer_id", "product_id", "order_ts", "quantity", "unit_price"]
    assert not clean.select(line).is_duplicated().any()
    # customers: standardised, merged close to the truth, nothing lost
    golden = data.customers.golden
    people = generate_customers(CONFIG).filter(pl.col("customer_id").is_not_null())
    assert abs(golden.height - people["_person"].n_unique()) <= people.height * 0.01
    assert golden["source_rows"].sum() == customers.height
    assert golden["name"].drop_nulls().str.contains(r"^\s|\s\s|\s$").sum() == 0
    assert golden["email"].drop_nulls().str.contains("@").all()
    countries = {"United States", "United Kingdom", "Germany", "France", "Spain", "Italy",
                 "Netherlands", "Canada", "Australia", "Japan"}  # fmt: skip
    assert set(golden["country"].drop_nulls().unique()) <= countries
    assert golden["segment"].drop_nulls().is_in(["Consumer", "Corporate", "Home Office"]).all()


def test_fact_keys_exist_in_the_dimensions(inputs: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    customers, orders = inputs
    customers = customers.filter(pl.col("customer_id").is_not_null())
    data = integrate(_silver(orders, "s.csv"), _silver(customers, "c.parquet"))
    tables = star(data, lines(data))
    fact = tables["fact_sales"]
    for dim, key in (("dim_customer", "customer_key"), ("dim_product", "product_key"),
                     ("dim_geography", "geography_key"), ("dim_channel", "channel_key")):  # fmt: skip
        missing = fact.select(key).drop_nulls().join(tables[dim], on=key, how="anti")
        assert missing.height == 0, dim
    assert fact["customer_key"].null_count() == 0
    assert fact["sales_key"].n_unique() == fact.height
