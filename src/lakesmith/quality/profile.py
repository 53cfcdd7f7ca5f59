"""Profile a file in one bounded-memory pass (``lakesmith profile PATH``).

The file is read exactly as ``lakesmith ingest`` reads it: the column types come from the
same contract inference (``contracts.infer``), the records from the payload format's
``read`` (``chunk_rows`` at a time) and ``decode``, the values from ``quality.typing``. Per
column, every batch feeds mergeable summaries (``quality.sketches``), so memory is one
batch plus a fixed size per column whatever the file's size:

- exact: rows, nulls, values that are present but not of the column's type, min, max,
  mean (sum / count);
- distinct values: HyperLogLog (p = 14, ≈0.8 % standard error), merged across batches by
  register-wise maximum;
- quantiles (p1 … p99) and the histogram: from a uniform bottom-k sample of 50,000
  values (rank error ≈0.5 %; exact for columns with fewer values);
- top values: Misra-Gries with 1,000 counters (counts are lower bounds, off by at most
  N/1001);
- duplicate rows (identical raw records): exact while the distinct row hashes fit in
  ``EXACT_ROW_HASHES`` (64-bit hashes kept sorted), then a HyperLogLog (p = 16, ≈0.4 %).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lakesmith.contracts.infer import infer_contract
from lakesmith.contracts.model import Contract, FieldSpec
from lakesmith.core.errors import InputError
from lakesmith.core.records import RawBatch
from lakesmith.formats import get_format, guess_format, unknown_format_hint
from lakesmith.formats.base import open_input
from lakesmith.quality.sketches import BottomK, FrequentItems, HyperLogLog, hash64
from lakesmith.quality.typing import typed

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
EXACT_ROW_HASHES = 1_000_000  # 8 MiB of row hashes; beyond, duplicates are estimated
HIST_BINS = 30
_ORDERED = ("long", "double", "timestamp")


@dataclass
class ColumnProfile:
    name: str
    source: str  # the column's name in the file
    type: str
    rows: int = 0
    nulls: int = 0
    invalid: int = 0  # present, but not a value of the column's type
    minimum: Any = None
    maximum: Any = None
    total: float = 0.0  # sum of numbers (mean = total / present)
    distinct: HyperLogLog = field(default_factory=HyperLogLog)
    sample: BottomK = field(default_factory=BottomK)
    frequent: FrequentItems = field(default_factory=FrequentItems)

    @property
    def present(self) -> int:
        return self.rows - self.nulls - self.invalid

    @property
    def null_pct(self) -> float:
        return 100.0 * self.nulls / self.rows if self.rows else 0.0

    @property
    def distinct_estimate(self) -> int:
        return min(round(self.distinct.estimate()), self.present)

    @property
    def mean(self) -> float | None:
        if self.type not in ("long", "double") or not self.present:
            return None
        return self.total / self.present

    def quantiles(self) -> dict[float, Any]:
        if self.type not in _ORDERED:
            return {}
        s = self.sample.sample()
        if s.len() == 0:
            return {}
        sorted_ = s.sort()
        n = sorted_.len()
        return {q: sorted_[min(n - 1, int(q * n))] for q in QUANTILES}

    def histogram(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(counts scaled to the column's values, bin edges)`` from the sample."""
        if self.type not in _ORDERED:
            return None
        s = self.sample.sample().drop_nulls()
        if s.len() == 0:
            return None
        values = s.dt.epoch("us").to_numpy() if self.type == "timestamp" else s.to_numpy()
        values = values.astype(np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return None
        try:
            counts, edges = np.histogram(values, bins=HIST_BINS)
        except ValueError:  # one value, or a range too narrow for its magnitude
            counts, edges = np.histogram(values, bins=1)
        scale = self.present / values.size
        return counts * scale, edges

    def observe(self, text: pl.Series, value: pl.Series, error: pl.Series) -> None:
        n = text.len()
        self.rows += n
        # missing: null once typed and not a type error ("", "NA" with null_values …)
        self.nulls += int((value.is_null() & ~error).sum())
        self.invalid += int(error.sum())
        present = value.drop_nulls()
        if present.len() == 0:
            return
        if self.type != "boolean":
            lo, hi = present.min(), present.max()
            self.minimum = lo if self.minimum is None else min(self.minimum, lo)
            self.maximum = hi if self.maximum is None else max(self.maximum, hi)
        if self.type in ("long", "double"):
            self.total += float(present.sum())
        self.distinct.add_hashes(hash64(present))
        if self.type in _ORDERED:
            self.sample.add(present)
        self.frequent.add(text.filter(value.is_not_null()) if self.type != "string" else text)


@dataclass
class FileProfile:
    path: Path
    format: str
    size_bytes: int
    rows: int
    columns: list[ColumnProfile]
    duplicate_rows: int
    duplicates_exact: bool
    seconds: float
    contract: Contract


class _RowHashes:
    """Distinct raw records: exact (64-bit hashes, made unique when they pile up) until
    there are more than ``EXACT_ROW_HASHES`` distinct ones, then the HyperLogLog's."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] | None = []
        self.held = 0
        self.hll = HyperLogLog(p=16)

    def add(self, payloads: list[bytes | None]) -> None:
        hashes = hash64(pl.Series(payloads, dtype=pl.Binary))
        self.hll.add_hashes(hashes)
        if self.parts is None:
            return
        self.parts.append(hashes)
        self.held += hashes.size
        if self.held > EXACT_ROW_HASHES:
            self._compact()

    def _compact(self) -> None:
        assert self.parts is not None
        unique = np.unique(np.concatenate(self.parts)) if self.parts else np.empty(0, np.uint64)
        self.parts, self.held = (
            ([unique], unique.size) if unique.size <= EXACT_ROW_HASHES else (None, 0)
        )

    @property
    def exact(self) -> bool:
        return self.parts is not None

    def distinct(self) -> int:
        if self.parts is not None:
            self._compact()
        if self.parts is not None:
            return int(self.held)
        return round(self.hll.estimate())


def _fields(contract: Contract) -> list[FieldSpec]:
    return [f for f in contract.fields if not (f.path or "").startswith("@")]


def profile_file(path: Path, fmt: str | None = None, chunk_rows: int = 100_000) -> FileProfile:
    """One pass over ``path``; memory is one chunk of ``chunk_rows`` plus the sketches."""
    if not path.is_file():
        raise InputError(f"cannot profile {path}: no such file")
    fmt = fmt or guess_format(path)
    if fmt is None:
        message, fix = unknown_format_hint(path)
        raise InputError(message, hint=fix)
    started = time.monotonic()
    source = {"kind": "file", "path": str(path.absolute())}
    contract = infer_contract("profile.file", [path], fmt, source=source)
    contract = contract.model_copy(
        update={"payload": contract.payload.model_copy(update={"max_bytes": 1 << 24})}
    )
    fields = _fields(contract)
    columns = [ColumnProfile(f.name, f.path or f.name, f.type) for f in fields]
    rows = _RowHashes()
    total = 0
    codec = get_format(fmt)
    with open_input(path, encoding=contract.payload.text_encoding) as handle:
        for chunk in codec.read(handle, chunk_rows, contract.payload.max_bytes):
            n = len(chunk.payloads)
            batch = RawBatch(source="profile", uri_sep="#row=")
            batch.extend(
                "profile", list(range(chunk.first_seq, chunk.first_seq + n)), chunk.payloads
            )
            if chunk.context is not None:
                batch.context["profile"] = chunk.context
            decoded = codec.decode(batch, contract)
            exprs = [typed(f) for f in fields]
            values = decoded.select([v for v, _ in exprs])
            errors = decoded.select(
                [e.alias(f.name) for f, (_, e) in zip(fields, exprs, strict=True)]
            )
            for f, col in zip(fields, columns, strict=True):
                col.observe(decoded[f.name], values[f.name], errors[f.name].fill_null(False))
            rows.add(chunk.payloads)
            total += n
    distinct_rows = rows.distinct()  # before ``exact``: the last compaction may give up
    return FileProfile(
        path=path,
        format=fmt,
        size_bytes=path.stat().st_size,
        rows=total,
        columns=columns,
        duplicate_rows=max(total - distinct_rows, 0),
        duplicates_exact=rows.exact,
        seconds=time.monotonic() - started,
        contract=contract,
    )


def fmt_value(value: Any) -> str:
    """A value for a table cell: numbers with separators, times in ISO, text cut short."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.3e}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"
