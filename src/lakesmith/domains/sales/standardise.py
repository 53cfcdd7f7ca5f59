"""Cleaning rules, one function each, as Polars expressions (or, for the lookups, a
function of a Series that works on its distinct values).

| rule | in | out |
|---|---|---|
| ``text`` | ``"  Jane   DOE "`` | ``"Jane   DOE"`` → ``"Jane DOE"`` (trimmed, spaces collapsed; ``""`` → null) |
| ``person_name`` | ``" jane  doe"`` | ``"Jane Doe"`` |
| ``email`` / ``email_valid`` | ``" Jane.Doe@Mail.COM "`` | ``"jane.doe@mail.com"``, valid |
| ``parse_datetime`` | ``2024-03-05 14:22:01``, ``2024-03-05T14:22:01Z``, ``05/03/2024 14:22``, ``05.03.2024``, ``Mar 5, 2024``, ``20240305`` … | a UTC timestamp (slashes and dots are day first) |
| ``parse_price`` | ``"$1,234.50"``, ``"1.234,50 €"``, ``"USD 12"``, ``" 12.5 "`` | ``1234.5``, ``1234.5``, ``12.0``, ``12.5`` |
| ``parse_quantity`` | ``" 3 "``, ``"3.0"``, ``"-2"`` | ``3``, ``3``, ``-2`` (``"2.5"``, ``"two"`` → null) |
| ``channel`` | ``"ONLINE "``, ``"web"``, ``"In-Store"``, ``"app"`` | ``Online``, ``Online``, ``Store``, ``Mobile`` |
| ``country`` | ``"U.S.A."``, ``"deutschland"``, ``"Untied States"`` | ``United States``, ``Germany``, ``United States`` (synonym, then fuzzy) |
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from lakesmith.domains.sales.countries import COUNTRIES, SYNONYMS, SYNONYMS_UNKNOWN
from lakesmith.domains.sales.similarity import best_match

EMAIL = r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
COUNTRY_FUZZY_THRESHOLD = 0.6
MAX_QUANTITY = 1e9  # a quantity beyond is not one (``1e308``)

# tried in order; the first that parses wins. Slashed and dotted dates are day first.
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%Y/%m/%d %H:%M:%S",
)
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%b %d, %Y", "%d %b %Y", "%Y%m%d")

CHANNELS: dict[str, str] = {
    "online": "Online",
    "web": "Online",
    "website": "Online",
    "e commerce": "Online",
    "ecommerce": "Online",
    "store": "Store",
    "in store": "Store",
    "instore": "Store",
    "retail": "Store",
    "shop": "Store",
    "mobile": "Mobile",
    "mobile app": "Mobile",
    "app": "Mobile",
    "phone": "Phone",
    "telephone": "Phone",
    "call center": "Phone",
}
"""Folded channel spelling → channel."""


def per_distinct(values: pl.Series, rule: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    """``rule`` applied once per distinct value and mapped back: the same result, much
    less work for columns that repeat (prices, quantities, channels, product ids,
    invoice dates). Columns of mostly distinct values are processed directly."""
    if values.len() < 10_000 or values.n_unique() > values.len() // 4:
        return values.to_frame("v").select(rule(pl.col("v")).alias(values.name)).to_series()
    distinct = values.unique().to_frame("v").with_columns(rule(pl.col("v")).alias("out"))
    mapped = values.to_frame("v").join(
        distinct, on="v", how="left", nulls_equal=True, maintain_order="left"
    )
    return mapped["out"].alias(values.name)


def text(expr: pl.Expr) -> pl.Expr:
    """Trimmed, inner whitespace collapsed to one space, empty → null."""
    out = expr.str.replace_all(r"\s+", " ").str.strip_chars()
    return pl.when(out == "").then(None).otherwise(out)


def person_name(expr: pl.Expr) -> pl.Expr:
    """``text``, then Title Case."""
    return text(expr).str.to_titlecase()


def fold(expr: pl.Expr) -> pl.Expr:
    """Lower case, accents and punctuation dropped, whitespace collapsed (the Polars twin
    of ``countries.fold``), for lookups."""
    return (
        expr.str.to_lowercase()
        .str.normalize("NFKD")
        .str.replace_all(r"[^\x00-\x7f]", "")
        .str.replace_all(r"[^\w\s]", "")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def email(expr: pl.Expr) -> pl.Expr:
    """Lower case, no whitespace anywhere; empty → null (validity: ``email_valid``)."""
    out = expr.str.replace_all(r"\s+", "").str.to_lowercase()
    return pl.when(out == "").then(None).otherwise(out)


def email_valid(cleaned: pl.Expr) -> pl.Expr:
    """True for a plausible address, False for an invalid one, null when missing."""
    return cleaned.str.contains(EMAIL)


def _coalesce_parse(expr: pl.Expr, formats: tuple[str, ...], dtype: pl.DataType) -> pl.Expr:
    return pl.coalesce(
        [expr.str.strptime(dtype, f, strict=False, exact=True) for f in formats]  # type: ignore[arg-type]
    )


def parse_datetime(expr: pl.Expr) -> pl.Expr:
    """A timestamp (UTC) from any of ``DATETIME_FORMATS`` or ``DATE_FORMATS`` (midnight);
    null when none parses."""
    t = text(expr)
    stamp = _coalesce_parse(t, DATETIME_FORMATS, pl.Datetime("us"))
    day = _coalesce_parse(t, DATE_FORMATS, pl.Date()).cast(pl.Datetime("us"))
    return pl.coalesce([stamp, day]).dt.replace_time_zone("UTC")


def parse_datetimes(values: pl.Series) -> pl.Series:
    """``parse_datetime`` of a Series, faster: each format is tried only on the values
    no earlier format parsed (about one parse per value when a file uses few formats)."""
    texts = values.to_frame("t").select(text(pl.col("t")).alias("t"))["t"]
    out = pl.Series(values.name, [None] * len(values), dtype=pl.Datetime("us"))
    todo = texts.is_not_null()
    formats: list[tuple[str, pl.Datetime | pl.Date]] = [
        (f, pl.Datetime("us")) for f in DATETIME_FORMATS
    ]
    formats += [(f, pl.Date()) for f in DATE_FORMATS]
    for fmt, dtype in formats:
        if not todo.any():
            break
        idx = todo.arg_true()
        parsed = texts.gather(idx).str.strptime(dtype, fmt, strict=False, exact=True)
        out = out.scatter(idx, parsed.cast(pl.Datetime("us")))
        todo = todo & out.is_null()
    return out.dt.replace_time_zone("UTC")


def parse_date(expr: pl.Expr) -> pl.Expr:
    """A date from any of the formats ``parse_datetime`` reads (null when none)."""
    return parse_datetime(expr).dt.date()


_EUROPEAN = r"^\d{1,3}(\.\d{3})*,\d{1,2}$|^\d+,\d{1,2}$"


def parse_price(expr: pl.Expr) -> pl.Expr:
    """An amount from a price as typed: currency symbols and codes (``$ € £ ¥``, ``USD
    EUR GBP``) and spaces dropped; ``1,234.50`` (comma thousands) and ``1.234,50``
    (decimal comma) both read 1234.5; null when nothing numeric is left."""
    bare = expr.str.replace_all(r"(?i)[$€£¥]|\b(usd|eur|gbp|jpy)\b|\s", "")
    european = bare.str.contains(_EUROPEAN)
    number = (
        pl.when(european)
        .then(bare.str.replace_all(r"\.", "").str.replace(",", "."))
        .otherwise(bare.str.replace_all(",", ""))
    )
    ok = number.str.contains(r"^-?\d{1,15}(\.\d+)?$")  # beyond 10^15 it is not a price
    return pl.when(ok).then(number.cast(pl.Float64, strict=False)).otherwise(None)


def parse_quantity(expr: pl.Expr) -> pl.Expr:
    """A whole number of units (``"3"``, ``" 3.0 "``, ``"-2"``); null when not a whole
    number or absurd (``1e308``)."""
    value = text(expr).cast(pl.Float64, strict=False)
    whole = (value == value.round(0)) & (value.abs() < MAX_QUANTITY)
    return pl.when(whole).then(value.cast(pl.Int64, strict=False)).otherwise(None)


def channel(expr: pl.Expr) -> pl.Expr:
    """The sales channel (``CHANNELS``); unknown spellings title-cased, missing → null."""
    folded = fold(expr)
    return folded.replace_strict(
        CHANNELS, default=text(expr).str.to_titlecase(), return_dtype=pl.String
    )


def country(values: pl.Series) -> pl.Series:
    """Canonical country names: folded spelling looked up in the synonym table, then the
    distinct values still unknown matched fuzzily (bigram Dice ≥ 0.6 against every
    synonym); values meaning "none" and values matching nothing → null."""
    folded = values.to_frame("v").select(fold(pl.col("v")).alias("f"))["f"]
    folded = folded.set(folded.is_in(list(SYNONYMS_UNKNOWN)), None)
    exact = folded.replace_strict(SYNONYMS, default=None, return_dtype=pl.String)
    unknown = folded.filter(exact.is_null() & folded.is_not_null() & (folded.str.len_chars() > 3))
    if unknown.len() == 0:
        return exact.alias(values.name)
    matched = best_match(unknown, pl.Series(list(SYNONYMS)), COUNTRY_FUZZY_THRESHOLD)
    fuzzy = matched.drop_nulls("match").with_columns(
        pl.col("match").replace_strict(SYNONYMS, return_dtype=pl.String)
    )
    lookup = dict(zip(fuzzy["value"].to_list(), fuzzy["match"].to_list(), strict=True))
    found = folded.replace_strict(lookup, default=None, return_dtype=pl.String)
    return exact.fill_null(found).alias(values.name)


def country_attributes() -> pl.DataFrame:
    """``country``, ``iso2``, ``region`` of every canonical country."""
    return pl.DataFrame(
        {
            "country": list(COUNTRIES),
            "iso2": [v[0] for v in COUNTRIES.values()],
            "region": [v[1] for v in COUNTRIES.values()],
        }
    )
