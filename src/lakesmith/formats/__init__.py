"""Payload formats by name (``payload.format``), loaded lazily.

``json`` one JSON object per record (Kafka messages; a file holding an array of objects)
``jsonl`` a file of JSON lines; each line is a record decoded like ``json``
``csv`` a file of CSV rows with a header; each row is a record (the raw row text)
``parquet`` a Parquet file; each row becomes a record as its JSON text (bronze keeps that)
"""

from __future__ import annotations

import importlib
from functools import cache

from lakesmith.core.errors import ContractError
from lakesmith.formats.base import PARSE_DETAIL, PARSE_ERROR, Format, RecordChunk

_FORMATS: dict[str, str] = {
    "json": "lakesmith.formats.json",
    "jsonl": "lakesmith.formats.jsonl",
    "csv": "lakesmith.formats.csv",
    "parquet": "lakesmith.formats.parquet",
}


def register_format(name: str, module: str) -> None:
    """Register (or replace) the module implementing ``name`` (it exposes ``FORMAT``)."""
    _FORMATS[name] = module
    get_format.cache_clear()


def known_formats() -> list[str]:
    return sorted(_FORMATS)


@cache
def get_format(name: str) -> Format:
    if name not in _FORMATS:
        raise ContractError(
            f"unknown payload format {name!r}", hint=f"use one of: {', '.join(known_formats())}"
        )
    fmt: Format = importlib.import_module(_FORMATS[name]).FORMAT
    return fmt


__all__ = [
    "PARSE_DETAIL",
    "PARSE_ERROR",
    "Format",
    "RecordChunk",
    "get_format",
    "known_formats",
    "register_format",
]
