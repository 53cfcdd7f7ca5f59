"""The dirty customer + sales generator of W-SALES (``lakesmith simulate sales``),
vectorised (NumPy draws, Polars string expressions), deterministic by seed.

``customer_data.parquet`` (every column text, as exports often are): ``customer_id,
name, email, country, city, segment, signup_date``; ``sales_data.csv``, written in
chunks of ``chunk_rows`` so 10M orders need no more memory than one chunk:
``order_id, order_date, customer_id, product_id, product_name, category, quantity,
unit_price, channel``. The dirt, at the rates of ``Dirt``:

- customers: duplicates of a person under a new id with a case/whitespace variant or a
  one-letter typo of the name or the email; exact duplicate rows; nulls (name, email,
  country, city, segment); invalid emails; country spellings (``USA``, ``U.S.A.``,
  ``Untied States`` …); sign-up dates in six formats and some unparseable; a few rows
  without an id;
- orders: dates in six formats and some unparseable; prices with currency symbols,
  codes, thousands separators and decimal commas, some unparseable; returns (order id
  ``R…``, negative quantity) and negative quantities that are not returns; quantities
  that are not whole numbers; orders of unknown customers and without a customer;
  channel spellings; product names in other cases; exact duplicate lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from lakesmith.domains.sales.countries import COUNTRIES
from lakesmith.domains.sales.vocabulary import (
    ADJECTIVES,
    BAD_DATES,
    BAD_PRICES,
    CATEGORIES,
    CHANNEL_SPELLINGS,
    CITIES,
    COUNTRY_TYPOS,
    COUNTRY_WEIGHTS,
    DATE_OUT,
    DOMAINS,
    FIRST,
    LAST,
    NOUNS,
    SEGMENTS,
    STAMP_OUT,
)


@dataclass(frozen=True)
class Dirt:
    """Rates of each kind of dirt (fractions of rows)."""

    fuzzy_duplicates: float = 0.06  # customers: the same person under another id
    exact_duplicates: float = 0.01  # customers: the same row twice
    missing_id: float = 0.002
    null_field: float = 0.02  # each of name/email/country/city/segment
    invalid_email: float = 0.03
    country_variant: float = 0.3  # a synonym instead of the canonical name
    country_typo: float = 0.01
    bad_date: float = 0.003
    bad_price: float = 0.003
    returns: float = 0.01  # order id R…, negative quantity (kept, a return)
    negative_quantity: float = 0.004  # negative but not a return (quarantined)
    fractional_quantity: float = 0.001
    orphan: float = 0.01  # unknown customer id
    no_customer: float = 0.003
    duplicate_lines: float = 0.005


@dataclass(frozen=True)
class SalesSimConfig:
    customers: int = 1_000
    orders: int = 10_000
    seed: int = 0
    products: int = 500
    start: datetime = datetime(2023, 1, 1, tzinfo=UTC)
    days: int = 730
    chunk_rows: int = 500_000
    dirt: Dirt = field(default_factory=Dirt)


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str], n: int) -> pl.Series:
    return pl.Series(
        np.asarray(options, dtype=object)[rng.integers(0, len(options), n)], dtype=pl.String
    )


def _mask(rng: np.random.Generator, rate: float, n: int) -> pl.Series:
    return pl.Series(rng.random(n) < rate)


def _typo(expr: pl.Expr, pos: pl.Expr) -> pl.Expr:
    """Swap the letters at ``pos`` and ``pos + 1``."""
    return pl.concat_str(
        [
            expr.str.slice(0, pos),
            expr.str.slice(pos + 1, 1),
            expr.str.slice(pos, 1),
            expr.str.slice(pos + 2),
        ]
    )


def _format_times(
    rng: np.random.Generator, stamps: pl.Series, formats: tuple[str, ...]
) -> pl.Series:
    which = rng.integers(0, len(formats), len(stamps))
    frame = pl.DataFrame({"t": stamps, "w": which})
    out = pl.lit(None, pl.String)
    for i, f in enumerate(formats):
        out = pl.when(pl.col("w") == i).then(pl.col("t").dt.strftime(f)).otherwise(out)
    return frame.select(out.alias("t"))["t"]


def _country_spelling(rng: np.random.Generator, canonical: pl.Series, dirt: Dirt) -> pl.Series:
    n = len(canonical)
    variants = {c: (c, *COUNTRIES[c][2][:3], c.upper(), f" {c.lower()} ") for c in CITIES}
    frame = pl.DataFrame({"c": canonical, "r": rng.random(n), "k": rng.integers(0, 1 << 30, n)})
    var = pl.col("c").replace_strict(
        {c: v for c, v in variants.items()}, return_dtype=pl.List(pl.String)
    )
    typo = pl.col("c").replace_strict(
        {c: list(COUNTRY_TYPOS[c]) for c in CITIES}, return_dtype=pl.List(pl.String)
    )

    def pick(lst: pl.Expr) -> pl.Expr:
        return lst.list.get(pl.col("k") % lst.list.len())

    return frame.select(
        pl.when(pl.col("r") < dirt.country_typo)
        .then(pick(typo))
        .when(pl.col("r") < dirt.country_typo + dirt.country_variant)
        .then(pick(var))
        .otherwise(pl.col("c"))
        .alias("country")
    )["country"]


def generate_customers(config: SalesSimConfig) -> pl.DataFrame:
    """The customer rows, with a ``_person`` column (the truth: same value, same person;
    not written to the file)."""
    rng = np.random.default_rng(config.seed)
    d = config.dirt
    n_dup = int(config.customers * d.fuzzy_duplicates)
    n_exact = int(config.customers * d.exact_duplicates)
    n = max(config.customers - n_dup - n_exact, 1)
    countries = list(CITIES)
    country = pl.Series(
        np.asarray(countries, dtype=object)[rng.choice(len(countries), n, p=COUNTRY_WEIGHTS)],
        dtype=pl.String,
    )
    first, last = _pick(rng, FIRST, n), _pick(rng, LAST, n)
    base = pl.DataFrame(
        {
            "_person": np.arange(n),
            "first": first,
            "last": last,
            "country_c": country,
            "num": np.asarray(rng.integers(1, 1000, n)),
            "domain": _pick(rng, DOMAINS, n),
            "city_i": np.asarray(rng.integers(0, 6, n)),
            "segment": _pick(rng, SEGMENTS, n),
            "signup": pl.Series(
                ((config.start.timestamp() - rng.integers(0, 5 * 365 * 86400, n)) * 1e6).astype(
                    np.int64
                )
            ).cast(pl.Datetime("us", "UTC")),
        }
    ).with_columns(
        pl.concat_str([pl.col("first"), pl.lit(" "), pl.col("last")]).alias("name"),
        pl.concat_str(
            [
                pl.col("first"),
                pl.lit("."),
                pl.col("last"),
                pl.col("num").cast(pl.String),
                pl.lit("@"),
                pl.col("domain"),
            ]
        )
        .str.to_lowercase()
        .alias("email"),
        pl.col("country_c")
        .replace_strict({c: list(v) for c, v in CITIES.items()}, return_dtype=pl.List(pl.String))
        .list.get(pl.col("city_i") % 3)
        .alias("city"),
    )
    # the same person again under another id: a case/whitespace variant or a typo
    dup = base.sample(n_dup, with_replacement=True, seed=config.seed + 1) if n_dup else base.clear()
    r = pl.Series(rng.random(dup.height))
    pos = pl.Series(rng.integers(1, 4, dup.height))
    dup = (
        dup.with_columns(r=r, pos=pos)
        .with_columns(
            pl.when(pl.col("r") < 0.25)
            .then(pl.col("name").str.to_uppercase())
            .when(pl.col("r") < 0.5)
            .then(pl.concat_str([pl.lit("  "), pl.col("name").str.to_lowercase(), pl.lit(" ")]))
            .when(pl.col("r") < 0.6)
            .then(pl.col("name").str.replace(" ", "   "))
            .when(pl.col("r") < 0.8)
            .then(_typo(pl.col("name"), pl.col("pos")))
            .otherwise(pl.col("name"))
            .alias("name"),
            pl.when(pl.col("r") >= 0.8)
            .then(_typo(pl.col("email"), pl.col("pos")))
            .when(pl.col("r") < 0.4)
            .then(pl.concat_str([pl.col("email").str.to_uppercase(), pl.lit(" ")]))
            .otherwise(pl.col("email"))
            .alias("email"),
        )
        .drop("r", "pos")
    )
    people = pl.concat([base, dup])
    m = people.height
    ids = pl.Series(rng.permutation(m) + 1).cast(pl.String).str.zfill(7)
    people = people.with_columns(
        pl.concat_str([pl.lit("C"), ids]).alias("customer_id"),
        _country_spelling(rng, people["country_c"], d).alias("country"),
        _format_times(rng, people["signup"], DATE_OUT).alias("signup_date"),
    )
    # invalid emails, nulls, bad dates, missing ids
    bad = pl.Series(rng.integers(0, 3, m))
    people = people.with_columns(
        pl.when(_mask(rng, d.invalid_email, m))
        .then(
            pl.when(bad == 0)
            .then(pl.col("email").str.replace("@", " at "))
            .when(bad == 1)
            .then(pl.col("email").str.replace(r"@.*$", "@"))
            .otherwise(pl.col("email").str.replace("@", ""))
        )
        .otherwise(pl.col("email"))
        .alias("email"),
        pl.when(_mask(rng, d.bad_date, m))
        .then(_pick(rng, BAD_DATES, m))
        .otherwise(pl.col("signup_date"))
        .alias("signup_date"),
        pl.when(_mask(rng, d.missing_id, m))
        .then(None)
        .otherwise(pl.col("customer_id"))
        .alias("customer_id"),
        pl.when(pl.Series(rng.random(m) < 0.15))
        .then(pl.col("segment").str.to_lowercase())
        .otherwise(pl.col("segment"))
        .alias("segment"),
    )
    people = people.with_columns(
        *[
            pl.when(_mask(rng, d.null_field, m)).then(None).otherwise(pl.col(c)).alias(c)
            for c in ("name", "email", "country", "city", "segment")
        ]
    )
    exact = (
        people.sample(n_exact, with_replacement=True, seed=config.seed + 2)
        if n_exact
        else people.clear()
    )
    out = pl.concat([people, exact]).sample(fraction=1.0, shuffle=True, seed=config.seed + 3)
    return out.select(
        "customer_id", "name", "email", "country", "city", "segment", "signup_date", "_person"
    )


def products(config: SalesSimConfig) -> pl.DataFrame:
    rng = np.random.default_rng(config.seed + 10)
    p = config.products
    return pl.DataFrame(
        {
            "product_id": [f"P{i:05d}" for i in range(1, p + 1)],
            "product_name": [
                f"{ADJECTIVES[i % len(ADJECTIVES)]} {NOUNS[(i // len(ADJECTIVES)) % len(NOUNS)]} {i}"
                for i in range(p)
            ],
            "category": _pick(rng, CATEGORIES, p),
            "price": np.round(np.exp(rng.normal(3.2, 1.0, p)), 2),
        }
    )


def _price_text(rng: np.random.Generator, price: pl.Series) -> pl.Series:
    n = len(price)
    style = rng.integers(0, 7, n)
    frame = pl.DataFrame({"p": price, "s": style})
    plain = pl.col("p").round(2).cast(pl.String)
    cents = (pl.col("p") * 100).round(0).cast(pl.Int64)
    intpart = (cents // 100).cast(pl.String)
    dec = (cents % 100).cast(pl.String).str.zfill(2)
    fixed = pl.concat_str([intpart, pl.lit("."), dec])
    # thousands separators: every three digits from the right
    grouped = intpart.str.reverse().str.replace_all(r"(\d{3})", "${1},")
    grouped = grouped.str.strip_chars_end(",").str.reverse()
    european = pl.concat_str([grouped.str.replace_all(",", "."), pl.lit(","), dec, pl.lit(" €")])
    return frame.select(
        pl.when(pl.col("s") == 0)
        .then(plain)
        .when(pl.col("s") == 1)
        .then(pl.concat_str([pl.lit("$"), grouped, pl.lit("."), dec]))
        .when(pl.col("s") == 2)
        .then(european)
        .when(pl.col("s") == 3)
        .then(pl.concat_str([pl.lit("USD "), fixed]))
        .when(pl.col("s") == 4)
        .then(pl.concat_str([pl.lit(" "), plain, pl.lit(" ")]))
        .when(pl.col("s") == 5)
        .then(pl.concat_str([pl.lit("£"), fixed]))
        .otherwise(fixed)
        .alias("price")
    )["price"]


def order_chunks(config: SalesSimConfig, customer_ids: pl.Series) -> Iterator[pl.DataFrame]:
    """The order lines, ``chunk_rows`` at a time."""
    d = config.dirt
    ids = customer_ids.drop_nulls().unique().sort()
    catalogue = products(config)
    names = catalogue["product_name"]
    for start in range(0, config.orders, config.chunk_rows):
        rng = np.random.default_rng([config.seed, start])
        n = min(config.chunk_rows, config.orders - start)
        row = np.arange(start, start + n)
        order_no = row // 3  # three lines per order: the lines of an order share these
        first = order_no[0]
        o = order_no - first
        k = int(o[-1]) + 1
        ts = (config.start.timestamp() + rng.integers(0, config.days * 86400, k))[o]
        is_return = (rng.random(k) < d.returns)[o]
        cust_of = ids.gather(rng.integers(0, len(ids), k))
        orphan_of = pl.Series(rng.integers(0, 999_999, k)).cast(pl.String).str.zfill(6)
        who = rng.random(k)
        cust_of = (
            pl.DataFrame({"c": cust_of, "x": orphan_of, "w": who})
            .select(
                pl.when(pl.col("w") < d.orphan)
                .then(pl.concat_str([pl.lit("C9"), pl.col("x")]))
                .when(pl.col("w") < d.orphan + d.no_customer)
                .then(None)
                .otherwise(pl.col("c"))
            )
            .to_series()
        )
        cust = cust_of.gather(o)
        channels = [s for group in CHANNEL_SPELLINGS for s in group]
        channel = _pick(rng, channels, k).gather(o)
        prod = rng.integers(0, config.products, n)
        bad_neg = ~is_return & (rng.random(n) < d.negative_quantity)
        qty = rng.integers(1, 6, n)
        qty = np.where(is_return | bad_neg, -qty, qty)
        frame = pl.DataFrame(
            {
                "order_no": order_no,
                "return": is_return,
                "order_date": pl.Series((ts * 1_000_000).astype(np.int64)).cast(
                    pl.Datetime("us", "UTC")
                ),
                "customer_id": cust,
                "product_id": catalogue["product_id"].gather(prod),
                "product_name": names.gather(prod),
                "category": catalogue["category"].gather(prod),
                "qty": qty,
                "price": catalogue["price"].gather(prod),
                "channel": channel,
            }
        )
        frame = frame.with_columns(
            pl.concat_str(
                [
                    pl.when(pl.col("return")).then(pl.lit("R")).otherwise(pl.lit("SO")),
                    pl.col("order_no").cast(pl.String).str.zfill(9),
                ]
            ).alias("order_id"),
            _format_times(rng, frame["order_date"], STAMP_OUT).alias("order_date"),
            pl.when(_mask(rng, d.fractional_quantity, n))
            .then(pl.format("{}.5", pl.col("qty")))
            .otherwise(pl.col("qty").cast(pl.String))
            .alias("quantity"),
            _price_text(rng, frame["price"]).alias("unit_price"),
            pl.when(pl.Series(rng.random(n) < 0.1))
            .then(pl.col("product_name").str.to_uppercase())
            .otherwise(pl.col("product_name"))
            .alias("product_name"),
        )
        frame = frame.with_columns(
            pl.when(_mask(rng, d.bad_date, n))
            .then(_pick(rng, BAD_DATES, n))
            .otherwise(pl.col("order_date"))
            .alias("order_date"),
            pl.when(_mask(rng, d.bad_price, n))
            .then(_pick(rng, BAD_PRICES, n))
            .otherwise(pl.col("unit_price"))
            .alias("unit_price"),
        ).select(
            "order_id",
            "order_date",
            "customer_id",
            "product_id",
            "product_name",
            "category",
            "quantity",
            "unit_price",
            "channel",
        )
        dupes = frame.sample(int(n * d.duplicate_lines), seed=config.seed + start)
        yield pl.concat([frame, dupes])


def write_customers(config: SalesSimConfig, out: Path) -> pl.DataFrame:
    """Write ``customer_data.parquet``; returns the rows with the ``_person`` truth."""
    frame = generate_customers(config)
    out.mkdir(parents=True, exist_ok=True)
    frame.drop("_person").write_parquet(out / "customer_data.parquet", row_group_size=100_000)
    return frame


def write_sales(config: SalesSimConfig, out: Path, customer_ids: pl.Series) -> int:
    """Write ``sales_data.csv`` chunk by chunk; returns the lines written."""
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    with (out / "sales_data.csv").open("wb") as handle:
        for i, chunk in enumerate(order_chunks(config, customer_ids)):
            chunk.write_csv(handle, include_header=i == 0)
            written += chunk.height
    return written


def write_all(config: SalesSimConfig, out: Path) -> tuple[int, int]:
    """Both files; returns (customer rows, order lines)."""
    customers = write_customers(config, out)
    return customers.height, write_sales(config, out, customers["customer_id"])
