"""Decoded fields kept in bronze beside the raw payload (``payload.bronze_fields``).

Bronze keeps every record exactly as received (``_payload``). For some formats what was
*extracted* from the payload is worth keeping at the raw layer too: a PDF's text, page
count and hash cost a pypdf parse each (~13 ms a page) and are what bronze's readers
(raw CRUD, lineage, audits) ask for. A contract lists such fields::

    payload:
      format: pdf
      bronze_fields: [sha256, pages, text]

and each bronze row gets one column per listed field, typed like the contract field and
holding the value the decoder produced for that record (null when the record did not
decode: a hostile PDF is still in bronze as bytes, and in quarantine with its reason).
The values are typed here with ``quality.typing.typed``, the same expression silver uses,
so bronze and silver agree; a value that fails typing reads null in bronze (its record is
quarantined anyway). Any format works: the columns come from the decoder's frame.

Tables created before the option was set gain the columns on the next ``Dataset.ensure``
(nullable: older rows read null); ``reprocess --from bronze`` reads only the envelope.
"""

from __future__ import annotations

import polars as pl

from lakesmith.contracts.model import Contract
from lakesmith.core.columns import BRONZE_COLUMNS, SCHEMA_VERSION, Column
from lakesmith.quality.typing import typed


def decoded_columns(contract: Contract) -> list[Column]:
    """The bronze columns of the contract's ``payload.bronze_fields``, in that order."""
    return [
        Column(
            name,
            contract.field(name).type,
            f"decoded from _payload by the {contract.payload.format} format",
        )
        for name in contract.payload.bronze_fields
    ]


def bronze_columns(contract: Contract) -> list[Column]:
    """Every column of the contract's bronze table: the envelope, the decoded fields,
    ``_schema_version``."""
    head = [c for c in BRONZE_COLUMNS if c.name != SCHEMA_VERSION]
    tail = [c for c in BRONZE_COLUMNS if c.name == SCHEMA_VERSION]
    return [*head, *decoded_columns(contract), *tail]


def bronze_names(contract: Contract) -> list[str]:
    return [c.name for c in bronze_columns(contract)]


def decoded_values(decoded: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """The typed values of the ``bronze_fields`` of every decoded record (same row order)."""
    fields = [contract.field(name) for name in contract.payload.bronze_fields]
    if not fields:
        return pl.DataFrame()
    return decoded.select(typed(f, decoded.schema.get(f.name))[0].alias(f.name) for f in fields)
