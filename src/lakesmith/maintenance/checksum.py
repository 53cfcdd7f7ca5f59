"""Bit-exact PostgreSQL values from Polars: per-day checksums and binary COPY encoding.

Checksums are order-independent and computed identically on the lake and in PostgreSQL.

Every value becomes a 31-bit *fingerprint* by the same 64-bit hash on both sides — the
hash functions PostgreSQL uses for hash partitioning, re-implemented in numpy — so no
float formatting or rounding is involved anywhere:

==========  ================================================  =============================
kind        PostgreSQL                                        lake (numpy over Arrow/Polars)
==========  ================================================  =============================
string      ``hashtextextended(v, 0)``                        lookup3 of the UTF-8 bytes
double      ``hashfloat8extended(v, 0)``                      lookup3 of the IEEE-754 bits
timestamp   ``hashfloat8extended(date_part('epoch', v), 0)``  epoch µs / 1e6 (exact IEEE
                                                              division), then the same
long        ``hashint8extended(v, 0)``                        the same
boolean     ``hashint8extended(v::int, 0)``                   the same
==========  ================================================  =============================

``fp = hash & 0x7FFFFFFF`` (``NULL_FP`` for a null). A row folds into
``r = Σ_c fp_c · A_c`` (``A_c`` < 2²⁴, a fixed weight per column name, so the sum never
overflows) and the row hash is ``H = hashint8extended(r, 0)``. A day's checksum is
``(count(*), Σ H)`` — an exact integer sum (PostgreSQL accumulates ``bigint`` sums in
128 bits; the lake side splits ``H`` into halves), so row order and batch boundaries do
not matter and equal data gives exactly equal numbers. The lake side also keeps
``Σ fp_c`` per column; on a mismatch the same sums are read from PostgreSQL to name the
columns that differ.

What it catches: a missing, extra or duplicated row (count); any change of any value —
any byte of a string, any bit of a double (+0/-0 and all NaNs hash alike, as they compare
equal in SQL), any microsecond of a timestamp — null ↔ value, and values moved between
rows or columns (each row is hashed as a whole). A corrupted row goes unnoticed only if
its row hash collides, about 1 in 4·10⁹. The hashes depend on the server's byte order;
``check_server_hashes`` compares both implementations on probe values before use.

This module defines the checksum and computes it on the lake side; ``stores.pgchecksum``
computes the same sums in SQL. Loads use ``lakesmith.stores.pgcopy`` (binary ``COPY``), so
the server stores exactly the bits that were hashed (no text round trip).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import psycopg
import pyarrow as pa
from numpy.lib.stride_tricks import sliding_window_view

from lakesmith.core.errors import LakesmithError
from lakesmith.formats.base import POLARS_TYPES
from lakesmith.stores import pgchecksum
from lakesmith.stores.pgchecksum import MASK, NULL_FP, Kind

__all__ = [
    "MASK",
    "NULL_FP",
    "POLARS_TYPES",
    "Checksum",
    "ChecksumColumn",
    "Kind",
    "check_server_hashes",
    "frame_checksum",
    "value_hashes",
]
I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]


@dataclass(frozen=True)
class ChecksumColumn:
    name: str
    kind: Kind

    @property
    def weight(self) -> int:
        digest = hashlib.blake2b(self.name.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % (2**24 - 1) + 1


@dataclass(frozen=True)
class Checksum:
    """``rows`` and ``hash_sum`` decide equality; ``columns`` (Σ fp per column) explain it.

    ``Checksum()`` is the zero to add batches to; ``columns=None``: not computed.
    """

    rows: int = 0
    hash_sum: int = 0
    columns: dict[str, int] | None = field(default_factory=dict)

    def __add__(self, other: Checksum) -> Checksum:
        cols = None
        if self.columns is not None and other.columns is not None:
            names = sorted(set(self.columns) | set(other.columns))
            cols = {n: self.columns.get(n, 0) + other.columns.get(n, 0) for n in names}
        return Checksum(self.rows + other.rows, self.hash_sum + other.hash_sum, cols)

    def matches(self, other: Checksum) -> bool:
        return (self.rows, self.hash_sum) == (other.rows, other.hash_sum)

    def text(self) -> str:
        """The form stored with a day's checkpoint."""
        return f"v1:{self.rows}:{self.hash_sum}"

    def differences(self, other: Checksum) -> list[str]:
        """What differs: ``rows``, then the columns whose sums differ (when both have them)."""
        out = ["rows"] if self.rows != other.rows else []
        if self.columns is not None and other.columns is not None:
            out += [n for n in self.columns if self.columns[n] != other.columns.get(n)]
        if not out and self.hash_sum != other.hash_sum:
            out.append("row contents")
        return out


# -- PostgreSQL's hash functions (src/common/hashfn.c, lookup3, seed 0) in numpy ----------

_INIT = 0x9E3779B9 + 3923095


def _rot(x: U32, k: int) -> U32:
    return (x << np.uint32(k)) | (x >> np.uint32(32 - k))


_MIX = ((0, 2, 1, 4), (1, 0, 2, 6), (2, 1, 0, 8), (0, 2, 1, 16), (1, 0, 2, 19), (2, 1, 0, 4))
_FINAL = ((2, 1, 14), (0, 2, 11), (1, 0, 25), (2, 1, 16), (0, 2, 4), (1, 0, 14), (2, 1, 24))


def _mix(v: list[U32]) -> None:
    """lookup3 ``mix(a, b, c)`` in place; ``v = [a, b, c]``."""
    for x, y, z, k in _MIX:
        v[x] -= v[y]
        v[x] ^= _rot(v[y], k)
        v[y] += v[z]


def _final(v: list[U32]) -> I64:
    """lookup3 ``final(a, b, c)``, then ``(b << 32) | c`` as int64."""
    for x, y, k in _FINAL:
        v[x] ^= v[y]
        v[x] -= _rot(v[y], k)
    return ((v[1].astype(np.uint64) << np.uint64(32)) | v[2].astype(np.uint64)).view(np.int64)


def _start(lengths: I64) -> list[U32]:
    a = ((lengths + _INIT) & 0xFFFFFFFF).astype(np.uint32)
    return [a, a.copy(), a.copy()]


def hash_bytes(data: npt.NDArray[np.uint8], starts: I64, lengths: I64) -> I64:
    """``hash_bytes_extended(data[start:start + length], 0)`` for every (start, length)."""
    windows = sliding_window_view(np.concatenate([data, np.zeros(12, np.uint8)]), 12)
    v = _start(lengths)
    blocks = lengths // 12
    for j in range(int(blocks.max(initial=0))):  # whole 12-byte blocks, for the rows having one
        idx = np.flatnonzero(blocks > j)
        w = windows[starts[idx] + 12 * j].view("<u4").astype(np.uint32)
        part = [v[k][idx] + w[:, k] for k in range(3)]
        _mix(part)
        for k in range(3):
            v[k][idx] = part[k]
    # the last 0..11 bytes, zero-padded: mask each word to the bytes that belong to it
    w = windows[starts + 12 * blocks].view("<u4").astype(np.uint32)
    rest = lengths - 12 * blocks
    for k in range(3):
        keep = np.clip(rest - 4 * k, 0, 4).astype(np.uint64) * np.uint64(8)
        word = w[:, k] & ((np.uint64(1) << keep) - np.uint64(1)).astype(np.uint32)
        v[k] += word << np.uint32(8) if k == 2 else word  # c's lowest byte: the length
    return _final(v)


def hash_float8(values: npt.NDArray[np.float64]) -> I64:
    """``hashfloat8extended(v, 0)``: 0 for ±0, one hash for every NaN."""
    values = np.where(np.isnan(values), np.float64("nan"), values).astype("<f8")
    words = values.view("<u4").reshape(-1, 2)  # low word, high word
    v = _start(np.full(len(values), 8, np.int64))
    v[0] += words[:, 0]
    v[1] += words[:, 1]
    return np.where(values == 0.0, np.int64(0), _final(v))


def hash_int8(values: I64) -> I64:
    """``hashint8extended(v, 0)``: the two halves folded by xor, then hashed as 4 bytes."""
    words = values.astype("<i8").view("<u4").reshape(-1, 2)
    v = _start(np.full(len(values), 4, np.int64))
    v[0] += words[:, 0] ^ np.where(values >= 0, words[:, 1], ~words[:, 1])
    return _final(v)


def _hash_strings(series: pl.Series) -> I64:
    arr = series.to_arrow(compat_level=pl.CompatLevel.oldest())
    if not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.large_string())
    n = len(arr)
    _, offsets_buf, data_buf = arr.buffers()
    if offsets_buf is None or data_buf is None:  # every value empty or null
        zeros = np.zeros(n, np.int64)
        return hash_bytes(np.zeros(0, np.uint8), zeros, zeros)
    offsets = np.frombuffer(offsets_buf, np.int64, n + 1, arr.offset * 8)
    return hash_bytes(np.frombuffer(data_buf, np.uint8), offsets[:-1], np.diff(offsets))


def value_hashes(series: pl.Series, kind: Kind) -> I64:
    """The 64-bit hash of every value (what PostgreSQL computes; nulls hashed as a zero)."""
    series = series.cast(POLARS_TYPES[kind])
    if kind == "string":
        return _hash_strings(series.fill_null(""))
    if kind == "double":
        return hash_float8(series.fill_null(0.0).to_numpy())
    if kind == "timestamp":
        # numpy divides exactly like PostgreSQL's date_part (Polars multiplies by 1e-6)
        micros = series.dt.epoch("us").fill_null(0).to_numpy().astype(np.float64)
        return hash_float8(micros / 1_000_000.0)
    return hash_int8(series.fill_null(0).cast(pl.Int64).to_numpy())


def _exact_sum(values: I64) -> int:
    low = int((values & 0xFFFFFFFF).sum())
    high = int((values >> 32).sum())
    return low + (high << 32)


def frame_checksum(frame: pl.DataFrame, spec: Sequence[ChecksumColumn]) -> Checksum:
    """The checksum of ``frame`` (columns named as in ``spec``; a missing column is null)."""
    n = frame.height
    r = np.zeros(n, np.int64)
    sums: dict[str, int] = {}
    for c in spec:
        if c.name in frame.columns:
            series = frame[c.name]
            fp = value_hashes(series, c.kind) & MASK
            if series.null_count():
                fp[series.is_null().to_numpy()] = NULL_FP
        else:
            fp = np.full(n, NULL_FP, np.int64)
        sums[c.name] = int(fp.sum())
        r += fp * c.weight
    return Checksum(n, _exact_sum(hash_int8(r)) if n else 0, dict(sorted(sums.items())))


_PROBE_STRINGS = ["", "a", "dev-00001", "v1.3.0", "k:3f2a9c1e:3:1042", "x" * 24, "é—漢字🙂" * 5]
_PROBE_DOUBLES = [0.0, -0.0, 1.5, -273.15, 1e-300, float("inf"), float("nan"), 1013.25]
_PROBE_LONGS = [0, 1, -1, 2**40 + 7, -(2**62), 2**63 - 1]
_PROBE_TIMES = [
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 7, 20, 20, 17, 40, 123456, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2250, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
]


def check_server_hashes(conn: psycopg.Connection[Any]) -> None:
    """Fail clearly if the server's hash functions differ from ours (e.g. big-endian)."""
    probes: list[tuple[Kind, list[Any], pl.DataType]] = [
        ("string", _PROBE_STRINGS, pl.String()),
        ("double", _PROBE_DOUBLES, pl.Float64()),
        ("long", _PROBE_LONGS, pl.Int64()),
        ("timestamp", _PROBE_TIMES, pl.Datetime("us", "UTC")),
    ]
    theirs = pgchecksum.server_hashes(conn, [(kind, values) for kind, values, _ in probes])
    for (kind, values, dtype), found in zip(probes, theirs, strict=True):
        ours = value_hashes(pl.Series(values, dtype=dtype), kind).tolist()
        if found != ours:
            raise LakesmithError(
                f"PostgreSQL's {kind} hash differs from lakesmith's checksum (a big-endian "
                "server?), so backfill verification cannot be trusted here"
            )
