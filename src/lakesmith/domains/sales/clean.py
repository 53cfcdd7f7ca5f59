"""Clean, standardise, deduplicate and integrate the silver customers and order lines
(plain Polars; the rules are ``standardise``, the customer matching is ``matching``).

What cannot be fixed is *rejected* with every reason it has (``REASONS``); ``rejects``
are written to the dataset's quarantine table by ``pipeline`` so every input row ends
either in the clean output or in quarantine. Customers are never rejected here (a row
without an id was quarantined by the ingest's ``customer_id_required`` rule); invalid
emails are kept out of the golden record (``email_status``) but not the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from lakesmith.core.columns import (
    BATCH_ID,
    KEY,
    MESSAGES,
    PAYLOAD,
    QUARANTINED_AT,
    RECORD_ID,
    RULE_IDS,
    SCHEMA_VERSION,
    SEQ,
    SOURCE,
    STREAM,
)
from lakesmith.domains.sales import standardise as st
from lakesmith.domains.sales.matching import CLUSTER, match_customers
from lakesmith.gold.keys import key_of, surrogate_key

CLEAN_BATCH = "sales-clean"
"""``_batch_id`` of the rows the cleaning quarantines (replaced on every run)."""
RETURN_PREFIXES = ("R", "C")
"""Order ids that are returns / cancellations (negative quantities allowed)."""
GUEST_ID = "GUEST"
ORDER_FIELDS = (
    "order_id",
    "order_date",
    "customer_id",
    "product_id",
    "product_name",
    "category",
    "quantity",
    "unit_price",
    "channel",
    "country",
)
CUSTOMER_FIELDS = ("customer_id", "name", "email", "country", "city", "segment", "signup_date")

REASONS = {
    "order_date_unparseable": "order_date {} is not a date in a known format",
    "unit_price_unparseable": "unit_price {} is not an amount",
    "unit_price_negative": "unit_price {} is negative",
    "quantity_not_whole": "quantity {} is not a whole number",
    "quantity_zero": "quantity is 0",
    "negative_quantity_not_return": "quantity {} is negative but the order is not a return",
    "return_with_positive_quantity": "order {} is a return but its quantity is positive",
    "product_missing": "no product_id",
    "customer_missing": "no customer_id",
    "orphan_customer": "customer {} is not in the customer data",
    "duplicate_line": "the same line (order, customer, product, time, quantity, price) came before",
}


@dataclass
class Customers:
    golden: pl.DataFrame
    """One row per person: ``customer_key, customer_id, name, email, email_status, segment,
    country, city, signup_date, source_rows, source_ids``."""
    xref: pl.DataFrame
    """Every source ``customer_id`` → ``customer_key``."""


def with_ids(expr: pl.Expr) -> pl.Expr:
    """An identifier as typed: trimmed, upper case, a float's ``.0`` dropped
    (``" c0012 "`` → ``C0012``, ``13085.0`` → ``13085``)."""
    return st.text(expr).str.to_uppercase().str.replace(r"\.0+$", "")


def _fields(frame: pl.DataFrame, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n in frame.columns]


def _with_missing(frame: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    missing = [pl.lit(None, pl.String).alias(n) for n in names if n not in frame.columns]
    return frame.with_columns(missing) if missing else frame


def standardise_customers(silver: pl.DataFrame) -> pl.DataFrame:
    """Every customer rule applied (one row per input row)."""
    c = _with_missing(silver, CUSTOMER_FIELDS)
    c = c.with_columns(
        with_ids(pl.col("customer_id")).alias("customer_id"),
        st.person_name(pl.col("name")).alias("name"),
        st.email(pl.col("email")).alias("email"),
        st.person_name(pl.col("city")).alias("city"),
        st.text(pl.col("segment")).str.to_titlecase().alias("segment"),
        st.parse_datetimes(c["signup_date"]).dt.date().alias("signup_date"),
        st.country(c["country"]).alias("country"),
    )
    valid = st.email_valid(pl.col("email"))
    return c.with_columns(
        pl.when(pl.col("email").is_null())
        .then(pl.lit("missing"))
        .when(valid)
        .then(pl.lit("valid"))
        .otherwise(pl.lit("invalid"))
        .alias("email_status"),
        valid.alias("email_valid"),
    )


def golden_customers(rows: pl.DataFrame) -> Customers:
    """Match the standardised rows into people and keep one golden record each: per
    column the first non-null value of the cluster's rows, most complete row first (then
    earliest sign-up, then smallest id); the master id is that row's."""
    clustered = rows.with_columns(match_customers(rows))
    complete = pl.sum_horizontal(
        [pl.col(c).is_not_null().cast(pl.Int32) for c in ("name", "country", "city", "segment")]
    ) + pl.col("email_valid").fill_null(False).cast(pl.Int32)
    ordered = clustered.with_columns(complete.alias("_complete")).sort(
        ["_complete", "signup_date", "customer_id"],
        descending=[True, False, False],
        nulls_last=True,
    )
    golden = ordered.group_by(CLUSTER).agg(
        pl.col("customer_id").first(),
        *[
            pl.col(c).drop_nulls().first()
            for c in ("name", "country", "city", "segment", "signup_date")
        ],
        pl.col("email").filter(pl.col("email_valid")).drop_nulls().first(),
        pl.col("email_status").sort_by(pl.col("email_status") != "valid").first(),
        pl.len().cast(pl.Int64).alias("source_rows"),
        pl.col("customer_id").unique().sort().str.join(",").alias("source_ids"),
    )
    golden = surrogate_key(golden, ["customer_id"], "customer_key")
    xref = (
        clustered.select("customer_id", CLUSTER)
        .unique("customer_id")
        .join(golden.select(CLUSTER, "customer_key"), on=CLUSTER)
        .drop(CLUSTER)
    )
    return Customers(golden.drop(CLUSTER).sort("customer_id"), xref)


def customers_from_orders(orders: pl.DataFrame) -> Customers:
    """Customers when there is no customer file (e.g. the retail data): one per
    ``customer_id`` of the orders, its country the one it orders from most."""
    return customers_from_counts(country_counts(orders))


def country_counts(orders: pl.DataFrame) -> pl.DataFrame:
    """Order lines per (``customer_id``, ``ship_country``) (``len``; chunks' counts add up)."""
    return orders.drop_nulls("customer_id").group_by("customer_id", "ship_country").len()


def customers_from_counts(counts: pl.DataFrame) -> Customers:
    """``customers_from_orders`` from the orders' ``country_counts``."""
    golden = (
        counts.sort(["customer_id", "len", "ship_country"], descending=[False, True, False])
        .group_by("customer_id", maintain_order=True)
        .agg(pl.col("ship_country").first().alias("country"))
        .with_columns(
            pl.lit(None, pl.String).alias("name"),
            pl.lit(None, pl.String).alias("email"),
            pl.lit("missing").alias("email_status"),
            pl.lit(None, pl.String).alias("segment"),
            pl.lit(None, pl.String).alias("city"),
            pl.lit(None, pl.Date).alias("signup_date"),
            pl.lit(0, pl.Int64).alias("source_rows"),
            pl.col("customer_id").alias("source_ids"),
        )
    )
    golden = surrogate_key(golden, ["customer_id"], "customer_key")
    return Customers(golden, golden.select("customer_id", "customer_key"))


def guest_row() -> pl.DataFrame:
    """The customer orders without a customer id belong to (when guests are allowed)."""
    return pl.DataFrame(
        {
            "customer_key": [key_of(GUEST_ID)],
            "customer_id": [GUEST_ID],
            "name": ["Guest"],
            "email_status": ["missing"],
            "source_rows": [0],
            "source_ids": [""],
        }
    )


def standardise_orders(silver: pl.DataFrame) -> pl.DataFrame:
    """Every order rule applied (one row per input row; raw texts kept as ``raw_*``)."""
    o = _with_missing(silver, ORDER_FIELDS)
    each = st.per_distinct  # these columns repeat: each rule runs once per distinct value
    return o.with_columns(
        pl.col("order_date").alias("raw_order_date"),
        pl.col("quantity").alias("raw_quantity"),
        pl.col("unit_price").alias("raw_unit_price"),
        with_ids(pl.col("order_id")).alias("order_id"),
        with_ids(pl.col("customer_id")).alias("customer_id"),
        each(o["product_id"], with_ids).alias("product_id"),
        each(o["product_name"], st.text).alias("product_name"),
        each(o["category"], lambda c: st.text(c).str.to_titlecase()).alias("category"),
        _dates(o["order_date"]).alias("order_ts"),
        each(o["quantity"], st.parse_quantity).alias("quantity"),
        each(o["unit_price"], st.parse_price).alias("unit_price"),
        each(o["channel"], st.channel).alias("channel"),
        st.country(o["country"]).alias("ship_country"),
    )


def _dates(values: pl.Series) -> pl.Series:
    """``parse_datetimes`` once per distinct text when texts repeat (invoice times)."""
    if values.len() >= 10_000 and values.n_unique() <= values.len() // 4:
        distinct = values.unique()
        table = pl.DataFrame({"v": distinct, "out": st.parse_datetimes(distinct)})
        joined = values.to_frame("v").join(
            table, on="v", how="left", nulls_equal=True, maintain_order="left"
        )
        return joined["out"]
    return st.parse_datetimes(values)


def _quoted(col: str) -> pl.Expr:
    return pl.concat_str([pl.lit("'"), pl.col(col).fill_null(""), pl.lit("'")])


LINE = ("order_id", "customer_id", "product_id", "order_ts", "quantity", "unit_price")
"""The columns that make two order lines the same line (``duplicate_line``)."""
FLAGS, ROW, DUP = "__flags", "__row", "__dup"


def _checks(guests: bool) -> list[tuple[str, pl.Expr, pl.Expr | None]]:
    """Every order rule but ``duplicate_line``: (rule, failed, the value to quote)."""
    return [
        ("order_date_unparseable", pl.col("order_ts").is_null(), _quoted("raw_order_date")),
        ("unit_price_unparseable", pl.col("unit_price").is_null(), _quoted("raw_unit_price")),
        ("unit_price_negative", pl.col("unit_price") < 0, _quoted("raw_unit_price")),
        ("quantity_not_whole", pl.col("quantity").is_null(), _quoted("raw_quantity")),
        ("quantity_zero", pl.col("quantity") == 0, None),
        (
            "negative_quantity_not_return",
            (pl.col("quantity") < 0) & ~pl.col("is_return"),
            _quoted("raw_quantity"),
        ),
        (
            "return_with_positive_quantity",
            (pl.col("quantity") > 0) & pl.col("is_return"),
            _quoted("order_id"),
        ),
        ("product_missing", pl.col("product_id").is_null(), None),
        ("customer_missing", pl.col("customer_id").is_null() & pl.lit(not guests), None),
        (
            "orphan_customer",
            pl.col("customer_id").is_not_null() & pl.col("_known").is_null(),
            _quoted("customer_id"),
        ),
    ]


def order_flags(orders: pl.DataFrame, xref: pl.DataFrame | None, guests: bool) -> pl.DataFrame:
    """``orders`` with ``is_return``, ``__flags`` (a bit per rule of ``_checks`` the line
    breaks; 0: none) and ``__row`` (its row in the input file). Row by row: a chunk of
    the orders gives the same flags as the whole file."""
    is_return = pl.any_horizontal(
        [pl.col("order_id").str.starts_with(p) for p in RETURN_PREFIXES]
    ).fill_null(False)
    o = orders.with_columns(is_return.alias("is_return"))
    if xref is not None:
        o = o.join(
            xref.select("customer_id", pl.lit(True).alias("_known")),
            on="customer_id",
            how="left",
            maintain_order="left",
        )
    else:
        o = o.with_columns(pl.lit(True).alias("_known"))
    checks = _checks(guests)
    flags = pl.sum_horizontal(
        [cond.fill_null(False).cast(pl.Int64) * (1 << i) for i, (_, cond, _) in enumerate(checks)]
    )
    row = pl.col(SOURCE).str.extract(r"#row=(\d+)$", 1).cast(pl.Int64)
    return o.with_columns(flags.alias(FLAGS), row.alias(ROW)).drop("_known")


def order_verdict(flagged: pl.DataFrame, guests: bool) -> pl.DataFrame:
    """``order_flags``'s rows (with a boolean ``__dup``: a repeated clean line) with
    ``_rule_ids`` / ``_messages``: null for a clean line, else every rule it breaks;
    the clean lines first."""
    checks = _checks(guests)
    bad = pl.col(FLAGS) != 0
    rules = pl.concat_list(
        [
            pl.when(pl.col(FLAGS) & (1 << i) != 0).then(pl.lit(rule))
            for i, (rule, _, _) in enumerate(checks)
        ]
        + [pl.when(pl.col(DUP)).then(pl.lit("duplicate_line"))]
    ).list.drop_nulls()
    messages = pl.concat_list(
        [
            pl.when(pl.col(FLAGS) & (1 << i) != 0).then(
                pl.format(REASONS[rule], arg) if arg is not None else pl.lit(REASONS[rule])
            )
            for i, (rule, _, arg) in enumerate(checks)
        ]
        + [pl.when(pl.col(DUP)).then(pl.lit(REASONS["duplicate_line"]))]
    ).list.drop_nulls()
    rejected = flagged.filter(bad | pl.col(DUP)).with_columns(
        rules.alias(RULE_IDS), messages.alias(MESSAGES)
    )
    clean = flagged.filter(~bad & ~pl.col(DUP)).with_columns(
        pl.lit(None, pl.List(pl.String)).alias(RULE_IDS),
        pl.lit(None, pl.List(pl.String)).alias(MESSAGES),
    )
    return pl.concat([clean, rejected]).drop(FLAGS, DUP, ROW)


def order_reasons(orders: pl.DataFrame, xref: pl.DataFrame | None, guests: bool) -> pl.DataFrame:
    """``orders`` with ``_rule_ids`` / ``_messages`` (null: clean; else every rule the
    line breaks) and ``is_return``. Exact duplicate lines among the otherwise clean ones:
    the first one (by row) stays. (``chunked`` does the same a chunk at a time.)"""
    o = order_flags(orders, xref, guests).sort(ROW, SOURCE)
    dup = ~pl.struct(list(LINE)).is_first_distinct()
    o = o.with_columns(
        pl.when(pl.col(FLAGS) == 0).then(dup.over(pl.col(FLAGS) == 0)).otherwise(False).alias(DUP)
    )
    return order_verdict(o, guests)


def quarantine_rows(
    rejected: pl.DataFrame, fields: tuple[str, ...], now: datetime | None = None
) -> pl.DataFrame:
    """Rows for the dataset's quarantine table: the lineage, the input fields as a JSON
    payload (as ingested), the rules and messages."""
    names = _fields(rejected, fields)
    raw = {
        "order_date": "raw_order_date",
        "quantity": "raw_quantity",
        "unit_price": "raw_unit_price",
    }
    payload = pl.struct(
        [
            pl.col(raw.get(n, n)).cast(pl.String).alias(n)
            for n in names
            if raw.get(n, n) in rejected.columns
        ]
    ).struct.json_encode()
    return rejected.select(
        pl.col(RECORD_ID),
        pl.col(SOURCE),
        pl.col(SOURCE).str.replace(r"#row=\d+$", "").alias(STREAM),
        pl.col(SOURCE).str.extract(r"#row=(\d+)$", 1).cast(pl.Int64).alias(SEQ),
        pl.lit(None, pl.String).alias(KEY),
        payload.cast(pl.Binary).alias(PAYLOAD),
        pl.col(RULE_IDS),
        pl.col(MESSAGES),
        pl.col(SCHEMA_VERSION).cast(pl.Int32),
        pl.lit(CLEAN_BATCH).alias(BATCH_ID),
        pl.lit(now or datetime.now(UTC)).dt.cast_time_unit("us").alias(QUARANTINED_AT),
    )


def latest_streams(silver: pl.DataFrame) -> pl.DataFrame:
    """The rows of the newest version of each file: a file ingested again after it
    changed (a new export under the same path) supersedes its earlier rows."""
    if silver.height == 0:
        return silver
    stream = pl.col(SOURCE).str.replace(r"#row=\d+$", "")
    streams = silver.select(stream.unique().alias("s")).with_columns(
        pl.col("s").str.replace(r"@\d+-\d+$", "").alias("path"),
        pl.col("s").str.extract(r"-(\d+)$", 1).cast(pl.Int64).alias("mtime"),
    )
    keep = streams.filter(pl.col("mtime") == pl.col("mtime").max().over("path"))["s"]
    if keep.len() == streams.height:
        return silver
    return silver.filter(stream.is_in(keep.implode()))
