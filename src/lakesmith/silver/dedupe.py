"""Deduplication on the natural key across batches, with exact replay semantics.

The index maps each natural key to the record that first claimed it. A row is a
duplicate when its key was claimed by a *different* record; the same record seen again
(a replay after a crash) is not, so every sink gets the same answer on replay.

Layout, 28 bytes per key (the key frames and record-id strings this replaced took
~50 to 80): a key is two independent 64-bit hashes of its columns (Polars' struct hash with
two seeds), the claiming record one 64-bit hash of its ``_record_id``, and its event time
in whole seconds (``uint32``, 1970 to 2106); chunks of four parallel arrays sorted by the first hash, searched with NumPy (binary search
per batch, chunks merged when there are many) — vectorised, no per-row Python. Keys
repeated inside a batch are found the same way: equal hashes, adjacent after a stable sort.

Bounded by a window of event time (``window``, the worker's ``dedupe_window``): when the
chunks are merged, keys whose event time is older than the newest seen minus the window
are dropped. A long-running stream then holds the keys of one window, not of every row
it ever saw, and it holds what a restarted worker primes from silver (the same window),
so a late duplicate older than the window passes whether or not the worker restarted.

What the hashes cost in exactness: two different keys are taken for one only when both
64-bit hashes collide (about n² / 2^129 for n keys: ~10^-26 for 2M keys), and a duplicate
is taken for a replay only when two record ids collide on 64 bits while sharing a key.
Colliding *first* hashes alone (two keys with the same first hash, ~10^-7 at 2M keys) are
told apart by the second, so they never discard a record.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

_MAX_CHUNKS = 8
_SEEDS = (7, 0x2545F4914F6CDD1D)  # two independent seeds for the key's two hashes
_RECORD_SEED = 11

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
# (first key hash, sorted; second key hash; record hash; event time in epoch seconds)
Chunk = tuple[U64, U64, U64, U32]
_NO_TIME = int(np.iinfo(np.uint32).max)  # keys without an event time are never too old


class DedupeIndex:
    """``keys``: the natural key's columns; ``event_time`` and ``window``: keys older than
    the newest event time seen minus ``window`` are forgotten (both None: never)."""

    def __init__(
        self, keys: list[str], event_time: str | None = None, window: timedelta | None = None
    ) -> None:
        self.keys = keys
        self.event_time = event_time if window is not None else None
        self.window_s = int(window.total_seconds()) if window is not None else None
        self.newest_s: int | None = None  # the newest event time seen (epoch seconds)
        self._chunks: list[Chunk] = []

    def __len__(self) -> int:
        return sum(len(c[0]) for c in self._chunks)

    @property
    def nbytes(self) -> int:
        """Memory the index holds (its arrays)."""
        return sum(a.nbytes for c in self._chunks for a in c)

    def clear(self) -> None:
        self._chunks.clear()
        self.newest_s = None

    def _hashes(self, frame: pl.DataFrame) -> tuple[U64, U64, U64, U32]:
        key = pl.struct(self.keys)
        columns = [
            key.hash(seed=_SEEDS[0]).alias("a"),
            key.hash(seed=_SEEDS[1]).alias("b"),
            pl.col("_record_id").hash(seed=_RECORD_SEED).alias("r"),
        ]
        if self.event_time is not None:
            seconds = pl.col(self.event_time).dt.epoch("s").clip(0, _NO_TIME - 1)
            columns.append(seconds.fill_null(_NO_TIME).cast(pl.UInt32).alias("t"))
        out = frame.select(columns)
        if self.event_time is None:
            t = np.full(frame.height, _NO_TIME, dtype=np.uint32)
        else:
            t = out["t"].to_numpy().astype(np.uint32, copy=False)
            newest = int(t.max(initial=0, where=t != _NO_TIME))
            if newest:
                self.newest_s = max(newest, self.newest_s or 0)
        return (
            out["a"].to_numpy().astype(np.uint64, copy=False),
            out["b"].to_numpy().astype(np.uint64, copy=False),
            out["r"].to_numpy().astype(np.uint64, copy=False),
            t,
        )

    def _claim(self, h1: U64, h2: U64, rid: U64, t: U32) -> None:
        """Add keys whose arrays are sorted by ``h1``."""
        if len(h1) == 0:
            return
        self._chunks.append((h1, h2, rid, t))
        if len(self._chunks) > _MAX_CHUNKS:
            self._merge()

    def _merge(self) -> None:
        """One chunk of the keys still in the window, sorted by first hash. Built one
        column at a time, each chunk's column released once copied: the peak is about
        1.5x the index instead of 2.5x."""
        chunks: list[list[npt.NDArray[Any]]] = [list(c) for c in self._chunks]
        self._chunks = []
        times = _column(chunks, 3)
        keep: npt.NDArray[np.bool_] | None = None
        if self.window_s is not None and self.newest_s is not None:
            keep = times >= max(self.newest_s - self.window_s, 0)
            if keep.all():
                keep = None  # nothing to drop: no masked copies
            else:
                times = times[keep]
        h1 = _column(chunks, 0, keep)
        # sorted runs: a stable sort (timsort) merges them, ~4x faster than quicksort
        order = np.argsort(h1, kind="stable")
        h1 = h1[order]
        h2 = _column(chunks, 1, keep)[order]
        rid = _column(chunks, 2, keep)[order]
        self._chunks = [(h1, h2, rid, times[order])]

    def add(self, frame: pl.DataFrame) -> None:
        """Claim the keys of ``frame`` (key columns + ``_record_id``; unique keys, e.g.
        silver's rows when priming after a restart)."""
        if frame.height == 0 or not self.keys:  # no natural key: nothing to claim
            return
        h1, h2, rid, t = self._hashes(frame)
        order = np.argsort(h1)
        self._claim(h1[order], h2[order], rid[order], t[order])

    def _lookup(self, n1: U64, n2: U64) -> tuple[npt.NDArray[np.bool_], U64]:
        """For each key (``n1`` sorted: the binary searches then walk memory in order,
        ~10x faster): whether the index holds it, and the record hash that claimed it."""
        hit = np.zeros(len(n1), dtype=bool)
        by = np.zeros(len(n1), dtype=np.uint64)
        for c1, c2, crid, _ in self._chunks:
            at = np.minimum(np.searchsorted(c1, n1), len(c1) - 1)
            match = (c1[at] == n1) & (c2[at] == n2)
            hit |= match
            by[match] = crid[at[match]]
            # several claimed keys share a first hash (~n^2/2^65): the leftmost one had
            # another second hash, so look at the others; a Python loop over these few
            nxt = np.minimum(at + 1, len(c1) - 1)
            for i in np.flatnonzero(~match & (c1[at] == n1) & (c1[nxt] == n1) & (nxt > at)):
                right = int(np.searchsorted(c1, n1[i], side="right"))
                same = np.flatnonzero(c2[at[i] : right] == n2[i])
                if len(same):
                    hit[i] = True
                    by[i] = crid[at[i] + same[0]]
        return hit, by

    def split(self, valid: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``(first occurrences, duplicates)`` of ``valid`` (in offset order); claims the firsts.
        A contract without keys (``keys: []``) has no duplicates: replays are dropped by
        the sinks' positions, and memory does not grow with the rows seen."""
        if not self.keys:
            return valid, valid.clear()
        if valid.height == 0:
            return valid, valid
        h1, h2, rid, t = self._hashes(valid)
        order = _key_order(h1, h2)  # work in h1 order: searches walk memory in order
        h1, h2, rid, t = h1[order], h2[order], rid[order], t[order]
        # a key seen earlier in the batch: equal keys are adjacent, in input order
        again = np.zeros(len(h1), dtype=bool)
        again[1:] = (h1[1:] == h1[:-1]) & (h2[1:] == h2[:-1])
        found, claimed = self._lookup(h1, h2)
        dup = again | (found & (claimed != rid))
        new = ~dup & ~found  # a replayed first occurrence is claimed already
        self._claim(h1[new], h2[new], rid[new], t[new])  # a mask keeps them sorted
        unsorted = np.empty_like(dup)
        unsorted[order] = dup
        mask = pl.Series(unsorted)
        return valid.filter(~mask), valid.filter(mask)


def _key_order(h1: U64, h2: U64) -> npt.NDArray[np.intp]:
    """Positions sorted by key hash, equal keys in input order (so the first of each is
    its first occurrence): a stable sort on ``h1``, or on ``(h1, h2)`` in the rare batch
    where two different keys share ``h1`` (~n^2/2^65) and could interleave."""
    order = np.argsort(h1, kind="stable")
    s1, s2 = h1[order], h2[order]
    if np.any((s1[1:] == s1[:-1]) & (s2[1:] != s2[:-1])):
        return np.lexsort((h2, h1))  # stable too
    return order


_RELEASED = np.empty(0, dtype=np.uint64)


def _column(
    chunks: list[list[npt.NDArray[Any]]], i: int, keep: npt.NDArray[np.bool_] | None = None
) -> npt.NDArray[Any]:
    """Column ``i`` of every chunk, concatenated (``keep``: only those rows); the chunks'
    own arrays of that column are released."""
    column = np.concatenate([c[i] for c in chunks])
    for c in chunks:
        c[i] = _RELEASED
    return column if keep is None else column[keep]
