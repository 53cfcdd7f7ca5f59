"""The payload format interface (``payload.format`` in a contract).

A format does two jobs, both in bulk (no per-record Python in the hot path):

- ``decode(batch, contract)``: the records' payload bytes → one *text* column per contract
  field (typing happens in ``quality.typing``) plus ``_parse_error``/``_parse_detail``
  (rule id and message, null when the record decoded), one row per record, in order;
- ``read(file, chunk_records)``: split a file or object into record payloads, for the
  sources that receive whole files (``file``, object stores). Formats that only ever
  arrive one record per message may not implement it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

import polars as pl

if TYPE_CHECKING:
    from lakesmith.contracts.model import Contract
    from lakesmith.core.records import RawBatch

PARSE_ERROR = "_parse_error"
PARSE_DETAIL = "_parse_detail"


@dataclass(frozen=True)
class RecordChunk:
    """Consecutive records of one file: payloads ``first_seq``, ``first_seq + 1``, …"""

    first_seq: int
    payloads: list[bytes | None]
    context: bytes | None = None  # what decoding needs besides the payloads (a CSV header)


class Format(Protocol):
    name: str

    def decode(self, batch: RawBatch, contract: Contract) -> pl.DataFrame: ...

    def read(self, file: BinaryIO, chunk_records: int, max_bytes: int) -> Iterator[RecordChunk]:
        """Records of ``file`` in chunks of at most ``chunk_records``; memory stays about
        one chunk. A record larger than ``max_bytes`` is still delivered (whole, or
        truncated to ``max_bytes + 1`` bytes) so it lands in quarantine, never dropped."""
        ...


# Fields whose ``path`` names the record's coordinates instead of a payload value: a
# contract inferred for a file with no timestamp column uses the file's modified time as
# its event time. Every format's ``decode`` fills them (``with_record_fields``).
RECORD_PATHS = {
    "@row": "the record's seq in its stream (data row, line, Parquet row)",
    "@source_ts": "the source timestamp (a file's or object's modified time)",
}


def with_record_fields(frame: pl.DataFrame, batch: RawBatch, contract: Contract) -> pl.DataFrame:
    """``frame`` with the text of the contract's ``@row`` / ``@source_ts`` fields."""
    filled: list[pl.Series] = []
    for f in contract.fields:
        if f.path == "@row":
            filled.append(pl.Series(f.name, batch.seqs, dtype=pl.Int64).cast(pl.String))
        elif f.path == "@source_ts":
            ts = pl.Series(f.name, batch.timestamps_ms, dtype=pl.Int64)
            iso = ts.cast(pl.Datetime("ms", "UTC")).dt.to_string("%Y-%m-%dT%H:%M:%S%.3f+00:00")
            filled.append(iso)
    return frame.with_columns(filled) if filled else frame


_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def guess_format(path: Path) -> str | None:
    """The payload format a file's name (or, for ``.json``, its first byte) says."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return None
    if suffix == ".json":
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        return "json" if head.startswith(b"[") else "jsonl"
    return _SUFFIX_FORMATS.get(suffix)
