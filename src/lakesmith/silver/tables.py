"""The silver table layout, derived from the contract (envelope layouts: ``core.columns``)."""

from __future__ import annotations

from lakesmith.contracts.model import Contract
from lakesmith.core.columns import LINEAGE_COLUMNS, Column


def silver_columns(contract: Contract, version: int) -> list[Column]:
    """The silver layout at schema ``version``: fields up to it, then lineage."""
    return [
        Column(f.name, f.type, f.description) for f in contract.fields_at(version)
    ] + LINEAGE_COLUMNS


def partitioning(contract: Contract) -> list[tuple[str, str]]:
    return [(p.field, p.transform) for p in contract.lake.partition_by]
