"""Mergeable summaries of a column seen in batches, in memory that does not grow with the
rows (``quality.profile`` builds a file's profile from them in one pass).

- ``HyperLogLog``: distinct-count estimate. 2^p one-byte registers (p = 14: 16 KiB,
  standard error 1.04/sqrt(2^p) ≈ 0.8 %); each batch's values are hashed by Polars
  (64-bit, fixed seeds, so equal values hash equally in every batch), the top p bits pick
  a register, the rank of the first set bit in the rest is kept as a maximum
  (``np.maximum.at``); two sketches merge by the element-wise maximum, so per-batch
  sketches combine exactly as if one had seen all rows. Small ranges use linear counting.
- ``BottomK``: a uniform sample without replacement of at most k values: every value
  gets a random priority and the k smallest priorities are kept (merging = keeping the k
  smallest of both). Quantiles and histograms are read from it; with k = 50,000 a
  quantile's rank error is about 1/sqrt(k) ≈ 0.5 % (exact while the column has ≤ k values).
- ``FrequentItems``: Misra-Gries heavy hitters with capacity c: per batch the value
  counts are added to the table; when it holds more than c values, the (c+1)-th largest
  count is subtracted from all and non-positive ones dropped. A reported count is a lower
  bound at most N/(c+1) below the true one; any value more frequent than N/(c+1) is kept.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

_SEED = 41


def hash64(values: pl.Series) -> np.ndarray:
    """64-bit hashes of ``values``, the same for equal values in every batch."""
    return values.hash(seed=_SEED).to_numpy()


class HyperLogLog:
    def __init__(self, p: int = 14) -> None:
        self.p = p
        self.m = 1 << p
        self.registers = np.zeros(self.m, dtype=np.uint8)

    def add_hashes(self, hashes: np.ndarray) -> None:
        if hashes.size == 0:
            return
        h = hashes.astype(np.uint64, copy=False)
        index = (h >> np.uint64(64 - self.p)).astype(np.int64)
        rest = h & np.uint64((1 << (64 - self.p)) - 1)
        width = 64 - self.p
        # rank = position of the first set bit in the remaining (64 - p) bits, 1-based
        _, exponent = np.frexp(rest.astype(np.float64))
        rank = np.where(rest == 0, width + 1, width - exponent + 1).astype(np.uint8)
        np.maximum.at(self.registers, index, rank)

    def add(self, values: pl.Series) -> None:
        self.add_hashes(hash64(values.drop_nulls()))

    def merge(self, other: HyperLogLog) -> None:
        np.maximum(self.registers, other.registers, out=self.registers)

    def estimate(self) -> float:
        m = self.m
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.power(2.0, -self.registers.astype(np.float64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return m * math.log(m / zeros)  # linear counting for small cardinalities
        return raw

    @property
    def relative_error(self) -> float:
        return 1.04 / math.sqrt(self.m)


class BottomK:
    def __init__(self, k: int = 50_000, seed: int = 7) -> None:
        self.k = k
        self._rng = np.random.default_rng(seed)
        self.values: pl.Series | None = None
        self._keys = np.empty(0, dtype=np.float64)

    def add(self, values: pl.Series) -> None:
        present = values.drop_nulls()
        if present.len() == 0:
            return
        keys = self._rng.random(present.len())
        self._merge(present, keys)

    def _merge(self, values: pl.Series, keys: np.ndarray) -> None:
        if self.values is not None:
            values = pl.concat([self.values, values.cast(self.values.dtype)])
            keys = np.concatenate([self._keys, keys])
        if keys.size > self.k:
            keep = np.argpartition(keys, self.k)[: self.k]
            values, keys = values.gather(keep), keys[keep]
        self.values, self._keys = values, keys

    def merge(self, other: BottomK) -> None:
        if other.values is not None:
            self._merge(other.values, other._keys)

    def sample(self) -> pl.Series:
        return self.values if self.values is not None else pl.Series([], dtype=pl.Float64)


class FrequentItems:
    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self.counts = pl.DataFrame(schema={"value": pl.String, "count": pl.Int64})
        self.seen = 0  # values counted (nulls excluded)

    def add(self, values: pl.Series) -> None:
        present = values.drop_nulls().cast(pl.String)
        if present.len() == 0:
            return
        self.seen += present.len()
        batch = present.value_counts(name="count").rename({present.name: "value"})
        self._merge(batch.with_columns(pl.col("count").cast(pl.Int64)))

    def _merge(self, batch: pl.DataFrame) -> None:
        merged = pl.concat([self.counts, batch]).group_by("value").agg(pl.col("count").sum())
        if merged.height > self.capacity:
            cut = merged["count"].sort(descending=True)[self.capacity]
            merged = merged.with_columns(pl.col("count") - cut).filter(pl.col("count") > 0)
        self.counts = merged

    def merge(self, other: FrequentItems) -> None:
        self.seen += other.seen
        self._merge(other.counts)

    def top(self, n: int = 10) -> list[tuple[str, int]]:
        rows = self.counts.sort(["count", "value"], descending=[True, False]).head(n)
        return [(str(v), int(c)) for v, c in rows.iter_rows()]
