"""Surrogate keys that are the same in every store and every run: a 63-bit BLAKE2b hash
of the natural key, computed once per *distinct* natural key (dimensions repeat their keys
across a batch, so this is a handful of hashes per batch, not one per row)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import polars as pl

_SEP = "\x1f"


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def surrogate_key(frame: pl.DataFrame, columns: Sequence[str], name: str) -> pl.DataFrame:
    """``frame`` with ``name`` (Int64): the hash of ``columns`` (nulls hash as empty)."""
    text = pl.concat_str(
        [pl.col(c).cast(pl.String).fill_null("") for c in columns], separator=_SEP
    ).alias("__nk")
    keyed = frame.with_columns(text)
    distinct = keyed.select(pl.col("__nk").unique())
    distinct = distinct.with_columns(
        pl.col("__nk").map_elements(_hash, return_dtype=pl.Int64).alias(name)
    )
    return keyed.join(distinct, on="__nk", how="left", maintain_order="left").drop("__nk")


def key_of(*parts: object) -> int:
    """The key ``surrogate_key`` gives the natural key ``parts`` (tests, lookups)."""
    return _hash(_SEP.join("" if p is None else str(p) for p in parts))
