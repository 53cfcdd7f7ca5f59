"""Surrogate keys that are the same in every store, every run and every library version:
a 63-bit hash of the natural key, computed vectorised (NumPy over the Arrow string
buffers, no Python call per value).

The natural key's columns are joined as text (``\\x1f`` between them, null as empty) and
hashed with PostgreSQL's ``hashtextextended(text, 0)`` (lookup3 over the UTF-8 bytes, the
hash of PostgreSQL's hash partitioning, which PostgreSQL keeps stable across releases),
re-implemented in NumPy by ``maintenance.checksum.value_hashes``; the top bit is dropped
so a key is a positive Int64. The warehouse can therefore compute the same key in SQL::

    hashtextextended(concat_ws(chr(31), artist, song), 0) & 9223372036854775807

Not Polars' ``Expr.hash``: it is documented as stable only within one Polars version, and
a key that changed with an upgrade would orphan every fact already stored.
``tests/unit/test_gold_calendar.py`` pins known values. (Until 2026-12 the keys were a
BLAKE2b hash computed per distinct value in Python; gold built before must be rebuilt
from silver: ``lakesmith reprocess``.)
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from lakesmith.maintenance.checksum import value_hashes

_SEP = "\x1f"
_POSITIVE = 0x7FFFFFFFFFFFFFFF
_NK = "__natural_key"


def stable_hash(values: pl.Series) -> pl.Series:
    """The 63-bit key (Int64, never negative) of each string of ``values`` (null hashes
    like the empty string)."""
    hashes = value_hashes(values.cast(pl.String), "string") & _POSITIVE
    return pl.Series(values.name, hashes, dtype=pl.Int64)


def natural_key_text(columns: Sequence[str]) -> pl.Expr:
    """The text a natural key is hashed as (columns joined by ``\\x1f``, null as empty)."""
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in columns], separator=_SEP)


def surrogate_key(frame: pl.DataFrame, columns: Sequence[str], name: str) -> pl.DataFrame:
    """``frame`` with ``name`` (Int64): the hash of ``columns`` (nulls hash as empty).
    Each *distinct* natural key is hashed once (a fact batch repeats a few thousand songs
    and a few dozen user agents over many rows), then joined back."""
    text = frame.select(natural_key_text(columns).alias(_NK)).to_series()
    distinct = text.unique()
    if distinct.len() * 2 > text.len():  # mostly distinct: hashing beats the join
        return frame.with_columns(stable_hash(text).alias(name))
    keys = pl.DataFrame([distinct, stable_hash(distinct).alias(name)])
    keyed = frame.with_columns(text).join(keys, on=_NK, how="left", maintain_order="left")
    return keyed.drop(_NK)


def key_of(*parts: object) -> int:
    """The key ``surrogate_key`` gives the natural key ``parts`` (tests, lookups)."""
    text = _SEP.join("" if p is None else str(p) for p in parts)
    return int(stable_hash(pl.Series([text]))[0])
