"""``GET /v1/gold`` (the catalog), ``/v1/gold/{table}`` and ``/v1/marts/{name}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from lakesmith.api.deps import Gold, Reader
from lakesmith.api.schemas import Page

router = APIRouter(tags=["gold"])

LIMIT = Query(100, ge=1, description="rows per page (at most api.max_page_size)")
FILTERS = (
    "Filter with ?column=value or ?column__op=value (op: eq ne gt gte lt lte in contains "
    "isnull; in takes comma-separated values); ?sort=col,-other; ?columns=a,b; ?cursor= "
    "from the previous page."
)


@router.get("/gold")
def catalog(_: Reader, gold: Gold) -> dict[str, Any]:
    """The gold tables (with their columns) and marts served."""
    return gold.catalog()


@router.get("/gold/{table}", response_model=Page, description=FILTERS)
def gold_table(
    table: str,
    request: Request,
    _: Reader,
    gold: Gold,
    limit: int = LIMIT,
    sort: str | None = None,
    columns: str | None = None,
    cursor: str | None = None,
) -> Page:
    """Rows of a gold table."""
    return gold.query(gold.table(table), list(request.query_params.multi_items()), limit)


@router.get("/marts/{name}", response_model=Page, description=FILTERS)
def mart(
    name: str,
    request: Request,
    _: Reader,
    gold: Gold,
    limit: int = LIMIT,
    sort: str | None = None,
    columns: str | None = None,
    cursor: str | None = None,
) -> Page:
    """Rows of a mart (a materialised view answering a business question)."""
    return gold.query(gold.mart(name), list(request.query_params.multi_items()), limit)
