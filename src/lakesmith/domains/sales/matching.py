"""Fuzzy customer matching (the W-SALES user-defined function): which customer rows are
the same person, vectorised in Polars.

Three kinds of evidence link two rows (an edge); the people are the connected
components of the edges (label propagation, a few joins):

1. the same customer id (the same row exported twice);
2. the same valid email, after cleaning (case and whitespace variants, a typo in the
   name);
3. the same folded name (case, whitespace, word order and accents ignored) in the same
   country or the same city — a *block*, so only rows of one block are compared — and
   either emails similar enough (bigram Dice ≥ ``EMAIL_THRESHOLD`` with the same digits:
   a typo, an invalid spelling of the same address) or one email missing and the same
   city.

Not matched: a person whose name *and* email both changed, or whose name changed and
email is missing. Blocks larger than ``MAX_BLOCK`` rows (very common names) skip rule 3,
so the work stays linear in the number of rows.
"""

from __future__ import annotations

import polars as pl

from lakesmith.domains.sales.similarity import dice
from lakesmith.domains.sales.standardise import fold

EMAIL_THRESHOLD = 0.75
MAX_BLOCK = 50
PAIRS_PER_BATCH = 500_000
"""Pairs of rows compared at once (their bigrams: about 1 GB per million pairs)."""
ROW = "_row"
CLUSTER = "_cluster"


def _name_key(name: pl.Expr) -> pl.Expr:
    """Folded name with its words sorted (``"Doe,  JANE"`` → ``"doe jane"``)."""
    return fold(name).str.split(" ").list.sort().list.join(" ")


def _star_edges(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """Each row linked to the first row with the same non-null ``key``."""
    rows = frame.select(ROW, key).drop_nulls(key)
    first = rows.group_by(key).agg(pl.col(ROW).min().alias("b"))
    return (
        rows.join(first, on=key)
        .select(pl.col(ROW).alias("a"), "b")
        .filter(pl.col("a") != pl.col("b"))
    )


def _block_edges(frame: pl.DataFrame, block: list[str]) -> pl.DataFrame:
    """Rule 3 within blocks of the same ``block`` values, ``PAIRS_PER_BATCH`` pairs of
    rows at a time (a million customers make tens of millions of pairs: compared all at
    once, their bigrams would take tens of GB)."""
    rows = frame.select(ROW, *block, "email", "digits", pl.col("city").alias("_city")).drop_nulls(
        block
    )
    sizes = (
        rows.group_by(block)
        .len("n")
        .filter(pl.col("n").is_between(2, MAX_BLOCK))
        .sort(block)  # batches independent of the group-by's order
        .with_columns((pl.col("n") * (pl.col("n") - 1) // 2).cum_sum().alias("_pairs"))
        .select(*block, (pl.col("_pairs") // PAIRS_PER_BATCH).alias("_batch"))
    )
    rows = rows.join(sizes, on=block)
    found = [
        _pair_edges(rows.filter(pl.col("_batch") == b).drop("_batch"), block)
        for b in sizes["_batch"].unique().sort().to_list()
    ]
    return pl.concat([pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64}), *found])


def _pair_edges(rows: pl.DataFrame, block: list[str]) -> pl.DataFrame:
    """The edges among ``rows`` (whole blocks): every pair of a block compared."""
    pairs = (
        rows.join(rows, on=block, suffix="_r")
        .filter(pl.col(ROW) < pl.col(f"{ROW}_r"))
        .select(
            pl.col(ROW).alias("a"),
            pl.col(f"{ROW}_r").alias("b"),
            "email",
            "email_r",
            "digits",
            "digits_r",
            "_city",
            "_city_r",
        )
    )
    # emails similar enough AND the same digits: only pairs with both emails and the
    # same digits can pass, so only those are scored (the costly part)
    scored = pairs.filter(
        pl.col("digits").eq_missing(pl.col("digits_r"))
        & pl.col("email").is_not_null()
        & pl.col("email_r").is_not_null()
    )
    similar = scored.filter(dice(scored["email"], scored["email_r"]) >= EMAIL_THRESHOLD)
    # or one email missing and the same city
    one_missing = pl.col("email").is_null() | pl.col("email_r").is_null()
    missing = pairs.filter(one_missing & (pl.col("_city") == pl.col("_city_r")).fill_null(False))
    return pl.concat([similar, missing]).select(
        pl.col("a").cast(pl.Int64), pl.col("b").cast(pl.Int64)
    )


def components(n: int, edges: pl.DataFrame) -> pl.Series:
    """The smallest row number of each row's connected component (rows 0 … n-1)."""
    labels = pl.DataFrame({ROW: pl.int_range(0, n, eager=True, dtype=pl.Int64)}).with_columns(
        pl.col(ROW).alias("label")
    )
    both = pl.concat([edges, edges.select(pl.col("b").alias("a"), pl.col("a").alias("b"))])
    both = both.unique()
    while True:
        moved = (
            both.join(labels, left_on="a", right_on=ROW)
            .group_by("b")
            .agg(pl.col("label").min().alias("new"))
        )
        updated = labels.join(
            moved, left_on=ROW, right_on="b", how="left", maintain_order="left"
        ).select(ROW, pl.min_horizontal("label", "new").alias("label"))
        changed = (updated["label"] != labels["label"]).any()
        labels = updated
        if not changed:
            return labels["label"]


def match_customers(customers: pl.DataFrame) -> pl.Series:
    """For cleaned customer rows (``customer_id``, ``name``, ``email``, ``email_valid``,
    ``country``, ``city``), the cluster of each row: the smallest row number of the rows
    that are the same person (same order as the input)."""
    frame = customers.with_row_index(ROW).with_columns(
        pl.col(ROW).cast(pl.Int64),
        _name_key(pl.col("name")).alias("name_key"),
        pl.when(pl.col("email_valid")).then(pl.col("email")).alias("valid_email"),
        pl.col("email").str.replace_all(r"\D", "").alias("digits"),
    )
    edges = pl.concat(
        [
            _star_edges(frame, "customer_id"),
            _star_edges(frame, "valid_email"),
            _block_edges(frame, ["name_key", "country"]),
            _block_edges(frame, ["name_key", "city"]),
        ]
    ).with_columns(pl.col("a").cast(pl.Int64), pl.col("b").cast(pl.Int64))
    return components(frame.height, edges).alias(CLUSTER)
