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
