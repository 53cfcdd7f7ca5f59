"""Payload formats by name (``payload.format``), loaded lazily.

``json`` one JSON object per record (Kafka messages; a file holding an array of objects)
``jsonl`` a file of JSON lines; each line is a record decoded like ``json``
``csv`` a file of CSV rows with a header; each row is a record (the raw row text)
``parquet`` a Parquet file; each row becomes a record as its JSON text (bronze keeps that)
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from lakesmith.contracts import plugins
from lakesmith.contracts.plugins import known_formats
from lakesmith.formats.base import (
    PARSE_DETAIL,
    PARSE_ERROR,
    Format,
    RecordChunk,
    guess_format,
    unknown_format_hint,
)

if TYPE_CHECKING:
    import polars as pl

    from lakesmith.contracts.model import Contract
    from lakesmith.core.records import RawBatch


def register_format(name: str, module: str) -> None:
    """Register (or replace) the module implementing ``name`` (it exposes ``FORMAT``)."""
    plugins.register_format(name, module)
    get_format.cache_clear()


@cache
def get_format(name: str) -> Format:
    fmt: Format = plugins.format_module(name).FORMAT
    return fmt


def decode_batch(batch: RawBatch, contract: Contract) -> pl.DataFrame:
    """The batch's records decoded: payload bytes by the contract's format; records a
    source read as columns (``RawBatch.add_records``) by ``formats.records``, which hands
    a format's columns to that format's ``decode_columns``."""
    if batch.records is None:
        return get_format(contract.payload.format).decode(batch, contract)
    from lakesmith.formats.records import decode_records

    return decode_records(batch, contract)


__all__ = [
    "PARSE_DETAIL",
    "PARSE_ERROR",
    "Format",
    "RecordChunk",
    "decode_batch",
    "get_format",
    "guess_format",
    "known_formats",
    "register_format",
    "unknown_format_hint",
]
