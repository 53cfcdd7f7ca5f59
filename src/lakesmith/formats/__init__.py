"""Payload formats by name (``payload.format``), loaded lazily.

``json`` one JSON object per record (Kafka messages; a file holding an array of objects)
``jsonl`` a file of JSON lines; each line is a record decoded like ``json``
``csv`` a file of CSV rows with a header; each row is a record (the raw row text)
``parquet`` a Parquet file; each row becomes a record as its JSON text (bronze keeps that)
"""

from __future__ import annotations

from functools import cache

from lakesmith.contracts import plugins
from lakesmith.contracts.plugins import known_formats
from lakesmith.formats.base import PARSE_DETAIL, PARSE_ERROR, Format, RecordChunk, guess_format


def register_format(name: str, module: str) -> None:
    """Register (or replace) the module implementing ``name`` (it exposes ``FORMAT``)."""
    plugins.register_format(name, module)
    get_format.cache_clear()


@cache
def get_format(name: str) -> Format:
    fmt: Format = plugins.format_module(name).FORMAT
    return fmt


__all__ = [
    "PARSE_DETAIL",
    "PARSE_ERROR",
    "Format",
    "RecordChunk",
    "get_format",
    "guess_format",
    "known_formats",
    "register_format",
]
